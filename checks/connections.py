"""`connections`: no socket and no hosts-file entry points at an address from the indicator feeds (SPEC §3).

Sockets come from `ss` with their owning process: established and half-open TCP
(SYN-SENT is an attempted connection) and connected UDP. `/etc/hosts` entries are
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
from typing import Any

from pydantic import BaseModel, Field

from checks.base import Check, Context, HostFacts, Indicators, Sections, clean
from checks.windows import connections as windows
from checks.windows.common import load, strings
from raquet.models import Finding, Host, OsName
from raquet.policy import Policy

LINUX = r"""
rq connections.ss
if command -v ss >/dev/null 2>&1; then
  ss -H -tunap 2>/dev/null | head -n 50000
else
  echo "__missing__"
fi
rq connections.hosts
head -n 5000 /etc/hosts 2>/dev/null
"""

_PROCESS = re.compile(r'\("(?P<name>(?:[^"\\]|\\.)*)",pid=(?P<pid>\d+)')
IGNORED_STATES = {"LISTEN", "UNCONN", "TIME-WAIT", "CLOSED"}
MAX_MATCHES = 500


class Socket(BaseModel):
    proto: str
    state: str
    local: str
    remote_ip: str
    remote_port: int | None
    pid: int | None = None
    process: str | None = None


class HostsEntry(BaseModel):
    address: str
    names: list[str]


class ConnectionsState(BaseModel):
    ss_available: bool = True
    sockets: list[Socket] = Field(default_factory=list)
    hosts: list[HostsEntry] = Field(default_factory=list)


class WindowsConnectionsState(ConnectionsState):
    """Windows adds the DNS client cache, and says which table the connections came from."""

    dns: list[windows.DnsRecord] = Field(default_factory=list)
    tcp_source: str = "Get-NetTCPConnection"
    errors: dict[str, str] = Field(default_factory=dict)


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
    return host, int(port) if port.isdigit() else None


def parse_ss(lines: list[str]) -> list[Socket]:
    sockets = []
    for line in lines:
        fields = line.split()
        if len(fields) < 6 or fields[1] in IGNORED_STATES:
            continue
        ip, port = split_endpoint(fields[5])
        if ip in ("*", "0.0.0.0", "::") or not ip:
            continue
        process = _PROCESS.search(line)
        sockets.append(
            Socket(
                proto=clean(fields[0], 8),
                state=clean(fields[1], 16),
                local=clean(fields[4], 64),
                remote_ip=clean(ip, 64),
                remote_port=port,
                pid=int(process["pid"]) if process else None,
                process=clean(process["name"], 64) if process else None,
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
        return ConnectionsState(
            ss_available=lines != ["__missing__"],
            sockets=parse_ss(lines),
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
