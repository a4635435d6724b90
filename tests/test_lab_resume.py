"""A sweep killed with SIGKILL loses nothing it finished, and `--resume` completes it (SPEC §7)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from raquet.store import Store
from tests.conftest import ROOT, raquet_cli
from tests.lab.fleet import Fleet
from tests.pg import pg_server, pg_url  # noqa: F401  (fixtures)


def test_killed_sweep_resumes_without_redoing_or_losing_hosts(
    spine_fleet: Fleet, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path}/s.db"
    args = [
        "sweep",
        "-i",
        str(spine_fleet.inventory_path),
        "--db",
        db,
        "--parallel",
        "1",
        "--connect-timeout",
        "2",
        "--timeout",
        "4",
    ]
    child = subprocess.Popen(
        [sys.executable, "-m", "raquet", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with Store(db) as store:
        deadline = time.monotonic() + 60
        sweep_id = None
        while time.monotonic() < deadline:
            sweep_id = store.latest_unfinished()
            if sweep_id and store.sweep_info(sweep_id).swept >= 3:
                break
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert sweep_id, "the sweep never stored a host"
        before = {h.name: h for h in store.sweep_result(sweep_id).hosts}
        left = store.pending_hosts(sweep_id)
    assert before and left, "kill the sweep while it is half done"

    proc = raquet_cli(
        "sweep",
        "-i",
        spine_fleet.inventory_path,
        "--db",
        db,
        "--resume",
        "--connect-timeout",
        "2",
        "--timeout",
        "4",
        "--json",
        tmp_path / "r.json",
    )
    assert proc.returncode == 3, proc.stderr
    assert f"resuming sweep {sweep_id}" in proc.stderr
    document = json.loads((tmp_path / "r.json").read_text())
    assert document["sweep_id"] == sweep_id
    after = {h["name"]: h for h in document["hosts"]}
    assert set(after) == set(spine_fleet.hosts)
    for name, earlier in before.items():  # finished hosts were kept, not swept again
        assert datetime.fromisoformat(after[name]["started_at"]) == earlier.started_at, name
        assert after[name]["findings"] == [f.model_dump(mode="json") for f in earlier.findings]
    with Store(db) as store:
        assert store.latest_unfinished() is None
        assert store.pending_hosts(sweep_id) == []


def test_sweep_into_postgresql(spine_fleet: Fleet, pg_url: str, tmp_path: Path) -> None:  # noqa: F811
    proc = raquet_cli(
        "sweep",
        "-i",
        spine_fleet.inventory_path,
        "--db",
        pg_url,
        "--unit",
        "so-tttt",
        "--json",
        tmp_path / "s.json",
    )
    assert proc.returncode == 1, proc.stderr
    sweep_id = json.loads((tmp_path / "s.json").read_text())["sweep_id"]
    with Store(pg_url) as store:
        result = store.sweep_result(sweep_id)
    assert {h.name for h in result.hosts} == {
        "tt-srv-01",
        "tt-srv-02",
        "tt-srv-03",
        "tt-ws-04",
        "tt-ws-05",
    }
    assert all(h.status == "swept" and len(h.findings) == 6 for h in result.hosts)


def test_every_host_the_progress_showed_is_in_the_store_when_the_sweep_is_killed(
    spine_fleet: Fleet, tmp_path: Path
) -> None:
    """Results are committed in batches (within 0.2 s); progress shows a host only once its
    batch is in, so a SIGKILL right after a progress line loses none of the hosts shown."""
    db = f"sqlite:///{tmp_path}/k.db"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "raquet",
            "sweep",
            "-i",
            str(spine_fleet.inventory_path),
            "--db",
            db,
            "--parallel",
            "4",
            "--connect-timeout",
            "2",
            "--timeout",
            "4",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stderr is not None
    shown: list[str] = []
    for line in child.stderr:
        if line.startswith("["):
            shown.append(line.split("] ", 1)[1].split(":", 1)[0].split("/", 1)[1])
            if len(shown) == 5:
                break
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert len(shown) == 5, "the sweep ended before showing five hosts"
    with Store(db) as store:
        [info] = store.history()
        stored = {h.name for h in store.sweep_result(info.id).hosts}
        left = {name for name, _ in store.pending_hosts(info.id)}
    assert set(shown) <= stored
    assert stored | left == set(spine_fleet.hosts) and not stored & left
