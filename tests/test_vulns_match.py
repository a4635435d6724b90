"""Matching installed software against the index: the vulnerable version matched, the fixed
one not; every range bound kind; Debian by source package; CVRF builds with UBR."""

from __future__ import annotations

from pathlib import Path

import pytest

from raquet.vulns import Application, Installed, Match, Package, VulnIndex, WindowsBuild, load_index
from raquet.vulns.names import Names

FIXTURES = Path(__file__).parent / "fixtures" / "vulns"


@pytest.fixture(scope="module")
def index() -> VulnIndex:
    found, _ = load_index(
        [
            FIXTURES / "osv",
            FIXTURES / "debian-tracker.json",
            FIXTURES / "nvd-2.0.json",
            FIXTURES / "msrc-2024-Apr.json",
        ]
    )
    return found


def _cves(matches: list[Match], dataset: str | None = None) -> set[str]:
    return {m.cve for m in matches if dataset is None or m.dataset == dataset}


def _debian(
    index: VulnIndex, *packages: tuple[str, str | None, str], release: str = "12"
) -> list[Match]:
    return index.match(Installed(os=("debian", release), packages=list(packages)))


def test_debian_by_source_package(index: VulnIndex) -> None:
    found = _debian(index, ("libc6", "glibc", "2.36-9+deb12u4"))
    assert _cves(found, "osv") >= {"CVE-2024-33599", "CVE-2024-33602"}
    nscd = next(m for m in found if m.cve == "CVE-2024-33599")
    assert (nscd.component, nscd.package, nscd.version, nscd.fixed, nscd.advisory) == (
        "libc6",
        "glibc",
        "2.36-9+deb12u4",
        "2.36-9+deb12u7",
        "DSA-5678-1",
    )
    # the binary name is not what the data is keyed by
    assert _debian(index, ("libc6", None, "2.36-9+deb12u4")) == []


def test_fixed_version_is_not_vulnerable(index: VulnIndex) -> None:
    assert "CVE-2024-33599" not in _cves(_debian(index, ("libc6", "glibc", "2.36-9+deb12u7")))
    assert "CVE-2024-33599" not in _cves(_debian(index, ("libc6", "glibc", "2.36-9+deb12u10")))
    assert "CVE-2024-33599" in _cves(_debian(index, ("libc6", "glibc", "2.36-9+deb12u6")))


def test_debian_tracker_open_and_resolved(index: VulnIndex) -> None:
    newest = _cves(_debian(index, ("libc6", "glibc", "2.36-9+deb12u99")), "debian-tracker.json")
    assert newest == {"CVE-2010-4756", "CVE-2019-1010022"}  # open: every version; resolved: fixed
    old = _cves(_debian(index, ("libc6", "glibc", "2.36-9+deb12u5")), "debian-tracker.json")
    assert old == {"CVE-2010-4756", "CVE-2019-1010022", "CVE-2024-2961"}
    temp = _debian(index, ("libssl3", "openssl", "3.0.13-1~deb12u1"))
    assert [(m.cve, m.dataset) for m in temp] == [("TEMP-0000000-F7A20F", "debian-tracker.json")]


def test_introduced_after_zero_and_listed_versions(index: VulnIndex) -> None:
    def osv(version: str) -> set[str]:
        return _cves(_debian(index, ("libssl3", "openssl", version)), "osv")

    assert osv("3.0.11-1~deb12u2") == {"CVE-2023-5678"}
    assert osv("3.0.9-1") == {"CVE-2023-5678"}  # introduced is inclusive
    assert osv("3.0.8-2") == set()  # before it was introduced
    assert osv("3.0.8-1") == {"CVE-2023-5678"}  # listed in `versions`, outside the range
    assert osv("3.0.13-1~deb12u1") == set()


def test_last_affected_is_inclusive(index: VulnIndex) -> None:
    def bullseye(version: str) -> set[str]:
        return _cves(_debian(index, ("libssl1.1", "openssl", version), release="11"), "osv")

    assert bullseye("1.1.1w-0+deb11u1") == {"CVE-2023-5678"}
    assert bullseye("1.1.1n-0+deb11u5") == {"CVE-2023-5678"}
    assert bullseye("1.1.1w-0+deb11u2") == set()


def test_unknown_package_os_or_version(index: VulnIndex) -> None:
    assert _debian(index, ("hello", "hello", "2.10-3")) == []
    assert (
        index.match(Installed(os=("alpine", "3.19"), packages=[("musl", None, "1.2.4-r2")])) == []
    )
    assert _debian(index, ("libc6", "glibc", "not a version!")) == []
    assert index.match(Installed(os=("debian", "12"))) == []


def test_ubuntu_and_rpm_distributions(index: VulnIndex) -> None:
    jammy = index.match(
        Installed(os=("ubuntu", "22.04"), packages=[Package("libc6", "2.35-0ubuntu3.6", "glibc")])
    )
    assert _cves(jammy) == {"CVE-2024-2961"} and jammy[0].severity == "medium"
    assert (
        index.match(
            Installed(
                os=("ubuntu", "22.04"), packages=[Package("libc6", "2.35-0ubuntu3.7", "glibc")]
            )
        )
        == []
    )
    rocky = index.match(
        Installed(
            os=("rocky", "9.3"),
            packages=[
                ("glibc", "glibc", "2.34-83.el9_3.12"),
                ("glibc-common", "glibc", "0:2.34-100.el9_4.2"),
            ],
        )
    )
    assert {(m.component, m.cve) for m in rocky} == {
        ("glibc", c) for c in ("CVE-2024-2961", "CVE-2024-33599", "CVE-2024-33600")
    }
    alma = index.match(
        Installed(os=("almalinux", "9.4"), packages=[("glibc", None, "2.34-100.el9_4.2")])
    )
    assert _cves(alma) == {"CVE-2024-2961"}  # .alma.1 is newer than the upstream build
    rhel = index.match(
        Installed(os=("rhel", "9.4"), packages=[("nscd", "glibc", "2.34-100.el9_4.1")])
    )
    assert {(m.component, m.package) for m in rhel} == {("nscd", "nscd"), ("nscd", "glibc")}


def _apps(
    index: VulnIndex, *apps: tuple[str, str], platform: str | None = "windows"
) -> list[Match]:
    return index.match(Installed(applications=list(apps), platform=platform))


def test_nvd_end_excluding_and_names(index: VulnIndex) -> None:
    chrome = _apps(index, ("Google Chrome", "124.0.6367.91"))
    assert [(m.cve, m.package, m.fixed, m.cvss) for m in chrome] == [
        ("CVE-2024-4671", "google:chrome", "124.0.6367.201", 9.6)
    ]
    assert _apps(index, ("Google Chrome", "124.0.6367.201")) == []
    # Chrome for Android's CVE is not the Windows browser's; without a platform it counts
    assert _cves(_apps(index, ("Google Chrome", "119.0.1"), platform=None)) == {
        "CVE-2024-4671",
        "CVE-2024-0519",
    }
    assert _cves(_apps(index, ("Google Chrome", "119.0.1"))) == {"CVE-2024-4671"}
    assert _cves(_apps(index, ("WinRAR 6.22 (64-bit)", "6.22.0"))) == {"CVE-2023-40477"}
    assert _apps(index, ("WinRAR 6.24 (64-bit)", "6.24.0")) == []
    assert _cves(_apps(index, ("Cốc Cốc", "124.0.6367.180"))) == {"CVE-2024-9999"}


def test_nvd_start_bounds_and_end_including(index: VulnIndex) -> None:
    def seven(version: str) -> set[str]:
        return _cves(_apps(index, ("7-Zip 23.01 (x64)", version)))

    assert seven("9.20") == set()  # start excluding
    assert seven("23.01") == {"CVE-2024-11477"}
    assert seven("24.06") == {"CVE-2024-11477"}  # end including
    assert seven("24.07") == set()

    def esr(version: str) -> set[str]:
        return _cves(_apps(index, ("Mozilla Firefox ESR (x64 vi)", version)))

    assert esr("115.0") == {"CVE-2024-29944"}  # start including
    assert esr("102.15.1") == set()
    assert esr("115.9.1") == set()
    assert _cves(_apps(index, ("firefox-esr", "115.9.0esr-1~deb12u1"), platform="linux")) == {
        "CVE-2024-29944"
    }
    assert _cves(_apps(index, ("Mozilla Firefox (x64 en-US)", "124.0"))) == {"CVE-2024-29944"}
    assert _apps(index, ("Mozilla Firefox (x64 en-US)", "124.0.1")) == []


def test_nvd_exact_version_and_platform(index: VulnIndex) -> None:
    assert _cves(_apps(index, ("Adobe Acrobat Reader DC MUI", "23.003.20284"))) == {
        "CVE-2023-26369"
    }
    assert _apps(index, ("Adobe Acrobat Reader DC MUI", "23.003.20285")) == []
    assert _cves(_apps(index, ("AnyDesk", "8.0.9"))) == {"CVE-2024-12754"}  # target_sw windows
    assert _apps(index, ("AnyDesk", "8.0.9"), platform="linux") == []
    assert _cves(_apps(index, ("google:chrome", "100.0"))) == {"CVE-2024-4671"}
    assert _apps(index, ("Some Unknown Program", "1.0")) == []


def test_msrc_build_with_ubr(index: VulnIndex) -> None:
    def host(product: str, build: int, ubr: int) -> list[Match]:
        return index.match(Installed(windows=WindowsBuild(product, build, ubr)))

    w11 = "Windows 11 Version 23H2 for x64-based Systems"
    found = host(w11, 22631, 3296)
    assert {(m.cve, m.kb, m.fixed) for m in found} == {
        ("CVE-2024-26234", "KB5036893", "10.0.22631.3447"),
        ("CVE-2024-26237", "KB5036893", "10.0.22631.3447"),
    }
    assert host(w11, 22631, 3447) == []
    assert host(w11, 22631, 3527) == []
    assert host(w11, 22631, 3446) != []
    assert _cves(host("windows server 2022", 20348, 2340)) == {"CVE-2024-26234"}  # case, spaces
    assert host("Windows Server 2022", 20348, 2402) == []
    # 10.0 is the default major.minor: 2012 R2 (6.3) must say its own, or it reads as newer
    assert host("Windows Server 2012 R2", 9600, 21900) == []
    old = index.match(
        Installed(windows=WindowsBuild("Windows Server 2012 R2", 9600, 21900, major="6.3"))
    )
    assert _cves(old) == {"CVE-2024-26234"}
    assert host("Windows 7", 7601, 1) == []


def test_one_answer_per_component_and_cve(index: VulnIndex) -> None:
    found = _debian(
        index, ("libc6", "glibc", "2.36-9+deb12u4"), ("libc-bin", "glibc", "2.36-9+deb12u4")
    )
    keys = [(m.component, m.cve, m.dataset) for m in found]
    assert len(keys) == len(set(keys))
    assert {m.component for m in found} == {"libc6", "libc-bin"}


def test_index_is_dict_lookup(index: VulnIndex) -> None:
    assert index.lookup("debian:12", "glibc", "2.36-9+deb12u4")
    assert index.lookup("debian:12", "nothing", "1.0") == []
    assert index.lookup("nowhere", "glibc", "1.0") == []
    assert len(index) > 10 and index.skipped == 0


def test_names_table(tmp_path: Path) -> None:
    table = tmp_path / "apps.yml"
    table.write_text(
        "applications:\n  - cpes: [example:tool]\n    names: ['Example Tool', 'Exa*']\n    packages: [example-tool]\n"
    )
    names = Names(table)
    assert names.cpes("Example Tool 2.1 (x64)") == [("example:tool", False)]
    assert names.cpes("Exactly Something") == [("example:tool", False)]
    assert names.cpes("example-tool") == [("example:tool", True)]
    assert names.cpes("Other") == []
    index = VulnIndex()
    assert index.match(Installed(applications=[Application("Other", "1")])) == []
