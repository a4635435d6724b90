"""A stand-in for a fleet of Windows hosts: WinRM (WS-Management) over HTTP(S) on 127.0.0.1.

No Windows runs here, so the connector and the Windows checks are exercised against this
endpoint, which speaks the WinRS protocol pywinrm speaks and answers raquet's gather
script from a per-host scenario. See README.md for what that does and does not prove.
"""
