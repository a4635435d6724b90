"""`connections`: no socket and no hosts-file entry points at an address from the indicator feeds (SPEC §3).

Sockets come from `ss -e` (established and half-open TCP, SYN-SENT being an attempted
connection, and connected UDP) with their inode. Who owns a socket is read from the
kernel, never from a name a process chose: each `/proc/PID/fd/N` link that reads
`socket:[INODE]` names one owner. `ss -p` would print the owner's name in the same text
as its pid, and a process named `clamd",pid=7,f` would pass for pid 7. The names
(`/proc/PID/comm`) come in a section of their own, one `PID NAME` line each, and serve
only to show who it is. `/etc/hosts` entries are
matched too, by address and by name, since malware pins its C2 domains there; an entry
that points a name nowhere (`0.0.0.0`, `::`, loopback) blocks it, the way `raquet
remediate` sinkholes a domain, and is not a match. Matching uses the indexed
IndicatorSet of every imported feed (a domain matches its subdomains).
Windows hosts send `Get-NetTCPConnection` (or `netstat -ano`), the DNS client cache and
the hosts file (`checks/windows/connections.py`), matched here the same way.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from checks.base import Check, Context, HostFacts, Indicators, Sections, clean
from checks.windows import connections as windows
from checks.windows.common import load, strings
from raquet.models import Finding, Host, OsName
from raquet.policy import Policy

LINUX = r"""
rq connections.ss
s=
if command -v ss >/dev/null 2>&1; then
  s=$(ss -H -tuna -e 2>/dev/null | awk '$2 !~ /^(LISTEN|UNCONN|TIME-WAIT|CLOSED)$/' | head -n 50000)
  [ -z "$s" ] || printf '%s\n' "$s"
else
  echo "__missing__"
fi
rq connections.owners
o=$({ printf '%s\n--\n' "$s"; find /proc/[0-9]*/fd -maxdepth 1 -lname 'socket:\[*' -printf '%h %l\n' 2>/dev/null; } |
  awk 'seen { i = $2; gsub(/[^0-9]/, "", i); if (i in want) print; next }
       $0 == "--" { seen = 1; next }
       { for (f = 7; f <= NF; f++) if ($f ~ /^ino:[0-9]+$/) { want[substr($f, 5)] = 1; break } }' |
  head -n 200000)
[ -z "$o" ] || printf '%s\n' "$o"
rq connections.names
printf '%s\n' "$o" | cut -d/ -f3 | uniq | while IFS= read -r p; do
  [ -n "$p" ] && IFS= read -r n < "/proc/$p/comm" && printf '%s %s\n' "$p" "$n"
done 2>/dev/null
rq connections.hosts
head -n 5000 /etc/hosts 2>/dev/null
"""

_OWNER = re.compile(r"/proc/([0-9]{1,10})/fd socket:\[([0-9]{1,20})\]")
_INODE = re.compile(r"ino:([0-9]{1,20})")
IGNORED_STATES = {"LISTEN", "UNCONN", "TIME-WAIT", "CLOSED"}
MAX_MATCHES = 500


@dataclass(slots=True)
class Socket:
    """One socket; `pids` are every process holding it (a forked child shares its parent's),
    `pid` and `process` the first of them, as shown."""

    proto: str
    state: str
    local: str
    remote_ip: str
    remote_port: int | None
    pid: int | None = None
    process: str | None = None
    pids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class HostsEntry:
    address: str
    names: list[str]


@dataclass(slots=True)
class ConnectionsState:
    ss_available: bool = True
    sockets: list[Socket] = field(default_factory=list)
    hosts: list[HostsEntry] = field(default_factory=list)


@dataclass(slots=True)
class WindowsConnectionsState(ConnectionsState):
    """Windows adds the DNS client cache, and says which table the connections came from."""

    dns: list[windows.DnsRecord] = field(default_factory=list)
    tcp_source: str = "Get-NetTCPConnection"
    errors: dict[str, str] = field(default_factory=dict)


def parse_windows(sections: Sections) -> WindowsConnectionsState:
    data = load(sections, "connections")
    errors = {
        key.removesuffix("Error"): clean(str(data[key]), 300)
        for key in ("TcpError", "DnsCacheError", "HostsError")
        if isinstance(data.get(key), str)
    }
    return WindowsConnectionsState(
        sockets=[Socket(**row) for row in windows.tcp_rows(data)],
        hosts=parse_hosts(strings(data.get("Hosts"), 1024)),
        dns=windows.dns_records(data),
        tcp_source="Get-NetTCPConnection" if "Tcp" in data else "netstat -ano",
        errors=errors,
    )


def split_endpoint(text: str) -> tuple[str, int | None]:
    """`1.2.3.4:443`, `[2001:db8::1]:443`, `[::ffff:1.2.3.4]:80`, `10.0.0.1%eth0:53` -> (address, port)."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]").split("%")[0]
    return host, int(port) if port.isascii() and port.isdigit() and len(port) <= 5 else None


def parse_owners(lines: list[str]) -> dict[int, list[int]]:
    """`/proc/PID/fd socket:[INODE]` lines (find's output) -> inode -> the pids holding it."""
    owners: dict[int, set[int]] = {}
    for line in lines:
        found = _OWNER.fullmatch(line)
        if found:
            owners.setdefault(int(found[2]), set()).add(int(found[1]))
    return {inode: sorted(pids) for inode, pids in owners.items()}


def parse_names(lines: list[str]) -> dict[int, str]:
    """`PID NAME` lines -> pid -> name. The name is whatever the process called itself: it is
    shown, never parsed."""
    names = {}
    for line in lines:
        pid, _, name = line.partition(" ")
        if pid.isascii() and pid.isdigit() and len(pid) <= 10:
            names[int(pid)] = clean(name, 64)
    return names


def socket_inode(fields: list[str]) -> int | None:
    """The first `ino:N` after the two addresses: ss prints it before anything a process or a
    user could have named (a cgroup path comes after it)."""
    for text in fields[6:]:
        found = _INODE.fullmatch(text)
        if found:
            return int(found[1]) or None
    return None


def parse_ss(
    lines: list[str],
    owners: dict[int, list[int]] | None = None,
    names: dict[int, str] | None = None,
) -> list[Socket]:
    """`ss -H -tuna -e` lines; each socket's owners by its inode (`parse_owners`)."""
    owners, names = owners or {}, names or {}
    sockets = []
    for line in lines:
        fields = line.split()
        if len(fields) < 6 or fields[1] in IGNORED_STATES:
            continue
        ip, port = split_endpoint(fields[5])
        if ip in ("*", "0.0.0.0", "::") or not ip:
            continue
        inode = socket_inode(fields)
        pids = owners.get(inode, []) if inode is not None else []
        sockets.append(
            Socket(
                proto=clean(fields[0], 8),
                state=clean(fields[1], 16),
                local=clean(fields[4], 64),
                remote_ip=clean(ip, 64),
                remote_port=port,
                pid=pids[0] if pids else None,
                process=names.get(pids[0]) if pids else None,
                pids=pids[:64],
            )
        )
    return sockets


def parse_hosts(lines: list[str]) -> list[HostsEntry]:
    entries = []
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2:
            entries.append(
                HostsEntry(
                    address=clean(fields[0], 64), names=[clean(n, 253) for n in fields[1:20]]
                )
            )
    return entries


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _sinkholed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_unspecified or ip.is_loopback


def _match(kind: str, hit: Any, **where: Any) -> dict[str, Any]:
    return {
        "kind": hit.kind,
        "indicator": hit.indicator,
        "feed": hit.feed,
        "reference": hit.reference,
        "source": kind,
        **where,
    }


def find_matches(
    state: ConnectionsState, indicators: Indicators, hosts_file: bool
) -> list[dict[str, Any]]:
    matches = []
    for sock in state.sockets:
        for hit in indicators.match_ip(sock.remote_ip):
            remote = (
                f"[{sock.remote_ip}]:{sock.remote_port}"
                if ":" in sock.remote_ip
                else f"{sock.remote_ip}:{sock.remote_port}"
            )
            matches.append(
                _match(
                    "socket",
                    hit,
                    remote=remote,
                    pid=sock.pid,
                    pids=sock.pids or ([sock.pid] if sock.pid is not None else []),
                    process=sock.process,
                    state=sock.state,
                    proto=sock.proto,
                )
            )
    if hosts_file:
        for entry in state.hosts:
            if _sinkholed(entry.address):
                continue
            hits = indicators.match_ip(entry.address) if _is_address(entry.address) else []
            for name in entry.names:
                hits += indicators.match_domain(name)
            for hit in hits:
                matches.append(
                    _match(
                        "hosts_file",
                        hit,
                        remote=f"{entry.address} {' '.join(entry.names)}",
                        pid=None,
                        process=None,
                    )
                )
    return matches[:MAX_MATCHES]


class ConnectionsCheck(Check[ConnectionsState]):
    name = "connections"
    title = "Connections"

    def snippet(self, os: OsName, policy: Policy) -> str | None:
        return LINUX if os == "linux" else windows.SNIPPET

    def parse(self, sections: Sections, facts: HostFacts) -> ConnectionsState:
        if facts.windows:
            return parse_windows(sections)
        lines = sections.lines("connections.ss")
        owners = parse_owners(sections.lines("connections.owners"))
        names = parse_names(sections.lines("connections.names"))
        return ConnectionsState(
            ss_available=lines != ["__missing__"],
            sockets=parse_ss(lines, owners, names),
            hosts=parse_hosts(sections.lines("connections.hosts")),
        )

    def evaluate(
        self, state: ConnectionsState, host: Host, facts: HostFacts, ctx: Context
    ) -> Finding:
        if ctx.indicators is None:
            return self.error("no indicator feeds are imported (raquet feeds import FILE)")
        if not state.ss_available:
            return self.error("`ss` (iproute2) is not installed on the host")
        matches = find_matches(state, ctx.indicators, ctx.policy.connections.hosts_file)
        evidence: dict[str, Any] = {
            "matches": matches,
            "sockets": len(state.sockets),
            "hosts_entries": len(state.hosts),
        }
        if isinstance(state, WindowsConnectionsState):
            matches += windows.dns_matches(state.dns, ctx.indicators)[: MAX_MATCHES - len(matches)]
            evidence.update(
                dns_entries=len(state.dns), tcp_source=state.tcp_source, errors=state.errors
            )
        if not matches:
            return Finding(
                check=self.name,
                status="pass",
                severity="info",
                title=f"No connection to a known-malicious address ({len(state.sockets)} sockets)",
                evidence=evidence,
            )
        live = [m for m in matches if m["source"] == "socket"]
        parts = []
        if live:
            first = live[0]
            parts.append(
                f"{len(live)} connection(s) to malicious addresses "
                f"({first['process'] or 'unknown process'} -> {first['remote']})"
            )
        pinned = sum(1 for m in matches if m["source"] == "hosts_file")
        if pinned:
            parts.append(f"{pinned} malicious hosts-file entr(y/ies)")
        cached = sum(1 for m in matches if m["source"] == "dns_cache")
        if cached:
            parts.append(f"{cached} malicious name(s) in the DNS cache")
        return Finding(
            check=self.name,
            status="fail",
            severity="critical" if live else "high",
            title="; ".join(parts),
            evidence=evidence,
        )


CHECK = ConnectionsCheck()
