"""Detection checks on the lab fleet: banned packages, connections and hosts-file entries that
match an imported feed, ClamAV detections in the host's own zone — host by host (issue 3)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from raquet.store import Store
from tests.conftest import SCENARIOS, raquet_cli
from tests.lab import scenario
from tests.lab.fleet import Fleet

FEED = Path(__file__).parent / "lab" / "feeds" / "lab.txt"
CHECKS = ["--check", "software", "--check", "connections", "--check", "infections"]


@pytest.fixture(scope="module")
def detect_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with Fleet(scenario.load(SCENARIOS / "detect.yml"), tmp_path_factory.mktemp("detect")) as fleet:
        yield fleet


@pytest.fixture(scope="module")
def swept(detect_fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("detect-sweep")
    db = f"sqlite:///{out}/s.db"
    imported = raquet_cli("feeds", "import", FEED, "--name", "lab-c2", "--db", db)
    assert imported.returncode == 0, imported.stderr
    proc = raquet_cli(
        "sweep",
        "-i",
        detect_fleet.inventory_path,
        "--db",
        db,
        *CHECKS,
        "--json",
        out / "sweep.json",
    )
    document = json.loads((out / "sweep.json").read_text())
    return {
        "proc": proc,
        "db": db,
        "out": out,
        "hosts": {h["name"]: {f["check"]: f for f in h["findings"]} for h in document["hosts"]},
    }


def test_all_hosts_swept(swept: dict[str, Any], detect_fleet: Fleet) -> None:
    assert set(swept["hosts"]) == set(detect_fleet.hosts), swept["proc"].stderr
    assert swept["proc"].returncode == 1


def test_banned_packages(swept: dict[str, Any], detect_fleet: Fleet) -> None:
    for name, lab_host in detect_fleet.hosts.items():
        software = swept["hosts"][name]["software"]
        banned = {b["name"] for b in software["evidence"]["banned"]}
        expected = {p for p in lab_host.spec.packages if p in ("xmrig", "anydesk")}
        assert banned == expected, name
        assert software["status"] == ("fail" if expected else "pass"), name
    xmrig = swept["hosts"]["yt-ws-01"]["software"]["evidence"]["banned"][0]
    assert (xmrig["version"], xmrig["category"]) == ("6.21.0-1", "miner")


def test_connections_to_feed_addresses(swept: dict[str, Any]) -> None:
    live = swept["hosts"]["yt-ws-01"]["connections"]
    assert live["status"] == "fail" and live["severity"] == "critical"
    (match,) = live["evidence"]["matches"]
    assert match["remote"] == "198.51.100.66:443"
    assert (match["process"], match["kind"], match["feed"]) == ("kdevtmpfsi", "ip", "lab-c2")
    assert match["indicator"] == "198.51.100.66" and match["pid"] > 1

    ranges = {
        m["remote"]: m for m in swept["hosts"]["td-ws-11"]["connections"]["evidence"]["matches"]
    }
    assert ranges["100.64.77.9:8443"]["indicator"] == "100.64.77.0/24"
    assert ranges["100.64.77.9:8443"]["process"] == "svchost32"
    assert ranges["[2001:db8:bad::7]:443"]["indicator"] == "2001:db8:bad::/48"
    assert ranges["[2001:db8:bad::7]:443"]["process"] == "<b>evil"  # kept as data, escaped later

    hosts_file = swept["hosts"]["yt-ws-02"]["connections"]
    assert hosts_file["status"] == "fail" and hosts_file["severity"] == "high"
    indicators = {m["indicator"] for m in hosts_file["evidence"]["matches"]}
    assert indicators == {"198.51.100.66", "bad-domain.example", "c2-panel.example"}
    for clean_host in ("yt-srv-03", "yt-srv-04", "td-ws-12"):
        assert swept["hosts"][clean_host]["connections"]["status"] == "pass", clean_host


def test_detections_in_window_and_zone(swept: dict[str, Any], detect_fleet: Fleet) -> None:
    now = datetime.now(UTC)
    for name, lab_host in detect_fleet.hosts.items():
        infections = swept["hosts"][name]["infections"]
        recent = [d for d in lab_host.spec.detections if d.days_ago <= 7]
        if lab_host.spec.clamav == "absent":
            assert infections["status"] == "not_applicable", name
            continue
        assert infections["status"] == ("fail" if recent else "pass"), (name, infections["title"])
        found = infections["evidence"]["detections"]
        assert sorted(d["name"] for d in found) == sorted(d.name for d in recent), name
        for planted, seen in zip(sorted(recent, key=lambda d: -d.days_ago), found, strict=True):
            when = datetime.fromisoformat(seen["detected_at"])
            assert abs(when - (now - timedelta(days=planted.days_ago))) < timedelta(minutes=5), name
            if lab_host.spec.timezone == "Asia/Ho_Chi_Minh":
                assert seen["detected_at"].endswith("+07:00"), seen


def test_detections_stored_once_across_sweeps(swept: dict[str, Any], detect_fleet: Fleet) -> None:
    with Store(swept["db"]) as store:
        first = store.detections()
    planted = sum(
        len(h.spec.detections) for h in detect_fleet.hosts.values() if h.spec.clamav != "absent"
    )
    assert len(first) == planted
    again = raquet_cli("sweep", "-i", detect_fleet.inventory_path, "--db", swept["db"], *CHECKS)
    assert again.returncode == 1, again.stderr
    with Store(swept["db"]) as store:
        second = store.detections()
        assert [(d.host, d.detected_at, d.path, d.name) for d in second] == [
            (d.host, d.detected_at, d.path, d.name) for d in first
        ]
        assert {d.unit for d in second} == {"so-yte", "trang-dinh"}


def test_on_demand_scan_finds_what_no_log_recorded(
    swept: dict[str, Any], detect_fleet: Fleet, tmp_path: Path
) -> None:
    assert swept["hosts"]["yt-srv-03"]["infections"]["status"] == "pass"  # no scan by default
    policy = tmp_path / "scan.yml"
    policy.write_text("infections:\n  scan: true\n  scan_paths: [/home]\n  scan_timeout: 60\n")
    proc = raquet_cli(
        "sweep",
        "-i",
        detect_fleet.inventory_path,
        "--db",
        swept["db"],
        "-p",
        policy,
        "--check",
        "infections",
        "--unit",
        "so-yte",
        "--json",
        tmp_path / "s.json",
    )
    assert proc.returncode == 1, proc.stderr
    hosts = {h["name"]: h for h in json.loads((tmp_path / "s.json").read_text())["hosts"]}
    (infections,) = hosts["yt-srv-03"]["findings"]
    assert infections["status"] == "fail", infections
    (found,) = infections["evidence"]["detections"]
    assert found["path"] == "/home/ketoan/hoadon.pdf.exe"
    assert found["name"].startswith("Eicar-Test-Signature") and found["source"] == "clamscan"
    assert infections["evidence"]["scan"]["ran"] is True
