"""The `vulns` check (issue 14): data sets kept in the store and imported by the command line,
the index rebuilt from them, the Linux and Windows halves judged against it (threshold,
ignore list, data that does not cover the host), and host output that is hostile.

Recorded and hand-written host outputs with their expected findings are in
tests/fixtures/checks/vulns/ (run by tests/test_check_fixtures.py); the data sets are the
small files of tests/fixtures/vulns/ in the real formats.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks import registry
from checks.base import Context, HostFacts, Sections
from checks.vulns import CHECK as VULNS
from checks.vulns import (
    MAX_FIELD,
    SHOWN,
    InstalledPackage,
    LinuxVulnState,
    _field,
    parse_dpkg,
    parse_rpm,
)
from checks.windows import vulns as windows
from raquet import vulns_cli
from raquet.gather import judge, sweep_context
from raquet.models import Finding, Host
from raquet.policy import Policy
from raquet.store import NoRecords, Store, VulnDatasetNotFound, VulnImport
from raquet.vulns import FormatChoice, Installed, detect, load_index, read_vulns
from raquet.vulns.index import VulnIndex
from tests.conftest import raquet_cli
from tests.pg import pg_server, pg_url  # noqa: F401 (fixtures, requested by name)

DATA = Path(__file__).parent / "fixtures" / "vulns"
CASES = Path(__file__).parent / "fixtures" / "checks"
HOST = Host.model_validate({"name": "h", "unit": "u", "address": "10.0.0.1"})
BOOKWORM = HostFacts(os_id="debian", os_version="12", os_name="Debian GNU/Linux 12")
HOSTILE = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GLIBC_OLD = [
    InstalledPackage("libc6", "glibc", "2.36-9+deb12u4", "2.36-9+deb12u4"),
    InstalledPackage("libssl3", "openssl", "3.0.11-1~deb12u2", "3.0.11-1~deb12u2"),
]


def _index(*names: str) -> VulnIndex:
    index, _ = load_index([DATA / name for name in names])
    return index


def _judge(state: object, facts: HostFacts, index: VulnIndex | None, **policy: object) -> Finding:
    ctx = Context(policy=Policy.model_validate({"vulns": policy}), vulns=index)
    return VULNS.evaluate(state, HOST, facts, ctx)  # type: ignore[arg-type]


def _pairs(finding: Finding, *, failing_only: bool = True) -> set[tuple[str, str]]:
    order = ["info", "low", "medium", "high", "critical"]
    threshold = order.index(finding.evidence["fail_on"])
    return {
        (e["component"], e["cve"])
        for e in finding.evidence["vulnerable"]
        if not failing_only or order.index(e["severity"]) >= threshold
    }


# --- the store ---------------------------------------------------------------------------


def _import(store: Store, path: Path, name: str, fmt: FormatChoice = "auto") -> VulnImport:
    """As `raquet vulns import` does: the format told from the file unless given."""
    found = detect(path) if fmt == "auto" else fmt
    assert isinstance(found, str)
    chosen: FormatChoice = found
    return store.import_vulns(
        name, str(path), chosen, lambda: read_vulns(path, chosen, dataset=name)
    )


def test_the_stored_index_matches_what_the_files_give(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'v.db'}") as store:
        assert store.vuln_index() is None
        for name in ("osv", "debian-tracker.json", "nvd-2.0.json", "msrc-2024-Apr.json"):
            _import(store, DATA / name, name)
        stored = store.vuln_index()
    assert stored is not None
    direct = _index("osv", "debian-tracker.json", "nvd-2.0.json", "msrc-2024-Apr.json")
    host = Installed(
        os=("debian", "12"),
        packages=[("libc6", "glibc", "2.36-9+deb12u4"), ("libssl3", "openssl", "3.0.11-1~deb12u2")],
        applications=[("Google Chrome", "124.0.6367.60"), ("WinRAR", "6.22")],
        platform="windows",
    )
    assert sorted(stored.match(host), key=repr) == sorted(direct.match(host), key=repr)
    assert len(stored) == len(direct)
    assert stored.spaces() == direct.spaces()


def test_re_import_replaces_and_a_file_without_records_replaces_nothing(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'v.db'}") as store:
        first = _import(store, DATA / "osv", "distro")
        again = _import(store, DATA / "debian-tracker.json", "distro")
        [info] = store.vuln_datasets()
        assert (info.name, info.format, info.records, info.problems) == ("distro", "debian", 5, 5)
        assert info.spaces == ["debian:11", "debian:12"]
        assert first.info.records == 6 and again.info.problems == len(again.problems)
        with pytest.raises(NoRecords) as refused:
            _import(store, DATA / "osv-bad" / "garbage.json", "distro", "osv")
        assert refused.value.problem_count == 1
        [kept] = store.vuln_datasets()
        assert kept.records == 5 and kept.format == "debian"  # the old data set stands
        index = store.vuln_index()
        assert index is not None and index.spaces() == {"debian:11", "debian:12"}
        assert store.remove_vulns("distro").records == 5
        assert store.vuln_index() is None
        with pytest.raises(VulnDatasetNotFound, match="known: none"):
            store.remove_vulns("distro")


@pytest.mark.postgres
def test_postgresql_imports_by_copy_and_reads_back(pg_url: str) -> None:  # noqa: F811
    with Store(pg_url) as store:
        _import(store, DATA / "osv", "osv")
        _import(store, DATA / "osv", "osv")  # replaced, not doubled
        [info] = store.vuln_datasets()
        index = store.vuln_index()
        store.remove_vulns("osv")
    assert info.records == 6 and index is not None and len(index) == 6
    host = Installed(os=("debian", "12"), packages=[("libc6", "glibc", "2.36-9+deb12u4")])
    assert {m.cve for m in index.match(host)} >= {"CVE-2024-33599"}


def test_sweep_context_reads_the_index_only_for_vulns(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'v.db'}") as store:
        _import(store, DATA / "osv", "osv")
        assert sweep_context(store, Policy(), ["av"]).vulns is None
        ctx = sweep_context(store, Policy(), ["av", "vulns"])
    assert ctx.vulns is not None and "debian:12" in ctx.vulns.spaces()


# --- the command line ----------------------------------------------------------------------


def test_cli_import_list_remove_and_re_import(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'v.db'}"
    done = raquet_cli("vulns", "import", DATA / "debian-tracker.json", "--db", db)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("vulnerability data debian-tracker: 5 records")
    assert "covers debian:11, debian:12" in done.stdout
    # malformed records are named with their file and position, and skipped
    assert f"skipped: {DATA / 'debian-tracker.json'}: /curl/CVE-2024-2004/releases:" in done.stderr
    nvd = raquet_cli("vulns", "import", DATA / "nvd-2.0.json", "--name", "nvd", "--db", db)
    assert nvd.returncode == 0, nvd.stderr
    again = raquet_cli(
        "vulns", "import", DATA / "nvd-2.0.json", "--name", "nvd", "--format", "nvd", "--db", db
    )
    assert again.returncode == 0, again.stderr
    listed = json.loads(raquet_cli("vulns", "list", "--json", "-", "--db", db).stdout)
    assert [(d["name"], d["format"], d["records"], d["problems"]) for d in listed] == [
        ("debian-tracker", "debian", 5, 5),
        ("nvd", "nvd", 8, 4),
    ]
    assert listed[1]["source"] == str((DATA / "nvd-2.0.json").resolve())
    assert listed[1]["imported_at"] > listed[0]["imported_at"]
    table = raquet_cli("vulns", "list", "--db", db, env={"COLUMNS": "80", "PATH": ""})
    assert "total" in table.stdout and "13" in table.stdout
    bad = raquet_cli("vulns", "import", DATA / "osv-bad" / "garbage.json", "--db", db)
    assert bad.returncode == 2 and "not a JSON data set" in bad.stderr
    removed = raquet_cli("vulns", "remove", "nvd", "--db", db)
    assert (
        removed.returncode == 0 and "removed vulnerability data nvd (8 records)" in removed.stdout
    )
    unknown = raquet_cli("vulns", "remove", "nvd", "--db", db)
    assert unknown.returncode == 2 and "known: debian-tracker" in unknown.stderr


def test_the_cli_format_choices_are_the_readers() -> None:
    assert get_args(vulns_cli.FormatChoice) == get_args(FormatChoice)


# --- judging -----------------------------------------------------------------------------


def test_vulnerable_packages_are_reported_and_nothing_else() -> None:
    finding = _judge(
        LinuxVulnState("dpkg", GLIBC_OLD), BOOKWORM, _index("osv", "debian-tracker.json")
    )
    assert finding.status == "fail" and finding.severity == "high"
    assert _pairs(finding) == {
        ("libc6", cve)
        for cve in (
            "CVE-2024-2961",
            "CVE-2024-33599",
            "CVE-2024-33600",
            "CVE-2024-33601",
            "CVE-2024-33602",
        )
    }
    assert {c for c, _ in _pairs(finding, failing_only=False)} == {"libc6", "libssl3"}
    assert finding.evidence["upgrades"] == [
        {
            "component": "libc6",
            "fixed": "2.36-9+deb12u7",
            "kb": None,
            "space": "debian:12",
            "version": "2.36-9+deb12u4",
            "package": "glibc",
            "cves": [
                "CVE-2024-2961",
                "CVE-2024-33599",
                "CVE-2024-33600",
                "CVE-2024-33601",
                "CVE-2024-33602",
            ],
        }
    ]
    assert finding.evidence["package_manager"] == "dpkg"


def test_fixed_versions_are_not_reported() -> None:
    fixed = [
        InstalledPackage("libc6", "glibc", "2.36-9+deb12u7", "2.36-9+deb12u7"),
        InstalledPackage("libssl3", "openssl", "3.0.13-1~deb12u1", "3.0.13-1~deb12u1"),
    ]
    finding = _judge(LinuxVulnState("dpkg", fixed), BOOKWORM, _index("osv", "debian-tracker.json"))
    assert finding.status == "pass"
    fixed_cves = {"CVE-2024-2961", "CVE-2024-33599", "CVE-2023-5678"}
    assert not fixed_cves & {cve for _, cve in _pairs(finding, failing_only=False)}


def test_the_source_version_is_what_debian_data_is_compared_with() -> None:
    # a binNMU: the binary's version is past the fix, its source's is not
    binnmu = [InstalledPackage("libc6", "glibc", "2.36-9+deb12u6+b1", "2.36-9+deb12u6")]
    finding = _judge(LinuxVulnState("dpkg", binnmu), BOOKWORM, _index("osv"))
    assert {cve for _, cve in _pairs(finding)} >= {"CVE-2024-33599"}


def test_threshold_and_ignore() -> None:
    index = _index("osv", "debian-tracker.json")
    state = LinuxVulnState("dpkg", GLIBC_OLD)
    assert _judge(state, BOOKWORM, index, fail_on="critical").status == "pass"
    low = _judge(state, BOOKWORM, index, fail_on="low")
    assert ("libssl3", "CVE-2023-5678") in _pairs(low) and low.status == "fail"
    assert ("libc6", "CVE-2010-4756") not in _pairs(low)  # Debian: unimportant
    rated = _judge(state, BOOKWORM, index, unrated="medium")  # DSA and "not yet assigned"
    assert rated.status == "pass" and rated.evidence["failing"] == 0
    ignore = [
        {"cve": cve, "reason": "nscd is not installed on agency servers"}
        for cve in ("CVE-2024-33599", "cve-2024-33600", "CVE-2024-33601", "CVE-2024-33602")
    ]
    ignored = _judge(state, BOOKWORM, index, ignore=ignore)
    assert {cve for _, cve in _pairs(ignored)} == {"CVE-2024-2961"}
    assert ignored.evidence["ignored"][0] == {
        "cve": "CVE-2024-33599",
        "reason": "nscd is not installed on agency servers",
        "components": ["libc6"],
    }
    ignore.append({"cve": "CVE-2024-2961", "reason": "accepted until the next window"})
    assert _judge(state, BOOKWORM, index, ignore=ignore).status == "pass"


def test_policy_refuses_a_bad_threshold_or_ignore_entry() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Policy.model_validate({"vulns": {"fail_on": "severe"}})
    with pytest.raises(ValidationError):
        Policy.model_validate({"vulns": {"ignore": [{"cve": "CVE-2024-1"}]}})  # no reason
    with pytest.raises(ValidationError):
        Policy.model_validate({"vulns": {"ignore": [{"cve": "'; drop", "reason": "x"}]}})


def test_no_data_for_the_os_is_not_applicable_and_says_which_data_would() -> None:
    finding = _judge(LinuxVulnState("dpkg", GLIBC_OLD), BOOKWORM, _index("nvd-2.0.json"))
    assert finding.status == "not_applicable"
    assert finding.title.startswith(
        "no vulnerability data for debian:12 — import the Debian security tracker JSON"
    )
    assert "OSV Debian:12" in finding.title
    rocky = HostFacts(os_id="rocky", os_version="9.4", os_name="Rocky Linux 9.4")
    other = _judge(LinuxVulnState("rpm", []), rocky, _index("debian-tracker.json"))
    assert other.status == "not_applicable" and "rocky:9" in other.title
    arch = HostFacts(os_id="arch", os_version="", os_name="Arch Linux")
    unknown = _judge(LinuxVulnState("dpkg", []), arch, _index("osv"))
    assert unknown.title == "no vulnerability data raquet can read covers Arch Linux"


def test_uncovered_os_still_fails_on_a_vulnerable_browser() -> None:
    chromium = [
        InstalledPackage("chromium", None, "124.0.6367.60-1~deb12u1", "124.0.6367.60-1~deb12u1")
    ]
    finding = _judge(LinuxVulnState("dpkg", chromium), BOOKWORM, _index("nvd-2.0.json"))
    assert finding.status == "fail" and _pairs(finding) == {("chromium", "CVE-2024-4671")}
    assert "no vulnerability data for debian:12" in finding.title


def test_no_data_at_all_is_not_judged_and_says_what_to_import() -> None:
    finding = _judge(LinuxVulnState("dpkg", GLIBC_OLD), BOOKWORM, None)
    assert finding.status == "not_applicable" and "raquet vulns import FILE" in finding.title
    assert _judge(LinuxVulnState(), BOOKWORM, _index("osv")).status == "error"  # no dpkg/rpm


def test_stale_package_lists_fail_vulns_while_patches_passes() -> None:
    """The same host's two fixtures, judged together as one sweep judges them."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    sections = Sections()
    for check in ("patches", "vulns"):
        case = yaml.load((CASES / check / "debian12-stale-lists.yml").read_text(encoding="utf-8"))
        sections.update({k: str(v).rstrip("\n") for k, v in case["sections"].items()})
    checks = [registry()["patches"], registry()["vulns"]]
    ctx = Context(vulns=_index("osv", "debian-tracker.json", "nvd-2.0.json"))
    findings, _ = judge(checks, sections, HOST, ctx)
    assert [(f.check, f.status) for f in findings] == [("patches", "pass"), ("vulns", "fail")]


# --- Windows -----------------------------------------------------------------------------


def _os(
    build: int, kind: str = "Client", release: str = "", arch: str = "amd64"
) -> windows.WindowsOs:
    return windows.WindowsOs(
        build=build, display_version=release, installation_type=kind, arch=arch
    )


@pytest.mark.parametrize(
    ("os", "name"),
    [
        (_os(22631, release="23H2"), "Windows 11 Version 23H2 for x64-based Systems"),
        (_os(19045, release="22H2", arch="x86"), "Windows 10 Version 22H2 for 32-bit Systems"),
        (
            _os(26100, release="24H2", arch="arm64"),
            "Windows 11 Version 24H2 for ARM64-based Systems",
        ),
        (_os(22000), "Windows 11 Version 21H2 for x64-based Systems"),
        (_os(10240), "Windows 10 for x64-based Systems"),
        (_os(20348, "Server"), "Windows Server 2022"),
        (_os(20348, "Server Core"), "Windows Server 2022 (Server Core installation)"),
        (_os(25398, "Server Core"), "Windows Server 2022, 23H2 Edition (Server Core installation)"),
        (_os(17763, "Server"), "Windows Server 2019"),
        (_os(9600, "Server"), "Windows Server 2012 R2"),
        (_os(7601), None),
        (_os(12345, "Server"), None),
        (windows.WindowsOs(), None),
    ],
)
def test_windows_product_names_as_msrc_writes_them(os: windows.WindowsOs, name: str | None) -> None:
    assert windows.product(os) == name


def test_windows_build_and_programs() -> None:
    index = _index("msrc-2024-Apr.json", "nvd-2.0.json")
    facts = HostFacts(os_id="windows", os_name="Windows 11 Pro")
    state = windows.WindowsVulnState(
        os=windows.WindowsOs(
            build=22631, ubr=3296, display_version="23H2", installation_type="Client", arch="amd64"
        ),
        programs=[("Google Chrome", "124.0.6367.60"), ("7-Zip 24.07 (x64)", "24.07")],
    )
    finding = _judge(state, facts, index)
    assert _pairs(finding) == {
        ("Windows 11 Version 23H2 for x64-based Systems", "CVE-2024-26234"),
        ("Windows 11 Version 23H2 for x64-based Systems", "CVE-2024-26237"),
        ("Google Chrome", "CVE-2024-4671"),
    }
    upgrade = next(u for u in finding.evidence["upgrades"] if u["kb"])
    assert (upgrade["fixed"], upgrade["kb"]) == ("10.0.22631.3447", "KB5036893")
    state.os.ubr = 3447
    state.programs = [("Google Chrome", "124.0.6367.201")]
    assert _judge(state, facts, index).status == "pass"
    state.os.build, state.os.display_version = 26100, "24H2"  # no data names it
    missing = _judge(state, facts, index)
    assert missing.status == "not_applicable"
    assert missing.title.startswith(
        "no vulnerability data for Windows 11 Version 24H2 for x64-based Systems (build 10.0.26100.3447)"
    )


def test_windows_parse_takes_only_what_it_expects() -> None:
    document = {
        "Os": {
            "ProductName": "Windows 10 Pro",
            "CurrentBuildNumber": "22631",
            "UBR": 3296,
            "DisplayVersion": "23H2",
            "InstallationType": "Client",
            "CurrentMajorVersionNumber": 10,
            "CurrentMinorVersionNumber": 0,
        },
        "Arch": "AMD64",
        "Programs": [
            {"Name": "Google Chrome", "Version": "124.0"},
            {"Name": "Google Chrome", "Version": "124.0"},
            {"Name": "No version"},
            {"Name": ["not", "a", "string"], "Version": "1"},
            "not an object",
        ],
    }
    state = windows.parse(Sections({"vulns.json": json.dumps(document)}), HostFacts())
    assert state.programs == [("Google Chrome", "124.0")]
    assert state.skipped == 2
    assert (state.os.build, state.os.ubr, state.os.major, state.os.arch) == (
        22631,
        3296,
        "10.0",
        "amd64",
    )
    odd = {"Os": {"CurrentBuildNumber": "9" * 40, "UBR": -5, "CurrentVersion": "6.3"}, "Arch": []}
    parsed = windows.parse(Sections({"vulns.json": json.dumps(odd)}), HostFacts())
    assert (parsed.os.build, parsed.os.ubr, parsed.os.major, parsed.os.arch) == (None, 0, "6.3", "")


# --- hostile host output -------------------------------------------------------------------

_TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=200)
_LINES = st.lists(
    st.one_of(
        _TEXT,
        st.lists(_TEXT, min_size=1, max_size=6).map("\t".join),
        st.tuples(
            st.from_regex(r"[a-z0-9][a-z0-9+.-]{0,20}(:[a-z0-9]+)?", fullmatch=True),
            st.from_regex(r"[a-z0-9+.-]{0,20}", fullmatch=True),
            st.from_regex(r"([0-9]:)?[0-9][0-9A-Za-z.+~-]{0,20}", fullmatch=True),
        ).map("\t".join),
    ),
    max_size=40,
)


@HOSTILE
@given(_LINES)
def test_dpkg_and_rpm_listings_never_raise_and_keep_only_bounded_fields(lines: list[str]) -> None:
    for parse, width in ((parse_dpkg, 4), (parse_rpm, 3)):
        packages, skipped = parse(lines)
        assert len(packages) + skipped <= len(lines)
        for package in packages:
            for value in (package.name, package.version, package.source_version, package.source):
                if value is not None:
                    assert value and len(value) <= 128 and value.isprintable()
                    assert not any(c.isspace() for c in value)
        assert width in (3, 4)


@HOSTILE
@given(_LINES, st.sampled_from(["dpkg", "rpm"]))
def test_whatever_the_host_lists_the_finding_is_a_verdict(lines: list[str], manager: str) -> None:
    sections = Sections(
        {
            "host.os_release": 'ID=debian\nVERSION_ID="12"',
            f"vulns.{manager}": "\n".join(lines),
            "vulns.__exit": "0",
        }
    )
    ctx = Context(vulns=_index("osv", "debian-tracker.json", "nvd-2.0.json"))
    outcome = VULNS.judge(sections, HOST, HostFacts.parse(sections), ctx)
    assert outcome.finding.status in ("pass", "fail", "not_applicable")
    assert len(outcome.finding.evidence["vulnerable"]) <= 50
    json.dumps(outcome.finding.evidence)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_TEXT, inner, max_size=5),
    max_leaves=30,
)


@HOSTILE
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "Os": st.dictionaries(
                st.sampled_from(
                    [
                        "ProductName",
                        "CurrentBuildNumber",
                        "UBR",
                        "DisplayVersion",
                        "InstallationType",
                        "CurrentVersion",
                        "CurrentMajorVersionNumber",
                        "CurrentMinorVersionNumber",
                    ]
                ),
                _JSON,
            )
            | _JSON,
            "Arch": _JSON,
            "Programs": st.lists(
                st.dictionaries(st.sampled_from(["Name", "Version"]), _JSON), max_size=8
            )
            | _JSON,
        },
    )
)
def test_windows_output_of_any_shape_gives_a_verdict(document: dict[str, object]) -> None:
    sections = Sections({"vulns.json": json.dumps(document), "vulns.__exit": "0"})
    facts = HostFacts(os_id="windows")
    ctx = Context(vulns=_index("msrc-2024-Apr.json", "nvd-2.0.json"))
    outcome = VULNS.judge(sections, HOST, facts, ctx)
    assert outcome.finding.status in ("pass", "fail", "not_applicable"), outcome.finding.title


def test_a_host_with_hundreds_of_failing_packages_is_named_whole_for_counts_and_upgrades() -> None:
    from reports.weaknesses import _entries
    from tests.fixtures.reports.weak import judged, vuln

    matches = [
        vuln(f"lib{i:03d}", f"CVE-2024-{1000 + i}", "critical", 9.0, f"1.{i}-1") for i in range(120)
    ]
    finding = judged(matches)
    evidence = finding.evidence
    assert len(evidence["vulnerable"]) == SHOWN < 120  # listed whole: the worst only
    assert evidence["failing_component_count"] == len(evidence["failing_components"]) == 120
    assert len(evidence["upgrades"]) == 120  # the remediation upgrades every one
    assert {c for c, _, _ in evidence["failing_pairs"]} == {m.component for m in matches}
    listed = {(e["component"], e["cve"]) for e in _entries(finding)}
    assert listed == {(m.component, m.cve) for m in matches}  # the reports count each


def _nvd_record(cve: str, *criteria: str) -> dict[str, object]:
    matches = [
        {"vulnerable": True, "criteria": c, "versionEndExcluding": "9.0", "matchCriteriaId": cve}
        for c in criteria
    ]
    configurations = [{"nodes": [{"operator": "OR", "negate": False, "cpeMatch": matches}]}]
    return {
        "cve": {
            "id": cve,
            "lastModified": "2024-07-03T02:07:53.637",
            "configurations": configurations,
        }
    }


def test_nvd_records_of_products_no_program_maps_to_are_not_kept(tmp_path: Path) -> None:
    chrome, elsewhere = (
        "cpe:2.3:a:google:chrome:*:*:*:*:*:*:*:*",
        "cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*",
    )
    feed = tmp_path / "nvdcve-2.0-2024.json"
    records = [
        _nvd_record("CVE-2024-0101", chrome),
        _nvd_record("CVE-2024-0102", elsewhere),
        _nvd_record("CVE-2024-0103", elsewhere, chrome),
        _nvd_record("CVE-2024-0104", elsewhere),
    ]
    feed.write_text(
        json.dumps({"resultsPerPage": 4, "format": "NVD_CVE", "vulnerabilities": records})
    )
    db = f"sqlite:///{tmp_path / 'v.db'}"
    done = raquet_cli("vulns", "import", feed, "--db", db)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("vulnerability data nvdcve-2.0-2024: 2 records")
    assert "not kept: 2 NVD records whose products no program" in done.stderr
    with Store(db) as store:
        index = store.vuln_index()
    assert index is not None and index.knows("cpe", "google:chrome")
    assert not index.knows("cpe", "acme:widget")  # the mixed record keeps only chrome
    only_elsewhere = tmp_path / "elsewhere.json"
    only_elsewhere.write_text(json.dumps({"resultsPerPage": 1, "vulnerabilities": records[1:2]}))
    refused = raquet_cli("vulns", "import", only_elsewhere, "--db", db)
    assert refused.returncode == 2 and "not kept: 1 NVD records" in refused.stderr


# Every kind of whitespace Unicode has, printable (the space) or not, beside any character.
_SPACES = " \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000"


@given(st.text(alphabet=st.one_of(st.characters(), st.sampled_from(_SPACES)), max_size=140))
def test_a_package_field_is_kept_exactly_when_printable_without_whitespace(value: str) -> None:
    """The field check's short form (no space, and printable) keeps exactly what its
    definition keeps: a printable value of at most MAX_FIELD characters with no
    whitespace character of any kind."""
    kept = value.strip()
    ok = bool(kept) and len(kept) <= MAX_FIELD and kept.isprintable()
    expected = kept if ok and not any(c.isspace() for c in kept) else None
    assert _field(value) == expected
