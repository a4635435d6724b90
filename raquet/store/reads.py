"""The reads reports make, shaped so a 5,000-host week is a few queries."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise
from typing import Any

from sqlalchemy import (
    exists,
    func,
    or_,
    select,
)

from raquet.models import Finding
from raquet.store.base import StoreBase
from raquet.store.clean import (
    as_utc,
)
from raquet.store.columns import (
    _DETECTION_COLUMNS,
    _DETECTION_FIELDS,
    _FINDING_COLUMNS,
    _FINDING_FIELDS,
    NOT_COMPLIANT,
)
from raquet.store.history import _info
from raquet.store.schema import (
    DetectionRow,
    FindingRow,
    HostResultRow,
    PlannedHostRow,
    SweepRow,
)
from raquet.store.views import HostDigest, StoredDetection, SweepInfo


class ReportReads(StoreBase):
    def sweeps_between(
        self, since: datetime, until: datetime | None = None, unit: str | None = None
    ) -> list[SweepInfo]:
        """Sweeps started in [since, until) that planned or recorded a host of `unit` (any
        when None), newest first, without `history`'s per-sweep host counts: what a report
        needs to pick its sweeps, in one query."""
        query = select(SweepRow).where(SweepRow.started_at >= as_utc(since))
        if until is not None:
            query = query.where(SweepRow.started_at < as_utc(until))
        if unit is not None:
            planned = exists().where(
                PlannedHostRow.sweep_id == SweepRow.id, PlannedHostRow.unit == unit
            )
            recorded = exists().where(
                HostResultRow.sweep_id == SweepRow.id, HostResultRow.unit == unit
            )
            query = query.where(or_(planned, recorded))
        query = query.order_by(SweepRow.started_at.desc(), SweepRow.id.desc())
        with self._sessions.begin() as session:
            return [_info(row, {}) for row in session.scalars(query)]

    def sweep_digest(
        self, sweep_id: str, unit: str | None = None, findings_of: list[str] | None = None
    ) -> list[HostDigest]:
        """The sweep's hosts as a report reads them, by unit then name: compliance and
        whether `infections` passed are decided in SQL; findings (their evidence is most of
        what a sweep weighs) are read whole for `findings_of=None` (a unit's report), and
        otherwise only the failing ones of the checks named (the letter's connections)."""
        failing = exists().where(
            FindingRow.host_result_id == HostResultRow.id, FindingRow.status.in_(NOT_COMPLIANT)
        )
        clean = exists().where(
            FindingRow.host_result_id == HostResultRow.id,
            FindingRow.check == "infections",
            FindingRow.status == "pass",
        )
        hosts = select(
            HostResultRow.id,
            HostResultRow.host,
            HostResultRow.unit,
            HostResultRow.status,
            HostResultRow.error,
            HostResultRow.started_at,
            failing,
            clean,
        ).where(HostResultRow.sweep_id == sweep_id)
        findings = (
            select(FindingRow.host_result_id, *_FINDING_COLUMNS)
            .join(HostResultRow, FindingRow.host_result_id == HostResultRow.id)
            .where(HostResultRow.sweep_id == sweep_id)
            .order_by(FindingRow.id)
        )
        if unit is not None:
            hosts = hosts.where(HostResultRow.unit == unit)
            findings = findings.where(HostResultRow.unit == unit)
        if findings_of is not None:
            findings = findings.where(
                FindingRow.check.in_(findings_of), FindingRow.status.in_(NOT_COMPLIANT)
            )
        with self._sessions.begin() as session:
            self._sweep(session, sweep_id)
            found: dict[int, list[Finding]] = {}
            for host_id, *values in session.execute(findings):
                found.setdefault(host_id, []).append(
                    Finding.model_validate(dict(zip(_FINDING_FIELDS, values, strict=True)))
                )
            digests = [
                HostDigest(
                    name=name,
                    unit=host_unit,
                    status=status,
                    error=error,
                    started_at=started_at,
                    compliant=status == "swept" and not bad,
                    infections_pass=bool(passed),
                    findings=found.get(host_id, []),
                )
                for host_id, name, host_unit, status, error, started_at, bad, passed in session.execute(
                    hosts
                )
            ]
        digests.sort(key=lambda h: (h.unit, h.name))
        return digests

    def detection_counts(
        self, bounds: list[datetime], unit: str | None = None
    ) -> list[tuple[int, int]]:
        """(detections, distinct infected hosts) in each [bounds[i], bounds[i + 1]): a
        report's trend of past weeks without reading their rows."""
        infected = func.count(func.distinct(DetectionRow.unit + "\x1f" + DetectionRow.host))
        counts = []
        with self._sessions.begin() as session:
            for start, end in pairwise(bounds):
                query = select(func.count(), infected).where(
                    DetectionRow.detected_at >= as_utc(start),
                    DetectionRow.detected_at < as_utc(end),
                )
                if unit is not None:
                    query = query.where(DetectionRow.unit == unit)
                n, hosts = session.execute(query).one()
                counts.append((int(n), int(hosts)))
        return counts

    def detections_for_report(
        self,
        since: datetime,
        until: datetime,
        unit: str | None,
        sweeps: list[str],
        back_to: datetime,
    ) -> list[StoredDetection]:
        """Detections dated in [since, until), and those that one of `sweeps` recorded though
        dated earlier (down to `back_to`), oldest first: what a week's figures and its
        cleaning rule read. Rows come back as plain values (no per-row validation: the
        store wrote them)."""
        in_period = DetectionRow.detected_at >= as_utc(since)
        if sweeps:
            in_period = or_(in_period, DetectionRow.first_sweep_id.in_(sweeps))
        query = (
            select(*_DETECTION_COLUMNS)
            .where(
                in_period,
                DetectionRow.detected_at >= as_utc(back_to),
                DetectionRow.detected_at < as_utc(until),
            )
            .order_by(DetectionRow.detected_at, DetectionRow.id)
        )
        if unit is not None:
            query = query.where(DetectionRow.unit == unit)
        with self._sessions.begin() as session:
            rows: list[dict[str, Any]] = [
                dict(zip(_DETECTION_FIELDS, values, strict=True))
                for values in session.execute(query)
            ]
        return [StoredDetection.model_construct(**row) for row in rows]
