"""Sweeps hosts in parallel through pyinfra: connect, one gather command, judge, store — per host.

Each host runs in its own greenlet on the State's pool from connect to stored result, so
a slow or dead host never holds up the others (no lock-step between hosts), and every
result is committed the moment it exists. Whatever a host does — refuse, stall, drop
the connection, time out, send garbage — ends as an `unreachable` or `error` result with
a reason; nothing escapes a host's greenlet.

What connecting needs (gevent, pyinfra, paramiko, the host models) is imported with this
module; what the gather script needs (the checks, the policy) only once the first
connections are on their way, and the store (SQLAlchemy) once the hosts have their
scripts and work, so a sweep's start-up is no longer than connecting takes and its
fixed cost is spent while the hosts work (`run_beginning`).
"""

from __future__ import annotations

import logging
import resource
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import gevent
import pyinfra.connectors.util
from gevent.event import AsyncResult
from paramiko import SSHException
from pyinfra.api import State
from pyinfra.api.exceptions import ConnectError
from pyinfra.api.host import Host as PyinfraHost

from raquet.channel import OutputTooLarge, SudoPasswordRequired, nothing, run_script
from raquet.errors import clean
from raquet.models import Host, HostResult, HostStatus
from raquet.targets import make_state
from raquet.transport_speed import resolve_literals_inline

if TYPE_CHECKING:
    from checks.base import Check, Context, Sections
    from raquet.policy import Policy
    from raquet.store import Store, StoreError
    from raquet.store.writer import ResultWriter
    from raquet.waivers import Waiver

log = logging.getLogger("raquet")


def _refuse_prompt(prompt: str = "", stream: object = None) -> str:
    raise SudoPasswordRequired("sudo asked for a password; give the user NOPASSWD sudo for raquet")


# pyinfra answers "sudo: a password is required" with getpass(), which would hang a
# scheduled sweep on a terminal nobody watches.
pyinfra.connectors.util.getpass = _refuse_prompt


@dataclass
class SweepOptions:
    checks: list[str] = field(default_factory=list)
    parallel: int = 500
    connect_timeout: float = 10
    check_timeout: float = 120
    verify_host_keys: bool = True
    waivers: list[Waiver] = field(default_factory=list)

    def stored(self) -> dict[str, object]:
        """What a sweep keeps of its options, so `--resume` and workers judge by them."""
        return {
            "parallel": self.parallel,
            "connect_timeout": self.connect_timeout,
            "timeout": self.check_timeout,
            "verify_host_keys": self.verify_host_keys,
            "waivers": [w.model_dump(mode="json") for w in self.waivers],
        }

    def restore(self, stored: dict[str, Any], checks: list[str]) -> None:
        """Take the options a sweep was begun with (those it did not store stay as given)."""
        self.checks = checks
        self.parallel = int(stored.get("parallel", self.parallel))
        self.connect_timeout = float(stored.get("connect_timeout", self.connect_timeout))
        self.check_timeout = float(stored.get("timeout", self.check_timeout))
        self.verify_host_keys = bool(stored.get("verify_host_keys", self.verify_host_keys))
        if "waivers" in stored:
            from raquet.waivers import Waiver

            self.waivers = [Waiver.model_validate(w) for w in stored["waivers"]]


@dataclass
class Begun:
    """What a sweep's hosts wait for once connected: the store, the sweep begun in it (its
    plan recorded), and the context the hosts are judged in."""

    store: Store
    sweep_id: str
    ctx: Context
    swept_by: str | None = None


@dataclass
class Plan:
    """What a connected host of a local sweep waits for before its gather script: the
    policy the script is built for, the checks it runs, its deadline from then on."""

    policy: Policy
    checks: list[Check]
    budget: float


@dataclass
class Ready:
    """What a host that has its output waits for before it is judged: the context it is
    judged in and where its result goes."""

    ctx: Context
    writer: ResultWriter


@dataclass
class Stages:
    """A local sweep's host waits for `plan` once connected and for `ready` once its
    output is in; `sending` counts the hosts yet to send their script."""

    plan: AsyncResult[Plan]
    ready: AsyncResult[Ready]
    sending: Sending


class Sending:
    """How many started hosts have yet to send their gather script or end without it, and
    when that last changed."""

    def __init__(self) -> None:
        self.waiting = 0
        self.changed = time.monotonic()

    def start(self) -> None:
        self.waiting += 1

    def done(self) -> None:
        self.waiting -= 1
        self.changed = time.monotonic()


def run(
    hosts: list[Host],
    ctx: Context,
    store: Store,
    sweep_id: str,
    options: SweepOptions,
    on_result: Callable[[HostResult], None] = lambda r: None,
    swept_by: str | None = None,
) -> list[HostResult]:
    """Sweep `hosts` into a sweep already begun in `store` (see `run_beginning`)."""
    begun = Begun(store, sweep_id, ctx, swept_by)
    return run_beginning(hosts, lambda: ctx.policy, lambda: begun, options, on_result)


def run_beginning(
    hosts: list[Host],
    plan: Callable[[], Policy],
    begin: Callable[[], Begun],
    options: SweepOptions,
    on_result: Callable[[HostResult], None] = lambda r: None,
) -> list[HostResult]:
    """Sweep `hosts`, storing and reporting each result as soon as it exists.

    The hosts' greenlets start connecting first. Once every greenlet started has sent its
    connection on its way, `plan` reads what the gather script needs (the policy, the
    waivers, the checks named; it may set `options.checks`) and each connected host sends
    its script; once those that are connecting have sent theirs (`_scripts_sent`), `begin`
    opens the store, begins the sweep and builds the context (SQLAlchemy alone is a few
    hundred milliseconds of imports, which the hosts now spend working). A host waits for
    the plan once connected and for the context once its output is in, its connection
    already closed; neither wait counts against its deadline. If `plan` fails (bad input)
    nothing has run on any host; if `begin` fails, at most the read-only gather script has:
    either way every connection is closed, nothing is judged or stored, and the exception
    is raised.

    A host's greenlet hands its result to the writer and frees its slot; `on_result`
    runs once the result is committed (ResultWriter: within 0.2 s), so what the
    progress shows as done is in the store.
    """
    _allow_open_files(min(options.parallel, len(hosts)))
    resolve_literals_inline()
    state = make_state(
        hosts,
        parallel=options.parallel,
        connect_timeout=options.connect_timeout,
        verify_host_keys=options.verify_host_keys,
    )
    results: list[HostResult] = []
    stages = Stages(AsyncResult(), AsyncResult(), Sending())

    def stored(result: HostResult, error: StoreError | None) -> None:
        if error is not None:
            log.error("%s: result not stored: %s", result.name, error)
            result = not_stored(result, error)
        results.append(result)
        on_result(result)

    def sweep_one(host: Host) -> None:
        result = guarded_sweep(
            state, host, [], None, options, connect_budget(options), stages=stages
        )
        stages.ready.get().writer.put(result)

    def feed() -> None:
        for host in hosts:
            stages.sending.start()
            state.pool.spawn(sweep_one, host)

    feeder = gevent.spawn(feed)
    _connections_started()
    try:
        policy = plan()
        from checks import select as select_checks

        selected = select_checks(options.checks)
        stages.plan.set(Plan(policy, selected, host_budget(options, len(selected))))
        _scripts_sent(stages.sending)
        begun = begin()
        from raquet.store.writer import ResultWriter

        writer = ResultWriter(
            partial(
                begun.store.record_results,
                begun.sweep_id,
                swept_by=begun.swept_by or socket.gethostname(),
            ),
            stored,
        )
    except BaseException:
        feeder.kill()
        state.pool.kill(timeout=options.connect_timeout)  # each closes its connection
        raise
    stages.ready.set(Ready(begun.ctx, writer))
    try:
        feeder.join()
        state.pool.join()
    finally:
        writer.close()
    return results


def _scripts_sent(sending: Sending, quiet: float = 0.3, limit: float = 1.0) -> None:
    """Yield while the hosts being connected send their gather scripts: a handshake needs
    the hub at every step, and the store's imports, which come next, hold it for a few
    hundred milliseconds, during which the hosts would otherwise wait idle instead of
    working. Stops when every started host has sent its script (or ended), when none has
    for `quiet` seconds (a dead or slow host delays nobody), or after `limit`."""
    start = time.monotonic()
    while sending.waiting:
        gevent.sleep(0.005)
        now = time.monotonic()
        if now - max(sending.changed, start) > quiet or now - start > limit:
            return


def _connections_started(limit: float = 0.02) -> None:
    """Yield until every host greenlet started waits on its network: its address looked up
    (gevent resolves in the hub's threads, even a literal address) and its connection sent,
    or `limit` has passed (a slow name server delays nobody's store for longer)."""
    threads = gevent.get_hub().threadpool
    end = time.monotonic() + limit
    while True:
        gevent.idle()
        if not len(threads) or time.monotonic() > end:
            break
        gevent.sleep(0.0005)
    gevent.idle()


def host_budget(options: SweepOptions, checks: int) -> float:
    """The hard deadline of one host: connecting, every check's own timeout, closing."""
    return connect_budget(options) + options.check_timeout * (checks + 1)


def connect_budget(options: SweepOptions) -> float:
    """The deadline of connecting and closing alone (a local sweep's hosts, until their
    checks are chosen)."""
    return options.connect_timeout * 3 + 10


def not_stored(result: HostResult, error: StoreError) -> HostResult:
    """What a host whose result could not be written counts as: an error, left for
    `--resume` (it has no row, so the sweep stays unfinished)."""
    return result.model_copy(
        update={
            "status": "error",
            "error": f"result not stored, left for --resume: {error}",
            "findings": [],
            "detections": [],
        }
    )


def _allow_open_files(parallel: int) -> None:
    """Raise the soft open-files limit toward the hard one: each host in flight holds about
    three descriptors, and the common default of 1024 would cap a sweep near 330 hosts."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = parallel * 3 + 64
    if soft != resource.RLIM_INFINITY and soft < wanted:
        ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
        if ceiling < wanted:
            log.warning("open-files limit %d allows about %d hosts at once", ceiling, ceiling // 3)


def guarded_sweep(
    state: State,
    host: Host,
    selected: list[Check],
    ctx: Context | None,
    options: SweepOptions,
    budget: float,
    *,
    stages: Stages | None = None,
) -> HostResult:
    """One host from connecting to its judged result, under a hard deadline and with no
    exception left unhandled (a local sweep's greenlet and a worker's task both run it).
    With `stages`, `budget` is connecting's, and the checks, the deadline from then on
    and the context are what the stages are set to (see `run_beginning`)."""
    started = datetime.now(UTC)
    deadline = _deadline(budget)
    sent = _once(stages.sending.done) if stages is not None else nothing
    try:
        deadline.start()
        try:
            result = _sweep_host(state, host, selected, ctx, options, stages, deadline, sent)
        finally:
            deadline.close()
            sent()  # a host that ended without sending its script
    except Exception as exc:  # a host must never break the sweep
        log.debug("host %s failed", host.name, exc_info=True)
        result = _result(host, "error", reason(exc))
    result.started_at, result.finished_at = started, datetime.now(UTC)
    return result


def _deadline(budget: float) -> gevent.Timeout:
    return gevent.Timeout(budget, TimeoutError(f"host did not finish within {budget:.0f}s"))


def _once(call: Callable[[], None]) -> Callable[[], None]:
    done = False

    def once() -> None:
        nonlocal done
        if not done:
            done = True
            call()

    return once


def _sweep_host(
    state: State,
    host: Host,
    selected: list[Check],
    ctx: Context | None,
    options: SweepOptions,
    stages: Stages | None,
    deadline: gevent.Timeout,
    sent: Callable[[], None],
) -> HostResult:
    if host.name not in state.inventory.hosts:
        return _result(host, "error", f"no pyinfra connector '{host.connector_name}' is installed")
    target: PyinfraHost = state.inventory.get_host(host.name)
    try:
        target.connect(raise_exceptions=True, show_errors=False)
    except ConnectError as exc:
        return _result(host, "unreachable", connect_reason(exc, options.connect_timeout))
    try:
        if stages is None:
            assert ctx is not None
            policy = ctx.policy
            gathered = _gather(target, host, selected, policy, options, sent)
        else:
            deadline.cancel()
            plan = stages.plan.get()
            selected, policy = plan.checks, plan.policy
            with _deadline(plan.budget):
                gathered = _gather(target, host, selected, policy, options, sent)
    finally:
        close_host(target)
    if isinstance(gathered, HostResult):
        return gathered
    if stages is not None:
        ctx = stages.ready.get().ctx
    assert ctx is not None
    return _judged(host, selected, gathered, ctx)


def _gather(
    target: PyinfraHost,
    host: Host,
    selected: list[Check],
    policy: Policy,
    options: SweepOptions,
    sent: Callable[[], None],
) -> Sections | HostResult:
    """The gather script run on the connected host: its answer in sections, or the
    host's error."""
    from raquet.gather import split  # with the checks: after connecting (see above)
    from raquet.script import build

    script = build(selected, host.os, policy, int(options.check_timeout))
    timeout = options.check_timeout * (len(selected) + 1)
    try:
        output = run_script(
            target, script.text, sudo=host.sudo, timeout=timeout, cap=script.cap, sent=sent
        )
    except TimeoutError:
        return _result(host, "error", f"the gather script did not finish within {timeout:.0f}s")
    except OutputTooLarge as exc:
        return _result(host, "error", reason(exc))
    except (OSError, SSHException, EOFError) as exc:
        return _result(host, "error", f"connection lost: {reason(exc)}")
    sections = split(script, output.stdout)
    if "host.clock" not in sections and not sections.tampered:
        detail = sections.fatal or output.stderr.decode("utf-8", "replace")[:300] or "no output"
        return _result(host, "error", f"the gather script failed: {clean(detail)}")
    return sections


def _judged(host: Host, selected: list[Check], sections: Sections, ctx: Context) -> HostResult:
    from raquet.gather import judge

    result = _result(host, "swept", None)
    result.findings, result.detections = judge(selected, sections, host, ctx)
    if sections.tampered:
        result.error = f"the host's output was tampered with: {clean(sections.tampered)}"
    return result


def close_host(target: PyinfraHost) -> None:
    """Drop the host's connection now: thousands of idle paramiko transports cost CPU and sockets."""
    try:
        target.disconnect()
        client = getattr(target.connector, "client", None)
        if client is not None:
            client.close()
    except Exception:  # closing must never turn a result into an error
        log.debug("closing %s failed", target.name, exc_info=True)
    target.connected = False


def _result(host: Host, status: HostStatus, error: str | None) -> HostResult:
    return HostResult(
        name=host.name,
        unit=host.unit,
        os=host.os,
        role=host.role,
        address=host.address,
        status=status,
        error=error,
    )


def connect_reason(exc: ConnectError, timeout: float) -> str:
    """Why connecting failed. paramiko's handshake deadline and its banner timeout race when
    the process was busy past both (a sweep's start-up imports, a loaded machine): the
    handshake then gives up first, and authenticating on the half-open transport says only
    "No existing session", which is said here for what it is."""
    text = reason(exc)
    if "no existing session" in text.lower():
        return f"no SSH banner or key exchange within {timeout:g}s ({text})"
    return text


def reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return clean(text, 300)
