"""Sweeps of the lab fleet agree with the fleet's known state, host by host (issue: the spine)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from raquet.store import Store
from tests.conftest import raquet_cli
from tests.lab.fleet import Fleet
from tests.lab.scenario import HostScenario

CONNECT_TIMEOUT, CHECK_TIMEOUT = 3, 6
UNSWEEPABLE = {"dead", "tarpit", "refused"}


@pytest.fixture(scope="module")
def swept(spine_fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One full sweep of the fleet through the CLI: its document, exit code, output and duration."""
    out = tmp_path_factory.mktemp("sweep")
    started = time.monotonic()
    proc = raquet_cli(
        "sweep",
        "-i",
        spine_fleet.inventory_path,
        "--db",
        f"sqlite:///{out}/s.db",
        "--json",
        out / "sweep.json",
        "--connect-timeout",
        CONNECT_TIMEOUT,
        "--timeout",
        CHECK_TIMEOUT,
    )
    elapsed = time.monotonic() - started
    document = json.loads((out / "sweep.json").read_text())
    return {
        "proc": proc,
        "doc": document,
        "elapsed": elapsed,
        "db": f"sqlite:///{out}/s.db",
        "hosts": {h["name"]: h for h in document["hosts"]},
    }


def _finding(host: dict[str, Any], check: str) -> dict[str, Any]:
    return next(f for f in host["findings"] if f["check"] == check)


def _sweepable(spec: HostScenario) -> bool:
    return spec.kind == "debian" and spec.auth == "key" and spec.host_key == "known"


def test_every_host_is_accounted_for(swept: dict[str, Any], spine_fleet: Fleet) -> None:
    assert set(swept["hosts"]) == set(spine_fleet.hosts)
    for name, host in swept["hosts"].items():
        spec = spine_fleet.hosts[name].spec
        assert host["status"] == ("swept" if _sweepable(spec) else "unreachable"), (
            name,
            host["error"],
        )
        assert host["unit"] == spine_fleet.hosts[name].unit


def test_unreachable_hosts_say_why(swept: dict[str, Any]) -> None:
    reasons = {
        name: h["error"] for name, h in swept["hosts"].items() if h["status"] == "unreachable"
    }
    assert "host key" in reasons["vl-srv-05"].lower()
    assert "authentication" in reasons["vl-srv-04"].lower()
    assert "banner" in reasons["vl-srv-02"].lower()  # the tarpit accepts TCP but never speaks SSH
    assert "connect" in reasons["vl-srv-03"].lower()
    assert "connect" in reasons["td-ws-05"].lower()


def test_dead_hosts_do_not_hold_up_the_sweep(swept: dict[str, Any]) -> None:
    # everything runs at once: the sweep lasts about one connect timeout (tarpit/dead host)
    # or one check timeout (the hung apt-get), not their sum over hosts
    assert swept["elapsed"] < 3 * CONNECT_TIMEOUT + CHECK_TIMEOUT + 10


def test_exit_code_says_some_hosts_were_not_swept(swept: dict[str, Any]) -> None:
    assert swept["proc"].returncode == 3, swept["proc"].stderr


def test_av_agrees_with_the_fleet(swept: dict[str, Any], spine_fleet: Fleet) -> None:
    for name, lab_host in spine_fleet.hosts.items():
        spec = lab_host.spec
        if not _sweepable(spec):
            continue
        av = _finding(swept["hosts"][name], "av")
        ev = av["evidence"]
        if spec.clamav == "absent" and not spec.other_av:
            assert (av["status"], ev["installed"]) == ("fail", False), name
        elif spec.other_av:
            assert av["status"] == "pass" and ev["running"] and ev["product"] != "ClamAV", (
                name,
                av,
            )
        elif spec.clamav == "stopped":
            assert (av["status"], ev["installed"], ev["running"]) == ("fail", True, False), name
        else:
            assert ev["running"] and ev["product"] == "ClamAV", (name, av)
            assert ev["signature_age_days"] == pytest.approx(spec.db_age_days, abs=0.2), name
            source = {"mtime": "file_mtime", "freshclam_log": "freshclam_log"}[spec.db_age_from]
            assert ev["signature_source"] == source, name
            assert av["status"] == ("fail" if spec.db_age_days > 7 else "pass"), (name, av["title"])


def test_patches_agree_with_the_fleet(swept: dict[str, Any], spine_fleet: Fleet) -> None:
    for name, lab_host in spine_fleet.hosts.items():
        spec = lab_host.spec
        if not _sweepable(spec):
            continue
        patches = _finding(swept["hosts"][name], "patches")
        if spec.hang:
            assert patches["status"] == "error" and "timed out" in patches["title"], name
            continue
        ev = patches["evidence"]
        assert ev["security_packages"] == spec.pending_security, name
        assert ev["regular_packages"] == spec.pending_regular, name
        assert ev["pending"] == len(spec.packages), name
        assert ev["reboot_required"] == spec.reboot_required, name
        eol = spec.os_version == "10"
        assert ev["os_eol_reached"] == eol, name
        expect_fail = bool(spec.pending_security) or spec.reboot_required or eol
        assert patches["status"] == ("fail" if expect_fail else "pass"), (name, patches["title"])


def test_json_document_has_the_spec_shape(swept: dict[str, Any]) -> None:
    doc = swept["doc"]
    assert {"sweep_id", "started_at", "finished_at", "hosts"} <= doc.keys()
    assert doc["started_at"].endswith("+07:00")  # the province's time zone
    for host in doc["hosts"]:
        assert {"name", "unit", "os", "role", "status", "error", "findings"} <= host.keys()
        for finding in host["findings"]:
            assert {"check", "status", "severity", "title", "evidence"} <= finding.keys()
            assert finding["status"] in {"pass", "fail", "error", "not_applicable"}
    av = _finding(swept["hosts"]["tt-srv-02"], "av")["evidence"]
    assert {"product", "installed", "running", "realtime", "signature_age_days"} <= av.keys()
    patches = _finding(swept["hosts"]["tt-srv-02"], "patches")["evidence"]
    assert {"pending", "pending_security", "security_packages", "reboot_required"} <= patches.keys()


def test_summary_and_history(swept: dict[str, Any]) -> None:
    out = swept["proc"].stdout
    assert "trang-dinh" in out and "not swept" in out and "total" in out
    history = raquet_cli("history", "--db", swept["db"], "--unit", "van-lang")
    assert history.returncode == 0, history.stderr
    assert swept["doc"]["sweep_id"][:12] in history.stdout


def test_check_and_unit_selection(spine_fleet: Fleet, tmp_path: Path) -> None:
    proc = raquet_cli(
        "sweep",
        "-i",
        spine_fleet.inventory_path,
        "--db",
        f"sqlite:///{tmp_path}/s.db",
        "--unit",
        "so-tttt",
        "--check",
        "av",
        "--json",
        tmp_path / "s.json",
    )
    doc = json.loads((tmp_path / "s.json").read_text())
    assert {h["unit"] for h in doc["hosts"]} == {"so-tttt"}
    assert {f["check"] for h in doc["hosts"] for f in h["findings"]} == {"av"}
    assert proc.returncode == 1  # tt-srv-02's database is 41 days old


def test_host_key_checking_can_only_be_turned_off_loudly(
    spine_fleet: Fleet, tmp_path: Path
) -> None:
    proc = raquet_cli(
        "sweep",
        "-i",
        spine_fleet.inventory_path,
        "--db",
        f"sqlite:///{tmp_path}/s.db",
        "--unit",
        "van-lang",
        "--check",
        "av",
        "--json",
        tmp_path / "s.json",
        "--insecure-no-host-key-check",
        "--connect-timeout",
        CONNECT_TIMEOUT,
    )
    assert "NOT verified" in proc.stderr
    hosts = {h["name"]: h for h in json.loads((tmp_path / "s.json").read_text())["hosts"]}
    assert hosts["vl-srv-05"]["status"] == "swept"


def test_max_pending_days_counts_from_the_first_sweep_that_saw_an_update(
    spine_fleet: Fleet, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path}/s.db"
    policy = tmp_path / "grace.yml"
    policy.write_text("patches:\n  max_pending_days: 7\n  fail_on_reboot_required: false\n")
    with Store(db) as store:  # tt-srv-02's updates were first seen by a sweep ten days ago
        ten_days_ago = datetime.now(UTC) - timedelta(days=10)
        store.pending_since(
            "tt-srv-02", [("rqlab-openssl", "1.0-2"), ("rqlab-sudo", "1.0-2")], ten_days_ago
        )
    proc = raquet_cli(
        "sweep",
        "-i",
        spine_fleet.inventory_path,
        "--db",
        db,
        "-p",
        policy,
        "--check",
        "patches",
        "--unit",
        "so-tttt",
        "--unit",
        "trang-dinh",
        "--json",
        tmp_path / "s.json",
        "--connect-timeout",
        CONNECT_TIMEOUT,
    )
    hosts = {h["name"]: h for h in json.loads((tmp_path / "s.json").read_text())["hosts"]}
    late = hosts["tt-srv-02"]["findings"][0]
    assert late["status"] == "fail", late
    assert late["title"].startswith("2 security update(s) pending for more than 7 days")
    fresh = hosts["td-srv-01"]["findings"][0]  # rqlab-openssl pending, first seen by this sweep
    assert (fresh["status"], fresh["title"]) == (
        "pass",
        "1 security update(s) pending, within the 7-day limit",
    )
    assert proc.returncode in (1, 3), proc.stderr
