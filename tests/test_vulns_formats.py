"""Each data set format: fixtures in the real shapes -> the expected records, and every
malformed part reported with its file and JSON pointer and skipped."""

from __future__ import annotations

import gzip
import shutil
import zipfile
from pathlib import Path

import pytest

from raquet.errors import Problem
from raquet.vulns import Affected, Range, Vulnerability, detect, read_vulns

FIXTURES = Path(__file__).parent / "fixtures" / "vulns"


def _read(path: Path, fmt: str = "auto") -> tuple[dict[str, Vulnerability], list[Problem]]:
    records: dict[str, Vulnerability] = {}
    problems: list[Problem] = []
    for item in read_vulns(path, fmt):  # type: ignore[arg-type]
        if isinstance(item, Problem):
            problems.append(item)
        else:
            records[item.id] = item
    return records, problems


def _where(problems: list[Problem]) -> list[tuple[str, str]]:
    return [(Path(p.file.split("!")[-1]).name, p.field) for p in problems]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("osv", "osv"),
        ("debian-tracker.json", "debian"),
        ("nvd-2.0.json", "nvd"),
        ("msrc-2024-Apr.json", "msrc"),
        ("osv/DSA-5678-1.json", "osv"),
    ],
)
def test_detect(name: str, fmt: str) -> None:
    assert detect(FIXTURES / name) == fmt


def test_osv_directory() -> None:
    records, problems = _read(FIXTURES / "osv")
    assert problems == []
    # the Maven record and the withdrawn one are not for raquet's distributions
    assert set(records) == {
        "DSA-5678-1",
        "DEBIAN-CVE-2023-5678",
        "UBUNTU-CVE-2024-2961",
        "RLSA-2024:2722",
        "ALSA-2024:2722",
        "RHSA-2024:2722",
    }
    dsa = records["DSA-5678-1"]
    assert dsa.cves == ("CVE-2024-33599", "CVE-2024-33600", "CVE-2024-33601", "CVE-2024-33602")
    assert dsa.affected[0] == Affected(
        space="debian:12",
        package="glibc",
        scheme="dpkg",
        ranges=(Range(None, True, "2.36-9+deb12u7", False),),
        fixed="2.36-9+deb12u7",
    )
    assert [a.space for a in dsa.affected] == ["debian:12", "debian:11"]
    assert dsa.dataset == "osv" and dsa.format == "osv"

    openssl = records["DEBIAN-CVE-2023-5678"]
    assert openssl.severity == "low"  # Debian's urgency, not the CVSS rating
    assert openssl.cvss == 5.3  # scored from the vector
    first, bullseye, trixie = openssl.affected  # the bare "Debian" ecosystem is skipped
    assert first.ranges == (Range("3.0.9-1", True, "3.0.13-1~deb12u1", False),)
    assert first.versions == ("3.0.8-1",)  # the listed versions the range does not cover
    assert (
        bullseye.ranges == (Range(None, True, "1.1.1w-0+deb11u1", True),) and bullseye.fixed is None
    )
    assert trixie.space == "debian:13"

    ubuntu = records["UBUNTU-CVE-2024-2961"]
    assert ubuntu.cves == ("CVE-2024-2961",) and ubuntu.severity == "medium" and ubuntu.cvss == 8.1
    assert [a.space for a in ubuntu.affected] == ["ubuntu:22.04", "ubuntu:18.04"]

    assert [(a.space, a.package, a.scheme) for a in records["RLSA-2024:2722"].affected] == [
        ("rocky:9", "glibc", "rpm"),
        ("rocky:9", "glibc-common", "rpm"),
    ]
    assert records["RLSA-2024:2722"].severity == "Important"
    assert records["ALSA-2024:2722"].affected[0].space == "almalinux:9"
    rhsa = records["RHSA-2024:2722"]
    assert rhsa.cves == ("CVE-2024-2961", "CVE-2024-33599")  # from `related`
    assert [(a.space, a.package) for a in rhsa.affected] == [
        ("rhel:9", "glibc"),
        ("rhel:9", "nscd"),
    ]


def test_osv_zip_and_single_file(tmp_path: Path) -> None:
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for file in sorted((FIXTURES / "osv").glob("*.json")) + sorted(
            (FIXTURES / "osv-bad").glob("*.json")
        ):
            out.write(file, file.name)
        out.writestr("README.txt", "not read")
    records, problems = _read(archive)
    direct, _ = _read(FIXTURES / "osv")
    assert set(direct) <= set(records)
    assert all(r.dataset == "all.zip" for r in records.values())
    assert {p.file.split("!")[0] for p in problems} == {str(archive)}
    assert ("bad-parts.json", "/affected/0") in _where(problems)

    one, problems = _read(FIXTURES / "osv" / "DSA-5678-1.json")
    assert list(one) == ["DSA-5678-1"] and problems == []


def test_osv_malformed_records_are_reported_and_skipped() -> None:
    records, problems = _read(FIXTURES / "osv-bad")
    assert set(records) == {"DSA-5000-1"}
    assert [a.package for a in records["DSA-5000-1"].affected] == ["zlib"]
    assert _where(problems) == [
        ("bad-parts.json", "/affected/0"),
        ("bad-parts.json", "/affected/1/package"),
        ("bad-parts.json", "/affected/2/ranges/0/events/1/fixed"),
        ("bad-parts.json", "/affected/3/ranges/0/events/0"),
        ("bad-parts.json", "/affected/4/versions/1"),
        ("garbage.json", ""),
        ("no-id.json", "/id"),
        ("truncated.json", ""),
    ]
    assert all("invalid JSON" in p.message for p in problems if p.field == "")


def test_osv_too_deep_and_too_big(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"id": "X-1", "affected": ' + "[" * 100_000 + "]" * 100_000 + "}")
    records, problems = _read(deep, "osv")
    assert records == {} and "nested more than" in problems[0].message
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("big.json", b" " * (33 << 20))
    records, problems = _read(archive)
    assert records == {} and "larger than a record" in problems[0].message


def test_debian_tracker() -> None:
    records, problems = _read(FIXTURES / "debian-tracker.json")
    assert set(records) == {
        "CVE-2024-2961",
        "CVE-2010-4756",
        "CVE-2019-1010022",
        "CVE-2023-5678",
        "TEMP-0000000-F7A20F",
    }
    resolved = records["CVE-2024-2961"]
    assert [(a.space, a.package, a.ranges, a.fixed) for a in resolved.affected] == [
        ("debian:12", "glibc", (Range(end="2.36-9+deb12u6"),), "2.36-9+deb12u6"),
        ("debian:11", "glibc", (Range(end="2.31-13+deb11u9"),), "2.31-13+deb11u9"),
    ]  # sid is no release a host reports
    open_ = records["CVE-2010-4756"]
    assert open_.affected[0].ranges == (Range(),) and open_.affected[0].fixed is None
    assert open_.severity == "unimportant" and open_.format == "debian"
    # fixed_version "0": buster never had it; only bookworm is left
    assert [a.space for a in records["CVE-2023-5678"].affected] == ["debian:12"]
    assert records["TEMP-0000000-F7A20F"].cves == ()
    assert "CVE-2024-26581" not in records  # undetermined
    assert _where(problems) == [
        ("debian-tracker.json", "/brokenpkg"),
        ("debian-tracker.json", "/curl/CVE-2024-2398/releases/bookworm/fixed_version"),
        ("debian-tracker.json", "/curl/CVE-2024-2398/releases/bullseye/status"),
        ("debian-tracker.json", "/curl/not an id!"),
        ("debian-tracker.json", "/curl/CVE-2024-2004/releases"),
    ]


def test_nvd(tmp_path: Path) -> None:
    records, problems = _read(FIXTURES / "nvd-2.0.json")
    assert set(records) == {
        "CVE-2024-4671",
        "CVE-2024-0519",
        "CVE-2023-40477",
        "CVE-2024-29944",
        "CVE-2024-11477",
        "CVE-2023-26369",
        "CVE-2024-12754",
        "CVE-2024-9999",
    }
    chrome = records["CVE-2024-4671"]
    assert chrome.cvss == 9.6 and chrome.severity == "CRITICAL"  # the Primary metric, not the CNA's
    # the AND configuration keeps its vulnerable entry, not the windows/linux platforms
    assert chrome.affected == (
        Affected(
            space="cpe",
            package="google:chrome",
            scheme="dotted",
            ranges=(Range(end="124.0.6367.201"),),
            fixed="124.0.6367.201",
        ),
    )
    assert records["CVE-2024-0519"].affected[0].platform == "android"
    firefox = records["CVE-2024-29944"].affected
    assert [a.package for a in firefox] == ["mozilla:firefox", "mozilla:firefox_esr"]
    assert firefox[1].ranges == (Range("115.0", True, "115.9.1", False),)
    assert records["CVE-2024-11477"].affected[0].ranges == (Range("9.20", False, "24.06", True),)
    adobe = records["CVE-2023-26369"].affected
    assert [(a.package, a.versions, a.ranges) for a in adobe] == [
        ("adobe:acrobat_reader_dc", ("23.003.20284",), ())
    ]
    assert records["CVE-2024-12754"].severity == "MEDIUM" and records["CVE-2024-12754"].cvss == 4.6
    assert "CVE-2024-0001" not in records  # rejected
    assert _where(problems) == [
        ("nvd-2.0.json", "/vulnerabilities/8/cve/configurations/0/nodes/0/cpeMatch/0/criteria"),
        (
            "nvd-2.0.json",
            "/vulnerabilities/8/cve/configurations/0/nodes/0/cpeMatch/1/versionEndExcluding",
        ),
        ("nvd-2.0.json", "/vulnerabilities/9/cve/id"),
        ("nvd-2.0.json", "/vulnerabilities/10/cve"),
    ]
    packed = tmp_path / "nvdcve-2.0-2024.json.gz"
    with (FIXTURES / "nvd-2.0.json").open("rb") as raw, gzip.open(packed, "wb") as out:
        shutil.copyfileobj(raw, out)
    again, _ = _read(packed)
    assert set(again) == set(records) and again["CVE-2024-4671"].dataset == packed.name


def test_nvd_truncated(tmp_path: Path) -> None:
    text = (FIXTURES / "nvd-2.0.json").read_text()
    cut = tmp_path / "cut.json"
    cut.write_text(text[: text.index('"CVE-2024-29944"')])
    records, problems = _read(cut, "nvd")
    assert set(records) == {"CVE-2024-4671", "CVE-2024-0519", "CVE-2023-40477"}
    assert len(problems) == 1 and "invalid JSON after /vulnerabilities/2" in problems[0].message


def test_msrc() -> None:
    records, problems = _read(FIXTURES / "msrc-2024-Apr.json")
    assert set(records) == {"CVE-2024-26234", "CVE-2024-3159", "CVE-2024-26237"}
    proxy = records["CVE-2024-26234"]
    assert proxy.severity == "Important" and proxy.cvss == 6.7
    by_product = {a.package: (a.fixed, a.kb) for a in proxy.affected}
    assert by_product == {
        "Windows Server 2022": ("10.0.20348.2402", "KB5036909"),
        "Windows Server 2022 (Server Core installation)": ("10.0.20348.2402", "KB5036909"),
        "Windows 11 Version 23H2 for x64-based Systems": ("10.0.22631.3447", "KB5036893"),
        "Windows 10 Version 22H2 for x64-based Systems": ("10.0.19045.4291", "KB5036892"),
        "Windows Server 2012 R2": ("6.3.9600.21924", "KB5036960"),
    }
    assert records["CVE-2024-3159"].affected[0].kb is None  # "Release Notes" is no KB
    assert _where(problems) == [
        ("msrc-2024-Apr.json", "/ProductTree/FullProductName/6"),
        ("msrc-2024-Apr.json", "/Vulnerability/2/Remediations/0/ProductID/1"),
        ("msrc-2024-Apr.json", "/Vulnerability/2/Remediations/1/FixedBuild"),
        ("msrc-2024-Apr.json", "/Vulnerability/3/CVE"),
    ]


def test_unreadable_inputs(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    assert isinstance(detect(empty), Problem)
    assert isinstance(detect(tmp_path / "missing.json"), Problem)
    number = tmp_path / "number.json"
    number.write_text("12")
    assert isinstance(detect(number), Problem)
    broken_zip = tmp_path / "broken.zip"
    broken_zip.write_bytes(b"PK\x03\x04garbage")
    records, problems = _read(broken_zip)
    assert records == {} and "not a readable zip" in problems[0].message
