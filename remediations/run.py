"""What `raquet remediate` does: print the plan (default), apply it with `--apply`, or undo a block.

Exit codes follow `raquet.cli`: 0 every remediation fixed its finding (or there was
nothing to do), 1 some remediation failed or could not be verified (in a plan: some
operation cannot run), 2 bad input or usage, 3 some hosts could not be reached.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import typer

from raquet.console import err
from raquet.errors import InputError
from raquet.gather import sweep_context
from raquet.inventory import load_inventory
from raquet.models import Finding, Host, HostResult, Inventory
from raquet.policy import Policy, load_policy
from raquet.remediate import (
    Engine,
    Job,
    OpRun,
    Options,
    Target,
    judge,
    operator,
    plan_targets,
    record,
    verify,
)
from raquet.remediation_log import RemediationLog, RemediationNotFound
from raquet.store import Store, SweepNotFound
from remediations import display, registry
from remediations.base import Remedy
from remediations.connections import undo_plan

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_PENDING = 0, 1, 2, 3, 4


def _usage(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {display.printable(message)}", markup=True, highlight=False)
    return typer.Exit(EXIT_USAGE)


def _inputs(
    inventory: Path, policy: Path | None, units: list[str], names: list[str]
) -> tuple[Inventory, Policy, list[Host]]:
    try:
        inv = load_inventory(inventory)
        pol = load_policy(policy)
        hosts = inv.select(units)
    except InputError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise typer.Exit(EXIT_USAGE) from None
    except OSError as exc:
        raise _usage(f"{exc.filename}: {exc.strerror}") from None
    except KeyError as exc:
        raise _usage(str(exc.args[0])) from None
    unknown = sorted(set(names) - {h.name for h in hosts})
    if unknown:
        raise _usage(f"unknown host(s) in the selected units: {', '.join(unknown)}")
    return inv, pol, [h for h in hosts if not names or h.name in names]


def main(
    inventory: Path,
    sweep: str,
    check: list[str] | None,
    host: list[str] | None,
    unit: list[str] | None,
    apply: bool,
    reboot: bool,
    undo: str | None,
    policy: Path | None,
    db: str | None,
    parallel: int,
    connect_timeout: float,
    timeout: float,
    insecure_no_host_key_check: bool,
) -> None:
    """The body of `raquet remediate`; ends by raising typer.Exit with the exit code."""
    inv, pol, hosts = _inputs(inventory, policy, unit or [], host or [])
    known = registry()
    unknown = sorted(set(check or []) - set(known))
    if unknown:
        raise _usage(f"no remediation for check(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if insecure_no_host_key_check:
        err.print(
            "[bold red]WARNING: SSH host keys are NOT verified: anyone on the path can impersonate "
            "these hosts and receive the changes and the sudo rights meant for them.[/bold red]"
        )
    options = Options(
        apply=apply,
        reboot=reboot,
        checks=sorted(set(check or known)),
        parallel=parallel,
        connect_timeout=connect_timeout,
        timeout=timeout,
        verify_host_keys=not insecure_no_host_key_check,
    )
    with Store(db) as store:
        log = RemediationLog(store)
        if undo is not None:
            raise typer.Exit(_undo(log, inv, undo, options))
        try:
            sweep_id = None if sweep.strip().lower() == "latest" else store.resolve_sweep(sweep)
        except SweepNotFound as exc:
            raise _usage(str(exc)) from None
        findings = store.latest_findings([h.name for h in hosts], options.checks, sweep_id)
        targets = plan_targets(hosts, findings, pol, reboot)
        if not targets:
            print("nothing to remediate: no failing finding with a remediation on these hosts")
            raise typer.Exit(EXIT_OK)
        if not apply:
            Engine(targets, options, "plan").run()
            print(display.plan(targets))
            raise typer.Exit(_plan_exit(targets))
        raise typer.Exit(_apply(store, log, inv, pol, targets, options))


def _plan_exit(targets: list[Target]) -> int:
    """As `terraform plan -detailed-exitcode` tells "no changes" from "changes": 0 nothing
    would change, 4 changes pending, 1 some operation cannot run, 3 a host unreachable."""
    if any(not t.reachable for t in targets):
        return EXIT_UNREACHABLE
    runs = [r for t in targets for j in t.jobs for r in j.ops]
    if any(r.status == "failed" for r in runs):
        return EXIT_FAILED
    return EXIT_PENDING if any(r.status == "changed" for r in runs) else EXIT_OK


def _apply(
    store: Store,
    log: RemediationLog,
    inv: Inventory,
    pol: Policy,
    targets: list[Target],
    options: Options,
) -> int:
    started, who = datetime.now(UTC), operator()
    for target in targets:
        for job in target.jobs:
            record(log, target, job, started, who)  # planned: visible even if raquet is killed
    err.print(
        f"applying {sum(len(t.jobs) for t in targets)} remediation(s) on {len(targets)} host(s)"
    )
    Engine(targets, options, "apply").run()
    checks = sorted({job.check for t in targets for job in t.jobs})
    err.print(f"verifying: sweeping {', '.join(checks)} again")
    verify_id, results = verify(
        targets, inv, pol, store, options, sweep_context(store, pol, checks)
    )
    for target in targets:
        for job in target.jobs:
            if target.reachable:
                judge(job, results.get(target.host.name))
                _verified(job, results.get(target.host.name))
            else:
                job.status, job.error = "failed", f"not applied: {target.error}"
            record(log, target, job, started, who, verify_id)
    print(display.outcome(targets, results))
    err.print(f"verification sweep {verify_id}")
    if any(not t.reachable for t in targets):
        return EXIT_UNREACHABLE
    done = all(job.status == "fixed" for t in targets for job in t.jobs)
    return EXIT_OK if done else EXIT_FAILED


def _verified(job: Job, result: HostResult | None) -> None:
    """What the re-sweep says of each thing the remedy was to fix (`Remedy.verified`); a
    remediation that is not fixed carries the items left in its error (the log keeps it)."""
    if job.remedy.verified is None:
        return
    after = None
    if result is not None and result.status == "swept":
        after = next((f for f in result.findings if f.check == job.check), None)
    job.remedy.outcome = job.remedy.verified(after)
    left = [line for line in job.remedy.outcome if " reached" not in line or "not reached" in line]
    if job.status != "fixed" and left:
        job.error = "; ".join([*filter(None, [job.error]), *left])[:2000]


def _undo(log: RemediationLog, inv: Inventory, ref: str, options: Options) -> int:
    try:
        entry = log.get(ref)
    except RemediationNotFound as exc:
        raise _usage(str(exc)) from None
    if entry.undone_at is not None:
        print(
            f"remediation {entry.id} was undone at {entry.undone_at.isoformat()} by {entry.undone_by}"
        )
        return EXIT_OK
    if not entry.undo:
        print(f"remediation {entry.id} changed nothing that can be undone")
        return EXIT_OK
    by_name = {h.name: h for h in inv.hosts()}
    if entry.host not in by_name:
        raise _usage(f"host {entry.host} of remediation {entry.id} is not in {inv.source}")
    target_host = by_name[entry.host]
    finding = Finding(check=entry.check, status="fail", title=f"undo: {entry.finding}")
    steps = undo_plan(entry.undo, target_host.os == "windows")
    job = Job(
        entry.id, entry.sweep_id, Remedy(entry.check, finding, steps), [OpRun(s) for s in steps]
    )
    target = Target(target_host, [job])
    Engine([target], options, "apply" if options.apply else "plan").run()
    if not options.apply:
        print(display.plan([target]))
        return _plan_exit([target])
    if not target.reachable:
        err.print(display.printable(f"{entry.host} unreachable: {target.error}"))
        return EXIT_UNREACHABLE
    failed = [r for r in job.ops if r.status == "failed"]
    for run in job.ops:
        print(display.printable(f"{entry.host}: {run.step.title}: {run.status} {run.error or ''}"))
    if failed:
        return EXIT_FAILED
    log.mark_undone(entry.id, datetime.now(UTC), operator())
    print(f"remediation {entry.id} undone")
    return EXIT_OK
