"""Reading sweeps back: one sweep, the history, a host's past, references, pruning."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    delete,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.orm import (
    Session,
)

from raquet.models import Finding, HostResult, SweepResult
from raquet.store.base import StoreBase
from raquet.store.clean import (
    as_utc,
)
from raquet.store.columns import (
    _FINDING_COLUMNS,
    _FINDING_FIELDS,
    _HOST_COLUMNS,
    _HOST_FIELDS,
    NOT_COMPLIANT,
    _host_result,
)
from raquet.store.errors import SweepNotFound, retried
from raquet.store.schema import (
    DetectionRow,
    FindingRow,
    HostResultRow,
    PlannedHostRow,
    RemediationRow,
    SweepRow,
)
from raquet.store.views import PruneResult, SweepInfo


def _remediation_sweeps(session: Session, sweep_ids: list[str]) -> set[str]:
    """The sweeps among `sweep_ids` the remediation log names; their rows stay so that a
    report can say where a fix came from."""
    named = select(RemediationRow.sweep_id).where(RemediationRow.sweep_id.in_(sweep_ids))
    verified = select(RemediationRow.verify_sweep_id).where(
        RemediationRow.verify_sweep_id.in_(sweep_ids)
    )
    return set(session.scalars(named)) | {s for s in session.scalars(verified) if s}


def _scope(
    table: type[PlannedHostRow] | type[HostResultRow], unit: str | None, host: str | None
) -> list[ColumnElement[bool]]:
    """The conditions that restrict a history query to one unit and/or one host."""
    conditions: list[ColumnElement[bool]] = []
    if unit is not None:
        conditions.append(table.unit == unit)
    if host is not None:
        conditions.append(table.host == host)
    return conditions


def _counts(
    session: Session, sweep_ids: list[str], unit: str | None = None, host: str | None = None
) -> dict[str, dict[str, int]]:
    """Host counts per sweep in two grouped queries, whatever the number of sweeps listed."""
    counts: dict[str, dict[str, int]] = {sweep_id: {} for sweep_id in sweep_ids}
    planned = (
        select(PlannedHostRow.sweep_id, func.count())
        .where(PlannedHostRow.sweep_id.in_(sweep_ids), *_scope(PlannedHostRow, unit, host))
        .group_by(PlannedHostRow.sweep_id)
    )
    for sweep_id, n in session.execute(planned):
        counts[sweep_id]["planned"] = n
    failing = exists().where(
        FindingRow.host_result_id == HostResultRow.id, FindingRow.status.in_(NOT_COMPLIANT)
    )
    compliant = func.count().filter(HostResultRow.status == "swept", ~failing)
    results = (
        select(HostResultRow.sweep_id, HostResultRow.status, func.count(), compliant)
        .where(HostResultRow.sweep_id.in_(sweep_ids), *_scope(HostResultRow, unit, host))
        .group_by(HostResultRow.sweep_id, HostResultRow.status)
    )
    for sweep_id, status, n, n_compliant in session.execute(results):
        counts[sweep_id][status] = n
        counts[sweep_id]["compliant"] = counts[sweep_id].get("compliant", 0) + n_compliant
    return counts


def _info(row: SweepRow, counts: dict[str, int]) -> SweepInfo:
    return SweepInfo.model_validate(
        {
            "id": row.id,
            "started_at": row.started_at,
            "finished_at": row.finished_at,
            "inventory": row.inventory,
            "province": row.province,
            "checks": row.checks,
            "options": row.options,
            "status": row.status,
            **counts,
        }
    )


class History(StoreBase):
    def sweep_info(self, sweep_id: str) -> SweepInfo:
        with self._sessions.begin() as session:
            row = self._sweep(session, sweep_id)
            return _info(row, _counts(session, [sweep_id])[sweep_id])

    def sweep_result(
        self, sweep_id: str, known: Mapping[str, HostResult] | None = None
    ) -> SweepResult:
        """The whole sweep as the `--json` document, hosts by unit then name.

        Read as plain rows, not ORM objects: a province's sweep is thousands of hosts and
        tens of thousands of findings, and reports read it on every render. `known`: results
        the caller stored itself in this sweep, as `record_results` left them (the values
        it wrote), taken for those hosts instead of reading their findings back and
        decoding their evidence again; the hosts in the document are still the store's.
        """
        known = known or {}
        hosts_query = select(*_HOST_COLUMNS).where(HostResultRow.sweep_id == sweep_id)
        findings_query = (
            select(FindingRow.host_result_id, *_FINDING_COLUMNS)
            .join(HostResultRow, FindingRow.host_result_id == HostResultRow.id)
            .where(HostResultRow.sweep_id == sweep_id)
            .order_by(FindingRow.id)
        )
        with self._sessions.begin() as session:
            row = self._sweep(session, sweep_id)
            rows = [
                (host_id, dict(zip(_HOST_FIELDS, values, strict=True)))
                for host_id, *values in session.execute(hosts_query)
            ]
            findings: dict[int, list[dict[str, Any]]] = {}
            if any(values["name"] not in known for _, values in rows):
                for host_id, *values in session.execute(findings_query):
                    findings.setdefault(host_id, []).append(
                        dict(zip(_FINDING_FIELDS, values, strict=True))
                    )
        hosts = [
            known[values["name"]]
            if values["name"] in known
            else _host_result(values, findings.get(host_id, []))
            for host_id, values in rows
        ]
        # Sorted here, not in SQL, so the order is the same whatever the database collation.
        hosts.sort(key=lambda h: (h.unit, h.name))
        return SweepResult(
            sweep_id=row.id,
            started_at=row.started_at,
            finished_at=row.finished_at,
            inventory=row.inventory,
            checks=row.checks,
            hosts=hosts,
        )

    def latest_findings(
        self, hosts: list[str], checks: list[str], sweep_id: str | None = None
    ) -> dict[str, list[tuple[str, Finding]]]:
        """Per host, the newest judgement of each check with the sweep it came from: from
        finished sweeps, or only from `sweep_id`. What remediation works from."""
        query = (
            select(SweepRow.id, HostResultRow.host, *_FINDING_COLUMNS)
            .join(HostResultRow, HostResultRow.sweep_id == SweepRow.id)
            .join(FindingRow, FindingRow.host_result_id == HostResultRow.id)
            .where(HostResultRow.host.in_(hosts), HostResultRow.status == "swept")
            .where(FindingRow.check.in_(checks))
            .order_by(SweepRow.started_at.desc(), SweepRow.id.desc(), FindingRow.id)
        )
        query = (
            query.where(SweepRow.id == sweep_id)
            if sweep_id
            else query.where(SweepRow.status == "finished")
        )
        seen: set[tuple[str, str]] = set()
        found: dict[str, list[tuple[str, Finding]]] = {name: [] for name in hosts}
        with self._sessions.begin() as session:
            for source, host, *values in session.execute(query):
                finding = Finding.model_validate(dict(zip(_FINDING_FIELDS, values, strict=True)))
                if (host, finding.check) not in seen:
                    seen.add((host, finding.check))
                    found[host].append((source, finding))
        return found

    def resolve_sweep(self, ref: str) -> str:
        """Turn what a user typed (full id, unique prefix of 4+ characters, `latest`) into an id."""
        ref = ref.strip()
        with self._sessions.begin() as session:
            if ref.lower() == "latest":
                newest = select(SweepRow.id).order_by(
                    SweepRow.started_at.desc(), SweepRow.id.desc()
                )
                found = session.scalar(newest.limit(1))
                if found is None:
                    raise SweepNotFound(f"no sweep recorded yet in {self.url}")
                return found
            if session.get(SweepRow, ref) is not None:
                return ref
            if len(ref) < 4:
                raise SweepNotFound(
                    f"sweep id {ref!r} is too short: give at least 4 characters, "
                    "the full id, or 'latest'"
                )
            prefixed = select(SweepRow.id).where(SweepRow.id.startswith(ref, autoescape=True))
            matches = list(session.scalars(prefixed.limit(6)))
        if not matches:
            raise SweepNotFound(f"no sweep {ref!r} in {self.url}")
        if len(matches) > 1:
            raise SweepNotFound(
                f"sweep id {ref!r} is ambiguous, it starts {', '.join(matches[:5])}"
                f"{', …' if len(matches) > 5 else ''}: give more characters"
            )
        return matches[0]

    def history(
        self, unit: str | None = None, host: str | None = None, limit: int = 50
    ) -> list[SweepInfo]:
        """Sweeps newest first; with a unit or host, only sweeps that touched it, counted for it."""
        query = select(SweepRow).order_by(SweepRow.started_at.desc(), SweepRow.id.desc())
        if unit is not None or host is not None:
            planned = exists().where(
                PlannedHostRow.sweep_id == SweepRow.id, *_scope(PlannedHostRow, unit, host)
            )
            recorded = exists().where(
                HostResultRow.sweep_id == SweepRow.id, *_scope(HostResultRow, unit, host)
            )
            query = query.where(or_(planned, recorded))
        with self._sessions.begin() as session:
            rows = list(session.scalars(query.limit(limit)))
            counts = _counts(session, [row.id for row in rows], unit, host)
            return [_info(row, counts[row.id]) for row in rows]

    def host_history(self, host: str, limit: int = 10) -> list[tuple[SweepInfo, HostResult]]:
        """`raquet show HOST`: the host's results in the newest `limit` sweeps that reached
        it, newest first, each with its sweep (counted for this host alone)."""
        query = (
            select(SweepRow, HostResultRow.id, *_HOST_COLUMNS[1:])
            .join(HostResultRow, HostResultRow.sweep_id == SweepRow.id)
            .where(HostResultRow.host == host)
            .order_by(SweepRow.started_at.desc(), SweepRow.id.desc())
            .limit(limit)
        )
        with self._sessions.begin() as session:
            rows = list(session.execute(query).tuples())
            ids = [row.id for row, *_ in rows]
            counts = _counts(session, ids, host=host)
            findings_query = (
                select(FindingRow.host_result_id, *_FINDING_COLUMNS)
                .where(FindingRow.host_result_id.in_([host_id for _, host_id, *_ in rows]))
                .order_by(FindingRow.id)
            )
            findings: dict[int, list[dict[str, Any]]] = {}
            for host_id, *values in session.execute(findings_query):
                findings.setdefault(host_id, []).append(
                    dict(zip(_FINDING_FIELDS, values, strict=True))
                )
            return [
                (
                    _info(row, counts[row.id]),
                    _host_result(
                        dict(zip(_HOST_FIELDS, values, strict=True)), findings.get(host_id, [])
                    ),
                )
                for row, host_id, *values in rows
            ]

    def known_host(self, host: str) -> bool:
        """Whether any sweep planned or recorded a host of this name."""
        with self._sessions.begin() as session:
            planned = select(PlannedHostRow.host).where(PlannedHostRow.host == host).limit(1)
            recorded = select(HostResultRow.id).where(HostResultRow.host == host).limit(1)
            return session.scalar(planned) is not None or session.scalar(recorded) is not None

    @retried
    def prune(self, before: datetime) -> PruneResult:
        """Delete the host results (and findings, and plans) of sweeps started before
        `before`, in one transaction. Kept: the detection record and its first-seen
        sweeps (the sweep rows detections or remediations point to stay, without hosts),
        and the pending updates' first-seen dates, which are kept per host, not per sweep:
        the reports of the weeks kept count and age exactly as before."""
        cutoff = as_utc(before)
        old = select(SweepRow.id).where(SweepRow.started_at < cutoff)
        with self._sessions.begin() as session:
            sweep_ids = list(session.scalars(old))
            if not sweep_ids:
                return PruneResult(before=cutoff)
            hosts = session.scalar(
                select(func.count()).where(HostResultRow.sweep_id.in_(sweep_ids))
            )
            findings = session.scalar(
                select(func.count())
                .select_from(FindingRow)
                .join(HostResultRow, FindingRow.host_result_id == HostResultRow.id)
                .where(HostResultRow.sweep_id.in_(sweep_ids))
            )
            result_ids = select(HostResultRow.id).where(HostResultRow.sweep_id.in_(sweep_ids))
            session.execute(delete(FindingRow).where(FindingRow.host_result_id.in_(result_ids)))
            session.execute(delete(HostResultRow).where(HostResultRow.sweep_id.in_(sweep_ids)))
            session.execute(delete(PlannedHostRow).where(PlannedHostRow.sweep_id.in_(sweep_ids)))
            referenced = set(
                session.scalars(
                    select(DetectionRow.first_sweep_id).where(
                        DetectionRow.first_sweep_id.in_(sweep_ids)
                    )
                )
            )
            referenced |= _remediation_sweeps(session, sweep_ids)
            gone = [sweep_id for sweep_id in sweep_ids if sweep_id not in referenced]
            session.execute(delete(SweepRow).where(SweepRow.id.in_(gone)))
            return PruneResult(
                before=cutoff,
                sweeps=len(sweep_ids),
                sweeps_deleted=len(gone),
                host_results=hosts or 0,
                findings=findings or 0,
            )
