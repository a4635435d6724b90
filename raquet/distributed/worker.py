"""`raquet worker`: sweep the hosts of this jump host's segments as tasks arrive.

The worker knows its hosts from its own inventory (addresses, keys, known_hosts, the
names of password variables, read from its own environment) and each sweep's policy,
checks and options from the store; a task names only the sweep and the host. Each
host is swept exactly as a local sweep sweeps it (`raquet.sweep.guarded_sweep`), its
result committed by the sweep's ResultWriter before the task is acknowledged.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import OrderedDict
from dataclasses import dataclass, replace
from functools import partial

import gevent
from celery import Celery, Task
from celery.signals import worker_ready
from gevent.lock import Semaphore
from pyinfra.api import State

from checks import select as select_checks
from checks.base import Check, Context
from raquet.distributed.app import TASK, Planned, queue_for
from raquet.gather import sweep_context
from raquet.models import HostResult, Inventory
from raquet.policy import Policy
from raquet.store import Store, StoreError, SweepNotFound
from raquet.store.writer import ResultWriter
from raquet.sweep import SweepOptions, guarded_sweep, host_budget
from raquet.targets import make_state

log = logging.getLogger("raquet")

# Sweeps whose settings a worker keeps at once: the one running and a few recent ones
# whose redelivered tasks may still arrive.
_JOBS_KEPT = 4
_RETRY_AFTER = 5.0


@dataclass
class Job:
    """What a worker needs to sweep any of its hosts for one sweep."""

    state: State
    ctx: Context
    selected: list[Check]
    options: SweepOptions
    budget: float
    writer: ResultWriter
    busy: int = 0  # tasks using it now: its writer is closed only once none are


class SegmentWorker:
    """The hosts of the segments this worker serves, and the sweeps it is working for."""

    def __init__(
        self, inventory: Inventory, segments: list[str], store: Store, name: str, concurrency: int
    ) -> None:
        self.hosts = {h.name: h for h in inventory.hosts() if h.segment in segments}
        self.segments = segments
        self.store = store
        self.name = name
        self.concurrency = concurrency
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._building = Semaphore()

    @property
    def queues(self) -> list[str]:
        return [queue_for(segment) for segment in self.segments]

    def sweep_host(self, sweep_id: str, planned: Planned) -> str:
        """Sweep one host for one sweep and commit its result; what became of it."""
        name, unit = planned.host, planned.unit
        try:
            if self.store.recorded(sweep_id, name):
                return "already recorded"
            job = self._job(sweep_id)
        except SweepNotFound:
            log.warning("task for %s of sweep %s, which the store does not hold", name, sweep_id)
            return "no such sweep"
        host = self.hosts.get(name)
        try:
            if host is None:
                result = _not_here(planned, self.segments)
            else:
                result = guarded_sweep(
                    job.state,
                    host.model_copy(update={"unit": unit}),
                    job.selected,
                    job.ctx,
                    job.options,
                    job.budget,
                )
            job.writer.put(result).get()
        finally:
            job.busy -= 1
        return result.status

    def close(self) -> None:
        for job in self._jobs.values():
            job.writer.close()
        self._jobs.clear()

    def _job(self, sweep_id: str) -> Job:
        with self._building:
            job = self._jobs.get(sweep_id)
            if job is None:
                job = self._jobs[sweep_id] = self._build(sweep_id)
            self._jobs.move_to_end(sweep_id)
            job.busy += 1
            self._forget_old()
            return job

    def _forget_old(self) -> None:
        """Drop the least recent idle sweeps beyond `_JOBS_KEPT`: a writer closed under a
        task still sweeping for it would leave that task waiting for ever."""
        idle = [sweep for sweep, job in self._jobs.items() if not job.busy]
        for sweep in idle[: max(0, len(self._jobs) - _JOBS_KEPT)]:
            self._jobs.pop(sweep).writer.close()

    def _build(self, sweep_id: str) -> Job:
        """The sweep's own policy, checks, options and waivers, as `--resume` reads them."""
        info = self.store.sweep_info(sweep_id)
        options = SweepOptions()
        options.restore(info.options, info.checks)
        policy = Policy.model_validate(info.options.get("policy_document") or {})
        selected = select_checks(options.checks)
        ctx = replace(
            sweep_context(self.store, policy, options.checks), waivers=options.waivers or None
        )
        state = make_state(
            list(self.hosts.values()),
            parallel=self.concurrency,
            connect_timeout=options.connect_timeout,
            verify_host_keys=options.verify_host_keys,
        )
        writer = ResultWriter(
            partial(self.store.record_results, sweep_id, swept_by=self.name), _log_failure
        )
        return Job(state, ctx, selected, options, host_budget(options, len(selected)), writer)


def _log_failure(result: HostResult, error: StoreError | None) -> None:
    if error is not None:
        log.error("%s: result not stored (the task will be retried): %s", result.name, error)


def _not_here(planned: Planned, segments: list[str]) -> HostResult:
    """A host queued for this segment that this worker's inventory does not name: said as
    such, rather than guessed at (its address and keys would come from nowhere)."""
    return HostResult(
        name=planned.host,
        unit=planned.unit,
        os=planned.os,
        role=planned.role,
        status="error",
        error=(
            f"host {planned.host} is not in the inventory of worker {socket.gethostname()} "
            f"(segments {', '.join(segments)})"
        ),
    )


def register(app: Celery, worker: SegmentWorker) -> None:
    """The one task type, bound to this worker's hosts."""

    @app.task(name=TASK, bind=True, max_retries=None)
    def sweep_host(self: Task, sweep_id: str, planned: dict[str, str]) -> str:
        try:
            return worker.sweep_host(sweep_id, Planned.model_validate(planned))
        except StoreError as exc:
            raise self.retry(exc=exc, countdown=_RETRY_AFTER) from exc


def default_name(segments: list[str]) -> str:
    """Celery's node name: the segments served, this machine (two workers of one machine
    need their own `--name`)."""
    return f"raquet-{'+'.join(segments)}@{socket.gethostname()}"


def watchdog(app: Celery, worker: SegmentWorker, every: float = 10.0, misses: int = 3) -> None:
    """Exit (status 75) when this worker no longer answers through a broker that answers.

    After a broker restart, Celery's consumer on the gevent pool can stop for good while
    the process lives on (its event loop died on a failed ack): it then takes no task
    and its segment would be reported as having no worker. The worker pings itself
    through the broker on a fresh connection; when the broker answers and the worker
    does not, `misses` times in a row, it commits what it holds and exits, and its
    service manager starts it again (README: Restart=always).
    """
    from raquet.distributed.app import BrokerUnreachable, reach

    missed = 0
    while True:
        gevent.sleep(every)
        try:
            reach(app)
            answered = app.control.ping(destination=[worker.name], timeout=2.0)
        except BrokerUnreachable:
            missed = 0  # the broker is down: reconnecting is the consumer's business
            continue
        except Exception as exc:  # a transport error mid-ping: look again later
            log.warning("watchdog could not ping %s: %s", worker.name, exc)
            continue
        missed = 0 if answered else missed + 1
        if missed >= misses:
            log.critical(
                "worker %s no longer answers through the broker: exiting for a restart",
                worker.name,
            )
            worker.close()
            os._exit(75)


def run(app: Celery, worker: SegmentWorker, concurrency: int, loglevel: str) -> None:
    """Start consuming (blocks until the worker is stopped)."""
    register(app, worker)
    worker_ready.connect(lambda **_: gevent.spawn(watchdog, app, worker), weak=False)
    try:
        app.worker_main(
            [
                "worker",
                "--pool=gevent",
                f"--concurrency={concurrency}",
                f"--queues={','.join(worker.queues)}",
                f"--hostname={worker.name}",
                "--without-mingle",
                "--without-gossip",
                f"--loglevel={loglevel}",
            ]
        )
    finally:
        worker.close()
