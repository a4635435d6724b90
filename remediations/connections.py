"""`connections` remediation: block the malicious addresses, sinkhole the malicious names, and
stop the processes that held the connections.

The firewall block comes first, so the process cannot reconnect between being stopped
and being blocked, and its dying connection is reset rather than left half-closed. A
process is stopped only if its pid still runs a program of the name the sweep saw: a pid
reused since then belongs to someone else. The block and the hosts-file edits carry the
remediation's tag and are undone by `raquet remediate --undo ID`; a stopped process is
not restarted.
"""

from __future__ import annotations

from typing import Any

from pyinfra import host
from pyinfra.api import FactBase, QuoteString, StringCommand, operation
from pyinfra.operations import server

from raquet.models import Finding
from remediations import firewall, hostsfile, values
from remediations.base import Remedy, RemedyContext, Step

CHECK = "connections"


class ProcessName(FactBase[str | None]):
    """The name (comm) of the process `pid` runs now, or None when it is gone."""

    def command(self, pid: int) -> StringCommand:
        return StringCommand("cat", QuoteString(f"/proc/{int(pid)}/comm"), "2>/dev/null || true")

    def process(self, output: list[str]) -> str | None:
        return output[0] if output else None


@operation()
def process_stopped(pid: int, name: str):
    """SIGKILL to `pid`, only while it still runs `name` (malware does not get to clean up)."""
    running = host.get_fact(ProcessName, pid=values.process_id(pid), _sudo=False)
    if running != name:
        host.noop(f"pid {pid} no longer runs {name}")
        return
    yield from server.kill._inner(pid=pid, signal="KILL")


class WindowsProcessName(FactBase[str | None]):
    def command(self, pid: int) -> StringCommand:
        return StringCommand(
            f"(Get-Process -Id {int(pid)} -ErrorAction SilentlyContinue).ProcessName"
        )

    def process(self, output: list[str]) -> str | None:
        return output[0].strip() if output and output[0].strip() else None


@operation()
def windows_process_stopped(pid: int, name: str):
    running = host.get_fact(WindowsProcessName, pid=values.process_id(pid))
    if running is None or running.lower() != name.lower().removesuffix(".exe"):
        host.noop(f"pid {pid} no longer runs {name}")
        return
    yield StringCommand(f"Stop-Process -Id {int(pid)} -Force")


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


def _stops(matches: list[dict[str, Any]], windows: bool, remedy: Remedy) -> list[Step]:
    """One step per process that held a malicious connection, each pid once."""
    steps: dict[tuple[int, str], Step] = {}
    for match in matches:
        process = match.get("process")
        if match.get("source") != "socket" or not isinstance(process, str) or not process:
            continue
        try:
            pid = values.process_id(match.get("pid"))
        except values.Refused as exc:
            remedy.notes.append(f"not stopped: {exc}")
            continue
        steps.setdefault(
            (pid, process),
            Step(
                f"stop {process} (pid {pid})",
                windows_process_stopped if windows else process_stopped,
                {"pid": pid, "name": process},
            ),
        )
    return list(steps.values())


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
