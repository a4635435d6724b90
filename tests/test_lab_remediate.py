"""`raquet remediate` on the lab fleet, through the real command line (issue 5).

One fleet goes through the whole life of a remediation, in order: swept; planned (and
proven untouched by the plan); one host's remediation failing against a private mirror
that is down; applied everywhere (one host cannot be fixed and must not hold up the
others); swept again; applied a second time (nothing left to change); its blocks undone
(the firewalls and hosts file exactly as they were). Each stage is a module fixture that
runs once, after the stages it depends on.
"""

from __future__ import annotations

import getpass
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from raquet.remediation_log import RemediationLog, RemediationRecord
from raquet.store import Store
from tests.conftest import SCENARIOS, raquet_cli
from tests.lab import scenario
from tests.lab.fleet import Fleet

FEED = Path(__file__).parent / "lab" / "feeds" / "lab.txt"
UNFIXABLE = "vq-srv-02"  # every apt-get fails there
MIRRORED = "vq-ws-03"
STRIP_COUNTERS = r"grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'"
FIREWALLS = {
    "tc-ws-03": "nft list ruleset; cat /etc/hosts",
    "vq-srv-01": f"iptables-save | {STRIP_COUNTERS}; ip6tables-save | {STRIP_COUNTERS}",
}
PROBES = {
    **FIREWALLS,
    "tc-srv-01": "dpkg-query -W clamav rqlab-openssl rqlab-sudo 2>&1; pgrep -x clamd || true",
    "tc-srv-02": "dpkg-query -W xmrig; pgrep -x clamd || true; sha256sum /var/lib/clamav/*",
    "tc-ws-03": FIREWALLS["tc-ws-03"] + "; ls /home/ketoan/Downloads /tmp/.x; pgrep -x kdevtmpfsi",
    "vq-srv-01": FIREWALLS["vq-srv-01"] + "; pgrep -x svchost32",
}

Findings = dict[str, dict[str, dict[str, Any]]]


@dataclass
class Lab:
    fleet: Fleet
    out: Path
    db: str
    policy: Path
    sweep_id: str = ""
    swept: Findings = field(default_factory=dict)
    before: dict[str, str] = field(default_factory=dict)
    firewalls: dict[str, str] = field(default_factory=dict)

    def remediate(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        base = ("remediate", "-i", self.fleet.inventory_path, "--db", self.db)
        return raquet_cli(*base, "-p", self.policy, "--connect-timeout", 5, *args)

    def sweep(self) -> tuple[str, Findings]:
        target = self.out / "sweep.json"
        proc = raquet_cli(
            "sweep", "-i", self.fleet.inventory_path, "--db", self.db, "--json", target
        )
        assert proc.returncode in (0, 1), proc.stderr
        document = json.loads(target.read_text())
        hosts = {h["name"]: {f["check"]: f for f in h["findings"]} for h in document["hosts"]}
        return document["sweep_id"], hosts

    def probe(self, probes: dict[str, str]) -> dict[str, str]:
        return {name: self.fleet.ssh(name, command) for name, command in probes.items()}

    def records(self, since: datetime) -> dict[tuple[str, str], RemediationRecord]:
        with Store(self.db) as store:
            found = RemediationLog(store).list(limit=1000)
        return {(r.host, r.check): r for r in reversed(found) if r.started_at >= since}


def verdicts(findings: Findings) -> dict[tuple[str, str], tuple[str, str]]:
    return {(h, c): (f["status"], f["title"]) for h, by in findings.items() for c, f in by.items()}


def failing(findings: Findings) -> set[tuple[str, str]]:
    return {(h, c) for h, by in findings.items() for c, f in by.items() if f["status"] == "fail"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    workdir = tmp_path_factory.mktemp("remediate")
    with Fleet(scenario.load(SCENARIOS / "remediate.yml"), workdir / "fleet") as fleet:
        policy = workdir / "policy.yml"
        policy.write_text("av:\n  update:\n    share: /srv/clamav-share\n")
        lab = Lab(fleet, workdir, f"sqlite:///{workdir}/s.db", policy)
        imported = raquet_cli("feeds", "import", FEED, "--name", "lab-c2", "--db", lab.db)
        assert imported.returncode == 0, imported.stderr
        lab.sweep_id, lab.swept = lab.sweep()
        lab.before, lab.firewalls = lab.probe(PROBES), lab.probe(FIREWALLS)
        yield lab


@pytest.fixture(scope="module")
def planned(lab: Lab) -> dict[str, Any]:
    proc = lab.remediate()
    after = lab.probe(PROBES)
    sweep_id, swept = lab.sweep()
    return {"proc": proc, "after": after, "sweep_id": sweep_id, "swept": swept}


@pytest.fixture(scope="module")
def mirrored(lab: Lab, planned: dict[str, Any]) -> dict[str, Any]:
    """The av remediation of one host against a private mirror that nothing answers at."""
    policy = lab.out / "mirror.yml"
    policy.write_text(f"av:\n  update:\n    mirror: http://198.18.{lab.fleet.net}.1:9/clamav\n")
    started = datetime.now(UTC)
    base = ("remediate", "-i", lab.fleet.inventory_path, "--db", lab.db, "-p", policy)
    proc = raquet_cli(*base, "--host", MIRRORED, "--check", "av", "--apply")
    return {"proc": proc, "records": lab.records(started)}


@pytest.fixture(scope="module")
def applied(lab: Lab, mirrored: dict[str, Any]) -> dict[str, Any]:
    started = datetime.now(UTC)
    proc = lab.remediate("--apply")
    return {"proc": proc, "records": lab.records(started), "swept": lab.sweep()[1]}


@pytest.fixture(scope="module")
def again(lab: Lab, applied: dict[str, Any]) -> dict[str, Any]:
    started = datetime.now(UTC)
    proc = lab.remediate("--sweep", lab.sweep_id, "--apply")
    return {"proc": proc, "records": lab.records(started)}


@pytest.fixture(scope="module")
def undone(lab: Lab, applied: dict[str, Any], again: dict[str, Any]) -> dict[str, Any]:
    blocks = [applied["records"][(name, "connections")] for name in FIREWALLS]
    procs = [lab.remediate("--undo", record.id[:8], "--apply") for record in blocks]
    with Store(lab.db) as store:
        log = RemediationLog(store)
        records = [log.get(record.id) for record in blocks]
    repeat = lab.remediate("--undo", blocks[0].id, "--apply")
    return {"procs": procs, "records": records, "after": lab.probe(FIREWALLS), "repeat": repeat}


def test_every_remediation_has_a_failing_finding_to_fix(lab: Lab) -> None:
    assert failing(lab.swept) == {
        ("tc-srv-01", "av"),
        ("tc-srv-01", "patches"),
        ("tc-srv-02", "av"),
        ("tc-srv-02", "software"),
        ("tc-ws-03", "connections"),
        ("tc-ws-03", "infections"),
        ("vq-srv-01", "connections"),
        ("vq-srv-02", "av"),
        ("vq-srv-02", "software"),
        ("vq-ws-03", "av"),
    }


def test_plan_shows_each_operation_and_its_commands(planned: dict[str, Any]) -> None:
    proc = planned["proc"]
    assert proc.returncode == 4, proc.stderr  # changes pending
    out = proc.stdout
    for expected in (
        "install --no-install-recommends clamav clamav-daemon clamav-freshclam",
        "install --only-upgrade rqlab-openssl=1.0-2 rqlab-sudo=1.0-2",
        "cp -p /srv/clamav-share/lab.hdb /var/lib/clamav/.lab.hdb.raquet",
        "/etc/init.d/clamav-daemon start",
        "purge xmrig",
        "| nft -f -",
        "iptables -w -I OUTPUT 1 -j RAQUET-",
        "ip daddr @v4 meta l4proto tcp reject with tcp reset",
        "(write ",
        "kill -KILL ",
        "mv -f '/tmp/.x/it'\"'\"'s a $(trap).sh' /var/lib/raquet/quarantine/",
        "timeout 600 clamscan -r -i --log=/var/log/clamav/clamscan.log -- /home/ketoan/Downloads",
    ):
        assert expected in out, expected
    assert "rqlab-tools" not in out  # a regular update, not a security one


def test_plan_changes_nothing_on_the_hosts(lab: Lab, planned: dict[str, Any]) -> None:
    assert planned["after"] == lab.before
    assert verdicts(planned["swept"]) == verdicts(lab.swept)


def test_a_mirror_that_is_down_fails_that_remediation_with_its_error(
    mirrored: dict[str, Any],
) -> None:
    proc = mirrored["proc"]
    assert proc.returncode == 1, proc.stderr
    (record,) = mirrored["records"].values()
    assert (record.host, record.check, record.status) == (MIRRORED, "av", "failed")
    steps = {op.name: op for op in record.operations}
    refresh = steps["refresh ClamAV signatures"]
    assert refresh.status == "failed" and refresh.error
    assert "freshclam --stdout" in refresh.commands
    assert steps["run clamd"].status == "skipped"


def test_apply_fixes_every_finding_but_on_the_host_that_cannot_be_fixed(
    lab: Lab, applied: dict[str, Any]
) -> None:
    proc = applied["proc"]
    assert proc.returncode == 1, proc.stderr  # some remediation failed
    statuses = {key: record.status for key, record in applied["records"].items()}
    assert set(statuses) == failing(lab.swept)
    for key, status in statuses.items():
        assert status == ("failed" if key[0] == UNFIXABLE else "fixed"), (
            key,
            applied["records"][key],
        )
    for check in ("av", "software"):
        assert "Could not get lock" in (applied["records"][(UNFIXABLE, check)].error or "")
    assert "fixed" in proc.stdout and UNFIXABLE in proc.stdout


def test_sweep_after_apply_sees_the_findings_fixed(lab: Lab, applied: dict[str, Any]) -> None:
    assert failing(applied["swept"]) == {(UNFIXABLE, "av"), (UNFIXABLE, "software")}
    quarantined = applied["swept"]["tc-ws-03"]["infections"]["evidence"]["quarantined"]
    assert sorted(d["path"] for d in quarantined) == [
        "/home/ketoan/Downloads/hoadon.pdf.exe",
        "/tmp/.x/it's a $(trap).sh",
    ]


def test_quarantine_keeps_the_files_and_their_metadata(lab: Lab, applied: dict[str, Any]) -> None:
    listing = lab.fleet.ssh(
        "tc-ws-03", "stat -c '%a %U %n' /var/lib/raquet/quarantine /var/lib/raquet/quarantine/*"
    )
    modes = [line.split()[:2] for line in listing.splitlines()]
    assert modes[0] == ["700", "root"]
    assert sorted(m[0] for m in modes[1:]) == ["400", "400", "600", "600"]
    records = lab.fleet.ssh("tc-ws-03", "cat /var/lib/raquet/quarantine/*.json").splitlines()
    paths = {json.loads(r)["original_path"]: json.loads(r) for r in records}
    hostile = paths["/tmp/.x/it's a $(trap).sh"]
    assert hostile["detection"] == "Unix.Trojan.Mirai-7100807-0"
    assert hostile["sha256"] == "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
    assert (hostile["owner"], hostile["mode"]) == ("root", "0644")


def test_every_change_is_logged_with_host_time_and_operator(
    planned: dict[str, Any], applied: dict[str, Any]
) -> None:
    for (host, _), record in applied["records"].items():
        assert record.operator == getpass.getuser()
        assert record.finished_at is not None and record.started_at <= record.finished_at
        assert record.finished_at - record.started_at < timedelta(minutes=5)
        assert record.started_at.utcoffset() == timedelta(0)
        # each host's newest finished sweep: the one after the plan, or the mirror's verification
        assert record.sweep_id == planned["sweep_id"] or host == MIRRORED
        assert record.verify_sweep_id and record.operations
    connections = applied["records"][("tc-ws-03", "connections")]
    assert connections.undo == {"firewall": connections.id.replace("-", "")[:12]} | {
        "hosts_file": connections.id.replace("-", "")[:12]
    }
    assert applied["records"][("tc-srv-02", "software")].undo == {}


def test_non_root_user_with_sudo_remediates(lab: Lab, applied: dict[str, Any]) -> None:
    assert lab.fleet.hosts["tc-srv-01"].spec.user != "root"
    for check in ("av", "patches"):
        assert applied["records"][("tc-srv-01", check)].status == "fixed"


def test_second_apply_changes_nothing(again: dict[str, Any], lab: Lab) -> None:
    assert again["proc"].returncode == 1, again["proc"].stderr  # the unfixable host, still
    for (host, check), record in again["records"].items():
        if host == UNFIXABLE:
            continue
        assert record.status == "fixed", (host, check, record)
        changed = [op for op in record.operations if op.status not in ("unchanged", "skipped")]
        assert not changed, (host, check, changed)
    latest = lab.remediate("--unit", "so-tc", "--apply")
    assert latest.returncode == 0 and "nothing to remediate" in latest.stdout


def test_a_plan_after_the_fix_says_why_each_step_would_change_nothing(
    lab: Lab, again: dict[str, Any]
) -> None:
    """The first sweep's findings again, after they were fixed: a step with nothing to do
    says why, in the operation's own words (raquet's and pyinfra's)."""
    proc = lab.remediate("--sweep", lab.sweep_id, "--unit", "so-tc")
    assert proc.returncode in (0, 1, 4), proc.stdout + proc.stderr
    assert "[no change: ClamAV is installed]" in proc.stdout
    assert "[no change: every address is already blocked]" in proc.stdout
    assert "package rqlab-openssl is installed (1.0-2)" in proc.stdout  # pyinfra's own words


def test_undo_restores_the_firewalls_and_hosts_file_exactly(
    lab: Lab, undone: dict[str, Any]
) -> None:
    for proc in undone["procs"]:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert undone["after"] == lab.firewalls
    for record in undone["records"]:
        assert record.undone_at is not None and record.undone_by == getpass.getuser()
    assert "was undone at" in undone["repeat"].stdout
