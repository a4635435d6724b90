"""`raquet sweep` of a Windows fleet (the WinRM stand-in) agrees with the fleet's scenario, host by host.

The sweep runs as a user runs it — the CLI in a child process, feeds imported first —
against tests/winrm/scenarios/fleet.yml; every expectation below is read from that
scenario, so changing a host there changes what is asserted here.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import raquet_cli
from tests.winrm import scenario
from tests.winrm.fleet import PASSWORD, PASSWORD_ENV, StandInFleet
from tests.winrm.scenario import HostSpec

CONNECT_TIMEOUT, CHECK_TIMEOUT = 2, 3
FEED_IPS = {"203.0.113.66", "198.51.100.7"}
FEED_DOMAIN = "evil-c2.example"
FLEET = scenario.load(Path(__file__).parent / "winrm" / "scenarios" / "fleet.yml")
HOSTS = {h.name: h for h in FLEET.hosts}
SWEPT = [h for h in FLEET.hosts if h.behaviour == "normal"]
# what the shipped tables say about the scenario's hosts (checks/data/eol.yml, the denylist)
END_OF_LIFE = {"td-ws-02": "2025-10-14", "td-ws-03": "2020-01-14"}
BANNED = {"td-ws-02": {"KMSpico": "activator", "UltraViewer version 6.6.91": "remote-access"}}


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("winrm-sweep")
    feed = workdir / "campaign.txt"
    feed.write_text(f"# campaign list\n{chr(10).join(sorted(FEED_IPS))}\n{FEED_DOMAIN}\n")
    db = f"sqlite:///{workdir}/s.db"
    env = {**os.environ, PASSWORD_ENV: PASSWORD}
    with StandInFleet(FLEET, workdir) as fleet:
        imported = raquet_cli("feeds", "import", feed, "--name", "campaign", "--db", db, env=env)
        assert imported.returncode == 0, imported.stderr
        started = time.monotonic()
        proc = raquet_cli(
            "sweep",
            "-i",
            fleet.inventory(workdir / "windows.yml"),
            "--db",
            db,
            "--json",
            workdir / "sweep.json",
            "--connect-timeout",
            CONNECT_TIMEOUT,
            "--timeout",
            CHECK_TIMEOUT,
            env=env,
        )
        elapsed = time.monotonic() - started
    document = json.loads((workdir / "sweep.json").read_text())
    yield {"proc": proc, "elapsed": elapsed, "hosts": {h["name"]: h for h in document["hosts"]}}


def finding(swept: dict[str, Any], host: str, check: str) -> dict[str, Any]:
    return next(f for f in swept["hosts"][host]["findings"] if f["check"] == check)


def judged(spec: HostSpec, check: str) -> bool:
    return check not in spec.slow_checks and check not in spec.failing_checks


def test_every_host_is_accounted_for(swept: dict[str, Any]) -> None:
    assert set(swept["hosts"]) == set(HOSTS)
    for name, host in swept["hosts"].items():
        expected = {"normal": "swept", "wrong_password": "unreachable", "silent": "unreachable"}
        assert host["status"] == expected.get(HOSTS[name].behaviour, "error"), (name, host["error"])
    assert swept["proc"].returncode == 3, swept["proc"].stderr  # some hosts not swept


def test_hosts_that_were_not_swept_say_why(swept: dict[str, Any]) -> None:
    reasons = {name: h["error"] for name, h in swept["hosts"].items()}
    for name, spec in HOSTS.items():
        why = {
            "wrong_password": "authentication failed",
            "silent": "timed out",
            "hang": "did not finish",
            "ps2": "PowerShell 3.0 or later",
        }.get(spec.behaviour)
        if why:
            assert why in reasons[name], (name, reasons[name])


def test_dead_hosts_do_not_hold_up_the_sweep(swept: dict[str, Any]) -> None:
    # all at once: the slowest host is the hung one, cut at the command deadline (6 x 3 s)
    assert swept["elapsed"] < CHECK_TIMEOUT * 6 + 3 * CONNECT_TIMEOUT + 15


def test_checks_that_hang_or_throw_on_the_host_cost_one_finding(swept: dict[str, Any]) -> None:
    for spec in SWEPT:
        for check in spec.slow_checks:
            assert "timed out on the host" in finding(swept, spec.name, check)["title"]
        for check, error in spec.failing_checks.items():
            f = finding(swept, spec.name, check)
            assert f["status"] == "error" and error.split(":")[0] in f["title"], f


def test_av_agrees_with_the_fleet(swept: dict[str, Any]) -> None:
    for spec in SWEPT:
        f = finding(swept, spec.name, "av")
        ev = f["evidence"]
        d = spec.defender
        third = [p for p in spec.av if p.enabled and (not spec.os.server or p.services)]
        if third:
            assert ev["running"] and ev["product"] != "Microsoft Defender Antivirus", f
            assert ev["managed"] == bool(third[0].management), f
            up_to_date = third[0].up_to_date or spec.os.server  # servers: unknown, not failed
            assert f["status"] == ("pass" if up_to_date else "fail"), f
        elif d is not None and d.mode == "Normal" and d.am_service and d.antivirus:
            assert ev["product"] == "Microsoft Defender Antivirus", f
            assert ev["signature_age_days"] == pytest.approx(d.signature_age_days, abs=0.1)
            assert f["status"] == ("pass" if d.realtime and d.signature_age_days <= 7 else "fail")
        else:
            assert f["status"] == "fail" and not ev["running"], f
        if d is not None:
            assert ev["defender"]["passive"] == ("Passive" in (d.mode or "")), f


def test_patches_agree_with_the_fleet(swept: dict[str, Any]) -> None:
    for spec in SWEPT:
        if not judged(spec, "patches"):
            continue
        f = finding(swept, spec.name, "patches")
        ev = f["evidence"]
        p = spec.patches
        security = sorted(
            u.kb for u in p.pending if u.severity or "Security Updates" in u.categories
        )
        assert ev["reboot_required"] == bool({"cbs", "wu", "rename"} & set(p.reboot)), f
        assert ev["os_end_of_life"] == END_OF_LIFE.get(spec.name, ev["os_end_of_life"])
        assert ev["os_eol_reached"] == (spec.name in END_OF_LIFE), f
        assert ev["hotfixes"] == len(p.hotfixes)
        if p.search == "denied":
            assert ev["pending"] is None and "0x80070005" in ev["pending_error"]
            if not ev["reboot_required"] and not ev["os_eol_reached"]:
                assert f["status"] == "error" and "remote (WinRM) logon" in f["title"], f
            continue
        assert ev["security_packages"] == security, f
        assert ev["pending"] == len(p.pending)
        failing = bool(security) or ev["reboot_required"] or ev["os_eol_reached"]
        assert f["status"] == ("fail" if failing else "pass"), f


def test_software_agrees_with_the_fleet(swept: dict[str, Any]) -> None:
    for spec in SWEPT:
        if not judged(spec, "software"):
            continue
        f = finding(swept, spec.name, "software")
        ev = f["evidence"]
        assert {b["name"]: b["category"] for b in ev["banned"]} == BANNED.get(spec.name, {}), f
        kinds = {t["kind"] for t in ev["activator_traces"]}
        expected = set()
        if spec.traces.paths:
            expected.add("file")
        if spec.traces.tasks:
            expected.add("scheduled_task")
        if spec.traces.services:
            expected.add("service")
        if spec.traces.ifeo_hook:
            expected.add("ifeo_hook")
        if spec.activation.kms_host or spec.activation.kms_registry:
            expected.add("kms_host")
        assert kinds == expected, f
        activated = spec.activation.status == 1
        assert [a["status"] == "Licensed" for a in ev["activation"]] == [activated]
        failing = spec.name in BANNED or expected or not activated
        assert f["status"] == ("fail" if failing else "pass"), f
        assert ev["packages"] == len(spec.software)


def test_connections_agree_with_the_fleet(swept: dict[str, Any]) -> None:
    for spec in SWEPT:
        if not judged(spec, "connections"):
            continue
        f = finding(swept, spec.name, "connections")
        ev = f["evidence"]
        bad = sorted((c.remote, c.process) for c in spec.tcp if c.remote in FEED_IPS)
        sockets = sorted(
            (m["indicator"], m["process"]) for m in ev["matches"] if m["source"] == "socket"
        )
        assert sockets == bad, f
        pinned = [line for line in spec.hosts_file if FEED_DOMAIN in line]
        assert len([m for m in ev["matches"] if m["source"] == "hosts_file"]) == len(pinned)
        cached = [d for d in spec.dns if d.name.endswith(FEED_DOMAIN)]
        assert len([m for m in ev["matches"] if m["source"] == "dns_cache"]) == len(cached)
        assert ev["tcp_source"] == ("netstat -ano" if spec.netstat else "Get-NetTCPConnection")
        assert f["status"] == ("fail" if ev["matches"] else "pass"), f
        if bad:
            assert f["severity"] == "critical"


def test_infections_agree_with_the_fleet(swept: dict[str, Any]) -> None:
    for spec in SWEPT:
        if not judged(spec, "infections"):
            continue
        f = finding(swept, spec.name, "infections")
        if spec.defender is None:
            assert f["status"] == "not_applicable", f
            continue
        recent = sorted((d.threat, d.path) for d in spec.detections if d.days_ago <= 7)
        seen = sorted((d["name"], d["path"]) for d in f["evidence"]["detections"])
        assert seen == recent, f
        assert f["evidence"]["detections_in_logs"] == len(spec.detections)
        assert all(d["source"] == "defender" for d in f["evidence"]["detections"])
        allowed = [d for d in f["evidence"]["detections"] if "Allowed" in d["action"]]
        assert len(allowed) == sum(1 for d in spec.detections if d.status == 5 and d.days_ago <= 7)
        assert all("still present" in d["action"] for d in allowed)
        assert f["status"] == ("fail" if recent else "pass"), f


def test_evidence_has_the_spec_keys(swept: dict[str, Any]) -> None:
    keys = {
        "av": {"product", "installed", "running", "realtime", "signature_age_days"},
        "patches": {"pending", "pending_security", "security_packages", "reboot_required"},
        "software": {"banned"},
        "connections": {"matches"},
        "infections": {"detections"},
    }
    for spec in SWEPT:
        for check, required in keys.items():
            f = finding(swept, spec.name, check)
            if f["status"] != "error":
                assert required <= f["evidence"].keys(), (spec.name, check)
    match = finding(swept, "td-ws-02", "connections")["evidence"]["matches"][0]
    assert {"kind", "indicator", "remote", "pid", "process", "feed"} <= match.keys()
    assert match["feed"] == "campaign"
