"""The store's schema under Alembic: new stores, a store from the release before, and
stores this raquet must refuse — on SQLite and a real PostgreSQL."""

from __future__ import annotations

import gzip
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from raquet.store import Store, StoreError, resolve_url
from raquet.store.migrate import _config, known_revisions
from raquet.store.schema import HEAD_REVISION, SCHEMA_VERSION, Base
from tests.pg import pg_server, pg_url  # noqa: F401 (fixtures, requested by name)

FIXTURES = Path(__file__).parent / "fixtures" / "store"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'raquet.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


def _scalar(url: str, sql: str) -> object:
    engine = create_engine(resolve_url(url))
    try:
        with engine.connect() as connection:
            return connection.scalar(text(sql))
    finally:
        engine.dispose()


def _execute(url: str, sql: str) -> None:
    engine = create_engine(resolve_url(url))
    try:
        with engine.begin() as connection:
            connection.execute(text(sql))
    finally:
        engine.dispose()


def _migrate(url: str, to: str) -> None:
    """Build a store by running the shipped migrations, as an older raquet left it."""
    engine = create_engine(resolve_url(url))
    try:
        with engine.begin() as connection:
            config = _config()
            config.attributes["connection"] = connection
            command.upgrade(config, to)
    finally:
        engine.dispose()


def _v1_store(path: Path) -> Path:
    """The SQLite store the release before Alembic wrote (raquet b96d432, through its own
    Store API: four sweeps, detections, a feed, remediations, a pending update)."""
    connection = sqlite3.connect(path)
    connection.executescript(gzip.decompress((FIXTURES / "v1.sql.gz").read_bytes()).decode())
    connection.close()
    return path


def _read_back(store: Store) -> dict[str, object]:
    history = store.history(limit=50)
    return {
        "history": [h.model_dump(mode="json") for h in history],
        "sweep": store.sweep_result(history[-1].id).model_dump(mode="json"),
        "detections": len(store.detections()),
        "feeds": [f.model_dump(mode="json") for f in store.feeds()],
    }


def test_the_shipped_head_is_the_one_the_code_declares() -> None:
    assert known_revisions()[-1] == HEAD_REVISION
    assert known_revisions()[0] == "0001"


def test_migrations_build_exactly_the_tables_a_new_store_gets(db_url: str) -> None:
    """A new store is created from the models (fast); an old one reaches the same tables
    through the migrations: Alembic's own comparison finds no difference."""
    _migrate(db_url, "head")
    engine = create_engine(resolve_url(db_url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_a_new_store_is_stamped_at_the_head(db_url: str) -> None:
    Store(db_url).close()
    assert _scalar(db_url, "SELECT version_num FROM alembic_version") == HEAD_REVISION
    assert _scalar(db_url, "SELECT version FROM raquet_schema") == SCHEMA_VERSION
    Store(db_url).close()  # opening again changes nothing
    assert _scalar(db_url, "SELECT count(*) FROM alembic_version") == 1


def test_the_previous_releases_sqlite_store_is_upgraded_after_a_backup(tmp_path: Path) -> None:
    path = _v1_store(tmp_path / "raquet.db")
    before = path.read_bytes()
    with Store(str(path)) as store:
        assert _read_back(store) == json.loads((FIXTURES / "v1.expected.json").read_text())
        sweep_id = store.history(limit=1)[0].id
        assert store.sweep_info(sweep_id).planned > 0
    backups = list(tmp_path.glob("raquet.db.rev0002-*.bak"))
    assert len(backups) == 1
    copy = sqlite3.connect(backups[0])
    assert copy.execute("SELECT version FROM raquet_schema").fetchone() == (1,)
    assert copy.execute("SELECT count(*) FROM detections").fetchone() == (300,)
    copy.close()
    assert path.read_bytes() != before
    assert _scalar(f"sqlite:///{path}", "SELECT version FROM raquet_schema") == SCHEMA_VERSION
    segments = _scalar(f"sqlite:///{path}", "SELECT count(DISTINCT segment) FROM sweep_hosts")
    assert segments == 1
    Store(str(path)).close()
    assert len(list(tmp_path.glob("raquet.db.rev*.bak"))) == 1  # upgraded once, backed up once


def test_a_v1_store_that_never_remediated_gets_the_log_table(tmp_path: Path) -> None:
    path = _v1_store(tmp_path / "raquet.db")
    connection = sqlite3.connect(path)
    connection.execute("DROP TABLE remediations")
    connection.commit()
    connection.close()
    with Store(str(path)) as store:
        assert len(store.history()) == 4
    engine = create_engine(f"sqlite:///{path}")
    assert "remediations" in inspect(engine).get_table_names()
    engine.dispose()


@pytest.mark.postgres
def test_an_older_postgresql_store_waits_for_db_upgrade(pg_url: str) -> None:  # noqa: F811
    _migrate(pg_url, "0002")
    _execute(
        pg_url,
        "INSERT INTO sweeps VALUES ('s-1', now(), now(), 'inv.yml', 'P', '[]', '{}', 'finished')",
    )
    _execute(pg_url, "INSERT INTO sweep_hosts VALUES ('s-1', 'h1', 'u', 0)")
    with pytest.raises(StoreError, match=r"revision 0002.*raquet db upgrade"):
        Store(pg_url)
    status = _raquet("db", "status", "--db", pg_url, "--json", "-")
    assert json.loads(status.stdout)["state"] == "older: run `raquet db upgrade`"
    upgraded = _raquet("db", "upgrade", "--db", pg_url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"from revision 0002 to {HEAD_REVISION}" in upgraded.stdout
    with Store(pg_url) as store:
        [info] = store.history()
        assert (info.id, info.planned) == ("s-1", 1)
    assert _scalar(pg_url, "SELECT segment FROM sweep_hosts") == "default"
    again = _raquet("db", "upgrade", "--db", pg_url)
    assert f"already at revision {HEAD_REVISION}" in again.stdout


def test_a_store_from_a_newer_raquet_is_refused(db_url: str) -> None:
    Store(db_url).close()
    _execute(db_url, "UPDATE alembic_version SET version_num = '0099'")
    with pytest.raises(StoreError, match=r"revision 0099.*newer raquet"):
        Store(db_url)
    status = _raquet("db", "status", "--db", db_url, "--json", "-")
    assert json.loads(status.stdout)["state"] == "newer than this raquet: written by a newer raquet"
    refused = _raquet("db", "upgrade", "--db", db_url)
    assert refused.returncode == 2 and "newer raquet" in refused.stdout


def test_tables_without_a_version_are_not_taken_for_a_store(db_url: str) -> None:
    _execute(db_url, "CREATE TABLE sweeps (id VARCHAR(36) PRIMARY KEY)")
    with pytest.raises(StoreError, match="no schema version"):
        Store(db_url)


def _raquet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "raquet", *args], capture_output=True, text=True, cwd=REPO
    )
