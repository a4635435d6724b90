"""The Windows halves of the checks: each module has a check's PowerShell snippet, state and verdict.

Every snippet is the body of a scriptblock that returns one hashtable; `raquet.powershell`
runs it and hands back its JSON as the `<check>.json` section. The check modules in
`checks/` dispatch here when the host is Windows, so each Linux module stays as it was.
"""
