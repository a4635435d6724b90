"""Which schema a store follows, and bringing it to this raquet's (Alembic, migrations/).

Opening a store (base.py) costs one query when it is already at this raquet's revision:
Alembic itself is imported only to upgrade. A store without raquet's tables is created
at the newest revision directly; tests prove the migrations build the same tables.

A store at an older revision is upgraded on opening when it is an SQLite file (the
embedded store, which only this jump host uses), after a backup copy beside it; a
PostgreSQL store is shared by several jump hosts and is upgraded only by `raquet db
upgrade`, which an operator runs once all of them have the new raquet. A store at a
revision this raquet does not know was written by a newer raquet and is refused.
"""

from __future__ import annotations

import fcntl
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    insert,
    inspect,
    select,
    text,
)

from raquet.store.engine import sqlite_file
from raquet.store.errors import StoreError
from raquet.store.schema import HEAD_REVISION, SCHEMA_VERSION, Base, SchemaVersionRow

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

log = logging.getLogger("raquet")

# Alembic's own bookkeeping table, declared here so that a new store is stamped without
# importing Alembic; the same shape `alembic stamp` creates.
_VERSIONS = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), primary_key=True),
)
# Serialises schema changes between jump hosts opening one PostgreSQL store at once.
_PG_LOCK = 0x72617175  # "raqu"


@dataclass(frozen=True)
class Revision:
    """Where a store stands: its revision (None: no raquet tables yet), and whether it
    predates Alembic (a version-1 `raquet_schema` row and no `alembic_version`)."""

    current: str | None
    legacy: bool = False

    @property
    def at_head(self) -> bool:
        return self.current == HEAD_REVISION


def read_revision(connection: Connection) -> Revision:
    tables = set(inspect(connection).get_table_names())
    if "alembic_version" in tables:
        found = connection.execute(select(_VERSIONS.c.version_num)).scalars().all()
        if len(found) != 1:
            raise StoreError(f"the store's alembic_version table holds {len(found)} revisions")
        return Revision(found[0])
    if "raquet_schema" in tables:
        version = connection.execute(select(SchemaVersionRow.version)).scalar()
        if version != 1:
            raise StoreError(f"the store holds raquet schema version {version} without a revision")
        # Version-1 stores created the remediation log's table only once it was used.
        return Revision("0002" if "remediations" in tables else "0001", legacy=True)
    if tables & set(Base.metadata.tables):
        raise StoreError(
            "the database holds some of raquet's tables but no schema version "
            "(an interrupted creation? a new store that never held a sweep can be deleted)"
        )
    return Revision(None)


def prepare(engine: Engine, url: str) -> None:
    """Make the store usable by this raquet, or say why it is not (StoreError)."""
    path = sqlite_file(engine.url)
    with _creation_lock(path):
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
            found = read_revision(connection)
            if found.current is None:
                _create(connection)
                return
            if found.at_head:
                return
        _refuse_unknown(found, url)
        if path is None:
            raise StoreError(
                f"{url} is at schema revision {found.current}, this raquet needs "
                f"{HEAD_REVISION}: run `raquet db upgrade` once every jump host has this raquet"
            )
        backup = backup_sqlite(path, found.current or "new")
        upgrade(engine, found)
    log.warning(
        "store %s upgraded from revision %s to %s; the old one is kept at %s",
        url,
        found.current,
        HEAD_REVISION,
        backup,
    )


@contextmanager
def _creation_lock(path: Path | None) -> Iterator[None]:
    """Several processes opening one new or old SQLite file at once (workers starting
    together) create or upgrade it one at a time: SQLite runs DDL outside transactions,
    so two creators would collide. An flock on the file itself, which SQLite's own
    (fcntl) locks ignore."""
    if path is None:
        yield
        return
    try:
        handle = open(path, "ab")  # noqa: SIM115 (held for the block below)
    except OSError:  # a directory or file it may not write: SQLite's own error says so
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _create(connection: Connection) -> None:
    Base.metadata.create_all(connection)
    _VERSIONS.create(connection)
    connection.execute(_VERSIONS.insert().values(version_num=HEAD_REVISION))
    connection.execute(insert(SchemaVersionRow).values(id=1, version=SCHEMA_VERSION))


def known_revisions() -> list[str]:
    """Every revision the shipped migrations know, oldest first."""
    script = _script_directory()
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def _refuse_unknown(found: Revision, url: str) -> None:
    if found.current not in known_revisions():
        raise StoreError(
            f"{url} is at schema revision {found.current}, which this raquet does not know "
            f"(it knows up to {HEAD_REVISION}): it was written by a newer raquet; "
            "use that raquet or a newer one"
        )


def upgrade(engine: Engine, found: Revision) -> None:
    """Run the migrations from the store's revision to this raquet's, in one transaction."""
    from alembic import command  # only when a store needs it: it costs start-up time

    config = _config()
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
        config.attributes["connection"] = connection
        if found.legacy:
            command.stamp(config, found.current or "base")
        command.upgrade(config, "head")


def backup_sqlite(path: Path, revision: str) -> Path:
    """A consistent copy of the SQLite file (its online backup API: safe while a report
    reads it), named for the revision it holds and the time it was taken."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.rev{revision}-{stamp}.bak")
    source = sqlite3.connect(path)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()
    target.chmod(path.stat().st_mode & 0o777)
    return target


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "raquet.store:migrations")
    return config


def _script_directory() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def open_engine(url: str | None) -> tuple[Engine, str]:
    """The store's engine without opening it as a Store (which refuses an old PostgreSQL
    store): what `raquet db` works on."""
    from sqlalchemy.exc import ArgumentError

    from raquet.store.engine import create_store_engine, resolve_url

    try:
        target = resolve_url(url)
    except ArgumentError as exc:
        raise StoreError(f"not a store URL: {url}") from exc
    return create_store_engine(target), target.render_as_string(hide_password=True)


def upgrade_store(url: str | None) -> tuple[str | None, str, Path | None]:
    """`raquet db upgrade`: (revision before, revision after, the SQLite backup if any).
    A store without raquet's tables is created; one at the newest revision is left alone."""
    engine, shown = open_engine(url)
    try:
        with engine.begin() as connection:
            found = read_revision(connection)
            if found.current is None:
                _create(connection)
                return None, HEAD_REVISION, None
        if found.at_head:
            return found.current, HEAD_REVISION, None
        _refuse_unknown(found, shown)
        path = sqlite_file(engine.url)
        backup = backup_sqlite(path, found.current or "new") if path is not None else None
        upgrade(engine, found)
        return found.current, HEAD_REVISION, backup
    finally:
        engine.dispose()


def store_revision(url: str | None) -> tuple[str, Revision]:
    """`raquet db status`: the store's URL (password hidden) and where its schema stands."""
    engine, shown = open_engine(url)
    try:
        with engine.connect() as connection:
            return shown, read_revision(connection)
    finally:
        engine.dispose()
