"""A real PostgreSQL for the tests: the server `RAQUET_TEST_PG` names, or a throwaway one.

The throwaway server lives in a temp dir and listens only on a unix socket there, so it
never collides with a port or another server. PostgreSQL refuses to run as root, so
under root it runs as the `postgres` user. Missing binaries fail the tests instead of
skipping them: CI installs PostgreSQL, and a silently skipped backend is an untested one.

Each test gets its own schema (via the connection's `search_path`), which works on a
server we own and on a shared one where we may not create databases.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from raquet.store import resolve_url

# A session zone far from UTC, so a test notices any time read back unconverted.
SESSION_TIMEZONE = "Asia/Ho_Chi_Minh"


def _server_bindir() -> Path:
    def version(bindir: Path) -> int:
        name = bindir.parent.name
        return int(name) if name.isdigit() else 0

    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version)
    found = [bindir for bindir in found if (bindir / "pg_ctl").exists()]
    if found:
        return found[-1]
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    pytest.fail(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin "
        "or on PATH: install them (apt-get install postgresql) or point RAQUET_TEST_PG at "
        "a server (postgresql://user:password@host/db)",
        pytrace=False,
    )


def _run_as_owner(root: Path) -> list[str]:
    """The command prefix that runs the server's tools as a user it accepts."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("running as root but there is no `postgres` user to run the server as")
    if shutil.which("runuser") is None:
        pytest.fail("running as root but `runuser` is missing to drop to the `postgres` user")
    shutil.chown(root, user="postgres")
    return ["runuser", "-u", "postgres", "--"]


def _run(command: list[str], what: str, log: Path | None = None) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        server_log = log.read_text(errors="replace") if log and log.exists() else ""
        pytest.fail(
            f"{what} failed ({done.returncode}): {done.stdout}{done.stderr}{server_log}",
            pytrace=False,
        )


@contextmanager
def throwaway_server(listen: list[str] | None = None, password: str | None = None) -> Iterator[URL]:
    """A PostgreSQL server in a temp dir, on its unix socket only, or also on TCP at
    `listen` (port 5432 of each address) with a scram password for user `raquet`: what
    workers in other network namespaces reach."""
    bindir = _server_bindir()
    root = Path(tempfile.mkdtemp(prefix="raquet-pg-"))
    data, log = root / "data", root / "server.log"
    owner = _run_as_owner(root)
    try:
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
        _run([*owner, *initdb, "-E", "UTF8", "--locale=C", "--no-sync"], "initdb")
        addresses = ",".join(listen or [])
        if listen:
            with (data / "pg_hba.conf").open("a") as hba:
                hba.write("host all raquet 0.0.0.0/0 scram-sha-256\n")
        settings = (
            f"-k {root} -c listen_addresses='{addresses}' -c fsync=off -c full_page_writes=off"
        )
        pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w"]
        _run([*owner, *pg_ctl, "-o", settings, "start"], "pg_ctl start", log)
        local = URL.create(
            "postgresql+psycopg",
            username="postgres",
            database="postgres",
            query={"host": str(root)},
        )
        if password is not None:
            admin = create_engine(local)
            with admin.begin() as connection:
                connection.execute(
                    text(f"CREATE ROLE raquet LOGIN SUPERUSER PASSWORD '{password}'")
                )
            admin.dispose()
        yield local
    finally:
        if (data / "postmaster.pid").exists():
            stop = [*owner, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
            subprocess.run(stop, capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A URL of a PostgreSQL server the tests may create schemas on."""
    given = os.environ.get("RAQUET_TEST_PG")
    if given:
        yield given
        return
    with throwaway_server() as url:
        yield url.render_as_string(hide_password=False)


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A URL whose connections land in a fresh schema, dropped after the test."""
    schema = f"raquet_test_{uuid4().hex[:12]}"
    server = resolve_url(pg_server)
    admin = create_engine(server)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    options = f"-csearch_path={schema} -ctimezone={SESSION_TIMEZONE}"
    try:
        yield server.update_query_dict({"options": options}).render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
