"""The `vulns` check and its remediation on the lab fleet, end to end through the real
`raquet` command line (issue 14).

Hosts carry known versions of the lab's own packages (tests/lab/scenarios/vulns.yml);
hand-written OSV and Debian security tracker files in their real formats say which versions
are vulnerable. One fleet goes, in order: data imported; swept (every vulnerable (host,
component, CVE) reported and nothing else; a host whose lists are stale fails `vulns` while
`patches` passes); planned (nothing changes; the stale host's fix is "not offered by the
host's repositories"); applied and verified (the host whose repository offers the fixes is
upgraded and passes; the stale host is not attempted and says so); swept again.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from raquet.remediation_log import RemediationLog, RemediationRecord
from raquet.store import Store
from tests.conftest import SCENARIOS, raquet_cli
from tests.lab import scenario
from tests.lab.fleet import Fleet

pytestmark = pytest.mark.lab

FIXABLE, STALE, FIXED = "kh-srv-01", "kh-srv-02", "kh-ws-03"
CRITICAL = "CVE-2099-1001"  # rqlab-openssl < 1.0-2, OSV
HIGH = "CVE-2099-1002"  # rqlab-tools < 1.1-1, the tracker
OPEN_LOW = "CVE-2099-1003"  # every rqlab-sudo, open, low urgency
VULNERABLE = {
    FIXABLE: {("rqlab-openssl", CRITICAL), ("rqlab-tools", HIGH)},
    STALE: {("rqlab-openssl", CRITICAL)},
    FIXED: {("rqlab-sudo", OPEN_LOW)},
}
PROBE = "dpkg-query -W -f='${Package}=${Version}\\n' 'rqlab-*'"

Findings = dict[str, dict[str, dict[str, Any]]]


def osv_record() -> dict[str, Any]:
    """A Debian advisory as OSV's Debian export writes one."""
    today = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "schema_version": "1.6.0",
        "id": "DSA-9001-1",
        "summary": "rqlab-openssl - security update",
        "published": today,
        "modified": today,
        "upstream": [CRITICAL],
        "details": "A buffer overflow in the lab's TLS library.",
        "affected": [
            {
                "package": {
                    "ecosystem": "Debian:12",
                    "name": "rqlab-openssl",
                    "purl": "pkg:deb/debian/rqlab-openssl?arch=source",
                },
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0-2"}]}
                ],
            }
        ],
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    }


def tracker() -> dict[str, Any]:
    """The Debian security tracker's JSON: source package -> CVE -> release."""
    return {
        "rqlab-tools": {
            HIGH: {
                "description": "rqlab-tools runs a file it should only read",
                "scope": "local",
                "releases": {
                    "bookworm": {
                        "status": "resolved",
                        "repositories": {"bookworm": "1.0-1", "bookworm-updates": "1.1-1"},
                        "fixed_version": "1.1-1",
                        "urgency": "high",
                    }
                },
            }
        },
        "rqlab-sudo": {
            OPEN_LOW: {
                "description": "rqlab-sudo logs too much",
                "scope": "local",
                "releases": {
                    "bookworm": {
                        "status": "open",
                        "repositories": {"bookworm": "1.0-1"},
                        "urgency": "low",
                    }
                },
            }
        },
    }


@dataclass
class Lab:
    fleet: Fleet
    out: Path
    db: str

    def cli(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return raquet_cli(*args, "--db", self.db)

    def sweep(self) -> Findings:
        target = self.out / "sweep.json"
        proc = raquet_cli(
            "sweep", "-i", self.fleet.inventory_path, "--db", self.db, "--check", "patches",
            "--check", "vulns", "--json", target,
        )  # fmt: skip
        assert proc.returncode in (0, 1), proc.stderr
        document = json.loads(target.read_text())
        return {h["name"]: {f["check"]: f for f in h["findings"]} for h in document["hosts"]}

    def remediate(self, *args: str) -> subprocess.CompletedProcess[str]:
        return raquet_cli(
            "remediate", "-i", self.fleet.inventory_path, "--db", self.db, "--check", "vulns",
            "--connect-timeout", "5", *args,
        )  # fmt: skip

    def versions(self) -> dict[str, str]:
        return {name: self.fleet.ssh(name, PROBE) for name in self.fleet.hosts}

    def records(self, since: datetime) -> dict[str, RemediationRecord]:
        with Store(self.db) as store:
            found = RemediationLog(store).list(limit=100)
        return {r.host: r for r in found if r.started_at >= since and r.check == "vulns"}


def vulnerable(finding: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["component"], e["cve"]) for e in finding["evidence"]["vulnerable"]}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    workdir = tmp_path_factory.mktemp("vulns")
    data = workdir / "data"
    (data / "osv").mkdir(parents=True)
    (data / "osv" / "DSA-9001-1.json").write_text(json.dumps(osv_record()))
    (data / "tracker.json").write_text(json.dumps(tracker()))
    with Fleet(scenario.load(SCENARIOS / "vulns.yml"), workdir / "fleet") as fleet:
        lab = Lab(fleet, workdir, f"sqlite:///{workdir}/s.db")
        for path, name in [(data / "osv", "osv-debian-12"), (data / "tracker.json", "tracker")]:
            done = lab.cli("vulns", "import", path, "--name", name)
            assert done.returncode == 0, done.stderr
        yield lab


@pytest.fixture(scope="module")
def swept(lab: Lab) -> tuple[Findings, dict[str, str]]:
    return lab.sweep(), lab.versions()


@pytest.fixture(scope="module")
def planned(lab: Lab, swept: tuple[Findings, dict[str, str]]) -> dict[str, Any]:
    proc = lab.remediate()
    return {"proc": proc, "versions": lab.versions()}


@pytest.fixture(scope="module")
def applied(lab: Lab, planned: dict[str, Any]) -> dict[str, Any]:
    started = datetime.now(UTC)
    proc = lab.remediate("--host", FIXABLE, "--host", STALE, "--apply")
    return {
        "proc": proc,
        "versions": lab.versions(),
        "records": lab.records(started),
        "again": lab.sweep(),
    }


def test_every_vulnerable_component_is_reported_and_nothing_else(
    swept: tuple[Findings, dict[str, str]],
) -> None:
    findings, versions = swept
    assert set(findings) == set(VULNERABLE)
    for host, expected in VULNERABLE.items():
        assert vulnerable(findings[host]["vulns"]) == expected, (host, versions[host])
    statuses = {h: (f["patches"]["status"], f["vulns"]["status"]) for h, f in findings.items()}
    assert statuses == {FIXABLE: ("fail", "fail"), STALE: ("pass", "fail"), FIXED: ("pass", "pass")}
    assert findings[FIXABLE]["vulns"]["severity"] == "critical"
    assert "rqlab-openssl=1.0-1" in versions[STALE] and "rqlab-openssl=1.0-2" in versions[FIXED]


def test_the_stale_host_fails_vulns_while_patches_sees_nothing(
    swept: tuple[Findings, dict[str, str]],
) -> None:
    findings, _ = swept
    patches, vulns = findings[STALE]["patches"], findings[STALE]["vulns"]
    assert patches["evidence"]["pending_security"] == 0 and patches["evidence"]["pending"] == 0
    assert vulns["title"].startswith(
        "1 component(s) with known vulnerabilities at or above high: rqlab-openssl (CVE-2099-1001)"
    )
    [upgrade] = vulns["evidence"]["upgrades"]
    assert (upgrade["component"], upgrade["fixed"], upgrade["version"]) == (
        "rqlab-openssl",
        "1.0-2",
        "1.0-1",
    )


def test_the_data_sets_are_named_with_their_origin_and_are_fresh(
    lab: Lab, swept: tuple[Findings, dict[str, str]]
) -> None:
    findings, _ = swept
    evidence = findings[FIXABLE]["vulns"]["evidence"]
    data = {d["name"]: d for d in evidence["data"]}
    assert set(data) == {"osv-debian-12", "tracker"}
    assert data["osv-debian-12"]["format"] == "osv"
    assert data["osv-debian-12"]["source"] == str(lab.out / "data" / "osv")
    assert data["osv-debian-12"]["newest_record"] == datetime.now(UTC).date().isoformat()
    assert data["tracker"]["newest_record"] is None and data["tracker"]["imported_at"]
    assert evidence["stale_data"] == [] and "older than" not in findings[FIXABLE]["vulns"]["title"]


def test_the_plan_upgrades_where_offered_and_changes_nothing(
    swept: tuple[Findings, dict[str, str]], planned: dict[str, Any]
) -> None:
    proc = planned["proc"]
    assert proc.returncode == 4, proc.stdout + proc.stderr  # changes pending
    out = proc.stdout
    assert (
        "upgrade rqlab-openssl to the fixed 1.0-2 or newer where the host's repositories offer it"
        " (CVE-2099-1001) [would run]" in out
    )
    assert "install --only-upgrade rqlab-openssl=1.0-2\n" in out
    assert "install --only-upgrade rqlab-tools=1.1-1\n" in out
    assert (
        "[no change: rqlab-openssl: the fixed 1.0-2 is not offered by the host's repositories"
        " (they offer 1.0-1); not attempted]" in out
    )
    assert FIXED not in out  # it passes: nothing to plan
    assert planned["versions"] == swept[1]


def test_the_apply_upgrades_what_is_offered_and_the_verification_says_so(
    swept: tuple[Findings, dict[str, str]], applied: dict[str, Any]
) -> None:
    proc = applied["proc"]
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the stale host is not fixed
    versions = applied["versions"]
    assert "rqlab-openssl=1.0-2" in versions[FIXABLE] and "rqlab-tools=1.1-1" in versions[FIXABLE]
    assert versions[STALE] == swept[1][STALE]  # not attempted
    assert versions[FIXED] == swept[1][FIXED]
    out = proc.stdout
    assert f"{FIXABLE} vulns: rqlab-openssl: fixed 1.0-2 reached (1.0-2 installed)" in out
    assert f"{FIXABLE} vulns: rqlab-tools: fixed 1.1-1 reached (1.1-1 installed)" in out
    assert (
        f"{STALE} vulns: rqlab-openssl: fixed 1.0-2 not reached: not offered by the host's"
        " repositories; not attempted" in out
    )
    records = applied["records"]
    assert records[FIXABLE].status == "fixed"
    assert records[STALE].status == "failed"
    assert "not offered by the host's repositories" in (records[STALE].error or "")


def test_swept_again_the_upgraded_host_passes(applied: dict[str, Any]) -> None:
    again = applied["again"]
    assert again[FIXABLE]["vulns"]["status"] == "pass"
    assert again[FIXABLE]["patches"]["status"] == "pass"
    assert again[STALE]["vulns"]["status"] == "fail"
    assert vulnerable(again[FIXABLE]["vulns"]) == set()
