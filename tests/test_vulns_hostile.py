"""Hostile data sets: whatever JSON-ish value sits at the places the parsers read, they
return records and problems, never raise."""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raquet.errors import Problem
from raquet.vulns import Vulnerability, VulnIndex, read_vulns
from raquet.vulns.debian import parse_package
from raquet.vulns.msrc import parse_vulnerability
from raquet.vulns.nvd import parse_cve
from raquet.vulns.osv import parse_record

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(
        [
            "0",
            "1.0",
            "1:2.3-4",
            "~",
            "cpe:2.3:a:v:p:*:*:*:*:*:*:*:*",
            "CVE-2024-1234",
            "Debian:12",
            "ECOSYSTEM",
            "resolved",
            "open",
            "10.0.1.2",
            "",
            "-",
            "*",
        ]
    ),
)
JSONISH = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(value, JSONISH)


_EVENT = st.dictionaries(
    st.sampled_from(["introduced", "fixed", "last_affected", "limit"]),
    _maybe(st.sampled_from(["0", "1.2-3", "2:1~rc1", "x y"])),
    max_size=2,
)
_RANGE = st.fixed_dictionaries(
    {
        "type": _maybe(st.sampled_from(["ECOSYSTEM", "SEMVER", "GIT"])),
        "events": _maybe(st.lists(_maybe(_EVENT), max_size=4)),
    }
)
_AFFECTED = st.fixed_dictionaries(
    {
        "package": _maybe(
            st.fixed_dictionaries(
                {
                    "ecosystem": _maybe(
                        st.sampled_from(
                            [
                                "Debian:12",
                                "Ubuntu:22.04:LTS",
                                "Rocky Linux:9",
                                "Red Hat:enterprise_linux:9::baseos",
                                "PyPI",
                            ]
                        )
                    ),
                    "name": _maybe(st.just("glibc")),
                }
            )
        ),
        "ranges": _maybe(st.lists(_maybe(_RANGE), max_size=3)),
        "versions": _maybe(st.lists(_maybe(st.just("1.0-1")), max_size=3)),
        "severity": _maybe(
            st.lists(
                _maybe(
                    st.fixed_dictionaries(
                        {
                            "type": _maybe(st.just("CVSS_V3")),
                            "score": _maybe(st.just("CVSS:3.1/AV:N")),
                        }
                    )
                )
            )
        ),
        "database_specific": JSONISH,
        "ecosystem_specific": JSONISH,
    }
)
OSV = st.fixed_dictionaries(
    {
        "id": _maybe(st.just("DSA-1-1")),
        "aliases": _maybe(st.lists(_maybe(st.just("CVE-2024-1")))),
        "upstream": JSONISH,
        "related": JSONISH,
        "withdrawn": _maybe(st.none()),
        "affected": _maybe(st.lists(_maybe(_AFFECTED), max_size=3)),
        "severity": JSONISH,
    }
)
_RELEASE = st.fixed_dictionaries(
    {
        "status": _maybe(st.sampled_from(["open", "resolved", "undetermined"])),
        "fixed_version": _maybe(st.sampled_from(["0", "1.2-3", "bad version"])),
        "urgency": JSONISH,
    }
)
TRACKER_ISSUES = _maybe(
    st.dictionaries(
        _maybe(st.just("CVE-2024-1")).map(str),
        _maybe(
            st.fixed_dictionaries(
                {
                    "releases": _maybe(
                        st.dictionaries(
                            st.sampled_from(["bookworm", "sid", "x"]), _maybe(_RELEASE), max_size=3
                        )
                    )
                }
            )
        ),
        max_size=3,
    )
)
_CPE_MATCH = st.fixed_dictionaries(
    {
        "vulnerable": _maybe(st.just(True)),
        "criteria": _maybe(
            st.sampled_from(
                [
                    "cpe:2.3:a:google:chrome:*:*:*:*:*:*:*:*",
                    "cpe:2.3:a:v:p:1.0:*:*:*:*:*:*:*",
                    "cpe:2.3:a:v:p:1.0:u1:*:*:*:*:*:*",
                    "cpe:2.3:a",
                ]
            )
        ),
        "versionEndExcluding": _maybe(st.just("124.0")),
        "versionStartIncluding": _maybe(st.just("1")),
    }
)
NVD = st.fixed_dictionaries(
    {
        "cve": _maybe(
            st.fixed_dictionaries(
                {
                    "id": _maybe(st.just("CVE-2024-1")),
                    "vulnStatus": JSONISH,
                    "metrics": _maybe(
                        st.fixed_dictionaries(
                            {
                                "cvssMetricV31": _maybe(
                                    st.lists(
                                        _maybe(
                                            st.fixed_dictionaries(
                                                {
                                                    "type": JSONISH,
                                                    "cvssData": _maybe(
                                                        st.fixed_dictionaries(
                                                            {
                                                                "baseScore": JSONISH,
                                                                "baseSeverity": JSONISH,
                                                            }
                                                        )
                                                    ),
                                                }
                                            )
                                        )
                                    )
                                )
                            }
                        )
                    ),
                    "configurations": _maybe(
                        st.lists(
                            _maybe(
                                st.fixed_dictionaries(
                                    {
                                        "nodes": _maybe(
                                            st.lists(
                                                _maybe(
                                                    st.fixed_dictionaries(
                                                        {
                                                            "negate": JSONISH,
                                                            "cpeMatch": _maybe(
                                                                st.lists(
                                                                    _maybe(_CPE_MATCH), max_size=3
                                                                )
                                                            ),
                                                        }
                                                    )
                                                )
                                            )
                                        )
                                    }
                                )
                            )
                        )
                    ),
                }
            )
        )
    }
)
_IDS = _maybe(st.lists(_maybe(st.sampled_from(["1", "2", 3])), max_size=3))
MSRC = st.fixed_dictionaries(
    {
        "CVE": _maybe(st.just("CVE-2024-1")),
        "Threats": _maybe(
            st.lists(
                _maybe(
                    st.fixed_dictionaries(
                        {
                            "Type": _maybe(st.just(3)),
                            "Description": _maybe(st.fixed_dictionaries({"Value": JSONISH})),
                            "ProductID": _IDS,
                        }
                    )
                )
            )
        ),
        "CVSSScoreSets": _maybe(
            st.lists(_maybe(st.fixed_dictionaries({"BaseScore": JSONISH, "ProductID": _IDS})))
        ),
        "Remediations": _maybe(
            st.lists(
                _maybe(
                    st.fixed_dictionaries(
                        {
                            "Type": _maybe(st.just(2)),
                            "FixedBuild": _maybe(st.sampled_from(["10.0.1.2", "x"])),
                            "Description": JSONISH,
                            "ProductID": _IDS,
                        }
                    )
                )
            )
        ),
    }
)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _only_items(found: list[Any]) -> None:
    index = VulnIndex()
    for item in found:
        assert isinstance(item, Vulnerability | Problem)
        if isinstance(item, Vulnerability):
            index.add(item)
    assert index.skipped == 0  # what a parser yields, the index can key


@FAST
@given(OSV | JSONISH)
def test_osv_never_raises(record: Any) -> None:
    _only_items(list(parse_record(record, file="f", pointer="", dataset="d")))


@FAST
@given(_maybe(st.just("glibc")), TRACKER_ISSUES)
def test_tracker_never_raises(package: Any, issues: Any) -> None:
    _only_items(list(parse_package(package, issues, file="f", pointer="/p", dataset="d")))


@FAST
@given(NVD | JSONISH)
def test_nvd_never_raises(entry: Any) -> None:
    _only_items(list(parse_cve(entry, file="f", pointer="/vulnerabilities/0", dataset="d")))


@FAST
@given(MSRC | JSONISH)
def test_msrc_never_raises(entry: Any) -> None:
    _only_items(
        list(
            parse_vulnerability(
                entry,
                {"1": "Windows Server 2022", "2": "x"},
                file="f",
                pointer="/Vulnerability/0",
                dataset="d",
            )
        )
    )


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.sampled_from(["osv", "debian", "nvd", "msrc", "auto"]),
    JSONISH,
    st.binary(max_size=40),
    st.booleans(),
)
def test_whole_files_never_raise(fmt: str, document: Any, noise: bytes, as_zip: bool) -> None:
    """Whole documents, as JSON with random bytes appended or as a zip member."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.json"
        raw = json.dumps(document).encode() + noise
        if as_zip:
            path = Path(folder) / "all.zip"
            with zipfile.ZipFile(path, "w") as out:
                out.writestr("x.json", raw)
        else:
            path.write_bytes(raw)
        _only_items(list(read_vulns(path, fmt)))  # type: ignore[arg-type]


def test_huge_numbers_and_deep_nesting(tmp_path: Path) -> None:
    for fmt, text in [
        (
            "nvd",
            '{"vulnerabilities": [{"cve": {"id": "CVE-2024-1", "metrics": ' + "9" * 5000 + "}}]}",
        ),
        ("debian", '{"glibc": ' + "[" * 50_000 + "]" * 50_000 + "}"),
        ("msrc", '{"Vulnerability": [' + "{" * 10 + "]}"),
        ("nvd", '{"vulnerabilities": [{"cve": ' + '{"a":' * 20_000 + "1" + "}" * 20_000 + "}]}"),
    ]:
        path = tmp_path / f"{fmt}.json"
        path.write_text(text)
        found = list(read_vulns(path, fmt))  # type: ignore[arg-type]
        assert found and all(isinstance(item, Problem | Vulnerability) for item in found)
