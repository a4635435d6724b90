"""A store that cannot be used is named plainly, with exit 2 (bad input), never a traceback
that reads as exit 1 ("non-compliant")."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, raquet_cli


def _corrupt(path: Path) -> str:
    path.write_bytes(b"this is not a database\x00" * 100)
    return str(path)


def _readonly_dir(path: Path) -> str:
    path.mkdir()
    return str(path)  # a directory where a database file should be


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (_corrupt, "cannot be used as raquet's store"),
        (_readonly_dir, "cannot be used as raquet's store"),
    ],
)
def test_an_unusable_sqlite_store_is_named_with_exit_2(tmp_path: Path, make, said: str) -> None:
    db = make(tmp_path / "store.db")
    for args in (["history"], ["feeds", "list"]):
        proc = raquet_cli(*args, "--db", db)
        assert proc.returncode == 2, proc.stderr
        assert said in proc.stderr and "Traceback" not in proc.stderr


def test_a_store_url_without_its_driver_is_named(tmp_path: Path) -> None:
    proc = raquet_cli("history", "--db", "mysql+nosuchdriver://u@localhost/raquet")
    assert proc.returncode == 2 and "driver is not installed" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_reads_go_on_while_another_writer_holds_the_lock_and_a_write_is_named(
    tmp_path: Path,
) -> None:
    path, feed = tmp_path / "store.db", tmp_path / "c2.txt"
    feed.write_text("198.51.100.7\n")
    assert raquet_cli("history", "--db", str(path)).returncode == 0  # create it
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        assert raquet_cli("history", "--db", str(path)).returncode == 0
        proc = raquet_cli(
            "feeds",
            "import",
            feed,
            "--db",
            str(path),
            env={**os.environ, "RAQUET_STORE_WRITE_TIMEOUT": "1"},
        )
    finally:
        locker.execute("ROLLBACK")
    assert proc.returncode == 2 and "locked" in proc.stderr, proc.stderr


def test_postgresql_without_its_driver_says_what_to_install() -> None:
    """psycopg hidden from the interpreter, as on a jump host installed without `[postgres]`."""
    code = (
        "import sys; sys.modules['psycopg'] = None; "
        "sys.argv = ['raquet', 'history', '--db', 'postgresql://raquet@localhost/raquet']; "
        "from raquet.cli import main; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    assert "driver is not installed" in proc.stderr and "raquet[postgres]" in proc.stderr
    assert "Traceback" not in proc.stderr
