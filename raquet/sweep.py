"""Sweeps hosts in parallel through pyinfra: connect, one gather command, judge, store — per host.

Each host runs in its own greenlet on the State's pool from connect to stored result, so
a slow or dead host never holds up the others (no lock-step between hosts), and every
result is committed the moment it exists. Whatever a host does — refuse, stall, drop
the connection, time out, send garbage — ends as an `unreachable` or `error` result with
a reason; nothing escapes a host's greenlet.

What connecting needs (gevent, pyinfra, paramiko, the host models) is imported with this
module; what judging needs (the checks, the policy, the parsers, the feeds) only once the
first connections are on their way, so a sweep's start-up is no longer than connecting
takes.
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

from raquet.channel import OutputTooLarge, SudoPasswordRequired, run_script
from raquet.errors import clean
from raquet.models import Host, HostResult, HostStatus
from raquet.targets import make_state
from raquet.transport_speed import resolve_literals_inline

if TYPE_CHECKING:
    from checks.base import Check, Context
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
class Ready:
    """What a connected host of a local sweep waits for: its context, the checks it runs,
    its deadline from then on, and where its result goes."""

    ctx: Context
    checks: list[Check]
    budget: float
    writer: ResultWriter


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
    return run_beginning(hosts, lambda: begun, options, on_result)


def run_beginning(
    hosts: list[Host],
    begin: Callable[[], Begun],
    options: SweepOptions,
    on_result: Callable[[HostResult], None] = lambda r: None,
) -> list[HostResult]:
    """Sweep `hosts`, storing and reporting each result as soon as it exists.

    The hosts' greenlets start connecting first; `begin` (reading the policy, opening the
    store, beginning the sweep, building the context: the checks and SQLAlchemy alone are
    a few hundred milliseconds of imports) runs once every greenlet started has sent its
    connection on its way, and the checks are chosen after it (it may set
    `options.checks`: a resumed sweep's own). Each host waits for all that once connected,
    before anything runs on the host and before any result exists. If `begin` fails, every
    host's connection is closed and its exception raised: nothing was run, nothing is
    lost. A host's deadline does not count that wait.

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
    ready: AsyncResult[Ready] = AsyncResult()

    def stored(result: HostResult, error: StoreError | None) -> None:
        if error is not None:
            log.error("%s: result not stored: %s", result.name, error)
            result = not_stored(result, error)
        results.append(result)
        on_result(result)

    def sweep_one(host: Host) -> None:
        result = guarded_sweep(state, host, [], None, options, connect_budget(options), ready=ready)
        ready.get().writer.put(result)

    def feed() -> None:
        for host in hosts:
            state.pool.spawn(sweep_one, host)

    feeder = gevent.spawn(feed)
    _connections_started()
    try:
        begun = begin()
        from checks import select as select_checks
        from raquet.store.writer import ResultWriter

        selected = select_checks(options.checks)
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
    ready.set(Ready(begun.ctx, selected, host_budget(options, len(selected)), writer))
    try:
        feeder.join()
        state.pool.join()
    finally:
        writer.close()
    return results


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
    ready: AsyncResult[Ready] | None = None,
) -> HostResult:
    """One host from connecting to its judged result, under a hard deadline and with no
    exception left unhandled (a local sweep's greenlet and a worker's task both run it).
    With `ready`, `budget` is connecting's, and the context, checks and the deadline
    from then on are what `ready` is set to, waited for once connected."""
    started = datetime.now(UTC)
    deadline = _deadline(budget)
    try:
        deadline.start()
        try:
            result = _sweep_host(state, host, selected, ctx, options, ready, deadline)
        finally:
            deadline.close()
    except Exception as exc:  # a host must never break the sweep
        log.debug("host %s failed", host.name, exc_info=True)
        result = _result(host, "error", reason(exc))
    result.started_at, result.finished_at = started, datetime.now(UTC)
    return result


def _deadline(budget: float) -> gevent.Timeout:
    return gevent.Timeout(budget, TimeoutError(f"host did not finish within {budget:.0f}s"))


def _sweep_host(
    state: State,
    host: Host,
    selected: list[Check],
    ctx: Context | None,
    options: SweepOptions,
    ready: AsyncResult[Ready] | None,
    deadline: gevent.Timeout,
) -> HostResult:
    if host.name not in state.inventory.hosts:
        return _result(host, "error", f"no pyinfra connector '{host.connector_name}' is installed")
    target: PyinfraHost = state.inventory.get_host(host.name)
    try:
        target.connect(raise_exceptions=True, show_errors=False)
    except ConnectError as exc:
        return _result(host, "unreachable", connect_reason(exc, options.connect_timeout))
    try:
        if ready is None:
            assert ctx is not None
            return _gather_and_judge(target, host, selected, ctx, options)
        deadline.cancel()
        job = ready.get()
        with _deadline(job.budget):
            return _gather_and_judge(target, host, job.checks, job.ctx, options)
    finally:
        close_host(target)


def _gather_and_judge(
    target: PyinfraHost, host: Host, selected: list[Check], ctx: Context, options: SweepOptions
) -> HostResult:
    """The gather script run on the connected host and its output judged."""
    from raquet.gather import judge, split  # with the checks: after connecting (see above)
    from raquet.script import build

    script = build(selected, host.os, ctx.policy, int(options.check_timeout))
    timeout = options.check_timeout * (len(selected) + 1)
    try:
        output = run_script(target, script.text, sudo=host.sudo, timeout=timeout, cap=script.cap)
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
