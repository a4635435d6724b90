"""The sweep store (SPEC §7): each host's result is committed the moment it exists.

SQLite by default (one file; WAL, so a report can read while a sweep writes), PostgreSQL
by URL when several jump hosts share one history. The sweep engine calls it from many
greenlets of one thread, so every method is one short transaction, committed before it
returns: a killed sweep loses only the hosts still in flight.

What reaches the database partly came from hosts and is untrusted. It is kept as data
(evidence as JSON, never interpreted); only what a database cannot hold is changed.

Besides sweeps it keeps the indicator feeds the connection checks match against (a feed
is replaced whole when imported again) and every malware detection hosts reported, once
each however many sweeps see it, for the weekly reports.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from itertools import pairwise
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Literal, ParamSpec, TypeVar, cast
from uuid import uuid4

from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    DateTime,
    Dialect,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)
from sqlalchemy.types import TypeDecorator

from raquet.feeds import Indicator, IndicatorSet, MatchKind
from raquet.models import Detection, Finding, HostResult, SweepResult

P = ParamSpec("P")
R = TypeVar("R")

# Tables added while no store was deployed joined version 1 (create_all adds missing
# tables to an existing file); changing an existing table's shape bumps the version.
SCHEMA_VERSION = 1
# SQLite's own busy wait blocks every greenlet of the sweep; keep it short and let
# `retried` wait cooperatively for the rest.
SQLITE_BUSY_TIMEOUT_MS = 500
DEFAULT_WRITE_TIMEOUT = 120.0
_IMPORT_BATCH = 20_000
_READ_BATCH = 50_000
_NOT_COMPLIANT = ("fail", "error")
# Defence in depth for SPEC §8: callers must not pass secrets in sweep options, but if one
# slips through under an obvious name it is not written to a shared database.
_SECRET_KEY = re.compile(r"password|passwd|secret|token|credential|api_?key|private_key", re.I)


class StoreError(Exception):
    """The store cannot be used: it does not open, is not raquet's (or another schema
    version), or stayed locked or unreachable longer than a write may wait."""


def write_timeout() -> float:
    """How long one write keeps retrying a locked or unreachable store before giving up
    (`RAQUET_STORE_WRITE_TIMEOUT`, seconds; default two minutes)."""
    raw = os.environ.get("RAQUET_STORE_WRITE_TIMEOUT", "")
    try:
        value = float(raw) if raw else DEFAULT_WRITE_TIMEOUT
    except ValueError:
        raise StoreError(
            f"RAQUET_STORE_WRITE_TIMEOUT must be a number of seconds, not {raw!r}"
        ) from None
    if not 0 <= value <= 86_400:
        raise StoreError("RAQUET_STORE_WRITE_TIMEOUT must be between 0 and 86400 seconds")
    return value


def _reason(exc: BaseException) -> str:
    """The database's own words, without SQLAlchemy's statement dump and links."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().split("\n")[0]
    return text or type(exc).__name__


_TRANSIENT = ("locked", "busy", "connection", "server closed", "timeout", "terminating")


def _transient(exc: OperationalError) -> bool:
    """A lock another process holds, or a database connection that dropped: worth waiting
    for. A file that cannot be opened or a wrong password is not."""
    return bool(exc.connection_invalidated) or any(
        word in _reason(exc).lower() for word in _TRANSIENT
    )


def retried(method: Callable[P, R]) -> Callable[P, R]:
    """A write that waits out a lock held by another process (or a dropped PostgreSQL
    connection) instead of losing the result: retried with a cooperative sleep, so the
    sweep's other greenlets go on, until `write_timeout()` has passed."""

    @functools.wraps(method)
    def write(*args: P.args, **kwargs: P.kwargs) -> R:
        store = args[0]
        deadline = time.monotonic() + write_timeout()
        delay = 0.05
        while True:
            try:
                return method(*args, **kwargs)
            except OperationalError as exc:
                if not _transient(exc):
                    raise
                if time.monotonic() + delay > deadline:
                    url = getattr(store, "url", "the store")
                    raise StoreError(f"could not write to {url}: {_reason(exc)}") from None
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    return write


class NotFound(KeyError):
    """A reference to nothing stored; printable as is, unlike a bare KeyError."""

    def __str__(self) -> str:
        return str(self.args[0])


class SweepNotFound(NotFound):
    """A sweep reference that names no sweep."""


class FeedNotFound(NotFound):
    """A feed name that names no imported feed."""


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


class SweepInfo(BaseModel):
    """One line of `raquet history`: a sweep and how its hosts (or the selected ones) fared."""

    id: str
    started_at: datetime
    finished_at: datetime | None
    inventory: str
    province: str
    checks: list[str]
    options: dict[str, Any]
    status: Literal["running", "finished"]
    planned: int = 0
    swept: int = 0
    unreachable: int = 0
    error: int = 0
    compliant: int = 0


class FeedInfo(BaseModel):
    """One line of `raquet feeds list`: an imported feed and what its import found."""

    name: str
    source: str
    format: str
    imported_at: datetime
    indicators: int
    problems: int


class StoredDetection(BaseModel):
    """A detection as the reports read it: when, where, what, and the sweep that found it."""

    host: str
    unit: str
    name: str
    path: str
    detected_at: datetime
    source: str
    action: str | None
    first_sweep_id: str


class PruneResult(BaseModel):
    """What `Store.prune` removed: host results and findings of the sweeps before `before`;
    the sweeps themselves unless a detection or remediation still names them."""

    before: datetime
    sweeps: int = 0
    sweeps_deleted: int = 0
    host_results: int = 0
    findings: int = 0


def _remediation_sweeps(session: Session, sweep_ids: list[str]) -> set[str]:
    """The sweeps among `sweep_ids` the remediation log names (its table exists only once a
    remediation ran); their rows stay so that a report can say where a fix came from."""
    bind = session.connection()
    if not bind.dialect.has_table(bind, "remediations"):
        return set()
    from raquet.remediation_log import RemediationRow  # the log's own table, when it exists

    named = select(RemediationRow.sweep_id).where(RemediationRow.sweep_id.in_(sweep_ids))
    verified = select(RemediationRow.verify_sweep_id).where(
        RemediationRow.verify_sweep_id.in_(sweep_ids)
    )
    return set(session.scalars(named)) | {s for s in session.scalars(verified) if s}


class HostDigest(BaseModel):
    """One host of a sweep as the reports read it (`Store.sweep_digest`): `compliant` and
    `infections_pass` decided in SQL, `findings` only those the report asked for."""

    name: str
    unit: str
    status: str
    error: str | None
    started_at: datetime | None
    compliant: bool
    infections_pass: bool
    findings: list[Finding]


def default_db_path() -> Path:
    """Where the embedded store lives when nothing is configured (XDG data dir)."""
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "raquet" / "raquet.db"


def resolve_url(url: str | None = None) -> URL:
    """Explicit URL, else `RAQUET_DB`, else the default SQLite file; a bare path means SQLite.

    `postgresql://` is pointed at psycopg 3, the driver raquet ships with, instead of
    SQLAlchemy's default psycopg2.
    """
    raw = url or os.environ.get("RAQUET_DB") or str(default_db_path())
    if "://" not in raw:
        return URL.create("sqlite", database=str(Path(raw).expanduser().absolute()))
    target = make_url(raw)
    if target.drivername in ("postgres", "postgresql"):
        target = target.set(drivername="postgresql+psycopg")
    return target


def _sqlite_file(target: URL) -> Path | None:
    database = target.database
    if target.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return None if database.startswith("file:") else Path(database)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets a report read while a sweep writes; the busy timeout makes writers queue.

    synchronous=NORMAL is durable against a killed process (the case SPEC §7 promises)
    and avoids an fsync per host, which would stall every greenlet of the sweep.
    """
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        "synchronous=NORMAL",
        "foreign_keys=ON",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _create_engine(target: URL) -> Engine:
    dump = partial(json.dumps, ensure_ascii=False, allow_nan=False)
    if target.get_backend_name() != "sqlite":
        # Sweeps last hours; a connection dropped by the server or a firewall is replaced.
        return create_engine(target, json_serializer=dump, pool_pre_ping=True)
    path = _sqlite_file(target)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(target, json_serializer=dump)
    event.listen(engine, "connect", _on_sqlite_connect)
    return engine


def clean_text(text: str) -> str:
    """Drop what no backend can hold: NUL (PostgreSQL) and lone surrogates (not UTF-8).

    Lone surrogates are what `surrogateescape` makes of non-UTF-8 host output; they are
    kept visible as `\\udcXX`. Markup, escapes and any other character stay as they came.
    """
    text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def clean_json(value: Any) -> Any:
    """Make evidence storable as JSON without interpreting it; never fails on odd values.

    NaN and infinities have no JSON form and become null; bytes and objects the JSON
    encoder does not know become text.
    """
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(key)): clean_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [clean_json(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, bytes | bytearray):
        return clean_text(bytes(value).decode("utf-8", "backslashreplace"))
    return clean_json(to_jsonable_python(value, fallback=str))


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "***" if _SECRET_KEY.search(k) else _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(item) for item in value]
    return value


def as_utc(value: datetime) -> datetime:
    """Refuse naive times: a bare clock time has no zone, and guessing shifts reports by hours."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} given to the store; add a tzinfo")
    return value.astimezone(UTC)


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def _host_row(sweep_id: str, result: HostResult) -> HostResultRow:
    return HostResultRow(
        sweep_id=sweep_id,
        host=clean_text(result.name),
        unit=clean_text(result.unit),
        os=result.os,
        role=result.role,
        address=clean_text(result.address),
        status=result.status,
        error=None if result.error is None else clean_text(result.error),
        started_at=_utc_or_none(result.started_at),
        finished_at=_utc_or_none(result.finished_at),
        findings=[
            FindingRow(
                check=clean_text(f.check),
                status=f.status,
                severity=f.severity,
                title=clean_text(f.title),
                evidence=clean_json(f.evidence),
            )
            for f in result.findings
        ],
    )


_HOST_FIELDS = (
    "name",
    "unit",
    "os",
    "role",
    "address",
    "status",
    "error",
    "started_at",
    "finished_at",
)
_HOST_COLUMNS = (
    HostResultRow.id,
    HostResultRow.host,
    HostResultRow.unit,
    HostResultRow.os,
    HostResultRow.role,
    HostResultRow.address,
    HostResultRow.status,
    HostResultRow.error,
    HostResultRow.started_at,
    HostResultRow.finished_at,
)
_FINDING_FIELDS = ("check", "status", "severity", "title", "evidence")
_FINDING_COLUMNS = (
    FindingRow.check,
    FindingRow.status,
    FindingRow.severity,
    FindingRow.title,
    FindingRow.evidence,
)


def _host_result(values: dict[str, Any], findings: list[dict[str, Any]]) -> HostResult:
    return HostResult.model_validate({**values, "findings": findings})


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
        FindingRow.host_result_id == HostResultRow.id, FindingRow.status.in_(_NOT_COMPLIANT)
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


def _reject_duplicates(hosts: Iterable[tuple[str, str]]) -> None:
    """A host is one row of a sweep's plan; naming it twice is a caller's bug, said plainly."""
    duplicates = sorted(name for name, n in Counter(name for name, _ in hosts).items() if n > 1)
    if duplicates:
        raise ValueError(f"hosts planned twice in one sweep: {', '.join(duplicates)}")


def _feed_info(row: FeedRow) -> FeedInfo:
    return FeedInfo(
        name=row.name,
        source=row.source,
        format=row.format,
        imported_at=row.imported_at,
        indicators=row.indicator_count,
        problems=row.problem_count,
    )


_INDICATOR_COLUMNS = (
    "feed_id",
    "kind",
    "value",
    "reference",
    "first_seen",
    "last_seen",
    "expires",
    "comment",
)


def _indicator_row(feed_id: int, indicator: Indicator) -> tuple[Any, ...]:
    """An `indicators` row in `_INDICATOR_COLUMNS` order."""
    return (
        feed_id,
        indicator.kind,
        indicator.value,
        _clean_optional(indicator.reference),
        _utc_or_none(indicator.first_seen),
        _utc_or_none(indicator.last_seen),
        _utc_or_none(indicator.expires),
        _clean_optional(indicator.comment),
    )


def _insert_indicators(connection: Connection, rows: Iterable[tuple[Any, ...]]) -> None:
    """Bulk insert: COPY on PostgreSQL, batched executemany on SQLite.

    PostgreSQL takes minutes for a million rows through executemany and seconds through
    COPY; SQLite's executemany is already as fast as its writes.
    """
    if connection.dialect.name == "postgresql":
        statement = f"COPY indicators ({', '.join(_INDICATOR_COLUMNS)}) FROM STDIN"
        driver: Any = connection.connection.driver_connection  # psycopg 3, in this transaction
        cursor = driver.cursor()
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        return
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(dict(zip(_INDICATOR_COLUMNS, row, strict=True)))
        if len(batch) == _IMPORT_BATCH:
            connection.execute(insert(IndicatorRow), batch)
            batch = []
    if batch:
        connection.execute(insert(IndicatorRow), batch)


def _clean_optional(text: str | None) -> str | None:
    return None if text is None else clean_text(text)


def _pending_key(host: str, package: str, version: str) -> str:
    identity = json.dumps([host, clean_text(package), clean_text(version)], ensure_ascii=False)
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()


def _detection_row(
    sweep_id: str, host: str, unit: str, detection: Detection, recorded_at: datetime
) -> dict[str, Any]:
    detected_at = as_utc(detection.detected_at)
    name, path = clean_text(detection.name), clean_text(detection.path)
    identity = json.dumps([host, detected_at.isoformat(), path, name], ensure_ascii=False)
    return {
        "key": hashlib.sha256(identity.encode("utf-8")).hexdigest(),
        "host": host,
        "unit": unit,
        "name": name,
        "path": path,
        "detected_at": detected_at,
        "source": clean_text(detection.source),
        "action": _clean_optional(detection.action),
        "first_sweep_id": sweep_id,
        "recorded_at": recorded_at,
    }


_DETECTION_FIELDS = (
    "host",
    "unit",
    "name",
    "path",
    "detected_at",
    "source",
    "action",
    "first_sweep_id",
)
_DETECTION_COLUMNS = (
    DetectionRow.host,
    DetectionRow.unit,
    DetectionRow.name,
    DetectionRow.path,
    DetectionRow.detected_at,
    DetectionRow.source,
    DetectionRow.action,
    DetectionRow.first_sweep_id,
)


_SHOWN_FIELDS = ("kind", "value", "reference", "first_seen", "last_seen", "expires", "comment")


class Store:
    """Sweeps and their host results in SQLite or PostgreSQL; one transaction per call."""

    def __init__(self, url: str | None = None) -> None:
        try:
            target = resolve_url(url)
        except ArgumentError as exc:
            raise StoreError(f"not a store URL: {url or os.environ.get('RAQUET_DB')}") from exc
        self.url = target.render_as_string(hide_password=True)
        try:
            self.engine = _create_engine(target)
            self._sessions = sessionmaker(self.engine, expire_on_commit=False)
            self._prepare_schema()
        except (NoSuchModuleError, ImportError) as exc:
            extra = " (pip install 'raquet[postgres]')" if "postgres" in target.drivername else ""
            raise StoreError(f"{self.url}: the database driver is not installed{extra}") from exc
        except OSError as exc:
            raise StoreError(f"{self.url}: {exc.strerror or exc}") from exc
        except SQLAlchemyError as exc:
            raise StoreError(
                f"{self.url} cannot be used as raquet's store: {_reason(exc)}"
            ) from exc

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @retried
    def _prepare_schema(self) -> None:
        """Create missing tables and stamp (or check) the schema version."""
        Base.metadata.create_all(self.engine)
        with self._sessions.begin() as session:
            row = session.get(SchemaVersionRow, 1)
            if row is None:
                session.add(SchemaVersionRow(id=1, version=SCHEMA_VERSION))
            elif row.version != SCHEMA_VERSION:
                raise StoreError(
                    f"{self.url} holds raquet schema version {row.version}, "
                    f"this raquet uses version {SCHEMA_VERSION}"
                )

    def _sweep(self, session: Session, sweep_id: str) -> SweepRow:
        row = session.get(SweepRow, sweep_id)
        if row is None:
            raise SweepNotFound(f"no sweep {sweep_id!r} in {self.url}")
        return row

    @retried
    def begin_sweep(
        self,
        inventory: str,
        province: str,
        checks: list[str],
        hosts: list[tuple[str, str]],
        options: dict[str, Any],
        *,
        started_at: datetime | None = None,
    ) -> str:
        """Record a new running sweep and the (host, unit) pairs it plans to reach."""
        _reject_duplicates(hosts)
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
                            host=clean_text(name), unit=clean_text(unit), position=position
                        )
                        for position, (name, unit) in enumerate(hosts)
                    ],
                )
            )
        return sweep_id

    @retried
    def record_host(self, sweep_id: str, result: HostResult) -> None:
        """Store one host's result and findings at once, replacing any earlier try."""
        row = _host_row(sweep_id, result)
        with self._sessions.begin() as session:
            self._sweep(session, sweep_id)
            session.execute(
                delete(HostResultRow).where(
                    HostResultRow.sweep_id == sweep_id, HostResultRow.host == row.host
                )
            )
            session.add(row)

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
        recorded = exists().where(
            HostResultRow.sweep_id == PlannedHostRow.sweep_id,
            HostResultRow.host == PlannedHostRow.host,
        )
        query = (
            select(PlannedHostRow.host, PlannedHostRow.unit)
            .where(PlannedHostRow.sweep_id == sweep_id, ~recorded)
            .order_by(PlannedHostRow.position)
        )
        with self._sessions.begin() as session:
            self._sweep(session, sweep_id)
            return [(host, unit) for host, unit in session.execute(query)]

    def sweep_info(self, sweep_id: str) -> SweepInfo:
        with self._sessions.begin() as session:
            row = self._sweep(session, sweep_id)
            return _info(row, _counts(session, [sweep_id])[sweep_id])

    def sweep_result(self, sweep_id: str) -> SweepResult:
        """The whole sweep as the `--json` document, hosts by unit then name.

        Read as plain rows, not ORM objects: a province's sweep is thousands of hosts and
        tens of thousands of findings, and reports read it on every render.
        """
        hosts_query = select(*_HOST_COLUMNS).where(HostResultRow.sweep_id == sweep_id)
        findings_query = (
            select(FindingRow.host_result_id, *_FINDING_COLUMNS)
            .join(HostResultRow, FindingRow.host_result_id == HostResultRow.id)
            .where(HostResultRow.sweep_id == sweep_id)
            .order_by(FindingRow.id)
        )
        with self._sessions.begin() as session:
            row = self._sweep(session, sweep_id)
            findings: dict[int, list[dict[str, Any]]] = {}
            for host_id, *values in session.execute(findings_query):
                findings.setdefault(host_id, []).append(
                    dict(zip(_FINDING_FIELDS, values, strict=True))
                )
            hosts = [
                _host_result(
                    dict(zip(_HOST_FIELDS, values, strict=True)), findings.get(host_id, [])
                )
                for host_id, *values in session.execute(hosts_query)
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

    @retried
    def import_feed(
        self,
        name: str,
        source: str,
        fmt: str,
        indicators: list[Indicator],
        *,
        problems: int = 0,
        imported_at: datetime | None = None,
    ) -> FeedInfo:
        """Store a feed's indicators, replacing whatever a feed of that name held, at once.

        One transaction: a sweep reading the feed sees the old list or the new one, never
        half of each.
        """
        name = clean_text(name).strip()
        if not name:
            raise ValueError("a feed needs a name")
        when = datetime.now(UTC) if imported_at is None else as_utc(imported_at)
        with self._sessions.begin() as session:
            feed = session.scalar(select(FeedRow).where(FeedRow.name == name))
            if feed is None:
                feed = FeedRow(name=name)
                session.add(feed)
            else:
                session.execute(delete(IndicatorRow).where(IndicatorRow.feed_id == feed.id))
            feed.source = clean_text(source)
            feed.format = fmt
            feed.imported_at = when
            feed.indicator_count = len(indicators)
            feed.problem_count = problems
            session.flush()
            rows = (_indicator_row(feed.id, indicator) for indicator in indicators)
            _insert_indicators(session.connection(), rows)
            return _feed_info(feed)

    def feeds(self) -> list[FeedInfo]:
        """Every imported feed, by name."""
        with self._sessions.begin() as session:
            rows = session.scalars(select(FeedRow).order_by(FeedRow.name))
            return [_feed_info(row) for row in rows]

    def feed_detail(
        self, name: str, sample: int = 20
    ) -> tuple[FeedInfo, dict[str, int], list[Indicator]]:
        """One feed (`raquet feeds show`): what its import said, how many indicators of each
        kind it holds, and its first `sample` indicators in the order they were imported."""
        with self._sessions.begin() as session:
            feed = self._feed(session, name)
            kinds = select(IndicatorRow.kind, func.count()).where(IndicatorRow.feed_id == feed.id)
            counts = dict(session.execute(kinds.group_by(IndicatorRow.kind)).tuples().all())
            first = (
                select(
                    IndicatorRow.kind,
                    IndicatorRow.value,
                    IndicatorRow.reference,
                    IndicatorRow.first_seen,
                    IndicatorRow.last_seen,
                    IndicatorRow.expires,
                    IndicatorRow.comment,
                )
                .where(IndicatorRow.feed_id == feed.id)
                .order_by(IndicatorRow.id)
                .limit(sample)
            )
            shown = [
                Indicator.model_validate(dict(zip(_SHOWN_FIELDS, values, strict=True)))
                for values in session.execute(first)
            ]
            return _feed_info(feed), counts, shown

    @retried
    def remove_feed(self, name: str) -> FeedInfo:
        """Delete a feed and its indicators in one transaction; the next sweep no longer
        matches against it (the findings of past sweeps keep the feed's name as evidence)."""
        with self._sessions.begin() as session:
            feed = self._feed(session, name)
            info = _feed_info(feed)
            session.execute(delete(IndicatorRow).where(IndicatorRow.feed_id == feed.id))
            session.execute(delete(FeedRow).where(FeedRow.id == feed.id))
            return info

    def feeds_holding(self, indicators: list[Indicator], besides: str | None = None) -> list[str]:
        """Names of the feeds (other than `besides`) whose indicators are exactly these, by kind
        and value: importing the same list twice under two names doubles nothing in the
        reports, but it is almost always a mistake worth saying. Only feeds with as many
        indicators are read."""
        wanted = {(i.kind, i.value) for i in indicators}
        query = select(FeedRow.id, FeedRow.name).where(FeedRow.indicator_count == len(indicators))
        same = []
        with self._sessions.begin() as session:
            for feed_id, name in session.execute(query.order_by(FeedRow.name)).all():
                if name == besides:
                    continue
                values = select(IndicatorRow.kind, IndicatorRow.value).where(
                    IndicatorRow.feed_id == feed_id
                )
                if set(session.execute(values).tuples()) == wanted:
                    same.append(name)
        return same

    def _feed(self, session: Session, name: str) -> FeedRow:
        feed = session.scalar(select(FeedRow).where(FeedRow.name == name))
        if feed is None:
            known = ", ".join(sorted(session.scalars(select(FeedRow.name)))) or "none"
            raise FeedNotFound(f"no feed {name!r} in {self.url} (known: {known})")
        return feed

    def indicator_set(
        self, names: list[str] | None = None, at: datetime | None = None
    ) -> IndicatorSet:
        """The IP, CIDR and domain indicators of the named feeds (all when None), indexed.

        Indicators that expired by `at` (default: now) are left out. An unknown feed name
        raises FeedNotFound rather than quietly matching against less than asked for.
        """
        moment = datetime.now(UTC) if at is None else as_utc(at)
        feeds_query = select(FeedRow.id, FeedRow.name).order_by(FeedRow.name)
        if names is not None:
            feeds_query = feeds_query.where(FeedRow.name.in_(names))
        indicators = IndicatorSet()
        with self._sessions.begin() as session:
            feeds = list(session.execute(feeds_query).all())
            unknown = sorted(set(names or ()) - {name for _, name in feeds})
            if unknown:
                known = ", ".join(sorted(session.scalars(select(FeedRow.name)))) or "none"
                raise FeedNotFound(f"no feed {', '.join(unknown)} in {self.url} (known: {known})")
            # Feed by feed, in name order, so that hits come in the same order every time.
            for feed_id, name in feeds:
                query = select(IndicatorRow.kind, IndicatorRow.value, IndicatorRow.reference).where(
                    IndicatorRow.feed_id == feed_id,
                    IndicatorRow.kind != "url",
                    or_(IndicatorRow.expires.is_(None), IndicatorRow.expires > moment),
                )
                rows = session.connection().execute(
                    query, execution_options={"yield_per": _READ_BATCH}
                )
                for kind, value, reference in rows:
                    indicators.add(cast(MatchKind, kind), value, name, reference)
        return indicators

    def _insert_new(self, table: type[DetectionRow] | type[PendingUpdateRow]) -> Any:
        """INSERT of rows whose `key` is not stored yet: the database, not a prior SELECT,
        decides, so jump hosts writing the same row at once never collide."""
        from sqlalchemy.dialects import postgresql, sqlite  # one dialect's insert, when needed

        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table).on_conflict_do_nothing(index_elements=["key"])

    @retried
    def record_detections(
        self, sweep_id: str, host: str, unit: str, detections: list[Detection]
    ) -> int:
        """Store the detections not stored yet (by host, time, path, name); how many were new.

        Several jump hosts may record the same detection at once: the database, not a
        prior SELECT, decides which insert wins (INSERT … ON CONFLICT DO NOTHING).
        """
        host, unit = clean_text(host), clean_text(unit)
        now = datetime.now(UTC)
        rows: dict[str, dict[str, Any]] = {}
        for detection in detections:
            row = _detection_row(sweep_id, host, unit, detection, now)
            rows.setdefault(row["key"], row)
        with self._sessions.begin() as session:
            self._sweep(session, sweep_id)
            if not rows:
                return 0
            statement = self._insert_new(DetectionRow).returning(DetectionRow.id)
            new = session.connection().execute(statement, list(rows.values()))
            return len(new.all())

    @retried
    def pending_since(
        self, host: str, updates: list[tuple[str, str]], seen_at: datetime
    ) -> dict[tuple[str, str], datetime]:
        """When each (package, version) pending on `host` was first seen; the ones never seen
        before are recorded as first seen at `seen_at` (the host's own clock)."""
        host = clean_text(host)
        rows: dict[str, dict[str, Any]] = {
            _pending_key(host, package, version): {
                "key": _pending_key(host, package, version),
                "host": host,
                "package": clean_text(package),
                "version": clean_text(version),
                "first_seen": as_utc(seen_at),
            }
            for package, version in updates
        }
        if not rows:
            return {}
        insert_new = self._insert_new(PendingUpdateRow)
        query = select(PendingUpdateRow.key, PendingUpdateRow.first_seen).where(
            PendingUpdateRow.key.in_(rows)
        )
        with self._sessions.begin() as session:
            session.connection().execute(insert_new, list(rows.values()))
            first_seen = {key: seen for key, seen in session.execute(query)}
        wanted = {
            _pending_key(host, package, version): (package, version) for package, version in updates
        }
        return {pair: first_seen[key] for key, pair in wanted.items()}

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
            FindingRow.host_result_id == HostResultRow.id, FindingRow.status.in_(_NOT_COMPLIANT)
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
                FindingRow.check.in_(findings_of), FindingRow.status.in_(_NOT_COMPLIANT)
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

    def detections(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        unit: str | None = None,
        host: str | None = None,
    ) -> list[StoredDetection]:
        """Detections with `since` <= detected_at < `until`, oldest first.

        The half-open window lets weekly reports ask for [Monday, next Monday) without
        counting a detection at midnight twice.
        """
        query = select(*_DETECTION_COLUMNS).order_by(DetectionRow.detected_at, DetectionRow.id)
        if since is not None:
            query = query.where(DetectionRow.detected_at >= as_utc(since))
        if until is not None:
            query = query.where(DetectionRow.detected_at < as_utc(until))
        if unit is not None:
            query = query.where(DetectionRow.unit == unit)
        if host is not None:
            query = query.where(DetectionRow.host == host)
        with self._sessions.begin() as session:
            return [
                StoredDetection.model_validate(dict(zip(_DETECTION_FIELDS, values, strict=True)))
                for values in session.execute(query)
            ]
