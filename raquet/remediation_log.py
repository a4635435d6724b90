"""The remediation log (SPEC §5): every change raquet makes, with host, time and operator.

A remediation is written as `planned` before anything runs on the host and updated once
its outcome is known, so a remediation cut short by a killed process stays visible as
`planned`. Its undo data names what to remove to take it back (a firewall block, marked
hosts-file lines); `undone_at` says when that was done. The tables live in the sweep
store's database, beside the sweeps they come from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from raquet.store import Store, as_utc, clean_json, clean_text
from raquet.store.schema import RemediationRow

RemediationStatus = Literal["planned", "fixed", "failed", "unverified"]
OperationStatus = Literal["changed", "unchanged", "failed", "skipped"]


class OperationRecord(BaseModel):
    """One pyinfra operation of a remediation and the commands it ran (secrets masked)."""

    name: str
    commands: list[str] = Field(default_factory=list)
    status: OperationStatus | None = None
    error: str | None = None


class RemediationRecord(BaseModel):
    id: str
    sweep_id: str
    host: str
    unit: str
    check: str
    finding: str
    operations: list[OperationRecord] = Field(default_factory=list)
    status: RemediationStatus = "planned"
    error: str | None = None
    operator: str
    started_at: datetime
    finished_at: datetime | None = None
    verify_sweep_id: str | None = None
    undo: dict[str, str] = Field(default_factory=dict)
    undone_at: datetime | None = None
    undone_by: str | None = None


class RemediationNotFound(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def _record(row: RemediationRow) -> RemediationRecord:
    return RemediationRecord.model_validate(
        {column: getattr(row, column) for column in RemediationRecord.model_fields}
    )


class RemediationLog:
    """Remediations in the store's database; one short transaction per call, as the store does."""

    def __init__(self, store: Store) -> None:
        self.url = store.url
        self._sessions = sessionmaker(store.engine, expire_on_commit=False)

    def save(self, record: RemediationRecord) -> None:
        """Insert the remediation, or update it to the record's state."""
        data = record.model_dump()
        data["operations"] = clean_json(data["operations"])
        for key in ("host", "unit", "check", "finding", "error", "operator"):
            if data[key] is not None:
                data[key] = clean_text(data[key])
        for key in ("started_at", "finished_at", "undone_at"):
            if data[key] is not None:
                data[key] = as_utc(data[key])
        with self._sessions.begin() as session:
            session.merge(RemediationRow(**data))

    def get(self, ref: str) -> RemediationRecord:
        """A remediation by id, or by a unique prefix of 4+ characters."""
        ref = ref.strip()
        with self._sessions.begin() as session:
            row = session.get(RemediationRow, ref)
            if row is None and len(ref) >= 4:
                query = select(RemediationRow).where(
                    RemediationRow.id.startswith(ref, autoescape=True)
                )
                rows = list(session.scalars(query.limit(2)))
                if len(rows) > 1:
                    raise RemediationNotFound(f"remediation id {ref!r} is ambiguous")
                row = rows[0] if rows else None
            if row is None:
                raise RemediationNotFound(f"no remediation {ref!r} in {self.url}")
            return _record(row)

    def between(
        self, since: datetime, until: datetime, unit: str | None = None
    ) -> list[RemediationRecord]:
        """Remediations done (finished, or started if never finished) or undone with
        `since` <= time < `until`, oldest first, for the weekly reports: half-open, as for
        detections, so a remediation is done in one week only."""
        done = func.coalesce(RemediationRow.finished_at, RemediationRow.started_at)
        start, end = as_utc(since), as_utc(until)
        undone = and_(RemediationRow.undone_at >= start, RemediationRow.undone_at < end)
        query = select(RemediationRow).where(or_(and_(done >= start, done < end), undone))
        if unit is not None:
            query = query.where(RemediationRow.unit == unit)
        with self._sessions.begin() as session:
            return [
                _record(row) for row in session.scalars(query.order_by(done, RemediationRow.id))
            ]

    def list(
        self, host: str | None = None, sweep_id: str | None = None, limit: int = 100
    ) -> list[RemediationRecord]:
        """Remediations newest first, optionally of one host or one source sweep."""
        query = select(RemediationRow).order_by(RemediationRow.started_at.desc())
        if host is not None:
            query = query.where(RemediationRow.host == host)
        if sweep_id is not None:
            query = query.where(RemediationRow.sweep_id == sweep_id)
        with self._sessions.begin() as session:
            return [_record(row) for row in session.scalars(query.limit(limit))]

    def mark_undone(self, ref: str, when: datetime, operator: str) -> None:
        with self._sessions.begin() as session:
            row = self._row(session, ref)
            row.undone_at, row.undone_by = as_utc(when), clean_text(operator)

    def _row(self, session: Session, ref: str) -> RemediationRow:
        row = session.get(RemediationRow, ref)
        if row is None:
            raise RemediationNotFound(f"no remediation {ref!r} in {self.url}")
        return row
