"""How old the vulnerability data is: each data set the `vulns` finding was judged against
is named in its evidence with where it came from, when it was imported and its newest
record's day; data older than `vulns.max_data_age_days` is said in the title and, in the
report's language, in the explanation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from checks.base import Context, HostFacts
from checks.vulns import CHECK as VULNS
from checks.vulns import InstalledPackage, LinuxVulnState, Target, _linux_target
from raquet.errors import InputError
from raquet.models import Host
from raquet.policy import Policy, load_policy
from raquet.store import Store
from raquet.vulns import Installed, VulnIndex, load_index, read_vulns
from raquet.vulns.model import record_day
from reports.explain import Explainer
from reports.formatting import Formatter
from reports.labels import labels

DATA = Path(__file__).parent / "fixtures" / "vulns"
HOST = Host.model_validate({"name": "h", "unit": "u", "address": "10.0.0.1"})
BOOKWORM = HostFacts(os_id="debian", os_version="12", os_name="Debian GNU/Linux 12")
GLIBC_OLD = LinuxVulnState(
    "dpkg", [InstalledPackage("libc6", "glibc", "2.36-9+deb12u4", "2.36-9+deb12u4")]
)
GLIBC_FIXED = LinuxVulnState(
    "dpkg", [InstalledPackage("libc6", "glibc", "2.36-9+deb12u7", "2.36-9+deb12u7")]
)


def _stored(tmp_path: Path, imported: datetime) -> Store:
    store = Store(f"sqlite:///{tmp_path}/s.db")
    for path, name, fmt in [
        (DATA / "osv", "osv-debian", "osv"),
        (DATA / "debian-tracker.json", "tracker", "debian"),
    ]:
        store.import_vulns(
            name,
            str(path),
            fmt,
            lambda p=path, n=name, f=fmt: read_vulns(p, f, dataset=n),  # type: ignore[misc]
            imported_at=imported,
        )
    return store


def test_record_days() -> None:
    assert record_day("2024-05-08T00:00:00Z") == "2024-05-08"
    assert record_day("2024-07-03T02:07:53.637") == "2024-07-03"
    assert record_day("2024-05-08T23:30:00-05:00") == "2024-05-09"  # the UTC day
    for bad in (None, 17, "", "yesterday", "2024-13-01", "0001-01-01", "2" * 100):
        assert record_day(bad) is None


def test_each_data_set_used_is_named_with_its_origin_and_age(tmp_path: Path) -> None:
    imported = datetime(2024, 10, 1, 8, tzinfo=UTC)
    with _stored(tmp_path, imported) as store:
        index = store.vuln_index()
    assert index is not None
    now = imported + timedelta(days=20)
    finding = VULNS.verdict(
        index.match(_installed()), _target(index), Policy().vulns, index, now=now
    )
    data = {d["name"]: d for d in finding.evidence["data"]}
    assert set(data) == {"osv-debian", "tracker"}
    osv = data["osv-debian"]
    assert osv["source"] == str(DATA / "osv") and osv["format"] == "osv"
    assert osv["imported_at"] == "2024-10-01T08:00:00+00:00"
    # the newest record of the OSV files, and the age counted from it, not from the import
    assert osv["newest_record"] == "2024-09-19"
    assert osv["age_days"] == 32.3
    tracker = data["tracker"]
    assert tracker["newest_record"] is None and tracker["age_days"] == 20.0  # from the import
    assert finding.evidence["max_data_age_days"] == 30
    assert [s["name"] for s in finding.evidence["stale_data"]] == ["osv-debian"]
    assert finding.status == "fail"
    assert finding.title.endswith("; vulnerability data older than 30 days: osv-debian (32.3 days)")


def test_fresh_data_says_nothing_and_a_pass_still_warns(tmp_path: Path) -> None:
    imported = datetime(2024, 10, 1, 8, tzinfo=UTC)
    with _stored(tmp_path, imported) as store:
        index = store.vuln_index()
    assert index is not None
    policy = Policy.model_validate({"vulns": {"max_data_age_days": 60}}).vulns
    fresh = VULNS.verdict(index.match(_installed()), _target(index), policy, index, now=imported)
    assert fresh.evidence["stale_data"] == [] and "older than" not in fresh.title
    later = imported + timedelta(days=90)
    target = _target(index, GLIBC_FIXED)
    passed = VULNS.verdict(index.match(target.installed), target, policy, index, now=later)
    assert passed.status == "pass"
    assert (
        "vulnerability data older than 60 days: osv-debian (102.3 days), tracker (90 days)"
        in passed.title
    )


def test_data_for_another_os_is_not_named(tmp_path: Path) -> None:
    index, _ = load_index([DATA / "osv", DATA / "msrc-2024-Apr.json"])
    finding = VULNS.evaluate(GLIBC_OLD, HOST, BOOKWORM, Context(vulns=index))
    assert [d["name"] for d in finding.evidence["data"]] == ["osv"]
    # read straight from files: no import time, the newest record still dates it
    assert finding.evidence["data"][0]["imported_at"] is None
    assert finding.evidence["data"][0]["newest_record"] == "2024-09-19"


def test_the_age_limit_is_validated_with_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    path.write_text("vulns:\n  fail_on: high\n  max_data_age_days: 0\n")
    with pytest.raises(InputError) as caught:
        load_policy(path)
    problem = caught.value.problems[0]
    assert (problem.file, problem.line) == (str(path), 3)
    assert "max_data_age_days" in problem.field
    path.write_text("vulns:\n  max_data_age_days: 7\n")
    assert load_policy(path).vulns.max_data_age_days == 7


@pytest.mark.parametrize(
    ("lang", "sentence"),
    [
        ("en", "The vulnerability data used is older than 30 days (osv-debian 32.3 days)"),
        ("vi", "Dữ liệu lỗ hổng được dùng đã cũ hơn 30 ngày (osv-debian 32,3 ngày)"),
    ],
)
def test_the_report_says_the_data_is_stale(tmp_path: Path, lang: str, sentence: str) -> None:
    imported = datetime(2024, 10, 1, 8, tzinfo=UTC)
    with _stored(tmp_path, imported) as store:
        index = store.vuln_index()
    assert index is not None
    finding = VULNS.verdict(
        index.match(_installed()),
        _target(index),
        Policy().vulns,
        index,
        now=imported + timedelta(days=20),
    )
    explainer = Explainer(None, Formatter(lang, UTC), labels(lang))  # type: ignore[arg-type]
    assert sentence in explainer.explain(finding)["detail"]


def _target(index: VulnIndex, state: LinuxVulnState = GLIBC_OLD) -> Target:
    return _linux_target(state, BOOKWORM, index)


def _installed() -> Installed:
    return Installed(
        os=("debian", "12"), packages=[("libc6", "glibc", "2.36-9+deb12u4")], platform="linux"
    )


def test_rows_stored_before_record_days_read_back() -> None:
    from dataclasses import replace

    from raquet.store.vulns import decode, encode

    old = decode('["DSA-1",["CVE-2024-1"],"high",null,"osv",[]]', "d")
    assert old.modified is None and old.cves == ("CVE-2024-1",)
    assert decode(encode(old), "d") == old
    assert decode(encode(replace(old, modified="2024-05-08")), "d").modified == "2024-05-08"
