"""Remediation through pyinfra (SPEC §5): plan, or apply, verify by re-sweeping, and record.

The failing findings come from the store: for each host and check, the newest finished
sweep that judged it (or one sweep the operator names). Each finding's remediation module
turns it into operation calls, and from there on it is pyinfra's own machinery:

- every host connects and has its operations added in a greenlet of its own, the way
  pyinfra's CLI prepares hosts (its API's `add_op` would prepare them one after another);
- planning is pyinfra's change detection (`check_for_changes`): each operation's command
  generator is run against live facts and the commands it yields are the plan, so a
  plan shows exactly what an apply would run, and nothing changes on a host;
- applying is `run_ops(no_wait=True)`: each host runs its operations without waiting for
  the others. Every operation runs with `_ignore_errors`, so a failed remediation never
  stops the next one on the same host, and a failed host never stops another; steps of
  one remediation after a failed step are skipped through pyinfra's `_if`.

An operation that raises (a refused value, a fact the host cannot answer) fails that
operation with the reason, through the `guarded` wrapper, instead of killing the host's
greenlet. Afterwards the affected checks are swept again on those hosts, as a sweep of
its own in the store, and each remediation is recorded as fixed, failed or unverified.
"""

from __future__ import annotations

import getpass
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import gevent
from paramiko import SSHException
from pyinfra.api import FunctionCommand, State, StringCommand, operation
from pyinfra.api.command import FileUploadCommand, PyinfraCommand
from pyinfra.api.exceptions import ConnectError, PyinfraError
from pyinfra.api.host import Host as PyinfraHost
from pyinfra.api.operation import OperationMeta
from pyinfra.api.operations import run_ops
from pyinfra.context import ctx_host, ctx_state

from checks.base import Context, clean
from raquet import sweep
from raquet.models import VERIFICATION_PURPOSE, Finding, Host, HostResult, Inventory
from raquet.policy import Policy
from raquet.remediation_log import (
    OperationRecord,
    OperationStatus,
    RemediationLog,
    RemediationRecord,
    RemediationStatus,
)
from raquet.store import Store
from raquet.targets import make_state
from remediations import registry
from remediations.base import Remedy, RemedyContext, Step

log = logging.getLogger("raquet")
_URL_SECRET = re.compile(r"(://[^/\s:@]+:)[^@\s/]+@")
Phase = Literal["plan", "apply"]


@dataclass
class Options:
    apply: bool = False
    reboot: bool = False
    checks: list[str] = field(default_factory=list)
    parallel: int = 100
    connect_timeout: float = 10
    timeout: float = 900
    verify_host_keys: bool = True


@dataclass
class Trace:
    """Why a guarded operation could not run, if it could not (set by the generator itself)."""

    error: str | None = None
    skipped: bool = False


@dataclass
class OpRun:
    """One step on one host: its pyinfra operation and what became of it."""

    step: Step
    trace: Trace = field(default_factory=Trace)
    meta: OperationMeta | None = None
    commands: list[str] = field(default_factory=list)
    status: OperationStatus | None = None
    error: str | None = None
    noops: list[str] = field(default_factory=list)  # why it would change nothing, as it said


@dataclass
class Job:
    """One remediation of one finding on one host."""

    id: str
    sweep_id: str
    remedy: Remedy
    ops: list[OpRun]
    status: RemediationStatus = "planned"
    error: str | None = None
    record: RemediationRecord | None = None

    @property
    def check(self) -> str:
        return self.remedy.check


@dataclass
class Target:
    """A host and the remediations planned for it."""

    host: Host
    jobs: list[Job] = field(default_factory=list)
    reachable: bool | None = None
    error: str | None = None


def plan_targets(
    hosts: list[Host],
    findings: dict[str, list[tuple[str, Finding]]],
    policy: Policy,
    reboot: bool,
) -> list[Target]:
    """Each failing finding with a remediation, turned into a job; hosts without any are dropped."""
    planners = registry()
    targets = []
    for host in hosts:
        target = Target(host)
        for source, finding in findings.get(host.name, []):
            if finding.status != "fail" or finding.check not in planners:
                continue
            job_id = str(uuid.uuid4())
            tag = job_id.replace("-", "")[:12]
            ctx = RemedyContext(host=host, policy=policy, tag=tag, reboot=reboot)
            try:
                remedy = planners[finding.check](finding, ctx)
            except Exception as exc:  # a finding it cannot read must not stop the other plans
                remedy = Remedy(finding.check, finding, notes=[f"cannot plan: {clean(str(exc))}"])
            target.jobs.append(Job(job_id, source, remedy, [OpRun(s) for s in remedy.steps]))
        if target.jobs:
            targets.append(target)
    return targets


def _refuse(state: State, host: PyinfraHost, reason: str) -> bool:
    """The command a guarded operation yields when it cannot run: it fails, with `reason`."""
    return False


@operation()
def guarded(step: Step, trace: Trace):
    """`step`'s operation; whatever it raises fails this operation instead of the host."""
    try:
        yield from step.op._inner(**step.kwargs)  # type: ignore[attr-defined]
    except Exception as exc:  # a remediation must never break the host's other remediations
        trace.error = clean(str(exc) or type(exc).__name__, 300)
        yield FunctionCommand(_refuse, (trace.error,), {})


def _proceed(run: OpRun, earlier: list[OpRun]) -> Callable[[], bool]:
    """pyinfra `_if`: run a step only when no earlier step of its remediation failed (and, for
    `after_change` steps, when one of them changed something)."""

    def decide() -> bool:
        metas = [r.meta for r in earlier if r.meta is not None]
        failed = any(not m.is_complete() or m.did_error() for m in metas)
        unchanged = run.step.after_change and not any(m.did_change() for m in metas)
        run.trace.skipped = failed or unchanged
        return not run.trace.skipped

    return decide


def show(command: PyinfraCommand) -> str:
    """A command as the plan and the log show it: secrets masked, URL passwords too. A command
    that edits a file carries a `preview` (what it writes and the unified diff), which people
    can read and its base64 they cannot, so that is shown instead."""
    preview = getattr(command, "preview", None)
    if isinstance(preview, str):
        text = preview
    elif isinstance(command, StringCommand):
        text = command.get_masked_value()
    elif isinstance(command, FileUploadCommand):
        size = len(command.src.getvalue()) if hasattr(command.src, "getvalue") else "?"
        text = f"(write {size} bytes to {command.dest})"
    elif isinstance(command, FunctionCommand) and command.function is _refuse:
        text = f"(cannot run: {command.args[0]})"
    elif isinstance(command, FunctionCommand):
        text = f"(python: {command.function.__name__})"
    else:
        text = repr(command)
    return _URL_SECRET.sub(r"\1***@", text)


class Engine:
    """One pyinfra State over the targets' hosts; `run` plans or applies on all of them at once."""

    def __init__(self, targets: list[Target], options: Options, phase: Phase) -> None:
        self.targets = targets
        self.options = options
        self.phase = phase
        self.state = make_state(
            [t.host for t in targets],
            parallel=options.parallel,
            connect_timeout=options.connect_timeout,
            verify_host_keys=options.verify_host_keys,
        )
        # Planning is pyinfra's change detection; an apply was planned already, so its facts
        # are read once, at execute time.
        self.state.check_for_changes = phase == "plan"

    def run(self) -> None:
        # pyinfra's state context is process-global and not re-entrant across greenlets: it is
        # entered once here, as pyinfra's CLI does; each greenlet sets only its own host.
        with ctx_state.use(self.state):
            try:
                greenlets = [self.state.pool.spawn(self._prepare, t) for t in self.targets]
                gevent.joinall(greenlets)
                if self.phase == "plan":
                    gevent.joinall([self.state.pool.spawn(self._list, t) for t in self.targets])
                else:
                    self._execute()
            finally:
                for target in self.targets:
                    if target.reachable:
                        sweep.close_host(self.state.inventory.get_host(target.host.name))

    def _pyinfra_host(self, target: Target) -> PyinfraHost | None:
        if target.host.name not in self.state.inventory.hosts:
            target.reachable = False
            target.error = f"no pyinfra connector '{target.host.connector_name}' is installed"
            return None
        return self.state.inventory.get_host(target.host.name)

    def _prepare(self, target: Target) -> None:
        """Connect, then add every step as an operation of this host (in this host's greenlet)."""
        host = self._pyinfra_host(target)
        if host is None:
            return
        try:
            host.connect(raise_exceptions=True, show_errors=False)
        except ConnectError as exc:
            timeout = self.options.connect_timeout
            target.reachable, target.error = False, sweep.connect_reason(exc, timeout)
            return
        except Exception as exc:  # a host must never break the run
            target.reachable, target.error = False, sweep.reason(exc)
            return
        target.reachable = True
        self.state.activate_host(host)
        with ctx_host.use(host):
            for job in target.jobs:
                for index, run in enumerate(job.ops):
                    self._add(target, job, run, job.ops[:index])

    def _add(self, target: Target, job: Job, run: OpRun, earlier: list[OpRun]) -> None:
        arguments: dict[str, Any] = {
            "name": f"{job.check}: {run.step.title}",
            "_sudo": target.host.sudo,
            "_ignore_errors": True,
            "_timeout": int(self.options.timeout),
        }
        if earlier:
            arguments["_if"] = _proceed(run, earlier)
        try:
            run.meta = guarded(step=run.step, trace=run.trace, **arguments)
        except (PyinfraError, OSError, SSHException, EOFError) as exc:
            run.trace.error = sweep.reason(exc)

    def _commands(self, target: Target, run: OpRun) -> Iterator[str]:
        if run.meta is None:
            return
        host = self.state.inventory.get_host(target.host.name)
        op_hash = run.meta._hash
        data = self.state.get_op_data_for_host(host, op_hash)
        # an operation says why it has nothing to do through host.noop(); keep its words
        host.noop = run.noops.append  # type: ignore[method-assign, assignment]
        try:
            for command in data.command_generator():
                yield show(command)
        finally:
            del host.noop

    def _list(self, target: Target) -> None:
        """The plan: each operation's command generator run against the host's live facts."""
        if not target.reachable:
            return
        with ctx_host.use(self.state.inventory.get_host(target.host.name)):
            for job in target.jobs:
                for run in job.ops:
                    try:
                        run.commands = list(self._commands(target, run))
                    except (PyinfraError, OSError, SSHException, EOFError) as exc:
                        run.trace.error = sweep.reason(exc)
                    run.status = "changed" if run.commands else "unchanged"
                    if run.trace.error:
                        run.status, run.error = "failed", run.trace.error

    def _execute(self) -> None:
        hub = gevent.get_hub()
        quiet = hub.NOT_ERROR
        # run_ops reports a host whose run broke off by raising in that host's greenlet;
        # gevent would print that as a crash, but it is recorded per operation below.
        hub.NOT_ERROR = (*quiet, PyinfraError)
        try:
            if self.state.active_hosts:
                run_ops(self.state, no_wait=True)
        except PyinfraError as exc:
            log.debug("run_ops: %s", exc)
        finally:
            hub.NOT_ERROR = quiet
        for target in self.targets:
            for job in target.jobs:
                for run in job.ops:
                    _settle(run)


def _settle(run: OpRun) -> None:
    """What happened to one operation, from its pyinfra OperationMeta."""
    meta = run.meta
    if meta is None or not meta.is_complete():
        run.status = "failed"
        run.error = run.trace.error or "not run: the host's run stopped before this operation"
        return
    # pyinfra keeps the commands it ran on the meta only (no public accessor in 3.10)
    run.commands = [show(c) for c in meta._commands or []]
    if meta.did_error():
        run.status = "failed"
        output = meta.stderr_lines or meta.stdout_lines
        run.error = run.trace.error or clean(" | ".join(output[-5:]), 500) or "the command failed"
    elif run.trace.skipped:
        run.status = "skipped"
    else:
        run.status = "changed" if meta.did_change() else "unchanged"


def _ops_error(job: Job) -> str | None:
    failed = [f"{r.step.title}: {r.error}" for r in job.ops if r.status == "failed"]
    return "; ".join(failed) or None


def verify(
    targets: list[Target],
    inventory: Inventory,
    policy: Policy,
    store: Store,
    options: Options,
    context: Context,
) -> tuple[str, dict[str, HostResult]]:
    """The remediated checks swept again on the hosts that ran remediations: a sweep of its own."""
    hosts = [t.host for t in targets if t.reachable]
    checks = sorted({job.check for t in targets if t.reachable for job in t.jobs})
    sweep_id = store.begin_sweep(
        str(inventory.source.resolve()),
        inventory.province,
        checks,
        [(h.name, h.unit) for h in hosts],
        {
            "purpose": VERIFICATION_PURPOSE,
            "policy": policy.source,
            "parallel": options.parallel,
            "connect_timeout": options.connect_timeout,
            "verify_host_keys": options.verify_host_keys,
            "timezone": inventory.timezone,
            "issuer": inventory.issuer,
            "units": {u.id: u.display_name for u in inventory.units},
        },
    )
    sweep_options = sweep.SweepOptions(
        checks=checks,
        parallel=options.parallel,
        connect_timeout=options.connect_timeout,
        verify_host_keys=options.verify_host_keys,
    )
    results = sweep.run(hosts, context, store, sweep_id, sweep_options)
    store.finish_sweep(sweep_id, datetime.now(UTC))
    return sweep_id, {r.name: r for r in results}


def judge(job: Job, result: HostResult | None) -> None:
    """fixed when the check now passes; failed when it still fails or an operation failed;
    unverified when the check could not say."""
    error = _ops_error(job)
    finding = None
    if result is not None and result.status == "swept":
        finding = next((f for f in result.findings if f.check == job.check), None)
    if finding is not None and finding.status in ("pass", "not_applicable"):
        job.status, job.error = "fixed", error
    elif finding is not None and finding.status == "fail":
        job.status = "failed"
        job.error = error or f"still failing: {finding.title}"
    elif error:
        job.status, job.error = "failed", error
    else:
        job.status = "unverified"
        job.error = (
            f"the check could not be run again: {finding.title}"
            if finding is not None
            else f"the host could not be swept again: {result.error if result else 'no result'}"
        )


def operator() -> str:
    """The local user running raquet, as the log names who changed a host."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def record(
    log_: RemediationLog,
    target: Target,
    job: Job,
    started: datetime,
    who: str,
    verify_sweep_id: str | None = None,
) -> None:
    """Write (or update) the job's remediation record; undo data only for steps that changed."""
    undo: dict[str, str] = {}
    for run in job.ops:
        if run.step.undo and run.status in ("changed", "failed"):
            undo.update(run.step.undo)
    job.record = RemediationRecord(
        id=job.id,
        sweep_id=job.sweep_id,
        host=target.host.name,
        unit=target.host.unit,
        check=job.check,
        finding=job.remedy.finding.title,
        operations=[
            OperationRecord(name=r.step.title, commands=r.commands, status=r.status, error=r.error)
            for r in job.ops
        ],
        status=job.status,
        error=job.error,
        operator=who,
        started_at=started,
        finished_at=None if job.status == "planned" else datetime.now(UTC),
        verify_sweep_id=verify_sweep_id,
        undo=undo,
    )
    log_.save(job.record)
