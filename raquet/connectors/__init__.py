"""pyinfra connectors raquet ships (registered through the `pyinfra.connectors` entry point).

pyinfra 3.x has no WinRM connector of its own, so Windows hosts are reached through
`raquet.connectors.winrm`, on pywinrm's WS-Management protocol.
"""
