"""A result is never lost to a locked store, and `--resume` judges by the sweep's own settings
(issue 9, items 7 and 8): real sweeps of the spine fleet while another process holds
SQLite's write lock, and resumes with a different command line."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from raquet.store import Store
from tests.conftest import ROOT, raquet_cli
from tests.lab.fleet import Fleet

RAQUET = [sys.executable, "-m", "raquet"]
SWEEP = ["--check", "av", "--connect-timeout", "2", "--timeout", "20"]
SWEEP += ["--unit", "so-tttt", "--unit", "trang-dinh"]


def _sweep(
    fleet: Fleet, db: str, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*RAQUET, "sweep", "-i", str(fleet.inventory_path), "--db", db, *SWEEP, *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _wait_for_sweep(path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if path.exists():
            with sqlite3.connect(path) as reader:
                try:
                    if reader.execute("select count(*) from sweeps").fetchone()[0]:
                        return
                except sqlite3.OperationalError:
                    pass
        time.sleep(0.02)
    raise AssertionError("the sweep never began")


def _locked_during(path: Path, child: subprocess.Popen[str], hold: float | None) -> tuple[str, str]:
    """Holds the store's write lock (BEGIN IMMEDIATE, as another raquet writing would)
    from the moment the sweep has begun, for `hold` seconds or until the sweep ends."""
    _wait_for_sweep(path)
    locker = sqlite3.connect(path, isolation_level=None, timeout=30)
    locker.execute("BEGIN IMMEDIATE")
    try:
        if hold is None:
            return child.communicate(timeout=300)
        time.sleep(hold)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    return child.communicate(timeout=300)


def test_a_store_locked_longer_than_a_write_waits_loses_nothing(
    spine_fleet: Fleet, tmp_path: Path
) -> None:
    path = tmp_path / "s.db"
    db = f"sqlite:///{path}"
    child = _sweep(
        spine_fleet, db, "--json", str(tmp_path / "a.json"), env={"RAQUET_STORE_WRITE_TIMEOUT": "2"}
    )
    _, stderr = _locked_during(path, child, hold=None)
    assert child.returncode == 3, stderr  # hosts not swept: takes precedence over findings
    assert "could not be stored" in stderr and "--resume" in stderr
    document = json.loads((tmp_path / "a.json").read_text())
    planned = {n for n, h in spine_fleet.hosts.items() if h.unit in ("so-tttt", "trang-dinh")}
    unstored = {h["name"] for h in document["hosts"] if "result not stored" in (h["error"] or "")}
    assert unstored and {h["name"] for h in document["hosts"]} == planned
    with Store(db) as store:
        sweep_id = store.latest_unfinished()
        assert sweep_id is not None  # not marked finished
        assert {n for n, _ in store.pending_hosts(sweep_id)} == unstored

    resumed = raquet_cli(
        "sweep",
        "-i",
        spine_fleet.inventory_path,
        "--db",
        db,
        "--resume",
        "--json",
        tmp_path / "b.json",
    )
    assert resumed.returncode in (1, 3), resumed.stderr
    with Store(db) as store:
        assert store.latest_unfinished() is None
        assert not store.pending_hosts(sweep_id)
        result = store.sweep_result(sweep_id)
    names = [h.name for h in result.hosts]
    assert sorted(names) == sorted(planned) and len(names) == len(set(names))
    assert not any("result not stored" in (h.error or "") for h in result.hosts)


def test_a_briefly_locked_store_is_waited_for(spine_fleet: Fleet, tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    db = f"sqlite:///{path}"
    child = _sweep(spine_fleet, db)
    _, stderr = _locked_during(path, child, hold=4)
    assert child.returncode in (1, 3) and "could not be stored" not in stderr, stderr
    with Store(db) as store:
        assert store.latest_unfinished() is None
        (info,) = store.history()
        assert (
            info.status == "finished" and info.swept + info.unreachable + info.error == info.planned
        )


def test_resume_judges_by_the_policy_and_options_the_sweep_began_with(
    spine_fleet: Fleet, tmp_path: Path
) -> None:
    """tt-srv-02's signatures are 41 days old: failing at the sweep's limit of 7 days,
    passing at 60. A resume given a 60-day policy must still judge at 7."""
    strict, lax = tmp_path / "strict.yml", tmp_path / "lax.yml"
    strict.write_text("av:\n  max_signature_age_days: 7\n")
    lax.write_text("av:\n  max_signature_age_days: 60\n")
    path = tmp_path / "s.db"
    db = f"sqlite:///{path}"
    first = raquet_cli(
        "sweep",
        "-i",
        spine_fleet.inventory_path,
        "--db",
        db,
        "-p",
        strict,
        "--check",
        "av",
        "--unit",
        "so-tttt",
        "--connect-timeout",
        "2",
    )
    assert first.returncode in (1, 3), first.stderr
    with Store(db) as store:
        (info,) = store.history()
    # unfinish the sweep and forget tt-srv-02's result, as a kill in the middle would leave it
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA foreign_keys=ON")  # its findings go with it, as raquet deletes
        raw.execute("update sweeps set status='running', finished_at=null")
        raw.execute("delete from host_results where host='tt-srv-02'")
    resumed = raquet_cli(
        "sweep",
        "-i",
        spine_fleet.inventory_path,
        "--db",
        db,
        "-p",
        lax,
        "--resume",
        "--timeout",
        "7",
        "--json",
        tmp_path / "r.json",
    )
    said = " ".join(resumed.stderr.split())
    assert "resuming with the sweep's own settings" in said, said
    assert "policy it began with" in said and "timeout 120 (not 7)" in said
    document = json.loads((tmp_path / "r.json").read_text())
    (host,) = [h for h in document["hosts"] if h["name"] == "tt-srv-02"]
    (av,) = host["findings"]
    assert av["status"] == "fail" and "limit 7" in av["title"], av
    assert document["sweep_id"] == info.id
