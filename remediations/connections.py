"""`connections` remediation: block the malicious addresses, sinkhole the malicious names, and
stop the processes that held the connections.

The firewall block comes first, so the process cannot reconnect between being stopped
and being blocked, and its dying connection is reset rather than left half-closed. The
block and the hosts-file edits carry the remediation's tag and are undone by `raquet
remediate --undo ID`; a stopped process is not restarted.

Which pid to stop comes from the sweep, which reads socket owners from the kernel (see
`checks.connections`), but a pid is only a number: by the time raquet acts, the process
may have exited and its pid gone to another program, or the evidence may not be what the
host really holds. So the stop decides on the host, at that moment, in its own command:
the pid must still hold (a `/proc/PID/fd` link to) the inode of a socket whose peer is
that remote address, as `ss -e` lists it now. Never pid 1, never raquet's own session
(its shell and every ancestor of it, up to sshd), never the antivirus's own programs
(by the executable the kernel names, under a system directory, not by a name a process
chose). Then `TERM`, up to three seconds for it to go, then `KILL`; a pid that is gone or
reused in between is left alone (its start time is compared before each signal). All the
processes of one finding are stopped by one operation, each in turn, so that one raquet
must not stop cannot keep the others running.

A process whose connection the block has already reset no longer holds one: it is not
stopped, and the firewall keeps it from that address.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Callable
from typing import Any

from pyinfra import host
from pyinfra.api import FactBase, OperationError, StringCommand, operation

from checks.base import load_data
from checks.connections import split_endpoint
from raquet.models import Finding
from raquet.powershell import quote
from remediations import firewall, hostsfile, values
from remediations.base import Remedy, RemedyContext, Step

CHECK = "connections"
CLAMAV_PROGRAMS = ("clamd", "freshclam", "clamonacc", "clamscan", "clamdscan", "clamav-milter")
WINDOWS_AV = ("MsMpEng", "NisSrv", "MpDefenderCoreService", "MsSense", "SecurityHealthService")
_ADDRESS_TEXT = re.compile(r"^[0-9A-Fa-f:.]{2,45}$")

# Whether `pid` may be stopped, printed as one line: `holds …`, `gone …` or `refused …`.
_VERDICT = r"""
rq_verdict() {
  [ "$pid" -gt 1 ] 2>/dev/null || { echo "refused $pid is not a process raquet may stop"; return; }
  [ -d "/proc/$pid" ] || { echo "gone pid $pid has exited"; return; }
  x=$$
  while [ "$x" -gt 1 ] 2>/dev/null; do
    [ "$x" = "$pid" ] && { echo "refused pid $pid is raquet's own session (its shell or an ancestor)"; return; }
    s=$(cat "/proc/$x/stat" 2>/dev/null) || break
    s=${s##*)}
    set -- $s
    x=$2
  done
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null)
  exe=${exe% (deleted)}
  case "$exe" in
    /usr/*|/opt/*|/bin/*|/sbin/*|/lib/*|/lib64/*)
      case "${exe##*/}" in
        __AV__) echo "refused pid $pid runs ${exe##*/}, the antivirus's own program"; return;;
      esac;;
  esac
  own=$(find "/proc/$pid/fd" -maxdepth 1 -lname 'socket:\[*' -printf '%l\n' 2>/dev/null | tr -cd '0-9\n')
  held=$(ss -H -tuna -e 2>/dev/null | awk -v r="$remote" '$6 == r { for (i = 7; i <= NF; i++) if ($i ~ /^ino:[0-9]+$/) { print substr($i, 5); break } }')
  for i in $held; do
    for o in $own; do
      [ "$i" != 0 ] && [ "$i" = "$o" ] && { echo "holds socket:[$i] to $remote"; return; }
    done
  done
  echo "gone pid $pid holds no connection to $remote any more"
}
"""

# The stop itself, in a subshell per process: the verdict again, then TERM, a short wait,
# KILL, each only while the pid is still the process it was (same start time, no zombie).
_STOP = r"""
rq_start() {
  s=$(cat "/proc/$pid/stat" 2>/dev/null) || return 0
  s=${s##*)}
  set -- $s
  case "$1" in Z|X|x) return 0;; esac
  printf '%s' "${20}"
}
rq_wait() {
  i=0
  while [ "$(rq_start)" = "$start" ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
}
rq_stop() {
  v=$(rq_verdict)
  case "$v" in
    holds*) ;;
    gone*) printf '%s: nothing to stop\n' "${v#gone }"; exit 0;;
    *) printf 'not stopped: %s\n' "${v#refused }" >&2; exit 1;;
  esac
  start=$(rq_start)
  [ -n "$start" ] || { echo "pid $pid has exited: nothing to stop"; exit 0; }
  kill -TERM "$pid" 2>/dev/null
  rq_wait
  if [ "$(rq_start)" = "$start" ]; then
    kill -KILL "$pid" 2>/dev/null
    rq_wait
  fi
  [ "$(rq_start)" != "$start" ] || { echo "pid $pid is still running after SIGKILL" >&2; exit 1; }
  echo "stopped pid $pid"
}
"""


def av_programs() -> list[str]:
    """ClamAV's programs and every AV product's processes from `checks/data/linux_av.yml`."""
    data = load_data("linux_av.yml")
    names = set(CLAMAV_PROGRAMS)
    for product in data.get("products", []) if isinstance(data, dict) else []:
        for key in ("processes", "management"):
            names.update(str(n) for n in product.get(key) or [])
    return sorted(names)


def remote_endpoint(text: object) -> tuple[str, str, int]:
    """A match's `remote` (`1.2.3.4:443`, `[2001:db8::7]:443`) -> (as `ss` prints it, ip, port).

    The text came from the host: it must be an address and a port, nothing else, before it
    reaches a command."""
    ip, port = split_endpoint(str(text))
    if not _ADDRESS_TEXT.match(ip) or port is None or not 0 < port < 65536:
        raise values.Refused(f"{text!r} is not an address and port")
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        raise values.Refused(f"{text!r} is not an address and port") from None
    shown = f"[{ip}]:{port}" if parsed.version == 6 else f"{ip}:{port}"
    return shown, ip, port


def _verdict_functions() -> str:
    cases = "|".join(shlex.quote(name) for name in av_programs())
    return _VERDICT.replace("__AV__", cases)


def _target(pid: int, remote: str) -> str:
    return f"pid={values.process_id(pid)}; remote={shlex.quote(remote_endpoint(remote)[0])}"


def verdict_script(pid: int, remote: str) -> str:
    """The shell text that says whether `pid` may be stopped for its connection to `remote`."""
    return f"set -f\n{_target(pid, remote)}\n{_verdict_functions()}rq_verdict"


def stop_script(targets: list[tuple[int, str]], refused: list[str]) -> str:
    """The operation's command: each process decided again on the host and stopped in turn;
    it fails, with every reason, if any was refused (here or there), but only after the
    others were stopped."""
    blocks = [
        f"# pid {pid}: TERM, then KILL, if it still holds a connection to {remote}\n"
        f"( {_target(pid, remote)}; rq_stop ) || rq_failed=1"
        for pid, remote in targets
    ]
    blocks += [f"printf 'not stopped: %s\\n' {shlex.quote(r)} >&2; rq_failed=1" for r in refused]
    head = f"set -f\nrq_failed=\n{_verdict_functions()}{_STOP}"
    return head + "\n".join(blocks) + '\n[ -z "$rq_failed" ]\n'


class StopVerdict(FactBase[tuple[str, str]]):
    """(`holds` | `gone` | `refused`, why), decided on the host the way the stop decides."""

    def command(self, pid: int, remote: str) -> str:
        return verdict_script(pid, remote)

    @staticmethod
    def default() -> tuple[str, str]:
        """What pyinfra gives when the command failed: never taken for a process that is gone."""
        return ("refused", "the host did not answer")

    def process(self, output: list[str]) -> tuple[str, str]:
        kind, _, why = output[-1].partition(" ")
        return (kind, why) if kind in ("holds", "gone") else ("refused", why)


def _verdicts(
    targets: list[list[Any]], fact: Callable[[int, str], tuple[str, str]]
) -> tuple[list[tuple[int, str]], list[str]]:
    """The targets (`[pid, remote, name]`) that still hold their connection, and why the
    others may not be stopped (those that are gone need nothing)."""
    holding, refused = [], []
    for pid, remote, _ in targets:
        shown = remote_endpoint(remote)[0]
        kind, why = fact(values.process_id(pid), shown)
        if kind == "refused":
            refused.append(why)
        elif kind == "holds":
            holding.append((pid, shown))
    return holding, refused


@operation()
def processes_stopped(targets: list[list[Any]]):
    """Each target (`[pid, remote, name]`; the name is what the sweep saw, for the plan only)
    stopped, TERM then KILL, if it still holds a connection to its remote address (see the
    module docstring). One operation for them all: a process raquet must not stop (which an
    attacker can arrange, say by running freshclam against her C2) must not shield the others,
    as a failed step would keep the steps after it from running."""
    holding, refused = _verdicts(
        targets, lambda pid, remote: host.get_fact(StopVerdict, pid=pid, remote=remote)
    )
    if holding:
        yield StringCommand(stop_script(holding, refused))
    elif not refused:
        host.noop("no process holds a connection to those addresses any more: nothing to stop")
    if refused:
        raise OperationError(f"not stopped: {'; '.join(refused)}")


def _windows_verdict(pid: int, ip: str, port: int) -> str:
    """PowerShell that sets `$v` to `holds`, `gone` or `refused …` for `pid` and ip:port."""
    av = ",".join(quote(n) for n in WINDOWS_AV)
    return rf"""$id = {values.process_id(pid)}; $ip = {quote(ip)}; $port = {int(port)}
$v = $null; $x = $PID; $n = 0
while ($x -and $n -lt 64 -and -not $v) {{
  if ($x -eq $id) {{ $v = "refused pid $id is raquet's own session" }}
  $x = (Get-CimInstance Win32_Process -Filter "ProcessId=$x").ParentProcessId; $n++
}}
$p = Get-Process -Id $id -ErrorAction SilentlyContinue
if (-not $v -and -not $p) {{ $v = 'gone' }}
$system = (-not $p.Path) -or $p.Path -like "$env:ProgramFiles\*" -or $p.Path -like "$env:ProgramData\Microsoft\*"
if (-not $v -and $p.ProcessName -in @({av}) -and $system) {{
  $v = "refused pid $id is the antivirus's own $($p.ProcessName)"
}}
if (-not $v -and (Get-Command Get-NetTCPConnection -ErrorAction SilentlyContinue)) {{
  $c = @(Get-NetTCPConnection -OwningProcess $id -RemoteAddress $ip -RemotePort $port -ErrorAction SilentlyContinue)
}} elseif (-not $v) {{
  $c = @(netstat.exe -ano | Where-Object {{ $f = -split $_; $f.Count -ge 4 -and $f[-1] -eq "$id" -and ($f[2] -eq "${{ip}}:$port" -or $f[2] -eq "[$ip]:$port") }})
}}
if (-not $v) {{ $v = if ($c.Count) {{ 'holds' }} else {{ 'gone' }} }}
"""


class WindowsStopVerdict(FactBase[tuple[str, str]]):
    """The Windows counterpart of `StopVerdict`."""

    def command(self, pid: int, ip: str, port: int) -> StringCommand:
        return StringCommand(_windows_verdict(pid, ip, port) + "$v")

    @staticmethod
    def default() -> tuple[str, str]:
        return StopVerdict.default()

    def process(self, output: list[str]) -> tuple[str, str]:
        return StopVerdict().process([line.strip() for line in output if line.strip()])


def _windows_fact(pid: int, remote: str) -> tuple[str, str]:
    _, ip, port = remote_endpoint(remote)
    return host.get_fact(WindowsStopVerdict, pid=pid, ip=ip, port=port)


@operation()
def windows_processes_stopped(targets: list[list[Any]]):
    """Stop-Process on each target, decided again in the command as on Linux (Windows has no
    TERM); one operation for them all, as on Linux."""
    holding, refused = _verdicts(targets, _windows_fact)
    if holding:
        script = [f"$failed = @({','.join(quote(r) for r in refused)})"]
        for pid, remote in holding:
            _, ip, port = remote_endpoint(remote)
            script += [
                _windows_verdict(pid, ip, port)
                + "if ($v -like 'refused*') { $failed += $v.Substring(8) }\n"
                + f"elseif ($v -eq 'holds') {{ Stop-Process -Id {int(pid)} -Force }}"
            ]
        script.append("if ($failed) { throw ('not stopped: ' + ($failed -join '; ')) }")
        yield StringCommand("\n".join(script))
    elif not refused:
        host.noop("no process holds a connection to those addresses any more: nothing to stop")
    if refused:
        raise OperationError(f"not stopped: {'; '.join(refused)}")


def _names(match: dict[str, Any]) -> list[str]:
    """The names on the hosts-file line a match came from (`remote` is `ADDRESS NAME…`)."""
    return str(match.get("remote") or "").split()[1:]


def plan(finding: Finding, ctx: RemedyContext) -> Remedy:
    remedy = Remedy(CHECK, finding)
    matches = [m for m in finding.evidence.get("matches") or [] if isinstance(m, dict)]
    addresses = [str(m.get("indicator")) for m in matches if m.get("kind") in ("ip", "cidr")]
    nets, refused = firewall.blockable(addresses)
    remedy.notes += [f"not blocked: {reason}" for reason in refused]
    domains: set[str] = set()
    for match in matches:
        if match.get("source") != "hosts_file":
            continue
        for name in (
            _names(match) if match.get("kind") != "domain" else [str(match.get("indicator"))]
        ):
            try:
                domains.add(values.domain(name))
            except values.Refused as exc:
                remedy.notes.append(f"not sinkholed: {exc}")
    windows = ctx.host.os == "windows"
    if nets:
        remedy.steps.append(
            Step(
                f"block {', '.join(nets)}",
                firewall.windows_block if windows else firewall.block,
                {"networks": nets, "tag": ctx.tag},
                undo={"firewall": ctx.tag},
            )
        )
    if domains or (nets and any(m.get("source") == "hosts_file" for m in matches)):
        remedy.steps.append(
            Step(
                "sinkhole malicious names in the hosts file",
                hostsfile.windows_sinkhole if windows else hostsfile.sinkhole,
                {"domains": sorted(domains), "networks": nets, "tag": ctx.tag},
                undo={"hosts_file": ctx.tag},
            )
        )
    remedy.steps += _stops(matches, windows, remedy)
    return remedy


def _owners(match: dict[str, Any]) -> list[object]:
    """Every pid the sweep saw holding the socket (older evidence names only one)."""
    pids = match.get("pids")
    return list(pids) if isinstance(pids, list) and pids else [match.get("pid")]


def _stops(matches: list[dict[str, Any]], windows: bool, remedy: Remedy) -> list[Step]:
    """One step for every process that held a malicious connection, each pid once."""
    targets: dict[int, list[Any]] = {}
    for match in matches:
        if match.get("source") != "socket" or match.get("pid") is None:
            continue
        name = str(match.get("process") or "(unnamed)")
        for owner in _owners(match):
            try:
                pid = values.process_id(owner)
                remote = remote_endpoint(match.get("remote"))[0]
            except values.Refused as exc:
                remedy.notes.append(f"not stopped: {exc}")
                continue
            targets.setdefault(pid, [pid, remote, name])
    if not targets:
        return []
    shown = ", ".join(f"{name} (pid {pid})" for pid, _, name in targets.values())
    op = windows_processes_stopped if windows else processes_stopped
    return [Step(f"stop {shown}", op, {"targets": list(targets.values())})]


def undo_plan(undo: dict[str, str], windows: bool) -> list[Step]:
    """The steps that take a block back: its firewall block and its hosts-file edits."""
    steps = []
    if "firewall" in undo:
        unblock = firewall.windows_unblock if windows else firewall.unblock
        steps.append(Step("remove the firewall block", unblock, {"tag": undo["firewall"]}))
    if "hosts_file" in undo:
        restore = hostsfile.windows_unsinkhole if windows else hostsfile.unsinkhole
        steps.append(Step("restore the hosts file", restore, {"tag": undo["hosts_file"]}))
    return steps
