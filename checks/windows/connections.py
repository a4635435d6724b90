"""`connections` on Windows: TCP connections with their process, the DNS client cache, the hosts file.

`Get-NetTCPConnection` (Windows 8 / Server 2012 and later) gives each connection's owning
PID, joined to `Get-Process` names; where it does not exist (Windows 7 with WMF 5.1) the
script falls back to `netstat -ano`, parsed by column count and the `Proto` column so a
localised state word cannot break it. The DNS cache shows names resolved recently, even
when the connection is long gone. Matching happens on the jump host (`checks/connections.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checks.windows.common import number, objects, strings, text

SNIPPET = r"""
$r = @{}
try {
  $r.Tcp = @(Get-NetTCPConnection -ErrorAction Stop |
    Where-Object { $_.State -ne 'Listen' -and $_.State -ne 'Bound' } |
    Select-Object -First 20000 -Property LocalAddress, LocalPort, RemoteAddress, RemotePort, State, OwningProcess, CreationTime)
} catch {
  $r.TcpError = Rq-Error $_
  $r.Netstat = @(netstat.exe -ano | Select-Object -First 20000)
}
$r.Processes = @(Get-Process | Select-Object Id, ProcessName)
try {
  $r.DnsCache = @(Get-DnsClientCache -ErrorAction Stop |
    Select-Object -First 20000 -Property Entry, Name, Type, Status, Section, TimeToLive, Data)
} catch { $r.DnsCacheError = Rq-Error $_ }
try {
  $path = Join-Path $env:SystemRoot 'System32\drivers\etc\hosts'
  $reader = New-Object System.IO.StreamReader($path)
  $lines = New-Object 'System.Collections.Generic.List[string]'
  while ($lines.Count -lt 5000 -and $null -ne ($line = $reader.ReadLine())) { $lines.Add($line) }
  $reader.Close()
  $r.Hosts = $lines.ToArray()
} catch { $r.HostsError = Rq-Error $_ }
$r
"""

# MSFT_NetTCPConnection.State (MIB_TCP_STATE numbering, plus Bound = 100)
TCP_STATES = {
    1: "Closed",
    2: "Listen",
    3: "SynSent",
    4: "SynReceived",
    5: "Established",
    6: "FinWait1",
    7: "FinWait2",
    8: "CloseWait",
    9: "Closing",
    10: "LastAck",
    11: "TimeWait",
    12: "DeleteTCB",
    100: "Bound",
}
IGNORED = {"Listen", "Bound", "Closed", "TimeWait", "DeleteTCB", "LISTENING", "TIME_WAIT", "CLOSED"}
UNSPECIFIED = {"", "0.0.0.0", "::", "*"}
DNS_TYPES = {1: "A", 5: "CNAME", 28: "AAAA", 12: "PTR", 15: "MX", 33: "SRV", 16: "TXT"}


@dataclass(slots=True)
class DnsRecord:
    name: str
    type: str
    data: str


def processes(data: dict[str, Any]) -> dict[int, str]:
    found = {}
    for p in objects(data.get("Processes")):
        pid = number(p.get("Id"))
        if pid is not None:
            found[pid] = text(p.get("ProcessName"), 64)
        if len(found) >= 100000:
            break
    return found


def tcp_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Connections as `checks.connections.Socket` fields, from whichever table the host gave."""
    names = processes(data)
    if "Tcp" not in data:
        return netstat_rows(strings(data.get("Netstat"), 300), names)
    rows = []
    for c in objects(data.get("Tcp")):
        state = TCP_STATES.get(number(c.get("State")) or 0, text(c.get("State"), 16) or "Unknown")
        remote = text(c.get("RemoteAddress"), 64)
        if state in IGNORED or remote in UNSPECIFIED:
            continue
        pid = number(c.get("OwningProcess"))
        local = f"{text(c.get('LocalAddress'), 64)}:{number(c.get('LocalPort'))}"
        rows.append(
            {
                "proto": "tcp",
                "state": state,
                "local": local,
                "remote_ip": remote,
                "remote_port": number(c.get("RemotePort")),
                "pid": pid,
                "process": names.get(pid) if pid is not None else None,
            }
        )
    return rows


def netstat_rows(lines: list[str], names: dict[int, str]) -> list[dict[str, Any]]:
    """`netstat -ano`: TCP rows have five columns (state included), UDP rows four."""
    rows = []
    for line in lines:
        fields = line.split()
        if len(fields) not in (4, 5) or fields[0].upper() not in ("TCP", "UDP"):
            continue
        if not fields[-1].isdigit():
            continue  # the header line, in whatever language
        proto = fields[0].lower()
        state = fields[3] if len(fields) == 5 else "UNCONN"
        remote, _, port = fields[2].rpartition(":")
        remote = remote.strip("[]").split("%")[0]
        if state in IGNORED or proto == "udp" or remote in UNSPECIFIED:
            continue
        pid = int(fields[-1])
        rows.append(
            {
                "proto": proto,
                "state": text(state, 16),
                "local": text(fields[1], 64),
                "remote_ip": text(remote, 64),
                "remote_port": int(port) if port.isdigit() else None,
                "pid": pid,
                "process": names.get(pid),
            }
        )
    return rows


def dns_records(data: dict[str, Any]) -> list[DnsRecord]:
    records = []
    for entry in objects(data.get("DnsCache")):
        name = text(entry.get("Entry") or entry.get("Name"), 253).rstrip(".")
        if name:
            kind = number(entry.get("Type"))
            records.append(
                DnsRecord(
                    name=name,
                    type=DNS_TYPES.get(kind or 0, str(kind)),
                    data=text(entry.get("Data"), 253),
                )
            )
    return records


def dns_matches(records: list[DnsRecord], indicators: Any) -> list[dict[str, Any]]:
    """A cached name that is an indicator domain, or that resolved to an indicator address."""
    matches = []
    for record in records:
        hits = list(indicators.match_domain(record.name))
        if record.type in ("A", "AAAA") and record.data:
            hits += indicators.match_ip(record.data)
        for hit in hits:
            matches.append(
                {
                    "kind": hit.kind,
                    "indicator": hit.indicator,
                    "feed": hit.feed,
                    "reference": hit.reference,
                    "source": "dns_cache",
                    "remote": f"{record.name} {record.type} {record.data}".strip(),
                    "pid": None,
                    "process": None,
                }
            )
    return matches
