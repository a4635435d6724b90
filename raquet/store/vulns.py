"""Offline vulnerability data sets: each imported whole in one transaction, streamed from its
reader in batches, and read back as one `VulnIndex`.

A record is kept as one row of compact JSON (ASCII, so no NUL or lone surrogate of a data
file can break a PostgreSQL insert): the records are only ever read back whole, to index
them, so nothing is gained by spreading them over columns, and one row per `Vulnerability`
keeps a 300,000-CVE NVD import at 300,000 rows.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from raquet.errors import Problem
from raquet.store.base import StoreBase
from raquet.store.clean import as_utc, clean_text
from raquet.store.errors import VulnDatasetNotFound, retried
from raquet.store.schema import VulnDatasetRow, VulnRecordRow
from raquet.store.views import VulnDatasetInfo
from raquet.vulns.model import Affected, Range, Vulnerability

if TYPE_CHECKING:  # the index (and the readers it imports) only when a sweep asks for it
    from raquet.vulns.index import VulnIndex

_IMPORT_BATCH = 5_000
_READ_BATCH = 20_000
PROBLEMS_KEPT = 200
"""Problems an import hands back to be shown (all are counted)."""
_MAX_SPACES = 1_000


class NoRecords(ValueError):
    """A data set file that gave no record at all: nothing is stored or replaced."""

    def __init__(self, message: str, problems: list[Problem], problem_count: int) -> None:
        super().__init__(message)
        self.problems = problems
        self.problem_count = problem_count


@dataclass
class VulnImport:
    """What an import stored, and the first problems it met (`info.problems` counts all)."""

    info: VulnDatasetInfo
    problems: list[Problem] = field(default_factory=list)


def encode(vulnerability: Vulnerability) -> str:
    """A record as the compact JSON row `decode` reads back (the data set is the row's)."""
    affected = [
        [
            a.space,
            a.package,
            a.scheme,
            [list(r) for r in a.ranges],
            list(a.versions),
            a.fixed,
            a.kb,
            a.platform,
        ]
        for a in vulnerability.affected
    ]
    document = [
        vulnerability.id,
        list(vulnerability.cves),
        vulnerability.severity,
        vulnerability.cvss,
        vulnerability.format,
        affected,
    ]
    if vulnerability.modified is not None:  # rows written before it have six fields
        document.append(vulnerability.modified)
    return json.dumps(document, ensure_ascii=True, separators=(",", ":"), allow_nan=False)


def decode(payload: str, dataset: str) -> Vulnerability:
    """The record a row holds, named as the data set it was imported as."""
    ident, cves, severity, cvss, fmt, affected, *rest = json.loads(payload)
    intern = sys.intern
    return Vulnerability(
        id=ident,
        cves=tuple(cves),
        severity=severity,
        cvss=cvss,
        dataset=dataset,
        format=fmt,
        affected=tuple(
            Affected(
                space=intern(space),
                package=intern(package),
                scheme=scheme,
                ranges=tuple(Range(*bounds) for bounds in ranges),
                versions=tuple(versions),
                fixed=fixed,
                kb=kb,
                platform=platform,
            )
            for space, package, scheme, ranges, versions, fixed, kb, platform in affected
        ),
        modified=intern(rest[0]) if rest and isinstance(rest[0], str) else None,
    )


def _info(row: VulnDatasetRow) -> VulnDatasetInfo:
    return VulnDatasetInfo(
        name=row.name,
        source=row.source,
        format=row.format,
        imported_at=row.imported_at,
        records=row.record_count,
        problems=row.problem_count,
        spaces=list(row.spaces),
    )


def _insert_records(connection: Connection, rows: Iterable[tuple[int, str]]) -> None:
    """Bulk insert: COPY on PostgreSQL, batched executemany on SQLite (as feeds.py does)."""
    if connection.dialect.name == "postgresql":
        driver: Any = connection.connection.driver_connection  # psycopg 3, in this transaction
        cursor = driver.cursor()
        with cursor.copy("COPY vuln_records (dataset_id, payload) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    batch: list[dict[str, Any]] = []
    for dataset_id, payload in rows:
        batch.append({"dataset_id": dataset_id, "payload": payload})
        if len(batch) == _IMPORT_BATCH:
            connection.execute(insert(VulnRecordRow), batch)
            batch = []
    if batch:
        connection.execute(insert(VulnRecordRow), batch)


class Vulns(StoreBase):
    @retried
    def import_vulns(
        self,
        name: str,
        source: str,
        fmt: str,
        records: Callable[[], Iterable[Vulnerability | Problem]],
        *,
        imported_at: datetime | None = None,
    ) -> VulnImport:
        """Store a data set's records, replacing whatever a data set of that name held, in one
        transaction: a sweep building its index sees the old data or the new, never a mix.

        `records` gives the reader's output (`read_vulns`), streamed into the table in
        batches; it is called again if a locked store makes the write start over. A file
        that gives no record replaces nothing (NoRecords, with its problems)."""
        name = clean_text(name).strip()
        if not name:
            raise ValueError("a vulnerability data set needs a name")
        when = datetime.now(UTC) if imported_at is None else as_utc(imported_at)
        problems: list[Problem] = []
        counts = {"records": 0, "problems": 0}
        spaces: set[str] = set()

        def rows(dataset_id: int) -> Iterator[tuple[int, str]]:
            for item in records():
                if isinstance(item, Problem):
                    counts["problems"] += 1
                    if len(problems) < PROBLEMS_KEPT:
                        problems.append(item)
                    continue
                counts["records"] += 1
                if len(spaces) < _MAX_SPACES:
                    spaces.update(a.space for a in item.affected)
                yield dataset_id, encode(item)

        with self._sessions.begin() as session:
            dataset = session.scalar(select(VulnDatasetRow).where(VulnDatasetRow.name == name))
            if dataset is None:
                dataset = VulnDatasetRow(name=name)
                session.add(dataset)
            else:
                session.execute(delete(VulnRecordRow).where(VulnRecordRow.dataset_id == dataset.id))
            dataset.source = clean_text(source)
            dataset.format = fmt
            dataset.imported_at = when
            dataset.record_count = 0
            dataset.problem_count = 0
            dataset.spaces = []
            session.flush()
            _insert_records(session.connection(), rows(dataset.id))
            if counts["records"] == 0:  # leaving the block rolls back: nothing replaced
                raise NoRecords(
                    f"{source}: no vulnerability record could be read; nothing was imported",
                    problems,
                    counts["problems"],
                )
            dataset.record_count = counts["records"]
            dataset.problem_count = counts["problems"]
            dataset.spaces = sorted(spaces)
            session.flush()
            return VulnImport(_info(dataset), problems)

    def vuln_datasets(self) -> list[VulnDatasetInfo]:
        """Every imported data set, by name."""
        with self._sessions.begin() as session:
            rows = session.scalars(select(VulnDatasetRow).order_by(VulnDatasetRow.name))
            return [_info(row) for row in rows]

    @retried
    def remove_vulns(self, name: str) -> VulnDatasetInfo:
        """Delete a data set and its records in one transaction; the next sweep no longer
        matches against it (past findings keep the data set's name as evidence)."""
        with self._sessions.begin() as session:
            dataset = self._vuln_dataset(session, name)
            info = _info(dataset)
            session.execute(delete(VulnRecordRow).where(VulnRecordRow.dataset_id == dataset.id))
            session.execute(delete(VulnDatasetRow).where(VulnDatasetRow.id == dataset.id))
            return info

    def _vuln_dataset(self, session: Session, name: str) -> VulnDatasetRow:
        dataset = session.scalar(select(VulnDatasetRow).where(VulnDatasetRow.name == name))
        if dataset is None:
            known = ", ".join(sorted(session.scalars(select(VulnDatasetRow.name)))) or "none"
            raise VulnDatasetNotFound(
                f"no vulnerability data set {name!r} in {self.url} (known: {known})"
            )
        return dataset

    def vuln_index(self) -> VulnIndex | None:
        """Every imported data set's records indexed for matching (data set by data set, in
        name order, records in import order); None when nothing is imported."""
        from raquet.vulns.index import VulnIndex

        index = VulnIndex()
        with self._sessions.begin() as session:
            datasets = session.execute(
                select(
                    VulnDatasetRow.id,
                    VulnDatasetRow.name,
                    VulnDatasetRow.source,
                    VulnDatasetRow.format,
                    VulnDatasetRow.imported_at,
                ).order_by(VulnDatasetRow.name)
            ).all()
            if not datasets:
                return None
            for dataset_id, name, source, fmt, imported_at in datasets:
                index.describe(name, source, fmt, imported_at)
                query = (
                    select(VulnRecordRow.payload)
                    .where(VulnRecordRow.dataset_id == dataset_id)
                    .order_by(VulnRecordRow.id)
                )
                rows = session.connection().execute(
                    query, execution_options={"yield_per": _READ_BATCH}
                )
                for (payload,) in rows:
                    index.add(decode(payload, name))
        return index
