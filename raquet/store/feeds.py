"""Indicator feeds: imported whole in one transaction, read back as one IndicatorSet."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    delete,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import (
    Session,
)

from raquet.feeds import Indicator, IndicatorSet, MatchKind
from raquet.store.base import StoreBase
from raquet.store.clean import (
    _clean_optional,
    _utc_or_none,
    as_utc,
    clean_text,
)
from raquet.store.errors import FeedNotFound, retried
from raquet.store.schema import (
    FeedRow,
    IndicatorRow,
)
from raquet.store.views import FeedInfo

_IMPORT_BATCH = 20_000
_READ_BATCH = 50_000


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


_SHOWN_FIELDS = ("kind", "value", "reference", "first_seen", "last_seen", "expires", "comment")


class Feeds(StoreBase):
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
