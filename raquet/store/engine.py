"""Where the store is and how to connect: URL resolution, SQLite pragmas, the engine."""

from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Engine,
    create_engine,
    event,
)
from sqlalchemy.engine import URL, make_url

SQLITE_BUSY_TIMEOUT_MS = 500


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


def sqlite_file(target: URL) -> Path | None:
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


def create_store_engine(target: URL) -> Engine:
    dump = partial(json.dumps, ensure_ascii=False, allow_nan=False)
    if target.get_backend_name() != "sqlite":
        # Sweeps last hours; a connection dropped by the server or a firewall is replaced.
        return create_engine(target, json_serializer=dump, pool_pre_ping=True)
    path = sqlite_file(target)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(target, json_serializer=dump)
    event.listen(engine, "connect", _on_sqlite_connect)
    return engine
