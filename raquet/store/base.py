"""The store's connection, schema check and shared lookups, under every concern's mixin."""

from __future__ import annotations

import os
from types import TracebackType
from typing import Self

from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import (
    Session,
    sessionmaker,
)

from raquet.store.engine import create_store_engine, resolve_url
from raquet.store.errors import StoreError, SweepNotFound, _reason, retried
from raquet.store.migrate import prepare
from raquet.store.schema import (
    SweepRow,
)


class StoreBase:
    """Sweeps and their host results in SQLite or PostgreSQL; one transaction per call."""

    def __init__(self, url: str | None = None) -> None:
        try:
            target = resolve_url(url)
        except ArgumentError as exc:
            raise StoreError(f"not a store URL: {url or os.environ.get('RAQUET_DB')}") from exc
        self.url = target.render_as_string(hide_password=True)
        try:
            self.engine = create_store_engine(target)
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

    def __enter__(self) -> Self:
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
        """Create a new store, upgrade an embedded one, or refuse (StoreError) one this
        raquet must not write: see migrate.py."""
        prepare(self.engine, self.url)

    def _sweep(self, session: Session, sweep_id: str) -> SweepRow:
        row = session.get(SweepRow, sweep_id)
        if row is None:
            raise SweepNotFound(f"no sweep {sweep_id!r} in {self.url}")
        return row
