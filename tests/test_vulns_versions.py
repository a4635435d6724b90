"""Version order per package manager: known orderings, and the keys agree with univers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from univers.versions import DebianVersion, RpmVersion

from raquet.vulns.versions import compare, dpkg_key, rpm_key, upstream_version, version_key

DPKG_ORDER = [
    ("1.0~rc1", "1.0"),
    ("2.0", "1:0.9"),
    ("2.36-9+deb12u3", "2.36-9+deb12u4"),
    ("2.36-9+deb12u9", "2.36-9+deb12u10"),
    ("1.0~~", "1.0~"),
    ("1.0~", "1.0"),
    ("1.0", "1.0a"),
    ("1.0a", "1.0+"),
    ("1.0", "1.0.0"),
    ("3.0.11-1~deb12u2", "3.0.11-1"),
    ("3.0.11-1~deb12u2", "3.0.13-1~deb12u1"),
    ("2.35-0ubuntu3.6", "2.35-0ubuntu3.7"),
    ("2.27-3ubuntu1.6", "2.27-3ubuntu1.6+esm2"),
    ("1:1.2.11.dfsg-4", "1:1.2.13.dfsg-1"),
    ("9", "10"),
    ("1.2.3-1", "1.2.3-1build1"),
]
RPM_ORDER = [
    ("2.34-100.el9_4.1", "2.34-100.el9_4.2"),
    ("2.34-100.el9_4.2", "2.34-100.el9_4.2.alma.1"),
    ("1.0~rc1", "1.0"),
    ("1.0", "1.0^git1"),
    ("1.0^git1", "1.0.1"),
    ("1.1-1.el9", "1:1.0-1.el9"),
    ("1.0a", "1.0.1"),
    ("1.0", "1.0a"),
    ("5.14.0-362.8.1.el9_3", "5.14.0-362.13.1.el9_3"),
]
DOTTED_ORDER = [
    ("124.0.6367.91", "124.0.6367.201"),
    ("9.20", "23.01"),
    ("6.23", "6.24"),
    ("115.9.1", "115.10.0esr"),
    ("115.10.0", "115.10.0esr"),
    ("1.0.0-rc1", "1.0"),
    ("1.0beta2", "1.0"),
    ("1.1.1", "1.1.1w"),
    ("23.003.20284", "23.008.20470"),
]


@pytest.mark.parametrize(("older", "newer"), DPKG_ORDER)
def test_dpkg_order(older: str, newer: str) -> None:
    assert compare("dpkg", older, newer) == -1
    assert compare("dpkg", newer, older) == 1
    assert (DebianVersion(older) < DebianVersion(newer)) is True


@pytest.mark.parametrize(("older", "newer"), RPM_ORDER)
def test_rpm_order(older: str, newer: str) -> None:
    assert compare("rpm", older, newer) == -1
    assert compare("rpm", newer, older) == 1


@pytest.mark.parametrize(("older", "newer"), DOTTED_ORDER)
def test_dotted_order(older: str, newer: str) -> None:
    assert compare("dotted", older, newer) == -1


def test_equal_spellings() -> None:
    assert compare("dpkg", "1.0", "0:1.0-0") == 0
    assert compare("rpm", "0:2.34-100.el9_4.2", "2.34-100.el9_4.2") == 0
    assert compare("dotted", "1.0", "1") == 0
    assert compare("windows", "10.0.22631.3447", "10.0.22631.3447") == 0
    assert compare("windows", "10.0.22631.3446", "10.0.22631.3447") == -1
    assert compare("windows", "10.0.19045.9999", "10.0.22631.1") == -1


@pytest.mark.parametrize(
    ("scheme", "text"),
    [
        ("dpkg", ""),
        ("dpkg", "1 0"),
        ("dpkg", "a:1"),
        ("rpm", "1:2:3"),
        ("dotted", "abc"),
        ("windows", "10.0.x"),
        ("dpkg", "1" * 300),
    ],
)
def test_not_versions(scheme: str, text: str) -> None:
    with pytest.raises(ValueError):
        version_key(scheme, text)  # type: ignore[arg-type]


def test_upstream_version() -> None:
    assert upstream_version("1:124.0.6367.91-1~deb12u1") == "124.0.6367.91"
    assert upstream_version("115.10.0esr-1~deb12u1") == "115.10.0esr"
    assert upstream_version("23.01") == "23.01"


_DPKG_PART = st.text(alphabet="0123456789.+~abcz", min_size=1, max_size=8).filter(
    lambda s: s[0].isdigit()
)
_REVISION = st.text(alphabet="0123456789.+~abuz", min_size=1, max_size=6)


@st.composite
def _dpkg_versions(draw: st.DrawFn) -> str:
    epoch = draw(st.sampled_from(["", "1:", "2:"]))
    revision = draw(st.one_of(st.just(""), _REVISION.map(lambda r: f"-{r}")))
    return f"{epoch}{draw(_DPKG_PART)}{revision}"


@settings(max_examples=400, deadline=None)
@given(_dpkg_versions(), _dpkg_versions())
def test_dpkg_keys_agree_with_univers(left: str, right: str) -> None:
    a, b = DebianVersion(left), DebianVersion(right)
    expected = (a > b) - (a < b)
    assert (dpkg_key(left) > dpkg_key(right)) - (dpkg_key(left) < dpkg_key(right)) == expected


_RPM_PART = st.text(alphabet="0123456789.abz~^_", min_size=1, max_size=8).filter(
    lambda s: s[0].isalnum()
)


@st.composite
def _rpm_versions(draw: st.DrawFn) -> str:
    epoch = draw(st.sampled_from(["", "1:", "0:"]))
    release = draw(st.one_of(st.just(""), _RPM_PART.map(lambda r: f"-{r}")))
    return f"{epoch}{draw(_RPM_PART)}{release}"


@settings(max_examples=400, deadline=None)
@given(_rpm_versions(), _rpm_versions())
def test_rpm_keys_agree_with_univers(left: str, right: str) -> None:
    a, b = RpmVersion(left), RpmVersion(right)
    expected = (a > b) - (a < b)
    assert (rpm_key(left) > rpm_key(right)) - (rpm_key(left) < rpm_key(right)) == expected
