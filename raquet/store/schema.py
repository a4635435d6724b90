"""The tables, as SQLAlchemy declares them; migrations/ turns one version into the next."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    mapped_column,
    relationship,
)
from sqlalchemy.types import TypeDecorator

# The Alembic revision these tables are (migrations/versions/); a store at another revision
# is upgraded (SQLite, after a backup) or refused (PostgreSQL, until `raquet db upgrade`).
HEAD_REVISION = "0004"
# Kept in `raquet_schema` for raquet releases from before Alembic, which refuse a store
# whose number is not theirs (1): bumped whenever a migration makes a store one they
# would misread.
SCHEMA_VERSION = 2
DEFAULT_SEGMENT = "default"


class UtcDateTime(TypeDecorator[datetime]):
    """A point in time that is aware UTC in Python whatever the backend keeps.

    SQLite has no zone-aware type and PostgreSQL answers in the session's zone; both are
    normalised here so that callers never compare naive with aware times.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and dialect.name == "sqlite":
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    # Named constraints, so that a later Alembic migration can address them by name.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime,
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class SchemaVersionRow(Base):
    """One row saying which schema the tables follow, so a later raquet can migrate or refuse."""

    __tablename__ = "raquet_schema"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int]


class SweepRow(Base):
    __tablename__ = "sweeps"
    __table_args__ = (Index(None, "status", "started_at"), Index(None, "inventory"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None]
    inventory: Mapped[str] = mapped_column(Text)
    province: Mapped[str] = mapped_column(Text)
    checks: Mapped[list[str]]
    options: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    planned: Mapped[list[PlannedHostRow]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="PlannedHostRow.position"
    )


class PlannedHostRow(Base):
    """A host a sweep set out to reach; what has no result yet is what `--resume` sweeps."""

    __tablename__ = "sweep_hosts"

    sweep_id: Mapped[str] = mapped_column(
        ForeignKey("sweeps.id", ondelete="CASCADE"), primary_key=True
    )
    host: Mapped[str] = mapped_column(primary_key=True, index=True)
    unit: Mapped[str] = mapped_column(index=True)
    position: Mapped[int]
    # The network segment the host is reached from: which workers' queue a distributed
    # sweep puts it on, and which queue `--resume` puts it back on.
    segment: Mapped[str] = mapped_column(String(64), server_default=DEFAULT_SEGMENT)


class HostResultRow(Base):
    __tablename__ = "host_results"
    __table_args__ = (UniqueConstraint("sweep_id", "host"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sweep_id: Mapped[str] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"))
    host: Mapped[str] = mapped_column(index=True)
    unit: Mapped[str] = mapped_column(index=True)
    os: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    address: Mapped[str]
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None] = mapped_column(index=True)
    # Which jump host (worker) swept it: for the audit trail, not part of the result.
    swept_by: Mapped[str | None] = mapped_column(Text)
    findings: Mapped[list[FindingRow]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="FindingRow.id"
    )


class FindingRow(Base):
    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(primary_key=True)
    host_result_id: Mapped[int] = mapped_column(
        ForeignKey("host_results.id", ondelete="CASCADE"), index=True
    )
    check: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]]


# SQLite's auto-incrementing key must be INTEGER; PostgreSQL's must outgrow 2**31, as
# re-imported national feeds of a million rows each will.
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")


class FeedRow(Base):
    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    source: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(16))
    imported_at: Mapped[datetime]
    indicator_count: Mapped[int]
    problem_count: Mapped[int]


class IndicatorRow(Base):
    """One indicator of one feed; values are canonical (ASCII, at most 2048 characters)."""

    __tablename__ = "indicators"
    __table_args__ = (Index(None, "kind", "value"),)

    id: Mapped[int] = mapped_column(_ROW_ID, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(Text)
    first_seen: Mapped[datetime | None]
    last_seen: Mapped[datetime | None]
    expires: Mapped[datetime | None]
    comment: Mapped[str | None] = mapped_column(Text)


class VulnDatasetRow(Base):
    """One imported vulnerability data set (`raquet vulns import`): where and when from."""

    __tablename__ = "vuln_datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    source: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(16))
    imported_at: Mapped[datetime]
    record_count: Mapped[int]
    problem_count: Mapped[int]
    spaces: Mapped[list[str]]
    """What the data covers (`debian:12`, `cpe`, `windows`): which hosts it can judge."""


class VulnRecordRow(Base):
    """One record (`Vulnerability`) of one data set, as compact JSON (raquet/store/vulns.py):
    the records are only ever read back whole, to build the index a sweep matches with."""

    __tablename__ = "vuln_records"

    id: Mapped[int] = mapped_column(_ROW_ID, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("vuln_datasets.id", ondelete="CASCADE"), index=True
    )
    payload: Mapped[str] = mapped_column(Text)


class PendingUpdateRow(Base):
    """When a sweep first saw a pending update (package and version) on a host: how long an
    update has waited is what `patches.max_pending_days` judges."""

    __tablename__ = "pending_updates"

    id: Mapped[int] = mapped_column(_ROW_ID, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    host: Mapped[str] = mapped_column(index=True)
    package: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime]


class DetectionRow(Base):
    """A malware detection a host's AV recorded, stored once across sweeps.

    Unique on (host, detected_at, path, name) through `key`, a SHA-256 of the four: the
    path and name come from the host and may be longer than a PostgreSQL index entry can
    hold (about 2.7 kB), which would make a hostile path fail the host's whole result.
    """

    __tablename__ = "detections"
    __table_args__ = (Index(None, "unit", "detected_at"), Index(None, "host", "detected_at"))

    id: Mapped[int] = mapped_column(_ROW_ID, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    host: Mapped[str]
    unit: Mapped[str]
    name: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text)
    detected_at: Mapped[datetime] = mapped_column(index=True)
    source: Mapped[str] = mapped_column(Text)
    action: Mapped[str | None] = mapped_column(Text)
    first_sweep_id: Mapped[str] = mapped_column(ForeignKey("sweeps.id"))
    recorded_at: Mapped[datetime]


class RemediationRow(Base):
    """One remediation of the log (raquet/remediation_log.py): planned, then its outcome."""

    __tablename__ = "remediations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sweep_id: Mapped[str] = mapped_column(String(36), index=True)
    host: Mapped[str] = mapped_column(index=True)
    unit: Mapped[str] = mapped_column(index=True)
    check: Mapped[str] = mapped_column(String(64))
    finding: Mapped[str] = mapped_column(Text)
    operations: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    operator: Mapped[str]
    started_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None]
    verify_sweep_id: Mapped[str | None] = mapped_column(String(36))
    undo: Mapped[dict[str, Any]]
    undone_at: Mapped[datetime | None]
    undone_by: Mapped[str | None]
