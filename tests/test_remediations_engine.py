"""The remediation engine's own decisions, without hosts: which findings it picks up, how it
judges an outcome, what it shows and logs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from pyinfra.api import FunctionCommand, QuoteString, StringCommand
from pyinfra.api.command import FileUploadCommand

import raquet  # noqa: F401  (gevent patching first, as in every entry point)
from raquet.models import Finding, Host, HostResult
from raquet.remediate import (
    Job,
    OpRun,
    Target,
    _proceed,
    _refuse,
    judge,
    plan_targets,
    show,
)
from raquet.remediation_log import OperationRecord, RemediationLog, RemediationRecord
from raquet.store import Store
from remediations import connections, display, hostsfile
from remediations.base import Remedy, Step

T0 = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
HOSTS = [Host(name=n, address="198.18.0.10", unit="u") for n in ("h1", "h2")]


def result(name: str, *findings: Finding) -> HostResult:
    return HostResult(
        name=name, unit="u", os="linux", role="server", status="swept", findings=list(findings)
    )


def finding(check: str, status: str, title: str = "t") -> Finding:
    return Finding(check=check, status=status, title=title)  # type: ignore[arg-type]


def sweep(store: Store, when: datetime, finish: bool, *results: HostResult) -> str:
    sweep_id = store.begin_sweep(
        "inv", "p", ["av", "software"], [(r.name, r.unit) for r in results], {}, started_at=when
    )
    for r in results:
        store.record_host(sweep_id, r)
    if finish:
        store.finish_sweep(sweep_id, when + timedelta(minutes=1))
    return sweep_id


def test_each_host_and_check_is_judged_by_its_newest_finished_sweep(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path}/s.db") as store:
        old = sweep(
            store, T0, True, result("h1", finding("av", "fail", "old"), finding("software", "fail"))
        )
        new = sweep(store, T0 + timedelta(days=1), True, result("h1", finding("av", "pass")))
        sweep(
            store, T0 + timedelta(days=2), False, result("h1", finding("av", "fail", "unfinished"))
        )
        latest = store.latest_findings([h.name for h in HOSTS], ["av", "software"])
        assert {f.check: (s, f.status) for s, f in latest["h1"]} == {
            "av": (new, "pass"),
            "software": (old, "fail"),
        }
        assert latest["h2"] == []
        pinned = store.latest_findings([h.name for h in HOSTS], ["av"], old)
        assert [(s, f.title) for s, f in pinned["h1"]] == [(old, "old")]


def test_only_failing_findings_with_a_remediation_become_jobs() -> None:
    findings = {
        "h1": [
            ("s1", finding("av", "pass")),
            ("s1", finding("software", "error")),
            (
                "s1",
                Finding(
                    check="software",
                    status="fail",
                    title="t",
                    evidence={"package_manager": "dpkg", "banned": [{"name": "xmrig"}]},
                ),
            ),
        ],
        "h2": [("s1", finding("av", "pass"))],
    }
    from raquet.policy import Policy

    targets = plan_targets(HOSTS, findings, Policy(), reboot=False)
    assert [(t.host.name, [j.check for j in t.jobs]) for t in targets] == [("h1", ["software"])]
    job = targets[0].jobs[0]
    assert (
        job.sweep_id == "s1"
        and len(job.id) == 36
        and [r.step.title for r in job.ops] == ["remove xmrig"]
    )


def test_a_finding_a_planner_cannot_read_is_noted_not_fatal() -> None:
    from raquet.policy import Policy

    broken = Finding(
        check="patches", status="fail", title="t", evidence={"package_manager": "apt", "updates": 5}
    )
    (target,) = plan_targets(HOSTS[:1], {"h1": [("s1", broken)]}, Policy(), reboot=False)
    assert target.jobs[0].ops == [] and target.jobs[0].remedy.notes[0].startswith("cannot plan:")


def job_with(*statuses: str | None, errors: tuple[str | None, ...] = ()) -> Job:
    runs = [
        OpRun(Step(f"s{i}", connections.processes_stopped), status=s)
        for i, s in enumerate(statuses)
    ]
    for run, error in zip(runs, errors, strict=False):
        run.error = error
    return Job("id", "sweep", Remedy("av", finding("av", "fail")), runs)


@pytest.mark.parametrize(
    ("statuses", "errors", "after", "expected"),
    [
        (("changed",), (), finding("av", "pass"), ("fixed", None)),
        (
            ("changed",),
            (),
            finding("av", "fail", "clamd is not running"),
            ("failed", "still failing: clamd is not running"),
        ),
        (("changed", "failed"), (None, "E: lock"), finding("av", "pass"), ("fixed", "s1: E: lock")),
        (("failed",), ("E: lock",), None, ("failed", "s0: E: lock")),
        (
            ("changed",),
            (),
            finding("av", "error", "timed out"),
            ("unverified", "the check could not be run again: timed out"),
        ),
    ],
)
def test_outcomes(
    statuses: tuple[str, ...],
    errors: tuple[str | None, ...],
    after: Finding | None,
    expected: tuple[str, str | None],
) -> None:
    job = job_with(*statuses, errors=errors)
    judge(job, result("h1", after) if after else None)
    assert (job.status, job.error) == expected


def test_unreachable_on_verification_is_unverified() -> None:
    job = job_with("changed")
    judge(
        job,
        HostResult(
            name="h1", unit="u", os="linux", role="server", status="unreachable", error="refused"
        ),
    )
    assert (job.status, job.error) == ("unverified", "the host could not be swept again: refused")


@dataclass
class Meta:
    complete: bool = True
    error: bool = False
    change: bool = False

    def is_complete(self) -> bool:
        return self.complete

    def did_error(self) -> bool:
        return self.error

    def did_change(self) -> bool:
        return self.change


@pytest.mark.parametrize(
    ("earlier", "after_change", "runs"),
    [
        ([Meta()], False, True),
        ([Meta(change=True), Meta(error=True)], False, False),
        ([Meta(complete=False)], False, False),
        ([Meta()], True, False),
        ([Meta(), Meta(change=True)], True, True),
    ],
)
def test_later_steps_wait_on_earlier_ones(
    earlier: list[Meta], after_change: bool, runs: bool
) -> None:
    before = [OpRun(Step("s", connections.processes_stopped), meta=m) for m in earlier]  # type: ignore[arg-type]
    run = OpRun(Step("t", connections.processes_stopped, after_change=after_change))
    assert _proceed(run, before)() is runs
    assert run.trace.skipped is not runs


def test_commands_are_shown_masked() -> None:
    assert show(
        StringCommand("echo", QuoteString("PrivateMirror http://u:s3cret@m.example/db"))
    ) == ("echo 'PrivateMirror http://u:***@m.example/db'")
    assert (
        show(FileUploadCommand(StringIO("abc\n"), "/etc/hosts")) == "(write 4 bytes to /etc/hosts)"
    )
    assert show(FunctionCommand(_refuse, ("no nft",), {})) == "(cannot run: no nft)"
    edit = hostsfile.Edit(b"a\nb\n", ((0, 2), b"# x\n", (2, 4)))
    command = hostsfile.write_command("/etc/hosts", edit, "/var/lib/raquet/backup/hosts-x")
    assert "base64 -d" in command.get_raw_value()
    assert show(command).split("\n")[-3:] == [" a", "+# x", " b"]  # the diff, not the base64


def test_log_records_update_and_undo(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path}/s.db") as store:
        log = RemediationLog(store)
        record = RemediationRecord(
            id="3c7699fe-3316-4d7f-8dd0-3fd1ba91c4df",
            sweep_id="s1",
            host="h1",
            unit="u",
            check="connections",
            finding="1 connection\x00 to a malicious address",
            operations=[OperationRecord(name="block", commands=["nft -f -"])],
            operator="nv",
            started_at=T0,
        )
        log.save(record)
        record.status, record.finished_at, record.undo = (
            "fixed",
            T0 + timedelta(seconds=9),
            {"firewall": "3c7699fe3316"},
        )
        log.save(record)
        got = log.get("3c7699fe")
        assert (got.status, got.undo, got.finding) == (
            "fixed",
            {"firewall": "3c7699fe3316"},
            "1 connection to a malicious address",
        )
        assert got.finished_at == T0 + timedelta(seconds=9) and got.finished_at.tzinfo is not None
        assert [r.id for r in log.list(host="h1")] == [record.id] and log.list(host="h2") == []
        log.mark_undone(record.id, T0 + timedelta(hours=1), "tt")
        assert (log.get(record.id).undone_at, log.get(record.id).undone_by) == (
            T0 + timedelta(hours=1),
            "tt",
        )
        with pytest.raises(KeyError):
            log.get("ffff")
        record.started_at = datetime(2026, 11, 16, 8, 0)  # naive: refused, as the store refuses it
        with pytest.raises(ValueError):
            log.save(record)


def test_plan_output_cannot_drive_the_terminal() -> None:
    title = "\x1b]0;pwned\x07 ClamAV is installed but clamd is not running"
    run = OpRun(Step("block", connections.processes_stopped), status="changed")
    run.commands = ["printf '%s' 'table inet raquet_x {\n}\n' | nft -f -"]
    job = Job("id", "s1234567", Remedy("av", finding("av", "fail", title)), [run])
    text = display.plan([Target(HOSTS[0], [job], reachable=True)])
    assert "\x1b" not in text and "\\x1b]0;pwned\\x07 ClamAV" in text
    assert "$ printf '%s' 'table inet raquet_x {\n          }" in text
