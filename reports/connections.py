"""Connections to malicious addresses, counted as a reader means them.

The `connections` check lists one match per indicator and feed that a socket, a hosts-file
line or a cached DNS name hit: a socket to 203.0.113.66 listed by two feeds, or matched by
its IP and by a CIDR, is two matches; a hosts-file line `198.51.100.66 cdn.x.example` is
matched by its address, by `cdn.x.example` and by `x.example`. A report counts what is on
the machine instead:

- a live connection: one (host, process, remote address:port), whatever matched it;
- a hosts-file entry: one line of the file (its address and names), whatever matched it;
- a DNS cache name (Windows): one cached record;
- a machine: one host with any of them.

Each row keeps every indicator, kind and feed that matched it, so the evidence is whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from raquet.models import Finding
from reports.model import ConnectionCounts, ConnectionRow

SOURCES = ("socket", "hosts_file", "dns_cache")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _pid(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _key(match: dict[str, Any]) -> tuple[str, str, str]:
    source = _text(match.get("source")) or "socket"
    if source == "socket":
        return source, _text(match.get("process")), _text(match.get("remote"))
    return source, "", _text(match.get("remote"))


def rows_of(unit: str, host: str, findings: list[Finding]) -> list[ConnectionRow]:
    """The distinct connections, entries and cached names of one host's `connections`
    finding(s), in the order the check found them."""
    return [row for f in findings for row in rows_of_finding(unit, host, f)]


def rows_of_finding(unit: str, host: str, finding: Finding) -> list[ConnectionRow]:
    """The distinct connections, entries and cached names of one `connections` finding."""
    rows: dict[tuple[str, str, str], ConnectionRow] = {}
    for match in _matches(finding):
        key = _key(match)
        row = rows.get(key)
        if row is None:
            row = rows[key] = ConnectionRow(
                unit=unit,
                host=host,
                source=key[0] if key[0] in SOURCES else "socket",
                remote=key[2],
                pid=_pid(match.get("pid")),
                process=key[1],
            )
        for field, value in (
            ("kinds", match.get("kind")),
            ("indicators", match.get("indicator")),
            ("feeds", match.get("feed")),
            ("references", match.get("reference")),
        ):
            shown = _text(value)
            if shown and shown not in getattr(row, field):
                getattr(row, field).append(shown)
    return list(rows.values())


def _matches(finding: Finding) -> list[dict[str, Any]]:
    if finding.check != "connections":
        return []
    matches = finding.evidence.get("matches")
    return [m for m in matches if isinstance(m, dict)] if isinstance(matches, list) else []


def counts(rows: Iterable[ConnectionRow]) -> ConnectionCounts:
    """The letter's figures: rows are distinct already, machines counted once."""
    listed = list(rows)
    return ConnectionCounts(
        live=sum(1 for r in listed if r.source == "socket"),
        hosts_entries=sum(1 for r in listed if r.source == "hosts_file"),
        dns_names=sum(1 for r in listed if r.source == "dns_cache"),
        machines=len({(r.unit, r.host) for r in listed}),
    )
