"""What `raquet remediate` prints: the plan per host, and after an apply the outcome per host.

Titles, paths and names in it came from hosts and feeds, and commands quote them only for
a shell: a terminal would still obey an escape sequence inside. Every line is made
printable before it is shown.
"""

from __future__ import annotations

from tabulate import tabulate

from raquet.models import HostResult
from raquet.remediate import Job, Target

_PLAN_MARK = {"changed": "would run", "unchanged": "no change", "failed": "cannot run"}


def printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)


def _header(target: Target) -> str:
    return printable(f"{target.host.name} ({target.host.unit})")


def plan(targets: list[Target]) -> str:
    """The plan per reachable host, the sweep it reads named once at the top, and one
    summary at the end: what would run, what cannot, what would change nothing, and each
    unreachable host with its reason (said there only, once)."""
    sweeps = sorted({job.sweep_id for target in targets for job in target.jobs})
    lines = [printable(f"plan from sweep {', '.join(sweeps)}"), ""]
    counts = dict.fromkeys(_PLAN_MARK.values(), 0)
    for target in targets:
        if not target.reachable:
            continue
        lines.append(_header(target))
        for job in target.jobs:
            lines.append(printable(f"  {job.check}: {job.remedy.finding.title}"))
            for run in job.ops:
                mark = _PLAN_MARK[run.status or "failed"]
                counts[mark] += 1
                why = (
                    f": {'; '.join(dict.fromkeys(run.noops))}"
                    if mark == "no change" and run.noops
                    else ""
                )
                lines.append(printable(f"    - {run.step.title} [{mark}{why}]"))
                if run.error:
                    lines.append(printable(f"        {run.error}"))
                for command in run.commands:
                    first, *rest = command.split("\n")
                    lines.append(printable(f"        $ {first}"))
                    lines += [printable(f"          {line}") for line in rest if line]
            lines += [printable(f"    note: {note}") for note in job.remedy.notes]
            if not job.ops:
                lines.append("    nothing raquet can run for this finding")
        lines.append("")
    return "\n".join([*lines, *_summary(targets, counts)])


def _summary(targets: list[Target], counts: dict[str, int]) -> list[str]:
    unreachable = [t for t in targets if not t.reachable]
    said = {
        "would run": "would run",
        "no change": "would change nothing",
        "cannot run": "cannot run",
    }
    operations = ", ".join(f"{counts[mark]} {said[mark]}" for mark in said)
    lines = [f"{len(targets)} host(s), operations: {operations}; {len(unreachable)} unreachable"]
    lines += [printable(f"  unreachable {_header(t)}: {t.error}") for t in unreachable]
    return lines


def _detail(job: Job) -> str:
    parts = [job.error] if job.error else []
    parts += job.remedy.notes
    return printable("; ".join(p for p in parts if p))[:300]


def outcome(targets: list[Target], results: dict[str, HostResult]) -> str:
    """One row per remediation, then what the operator must still do (reboots)."""
    rows = []
    reboots = []
    for target in targets:
        for job in target.jobs:
            changed = sum(r.status == "changed" for r in job.ops)
            rows.append(
                [
                    printable(target.host.name),
                    job.check,
                    job.status,
                    changed,
                    job.id[:8],
                    _detail(job),
                ]
            )
        result = results.get(target.host.name)
        patches = (
            next((f for f in result.findings if f.check == "patches"), None) if result else None
        )
        if patches is not None and patches.evidence.get("reboot_required"):
            reboots.append(printable(target.host.name))
    table = tabulate(
        rows, headers=["host", "check", "status", "changes", "id", "detail"], tablefmt="simple"
    )
    verified = [
        printable(f"  {target.host.name} {job.check}: {line}")
        for target in targets
        for job in target.jobs
        for line in job.remedy.outcome
    ]
    if verified:
        table += "\n\nverified after the apply:\n" + "\n".join(verified)
    if reboots:
        table += "\n\nreboot required (run with --reboot to let raquet reboot): " + ", ".join(
            reboots
        )
    return table
