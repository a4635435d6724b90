"""Writing sweeps: the plan, each host's result, the end; what --resume continues."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import (
    delete,
    exists,
    insert,
    select,
)

from raquet.models import Finding, HostResult
from raquet.store.clean import (
    _redact,
    _utc_or_none,
    as_utc,
    clean_json,
    clean_text,
)
from raquet.store.columns import (
    _FINDING_COLUMNS,
    _FINDING_FIELDS,
    _HOST_COLUMNS,
    _HOST_FIELDS,
    _host_result,
)
from raquet.store.detections import Detections, detection_row
from raquet.store.errors import SweepNotFound, retried
from raquet.store.schema import (
    DEFAULT_SEGMENT,
    DetectionRow,
    FindingRow,
    HostResultRow,
    PlannedHostRow,
    SweepRow,
)


def _host_values(sweep_id: str, result: HostResult, swept_by: str | None) -> dict[str, Any]:
    return {
        "sweep_id": sweep_id,
        "host": clean_text(result.name),
        "unit": clean_text(result.unit),
        "os": result.os,
        "role": result.role,
        "address": clean_text(result.address),
        "status": result.status,
        "error": None if result.error is None else clean_text(result.error),
        "started_at": _utc_or_none(result.started_at),
        "finished_at": _utc_or_none(result.finished_at),
        "swept_by": None if swept_by is None else clean_text(swept_by),
    }


def _finding_values(host_result_id: int, finding: Finding) -> dict[str, Any]:
    return {
        "host_result_id": host_result_id,
        "check": clean_text(finding.check),
        "status": finding.status,
        "severity": finding.severity,
        "title": clean_text(finding.title),
        "evidence": clean_json(finding.evidence),
    }


def _reject_duplicates(hosts: Iterable[tuple[str, str]]) -> None:
    """A host is one row of a sweep's plan; naming it twice is a caller's bug, said plainly."""
    duplicates = sorted(name for name, n in Counter(name for name, _ in hosts).items() if n > 1)
    if duplicates:
        raise ValueError(f"hosts planned twice in one sweep: {', '.join(duplicates)}")


class Sweeps(Detections):
    @retried
    def begin_sweep(
        self,
        inventory: str,
        province: str,
        checks: list[str],
        hosts: Sequence[tuple[str, str] | tuple[str, str, str]],
        options: dict[str, Any],
        *,
        started_at: datetime | None = None,
    ) -> str:
        """Record a new running sweep and the hosts it plans to reach: (host, unit) or
        (host, unit, segment) — the segment is the queue a distributed sweep puts it on."""
        _reject_duplicates([(planned[0], planned[1]) for planned in hosts])
        sweep_id = str(uuid4())
        with self._sessions.begin() as session:
            session.add(
                SweepRow(
                    id=sweep_id,
                    started_at=datetime.now(UTC) if started_at is None else as_utc(started_at),
                    finished_at=None,
                    inventory=clean_text(inventory),
                    province=clean_text(province),
                    checks=[clean_text(check) for check in checks],
                    options=_redact(clean_json(options)),
                    status="running",
                    planned=[
                        PlannedHostRow(
                            host=clean_text(planned[0]),
                            unit=clean_text(planned[1]),
                            segment=planned[2] if len(planned) > 2 else DEFAULT_SEGMENT,
                            position=position,
                        )
                        for position, planned in enumerate(hosts)
                    ],
                )
            )
        return sweep_id

    def record_host(self, sweep_id: str, result: HostResult) -> None:
        """Store one host's result, findings and detections at once (see record_results)."""
        self.record_results(sweep_id, [result])

    @retried
    def record_results(
        self, sweep_id: str, results: list[HostResult], swept_by: str | None = None
    ) -> None:
        """Store hosts' results with their findings and detections in one transaction,
        replacing any earlier result of the same host in this sweep: a host is one row of
        a sweep however often it is written (a retry, a task delivered twice).

        Plain Core statements, a few per batch whatever its size: this is the sweep's hot
        path, and an ORM unit of work per host cost more than parsing the host's output.
        Once committed, each result holds the values written (text and evidence as
        `clean_text` / `clean_json` made them storable, times in UTC), so that what the
        caller keeps of it is what the store holds (`sweep_result(known=...)`).
        """
        if not results:
            return
        latest = {clean_text(result.name): result for result in results}
        hosts = [_host_values(sweep_id, result, swept_by) for result in latest.values()]
        now = datetime.now(UTC)
        detections = {
            row["key"]: row
            for result in latest.values()
            for detection in result.detections
            for row in [
                detection_row(
                    sweep_id, clean_text(result.name), clean_text(result.unit), detection, now
                )
            ]
        }
        with self.engine.begin() as connection:
            if connection.scalar(select(SweepRow.id).where(SweepRow.id == sweep_id)) is None:
                raise SweepNotFound(f"no sweep {sweep_id!r} in {self.url}")
            if detections:
                connection.execute(self._insert_new(DetectionRow), list(detections.values()))
            connection.execute(
                delete(HostResultRow).where(
                    HostResultRow.sweep_id == sweep_id, HostResultRow.host.in_(list(latest))
                )
            )
            inserted = connection.execute(
                insert(HostResultRow).returning(HostResultRow.id, sort_by_parameter_order=True),
                hosts,
            )
            pairs = [
                (finding, _finding_values(host_id, finding))
                for host_id, result in zip(inserted.scalars(), latest.values(), strict=True)
                for finding in result.findings
            ]
            if pairs:
                connection.execute(insert(FindingRow), [values for _, values in pairs])
        for result, values in zip(latest.values(), hosts, strict=True):
            result.name, result.unit, result.address = (
                values["host"],
                values["unit"],
                values["address"],
            )
            result.error = values["error"]
            result.started_at, result.finished_at = values["started_at"], values["finished_at"]
        for finding, values in pairs:
            finding.check, finding.title = values["check"], values["title"]
            finding.evidence = values["evidence"]

    @retried
    def finish_sweep(self, sweep_id: str, finished_at: datetime) -> None:
        with self._sessions.begin() as session:
            row = self._sweep(session, sweep_id)
            row.finished_at = as_utc(finished_at)
            row.status = "finished"

    def latest_unfinished(self, inventory: str | None = None) -> str | None:
        """The sweep `--resume` continues: the newest one still running."""
        query = select(SweepRow.id).where(SweepRow.status == "running")
        if inventory is not None:
            query = query.where(SweepRow.inventory == inventory)
        with self._sessions.begin() as session:
            return session.scalar(
                query.order_by(SweepRow.started_at.desc(), SweepRow.id.desc()).limit(1)
            )

    def pending_hosts(self, sweep_id: str) -> list[tuple[str, str]]:
        """Planned (host, unit) pairs without a result, in the order they were planned."""
        return [(host, unit) for host, unit, _ in self.pending_planned(sweep_id)]

    def pending_planned(self, sweep_id: str) -> list[tuple[str, str, str]]:
        """Planned (host, unit, segment) without a result, in plan order: what a
        distributed sweep (or its `--resume`) puts on the segments' queues."""
        recorded = exists().where(
            HostResultRow.sweep_id == PlannedHostRow.sweep_id,
            HostResultRow.host == PlannedHostRow.host,
        )
        query = (
            select(PlannedHostRow.host, PlannedHostRow.unit, PlannedHostRow.segment)
            .where(PlannedHostRow.sweep_id == sweep_id, ~recorded)
            .order_by(PlannedHostRow.position)
        )
        with self._sessions.begin() as session:
            self._sweep(session, sweep_id)
            return [(host, unit, segment) for host, unit, segment in session.execute(query)]

    def recorded(self, sweep_id: str, host: str) -> bool:
        """Whether the host already has its result in this sweep (a task delivered again
        after its result was committed is then acknowledged without sweeping twice)."""
        query = select(HostResultRow.id).where(
            HostResultRow.sweep_id == sweep_id, HostResultRow.host == host
        )
        with self._sessions.begin() as session:
            return session.scalar(query.limit(1)) is not None

    def results_after(self, sweep_id: str, after: int = 0) -> tuple[int, list[HostResult]]:
        """Results committed since row `after` (and the newest row id): how a dispatcher
        follows a sweep that workers elsewhere are writing."""
        hosts_query = (
            select(*_HOST_COLUMNS)
            .where(HostResultRow.sweep_id == sweep_id, HostResultRow.id > after)
            .order_by(HostResultRow.id)
        )
        findings_query = (
            select(FindingRow.host_result_id, *_FINDING_COLUMNS)
            .join(HostResultRow, FindingRow.host_result_id == HostResultRow.id)
            .where(HostResultRow.sweep_id == sweep_id, HostResultRow.id > after)
            .order_by(FindingRow.id)
        )
        with self._sessions.begin() as session:
            rows = list(session.execute(hosts_query))
            if not rows:
                return after, []
            last = max(row[0] for row in rows)
            findings: dict[int, list[dict[str, Any]]] = {}
            for host_id, *values in session.execute(
                findings_query.where(FindingRow.host_result_id <= last)
            ):
                findings.setdefault(host_id, []).append(
                    dict(zip(_FINDING_FIELDS, values, strict=True))
                )
        results = [
            _host_result(dict(zip(_HOST_FIELDS, values, strict=True)), findings.get(host_id, []))
            for host_id, *values in rows
        ]
        return last, results

    def swept_by(self, sweep_id: str) -> dict[str, str | None]:
        """Which jump host (worker) swept each host of the sweep: the audit trail."""
        query = select(HostResultRow.host, HostResultRow.swept_by).where(
            HostResultRow.sweep_id == sweep_id
        )
        with self._sessions.begin() as session:
            return {host: by for host, by in session.execute(query)}
