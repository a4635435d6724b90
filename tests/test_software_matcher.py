"""The software denylist compiled once per policy (`raquet.policy.Denylist`, `GlobSet`) gives
exactly the verdicts of the rules weighed one by one (`SoftwareRule.matches`, `fnmatchcase`),
whatever the rules and package names hold: regex metacharacters, brackets, ranges, case
that `str.lower` changes in length (İ) or maps across scripts (the Kelvin sign)."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks import registry
from checks.base import Context, HostFacts, Sections
from raquet.models import Host
from raquet.policy import (
    ALL_OS,
    DEFAULT_DENYLIST,
    Denylist,
    Flavour,
    GlobSet,
    Policy,
    SoftwareRule,
)

MANY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ALPHABET = "abkxyzABKXYZ019 -_.*?[]!^$+()|{}\\/:~\u0130\u0131\u212aßé\t"  # dotted I, dotless i, Kelvin sign
TEXT = st.text(ALPHABET, max_size=10)
VERSIONS = ["6.21", "3.0.9-1~deb12u1", "1:3.0.7-28.el9_4", "5.1.8-9.el9", "10.0.1", "~~", ""]
RANGES = [None, None, "<6.22", ">=1.0,<2.0", "<3.0.11", ">=1:1.0,<1:3.0.8", ">=10"]
FLAVOURS: dict[str, list[Flavour]] = {"linux": ["deb", "rpm"], "windows": ["windows"]}


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


REGEX = st.one_of(
    TEXT.filter(_compiles),
    st.lists(
        st.sampled_from(["^", "$", "a", "K", "x+", "(ab)", r"\d", "[a-c]", "(?:k)", "|", "."]),
        max_size=5,
    )
    .map("".join)
    .filter(_compiles),
)


@st.composite
def rules(draw: st.DrawFn) -> SoftwareRule:
    regex = draw(st.integers(0, 3)) == 0  # globs mostly, as policies write them
    matcher = {"regex": draw(REGEX)} if regex else {"name": draw(TEXT)}
    return SoftwareRule(
        reason="r",
        versions=draw(st.sampled_from(RANGES)),
        os=draw(st.sampled_from([["linux"], ["windows"], list(ALL_OS)])),
        **matcher,
    )


@st.composite
def names_for(draw: st.DrawFn, globs: list[str]) -> str:
    """A package name: random, or one of the globs with its wildcards filled and case changed,
    so that rules are hit often and not just missed."""
    if not globs or draw(st.booleans()):
        return draw(TEXT)
    glob = draw(st.sampled_from(globs))
    filled = "".join(
        draw(TEXT) if c == "*" else draw(st.sampled_from("aK.")) if c == "?" else c for c in glob
    )
    return "".join(c.swapcase() if draw(st.booleans()) else c for c in filled)


def naive(rules: list[SoftwareRule], os: str, package: str, version: str, flavour: Flavour) -> Any:
    return next(
        (r for r in rules if os in r.os and r.matches(package, version, flavour)),
        None,
    )


@MANY
@given(st.data(), st.lists(rules(), max_size=8))
def test_compiled_denylist_is_the_rules_one_by_one(
    data: st.DataObject, listed: list[SoftwareRule]
) -> None:
    globs = [r.name or "" for r in listed if r.name is not None] + [
        re.sub(r"[^a-zA-Z]", "", r.regex or "") for r in listed if r.regex is not None
    ]
    for os in ALL_OS:
        compiled = Denylist(listed, os)
        flavour = data.draw(st.sampled_from(FLAVOURS[os]))
        packages = [
            (data.draw(names_for(globs)), data.draw(st.sampled_from(VERSIONS))) for _ in range(10)
        ]
        for package, version in packages:
            assert compiled.first(package, version, flavour) is naive(
                listed, os, package, version, flavour
            ), (package, version, flavour)
        expected = [(p, naive(listed, os, *p, flavour)) for p in packages]
        assert compiled.banned(packages, flavour) == [(p, r) for p, r in expected if r is not None]


@MANY
@given(st.data(), st.lists(TEXT, max_size=8))
def test_globset_is_any_fnmatchcase(data: st.DataObject, globs: list[str]) -> None:
    matcher = GlobSet(globs)
    for _ in range(8):
        name = data.draw(names_for(globs))
        expected = any(fnmatchcase(name.lower(), g.lower()) for g in globs)
        assert matcher(name) is expected, name


@pytest.mark.parametrize(
    ("globs", "name", "expected"),
    [
        ([], "anything", False),
        ([""], "", True),
        (["[!a]x"], "bx", True),
        (["[z-a]x"], "zx", False),
        (["[abc"], "[abc", True),
        (["a.b"], "axb", False),
        (["*kms activator*"], "KMS Activator Ultimate", True),
        (["\u212a*"], "kelvin", True),  # the Kelvin sign lowers to k, on both sides
        (["i\u0307*"], "\u0130stanbul", True),  # İ lowers to i + combining dot
        (["(a|b)"], "a", False),
    ],
)
def test_globset_cases(globs: list[str], name: str, expected: bool) -> None:
    assert GlobSet(globs)(name) is expected
    assert any(fnmatchcase(name.lower(), g.lower()) for g in globs) is expected


@pytest.mark.parametrize(
    ("rule", "package", "expected"),
    [
        ({"regex": "^XMR"}, "xmrig", True),
        ({"regex": "kms"}, "AutoKMS", True),
        ({"regex": "(a)\\1"}, "xAAy", True),  # its own group numbers, not shifted by others
        ({"regex": "^bash$"}, "bash2", False),
        ({"name": "T-Rex*"}, "t-rex-miner", True),
        ({"name": "t-rex*"}, "trex", False),
    ],
)
def test_rule_kinds_and_case(rule: dict[str, str], package: str, expected: bool) -> None:
    listed = [SoftwareRule(reason="other", name="(a)"), SoftwareRule(reason="r", **rule)]
    found = Denylist(listed, "linux").first(package, "1", "deb")
    assert found is (listed[1] if expected else None)
    assert naive(listed, "linux", package, "1", "deb") is found


def test_empty_regex_and_empty_name_rules_count() -> None:
    """Empty patterns are rules too: an empty regex matches every name, an empty glob the empty one."""
    listed = [SoftwareRule(reason="r", name=""), SoftwareRule(reason="r", regex="")]
    compiled = Denylist(listed, "linux")
    assert compiled.first("", "1", "deb") is listed[0]
    assert compiled.first("bash", "1", "deb") is listed[1]


def test_default_denylist_each_os() -> None:
    policy = Policy()
    for os in ALL_OS:
        for flavour in FLAVOURS[os]:
            for package in ("xmrig-cuda", "libxmrig", "bash", "UTorrent Web", "ammyy-admin"):
                assert policy.software.denylists[os].first(package, "1", flavour) is naive(
                    DEFAULT_DENYLIST, os, package, "1", flavour
                )


def test_compiled_once_per_policy() -> None:
    """The matcher belongs to the policy: built at its first use, then the same object for
    every host of the sweep; a policy read back equal compares equal whatever it cached."""
    policy = Policy()
    first = policy.software.denylists
    host = Host(name="h", address="192.0.2.1")
    sections = Sections(
        {"software.dpkg": "xmrig\t6.21\nbash\t5.2", "software.__exit": "0", "host.clock": "0 +0000"}
    )
    check = registry()["software"]
    for _ in range(3):
        finding = check.judge(sections, host, HostFacts.parse(sections), Context(policy)).finding
        assert [b["name"] for b in finding.evidence["banned"]] == ["xmrig"]
    assert policy.software.denylists is first
    assert Policy.model_validate(policy.model_dump(mode="json")) == policy


def test_flavours_cover_the_os_names() -> None:
    assert set(FLAVOURS) == set(ALL_OS)
    assert {f for fl in FLAVOURS.values() for f in fl} == set(get_args(Flavour))
