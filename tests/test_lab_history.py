"""`raquet show` and `raquet diff` against a lab fleet whose state changes between two sweeps
(issue 11): the diff must say exactly what changed on the hosts, and nothing else."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import raquet_cli
from tests.lab.fleet import Fleet

UNIT = "so-tttt"
STOPPED = "tt-srv-01"  # clamd running and up to date: stopped between the sweeps
STARTED = "tt-ws-05"  # clamd stopped: started between the sweeps


def _sweep(fleet: Fleet, db: str, out: Path, *checks: str) -> str:
    target = out / "sweep.json"
    options = [arg for check in checks for arg in ("--check", check)]
    proc = raquet_cli(
        "sweep", "-i", fleet.inventory_path, "--db", db, "--unit", UNIT, "--json", target, *options
    )
    assert proc.returncode in (0, 1), proc.stderr
    return str(json.loads(target.read_text())["sweep_id"])


@pytest.fixture(scope="module")
def two_sweeps(
    spine_fleet: Fleet, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Sweep A (av only), then one host's clamd stopped and another's started, then sweep B
    (av and patches). The fleet is put back as it was for the other lab tests."""
    out = tmp_path_factory.mktemp("history")
    db = f"sqlite:///{out}/s.db"
    first = _sweep(spine_fleet, db, out, "av")
    spine_fleet.ssh(STOPPED, "/etc/init.d/clamav-daemon stop >/dev/null 2>&1; pkill -x clamd; true")
    spine_fleet.ssh(STARTED, "/etc/init.d/clamav-daemon start >/dev/null 2>&1; true")
    try:
        second = _sweep(spine_fleet, db, out, "av", "patches")
        yield {"db": db, "a": first, "b": second}
    finally:
        spine_fleet.ssh(
            STARTED, "/etc/init.d/clamav-daemon stop >/dev/null 2>&1; pkill -x clamd; true"
        )
        spine_fleet.ssh(STOPPED, "/etc/init.d/clamav-daemon start >/dev/null 2>&1; true")


def _diff(two_sweeps: dict[str, Any], a: str, b: str) -> dict[str, Any]:
    proc = raquet_cli("diff", a, b, "--db", two_sweeps["db"], "--json", "-")
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def _show(db: str, ref: str) -> dict[str, Any]:
    proc = raquet_cli("show", ref, "--db", db, "--json", "-")
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def test_diff_says_what_changed_on_the_hosts(two_sweeps: dict[str, Any]) -> None:
    document = _diff(two_sweeps, two_sweeps["a"], two_sweeps["b"])
    assert document["before"] == two_sweeps["a"] and document["after"] == two_sweeps["b"]
    changes = {(c["host"], c["check"]): c for c in document["changes"]}
    a = {h["name"]: h for h in _show(two_sweeps["db"], two_sweeps["a"])["hosts"]}
    b = {h["name"]: h for h in _show(two_sweeps["db"], two_sweeps["b"])["hosts"]}

    def status(hosts: dict[str, Any], host: str, check: str) -> str | None:
        return next((f["status"] for f in hosts[host]["findings"] if f["check"] == check), None)

    assert status(a, STOPPED, "av") == "pass" and status(b, STOPPED, "av") == "fail"
    assert changes[(STOPPED, "av")]["change"] == "regressed"
    assert status(a, STARTED, "av") == "fail"
    assert changes[(STARTED, "av")]["change"] == (
        "fixed" if status(b, STARTED, "av") == "pass" else "persisting"
    )
    # patches ran only in B: every failing verdict there is new, none is anything else.
    for host in b:
        if status(b, host, "patches") == "fail":
            assert changes[(host, "patches")]["change"] == "new"
        else:
            assert (host, "patches") not in changes
    # Hosts whose av verdict did not change and passed both times are not in the diff.
    for host in b:
        if status(a, host, "av") == status(b, host, "av") == "pass":
            assert (host, "av") not in changes
    assert sum(document["counts"].values()) == len(document["changes"])


def test_diff_accepts_unique_prefixes_and_the_reverse_direction(two_sweeps: dict[str, Any]) -> None:
    forward = _diff(two_sweeps, two_sweeps["a"][:8], two_sweeps["b"][:8])
    assert forward["before"] == two_sweeps["a"]
    backward = _diff(two_sweeps, two_sweeps["b"], two_sweeps["a"])
    changes = {(c["host"], c["check"]): c["change"] for c in backward["changes"]}
    assert changes[(STOPPED, "av")] == "fixed"
    # A patches verdict the earlier sweep never gave is not a fix.
    assert all(v == "not rechecked" for (_, check), v in changes.items() if check == "patches")


def test_show_host_lists_its_findings_over_the_sweeps(two_sweeps: dict[str, Any]) -> None:
    document = _show(two_sweeps["db"], STOPPED)
    sweeps = [entry["sweep"]["id"] for entry in document["sweeps"]]
    assert sweeps == [two_sweeps["b"], two_sweeps["a"]]
    av = [
        next(f["status"] for f in entry["result"]["findings"] if f["check"] == "av")
        for entry in document["sweeps"]
    ]
    assert av == ["fail", "pass"]
    text = raquet_cli("show", STOPPED, "--db", two_sweeps["db"])
    assert two_sweeps["b"] in text.stdout and two_sweeps["a"] in text.stdout
