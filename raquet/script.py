"""One script per host: the selected checks' snippets joined so a sweep costs one round trip.

A snippet starts each of its sections with `rq NAME`. On the host, `rq` points the
check's stdout at a private FIFO whose reader (`head -c`) writes the section into a
directory only the sweep's user can enter (`mktemp -d`), bounded by what is left of the
check's budget. When the check ends, each section leaves the host as one line,
`RQ1 sec NAME TRUNCATED BASE64`, followed by `RQ1 exit CHECK STATUS`. Whatever bytes a
host's files, logs or process names hold, they only ever travel inside base64, so no
content can start, end, repeat or rename a section; and nothing secret is needed for that,
so nothing secret sits on any command line or in any file another user can read. Each
check runs under `timeout`, so one hung command costs one finding rather than the host.

The frame is read back strictly (`raquet.framing`): a line outside the grammar, a section
the snippets do not write, a repeated one or a check out of order means the output was
tampered with. Windows hosts get the PowerShell counterpart from `raquet.powershell`.
"""

from __future__ import annotations

import re
import secrets
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field

from checks.base import CHECK_BUDGET_MIB, Check
from raquet import powershell
from raquet.models import OsName
from raquet.policy import Policy

CHECK_BUDGET = CHECK_BUDGET_MIB * 1024 * 1024
"""Bytes one check may send (all its sections together), counted on the host."""

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

# Defined inside every check's shell. `rq_close` waits for the previous section's reader,
# so the budget left is known before the next section starts; the section's own limit is
# in its file name, so the sender can tell a section that hit it.
_SECTION_FUNCTIONS = r"""
rq_used=0 rq_n=0 rq_pid=
rq_close() {
  exec >/dev/null 2>&1
  if [ -n "$rq_pid" ]; then
    wait "$rq_pid"
    rq_used=$((rq_used + $(wc -c < "$rq_f")))
    rq_pid=
  fi
}
rq() {
  rq_close
  rq_n=$((rq_n + 1)); rq_left=$((RQ_BUDGET - rq_used)); [ "$rq_left" -gt 0 ] || rq_left=0
  rq_f=$RQC/$(printf %04d "$rq_n")_${rq_left}_$1
  mkfifo "$rq_f.p" || return 1
  head -c $((rq_left + 1)) < "$rq_f.p" > "$rq_f" &
  rq_pid=$!
  exec > "$rq_f.p" 2>&1
  rm -f "$rq_f.p"
}
"""

_RUNNER = r"""
rq_run() {
  RQC=$RQD/$1; export RQC
  mkdir "$RQC" || { printf 'RQ1 exit %s 125\n' "$1"; return; }
  if command -v timeout >/dev/null 2>&1; then
    timeout -k 2 "$2" sh -c "$3" </dev/null >/dev/null 2>&1
  else
    sh -c "$3" </dev/null >/dev/null 2>&1
  fi
  rq_st=$?
  for rq_f in "$RQC"/*; do
    [ -f "$rq_f" ] || continue
    rq_b=${rq_f##*/}; rq_b=${rq_b#*_}; rq_lim=${rq_b%%_*}; rq_name=${rq_b#*_}
    rq_t=0; [ "$(wc -c < "$rq_f")" -gt "$rq_lim" ] && rq_t=1
    printf 'RQ1 sec %s %s ' "$rq_name" "$rq_t"
    head -c "$rq_lim" "$rq_f" | base64 | tr -d '\n'
    echo
  done
  rm -rf "$RQC"
  printf 'RQ1 exit %s %s\n' "$1" "$rq_st"
}
"""

_PROLOGUE = r"""
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
umask 077
command -v base64 >/dev/null 2>&1 || { echo 'RQ1 fatal base64 is not installed'; exit 0; }
RQD=$(mktemp -d 2>/dev/null || mktemp -d "$HOME/.raquet.XXXXXXXX" 2>/dev/null) ||
  { echo 'RQ1 fatal no private temporary directory (mktemp -d failed)'; exit 0; }
trap 'rm -rf "$RQD"' EXIT
trap 'rm -rf "$RQD"; exit 1' HUP INT TERM
RQ_BUDGET=__BUDGET__; export RQD RQ_BUDGET
"""

_SECTION = re.compile(r"^\s*rq ([a-z][a-z0-9_]*\.[a-z0-9_.]+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Script:
    """The text sent to one host, and what its answer may contain. One Linux script serves
    every host of a sweep (`build` makes it once), so it is never changed."""

    text: str
    os: OsName = "linux"
    nonce: str = ""  # Windows only: its marker travels inside the script, on stdin
    checks: list[str] = field(default_factory=list)  # in the order they report
    sections: dict[str, frozenset[str]] = field(default_factory=dict)  # per check

    @property
    def cap(self) -> int:
        """What the jump host reads from this host at most: every check's budget in base64,
        plus the frame's own lines."""
        return (len(self.checks) * CHECK_BUDGET * 4) // 3 + 1024 * 1024


_BUILT: dict[tuple[object, ...], tuple[Policy, Script]] = {}
"""Linux scripts built, by checks, policy and time-out: the same for every host of a sweep.
Each keeps its policy alive, so the policy's id names that policy as long as it is here."""


def build(checks: Iterable[Check], os: OsName, policy: Policy, timeout: float) -> Script:
    """The script that gathers every check's state in one go: POSIX sh, or PowerShell on Windows.

    A Linux script is a function of the checks, the policy and the time-out alone, so it is
    built once per sweep and then handed to every host; a Windows script carries a nonce of
    its own, so each host gets its own."""
    checks = list(checks)
    if os == "windows":
        nonce = secrets.token_hex(16)
        text = powershell.build(checks, policy, nonce, timeout)
        names = ["host", *(c.name for c in checks)]
        return Script(text, os, nonce, names)
    limit = max(1, int(timeout))
    key = (tuple(checks), id(policy), limit)
    built = _BUILT.get(key)
    if built is not None and built[0] is policy:
        return built[1]
    if len(_BUILT) >= 16:
        _BUILT.clear()
    script = _linux(checks, policy, limit)
    _BUILT[key] = (policy, script)
    return script


def _linux(checks: list[Check], policy: Policy, limit: int) -> Script:
    os: OsName = "linux"
    snippets = [("host", HOST_FACTS)]
    snippets += [(c.name, s) for c in checks if (s := c.snippet(os, policy)) is not None]
    parts = [
        "{",
        _PROLOGUE.replace("__BUDGET__", str(CHECK_BUDGET)),
        _RUNNER,
        "echo 'RQ1 begin'",
    ]
    for name, snippet in snippets:
        body = f"{_SECTION_FUNCTIONS}\n{snippet}\nrq_close\n"
        parts.append(f"rq_run {name} {limit} {shlex.quote(body)}")
    parts += ["echo 'RQ1 end'", "} </dev/null"]
    sections = {name: frozenset(_SECTION.findall(snippet)) for name, snippet in snippets}
    return Script("\n".join(parts) + "\n", os, "", [n for n, _ in snippets], sections)
