"""`raquet sweep --distributed`: put each planned host on its segment's queue and follow
the results the workers commit to the shared store.

The dispatcher never reaches a host. It waits (`--worker-wait`) for a live worker on
every segment the sweep names; a segment without one has its hosts recorded as not
swept ("no worker for segment td-lan") instead of a sweep that hangs. While it follows,
a segment whose workers all stop is treated the same way after the same wait, and if
no result arrives for a whole host deadline while hosts are still pending (their
worker died holding them, or the broker lost its queue), what is still pending is put
on the queues again: a worker skips a host already recorded, so nothing is swept into
the store twice. Ctrl-C leaves the sweep running for `--resume --distributed`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import gevent
from celery import Celery

from raquet.distributed.app import TASK, Planned, queue_for, segment_of
from raquet.models import Host, HostResult
from raquet.store import Store

log = logging.getLogger("raquet")

POLL = 0.5
WORKERS_EVERY = 5.0
WORKERS_WHILE_OWED = 2.0  # looking for a segment's worker: sooner
_INSPECT_TIMEOUT = 1.0
MISSED_LOOKS = 2  # a worker missing from this many looks in a row is gone


@dataclass(frozen=True)
class Follow:
    """How long to wait for workers, and the per-host deadline that bounds a silence."""

    worker_wait: float
    host_deadline: float


def live_segments(app: Celery) -> dict[str, list[str]]:
    """Segment -> the live workers consuming its queue (Celery's broadcast inspect)."""
    replies = app.control.inspect(timeout=_INSPECT_TIMEOUT).active_queues() or {}
    found: dict[str, list[str]] = {}
    for worker, queues in replies.items():
        for queue in queues or []:
            segment = segment_of(str(queue.get("name", "")))
            if segment is not None:
                found.setdefault(segment, []).append(worker)
    return found


def dispatch(
    app: Celery,
    store: Store,
    sweep_id: str,
    hosts: list[Host],
    follow: Follow,
    on_result: Callable[[HostResult], None] = lambda r: None,
) -> list[HostResult]:
    """Sweep `hosts` (the sweep's pending ones) through the workers; their results.

    Re-queued hosts may be delivered twice; the store keeps one result per (sweep, host)
    and a worker skips a recorded host, so a duplicate costs a lookup, never a row."""
    by_name = {h.name: h for h in hosts}
    live = _answer(app) or {}
    results: dict[str, HostResult] = {}

    def report(found: Iterable[HostResult]) -> None:
        for result in found:
            if result.name in by_name:
                if result.name not in results:
                    on_result(result)
                results[result.name] = result  # a worker's late result replaces "no worker"

    # Segments with a worker start at once; the others are owed their hosts until a
    # worker appears, or given up after --worker-wait.
    start = time.monotonic()
    watch = _Watch(live, follow.worker_wait)
    watch.owed = {h.segment for h in hosts if not live.get(h.segment)}
    watch.without = dict.fromkeys(watch.owed, start)
    for segment in sorted(watch.owed):
        log.warning(
            "no worker for segment %s yet: waiting up to %.0fs", segment, follow.worker_wait
        )
    watch.owed |= _enqueue(app, sweep_id, [h for h in hosts if live.get(h.segment)])
    last, quiet_since, checked = 0, start, start
    while True:
        last, found = store.results_after(sweep_id, last)
        report(found)
        pending = [
            by_name[name] for name, _, _ in store.pending_planned(sweep_id) if name in by_name
        ]
        if not pending:
            return list(results.values())
        now = time.monotonic()
        if found:
            quiet_since = now
        if now - checked >= (WORKERS_WHILE_OWED if watch.owed else WORKERS_EVERY):
            checked = now
            again, abandoned = watch.update(_answer(app), {h.segment for h in pending}, now)
            if again:
                log.warning("queued again for segment(s) %s", ", ".join(sorted(again)))
                watch.owed |= _enqueue(app, sweep_id, [h for h in pending if h.segment in again])
            for segment in sorted(abandoned):
                log.warning("no worker for segment %s after %.0fs", segment, follow.worker_wait)
            _not_swept(store, sweep_id, [h for h in pending if h.segment in abandoned])
        if now - quiet_since >= follow.host_deadline:
            log.warning(
                "no result for %.0fs: %d pending hosts queued again",
                now - quiet_since,
                len(pending),
            )
            watch.owed |= _enqueue(app, sweep_id, [h for h in pending if watch.live.get(h.segment)])
            quiet_since = now
        gevent.sleep(POLL)


class _Watch:
    """The workers seen per segment between two looks, and what that says to do.

    A worker that disappears holds its tasks until the broker's visibility timeout, and
    a broker that stopped answering may have lost its queues: either way the segment is
    owed its pending hosts again, queued as soon as it has a live worker (another one,
    or the same restarted). A busy worker can miss one inspect reply, so a worker counts
    as gone only when it is missing from `MISSED_LOOKS` looks in a row: taking one missed
    reply for a death would queue every pending host of its segment again. A segment
    without any worker for `wait` seconds (while the broker answers) has its pending
    hosts recorded as not swept."""

    def __init__(self, live: dict[str, list[str]], wait: float) -> None:
        self.live = {segment: set(names) for segment, names in live.items()}
        self.wait = wait
        self.owed: set[str] = set()
        self.without: dict[str, float] = {}
        self.missed: dict[tuple[str, str], int] = {}

    def update(
        self, answer: dict[str, list[str]] | None, pending: set[str], now: float
    ) -> tuple[set[str], set[str]]:
        """(segments to queue again, segments given up) after looking at the workers."""
        if answer is None:
            self.owed |= pending
            return set(), set()
        self.owed |= self._lost_a_worker(answer)
        again = {s for s in self.owed & pending if answer.get(s)}
        self.owed -= again
        abandoned = set()
        for segment in pending:
            if answer.get(segment):
                self.without.pop(segment, None)
            elif now - self.without.setdefault(segment, now) >= self.wait:
                abandoned.add(segment)
        return again, abandoned

    def _lost_a_worker(self, answer: dict[str, list[str]]) -> set[str]:
        """The segments a known worker has now been missing from for MISSED_LOOKS looks."""
        lost = set()
        for segment, names in self.live.items():
            for name in names - set(answer.get(segment, [])):
                missed = self.missed[segment, name] = self.missed.get((segment, name), 0) + 1
                if missed >= MISSED_LOOKS:
                    lost.add(segment)
        for key in [k for k, n in self.missed.items() if n >= MISSED_LOOKS]:
            self.live[key[0]].discard(key[1])
            del self.missed[key]
        for segment, seen in answer.items():
            self.live.setdefault(segment, set()).update(seen)
            for name in seen:
                self.missed.pop((segment, name), None)
        return lost


def _answer(app: Celery) -> dict[str, list[str]] | None:
    """The live workers per segment, or None when the broker does not answer."""
    try:
        return live_segments(app)
    except Exception as exc:  # kombu/redis/amqp errors differ by transport
        log.warning("the broker did not answer: %s", exc)
        return None


def _enqueue(app: Celery, sweep_id: str, hosts: list[Host]) -> set[str]:
    """Queue one task per host; the segments whose hosts the broker did not take (it is
    down or restarting), which are owed theirs once it answers again."""
    failed: set[str] = set()
    for host in hosts:
        if host.segment in failed:
            continue
        planned = Planned(host=host.name, unit=host.unit, os=host.os, role=host.role)
        try:
            app.send_task(
                TASK,
                args=[sweep_id, planned.model_dump()],
                queue=queue_for(host.segment),
                retry=False,
            )
        except Exception as exc:  # kombu/redis/amqp errors differ by transport
            log.warning(
                "hosts of %s not queued, the broker did not take them: %s", host.segment, exc
            )
            failed.add(host.segment)
    return failed


def _not_swept(store: Store, sweep_id: str, hosts: list[Host]) -> None:
    """Record hosts no worker can reach as not swept, saying which segment lacked one."""
    if not hosts:
        return
    store.record_results(
        sweep_id,
        [
            HostResult(
                name=h.name,
                unit=h.unit,
                os=h.os,
                role=h.role,
                address=h.address,
                status="unreachable",
                error=f"no worker for segment {h.segment}",
            )
            for h in hosts
        ],
        swept_by="dispatcher",
    )
