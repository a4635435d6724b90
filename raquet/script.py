"""One script per host: the selected checks' snippets joined so a sweep costs one round trip.

The script brackets every check in a marker line carrying a per-run random nonce, runs
each check under `timeout` so one hung command costs one finding rather than the host,
bounds the output with `head -c`, and sends it base64-encoded: whatever bytes the host
produces (non-UTF-8, control characters, fake markers) arrive intact and cannot be
mistaken for the script's own structure. Windows hosts get the PowerShell counterpart
from `raquet.powershell`, split back into the same section names.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import shlex
from collections.abc import Iterable

from checks.base import Check, Sections
from raquet import powershell
from raquet.models import OsName
from raquet.policy import Policy

MAX_OUTPUT = 8 * 1024 * 1024

HOST_FACTS = r"""
rq host.os_release
cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null
rq host.clock
date '+%s %z'
rq host.zone
cat /etc/timezone 2>/dev/null || readlink /etc/localtime 2>/dev/null
rq host.uname
uname -srm
"""

_RQ = """rq() { printf '\\n%s %s\\n' "$RQ" "$1"; }"""


def new_nonce() -> str:
    return secrets.token_hex(8)


def build(checks: Iterable[Check], os: OsName, policy: Policy, nonce: str, timeout: float) -> str:
    """The script that gathers every check's state in one go: POSIX sh, or PowerShell on Windows."""
    if os == "windows":
        return powershell.build(checks, policy, nonce, timeout)
    limit = max(1, int(timeout))
    parts = [
        "export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH",
        f"RQ=@@rq:{nonce}; export RQ",
        _RQ,
        "rq_run() {",
        '  if command -v timeout >/dev/null 2>&1; then timeout -k 2 "$1" sh -c "$3"; else sh -c "$3"; fi',
        '  printf "\\n%s %s %s\\n" "$RQ" "$2.__exit" "$?"',
        "}",
        "{",
        HOST_FACTS,
    ]
    for check in checks:
        snippet = check.snippet(os, policy)
        if snippet is not None:
            body = f"{_RQ}\n{snippet}"
            parts.append(f"rq_run {limit} {check.name} {shlex.quote(body)} </dev/null")
    parts.append(f"}} 2>&1 | head -c {MAX_OUTPUT} | base64")
    return "\n".join(parts) + "\n"


def split(lines: Iterable[str], nonce: str, os: OsName = "linux") -> Sections:
    """The host's output back into named sections; garbage between markers stays in its section."""
    if os == "windows":
        return powershell.split(lines, nonce)
    encoded = "".join(line.strip() for line in lines)
    try:
        raw = base64.b64decode(encoded, validate=False)
    except (binascii.Error, ValueError):
        raw = b""
    text = raw.decode("utf-8", errors="replace")
    marker = f"@@rq:{nonce} "
    sections = Sections()
    current: str | None = None
    chunk: list[str] = []
    for line in text.split("\n"):
        if line.startswith(marker):
            if current is not None:
                sections[current] = "\n".join(chunk).strip("\n")
            name, _, value = line[len(marker) :].partition(" ")
            if name.endswith(".__exit"):
                sections[name] = value
                current, chunk = None, []
            else:
                current, chunk = name, []
        elif current is not None:
            chunk.append(line)
    if current is not None:
        sections[current] = "\n".join(chunk).strip("\n")
    sections.truncated = len(raw) >= MAX_OUTPUT
    return sections
