"""Sweeps hosts in parallel through pyinfra: connect, one gather command, judge, store — per host.

Each host runs in its own greenlet on the State's pool from connect to stored result, so
a slow or dead host never holds up the others (no lock-step between hosts), and every
result is committed the moment it exists. Whatever a host does — refuse, stall, drop
the connection, time out, send garbage — ends as an `unreachable` or `error` result with
a reason; nothing escapes a host's greenlet.
"""

from __future__ import annotations

import logging
import resource
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import gevent
import pyinfra.connectors.util
from paramiko import SSHException
from pyinfra.api import State
from pyinfra.api.exceptions import ConnectError
from pyinfra.api.host import Host as PyinfraHost

from checks import select as select_checks
from checks.base import Check, Context, clean
from raquet.channel import OutputTooLarge, SudoPasswordRequired, run_script
from raquet.gather import judge, split
from raquet.models import Host, HostResult, HostStatus
from raquet.script import build
from raquet.store import Store, StoreError
from raquet.targets import make_state
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


def run(
    hosts: list[Host],
    ctx: Context,
    store: Store,
    sweep_id: str,
    options: SweepOptions,
    on_result: Callable[[HostResult], None] = lambda r: None,
) -> list[HostResult]:
    """Sweep `hosts`, storing and reporting each result as soon as it exists."""
    selected = select_checks(options.checks)
    _allow_open_files(min(options.parallel, len(hosts)))
    state = make_state(
        hosts,
        parallel=options.parallel,
        connect_timeout=options.connect_timeout,
        verify_host_keys=options.verify_host_keys,
    )
    budget = options.connect_timeout * 3 + options.check_timeout * (len(selected) + 1) + 10
    results: list[HostResult] = []

    def one(host: Host) -> None:
        result = _guarded(state, host, selected, ctx, options, budget)
        try:
            _store(store, sweep_id, result)
        except StoreError as exc:
            log.error("%s: result not stored: %s", host.name, exc)
            result = _result(host, "error", f"result not stored, left for --resume: {exc}")
        results.append(result)
        on_result(result)

    for host in hosts:
        state.pool.spawn(one, host)
    state.pool.join()
    return results


def _store(store: Store, sweep_id: str, result: HostResult) -> None:
    """Detections first, the host's result last: a host counts as done only once both are
    in, and a retry (`--resume`) stores each detection once however often it is written."""
    if result.detections:
        store.record_detections(sweep_id, result.name, result.unit, result.detections)
    store.record_host(sweep_id, result)


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


def _guarded(
    state: State,
    host: Host,
    selected: list[Check],
    ctx: Context,
    options: SweepOptions,
    budget: float,
) -> HostResult:
    """`_sweep_host` with a hard deadline and no exception left unhandled."""
    started = datetime.now(UTC)
    try:
        with gevent.Timeout(budget, TimeoutError(f"host did not finish within {budget:.0f}s")):
            result = _sweep_host(state, host, selected, ctx, options)
    except Exception as exc:  # a host must never break the sweep
        log.debug("host %s failed", host.name, exc_info=True)
        result = _result(host, "error", reason(exc))
    result.started_at, result.finished_at = started, datetime.now(UTC)
    return result


def _sweep_host(
    state: State, host: Host, selected: list[Check], ctx: Context, options: SweepOptions
) -> HostResult:
    if host.name not in state.inventory.hosts:
        return _result(host, "error", f"no pyinfra connector '{host.connector_name}' is installed")
    target: PyinfraHost = state.inventory.get_host(host.name)
    try:
        target.connect(raise_exceptions=True, show_errors=False)
    except ConnectError as exc:
        return _result(host, "unreachable", reason(exc))
    try:
        script = build(selected, host.os, ctx.policy, int(options.check_timeout))
        timeout = options.check_timeout * (len(selected) + 1)
        try:
            output = run_script(
                target, script.text, sudo=host.sudo, timeout=timeout, cap=script.cap
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
        result = _result(host, "swept", None)
        result.findings, result.detections = judge(selected, sections, host, ctx)
        if sections.tampered:
            result.error = f"the host's output was tampered with: {clean(sections.tampered)}"
        return result
    finally:
        close_host(target)


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


def reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return clean(text, 300)
