"""Version order the way each package manager orders, as sortable keys.

The index compares an installed version with thousands of range bounds, so versions are
turned once into plain tuples that Python compares in C, and bounds are kept sorted for
`bisect`. `univers` (the reference these keys are tested against, in
tests/test_vulns_versions.py) compares its objects in Python at about 24 µs a comparison:
fine for one answer, a minute for a fleet.

Schemes:
- `dpkg`: Debian and Ubuntu, `[epoch:]upstream[-revision]`, compared as `dpkg
  --compare-versions` does (`verrevcmp`: non-digit runs character by character with `~`
  before the end and letters before other characters, digit runs as numbers).
- `rpm`: Red Hat, Rocky, AlmaLinux, `[epoch:]version[-release]` by `rpmvercmp`
  (alphanumeric segments, numbers newer than letters, `~` older than the end, `^` newer
  than the end but older than any further segment).
- `dotted`: applications (Chrome 124.0.6367.91, 7-Zip 23.01): numbers compared as numbers,
  trailing zeros of the leading numeric run do not count (`1.0` = `1`), pre-release words
  (alpha, beta, rc, pre, preview, dev, snapshot) sort before the release, other letters
  after it (`1.1.1w` > `1.1.1`), as OpenSSL and Firefox ESR (`115.10.0esr`) use them.
- `windows`: `major.minor.build.revision` (10.0.22631.3447), four numbers.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Literal

Scheme = Literal["dpkg", "rpm", "dotted", "windows"]
Key = tuple[Any, ...]

MAX_VERSION = 256
"""Longest version string read; package versions are well under 100 characters."""

_DPKG_EPOCH = re.compile(r"(\d{1,10}):(.*)", re.DOTALL)
_DPKG_ALLOWED = re.compile(r"[A-Za-z0-9.+~:\-]+")
_DPKG_RUN = re.compile(r"(\D*)(\d*)")
_RPM_ALLOWED = re.compile(r"[\x21-\x7e]+")
_RPM_SEGMENT = re.compile(r"~|\^|[0-9]+|[A-Za-z]+")
_DOTTED_ALLOWED = re.compile(r"[A-Za-z0-9.+~_\-]+")
_DOTTED_TOKEN = re.compile(r"[0-9]+|[a-z]+")
_PRE_RELEASE = frozenset(("alpha", "beta", "rc", "pre", "preview", "dev", "snapshot", "nightly"))
_WINDOWS = re.compile(r"\d{1,9}(?:\.\d{1,9}){1,3}")


def _checked(text: object, allowed: re.Pattern[str]) -> str:
    if not isinstance(text, str):
        raise ValueError(f"a version must be text, not {type(text).__name__}")
    if not text or len(text) > MAX_VERSION:
        raise ValueError("an empty version" if not text else f"a version of {len(text)} characters")
    if allowed.fullmatch(text) is None:
        raise ValueError(f"{text[:40]!r} is not a version")
    return text


def _dpkg_part(text: str) -> Key:
    """`verrevcmp` order as a flat tuple: per run of non-digits then digits, the weights of
    its characters (`~` -1, letters their code, others their code + 256), a 0 that ends
    them, then the run's number; and a final 0 that stands for the end of the string.

    Every run after the first starts with a non-digit, so where one version has ended the
    other's next element is a non-zero weight: the final 0 then sorts after `~` and before
    anything else, as dpkg's end of string does. An empty part is dpkg's "0"."""
    out: list[int] = []
    for letters, digits in _DPKG_RUN.findall(text or "0"):
        if not letters and not digits:
            continue
        for char in letters:
            out.append(-1 if char == "~" else ord(char) if char.isalpha() else ord(char) + 256)
        out.append(0)
        out.append(int(digits) if digits else 0)
    out.append(0)
    return tuple(out)


@lru_cache(maxsize=1 << 18)
def dpkg_key(version: str) -> Key:
    """The sort key of a Debian version; ValueError for text that is not one."""
    text = _checked(version, _DPKG_ALLOWED)
    epoch = 0
    found = _DPKG_EPOCH.fullmatch(text)
    if found:
        epoch, text = int(found[1]), found[2]
    upstream, _, revision = text.rpartition("-") if "-" in text else (text, "", "")
    if not upstream or ":" in upstream or ":" in revision:
        raise ValueError(f"{version[:40]!r} is not a Debian version")
    return (epoch, _dpkg_part(upstream), _dpkg_part(revision))


def _rpm_part(text: str) -> Key:
    out: list[tuple[int, Any]] = []
    for segment in _RPM_SEGMENT.findall(text):
        if segment == "~":
            out.append((0, 0))
        elif segment == "^":
            out.append((2, 0))
        elif segment.isdigit():
            out.append((4, int(segment)))
        else:
            out.append((3, segment))
    out.append((1, 0))
    return tuple(out)


@lru_cache(maxsize=1 << 18)
def rpm_key(version: str) -> Key:
    """The sort key of an RPM `[epoch:]version[-release]`; ValueError for text that is not one.
    A missing epoch is 0 (`0:1.2-3` = `1.2-3`)."""
    text = _checked(version, _RPM_ALLOWED)
    epoch = 0
    head, colon, rest = text.partition(":")
    if colon:
        if not head.isdigit() or len(head) > 10 or ":" in rest:
            raise ValueError(f"{version[:40]!r} is not an RPM version")
        epoch, text = int(head), rest
    ver, _, release = text.rpartition("-") if "-" in text else (text, "", "")
    if not ver:
        raise ValueError(f"{version[:40]!r} is not an RPM version")
    return (epoch, _rpm_part(ver), _rpm_part(release))


@lru_cache(maxsize=1 << 18)
def dotted_key(version: str) -> Key:
    """The sort key of an application's version (see the module's `dotted`)."""
    text = _checked(version.strip(), _DOTTED_ALLOWED).lower()
    if text[0] == "v" and len(text) > 1 and text[1].isdigit():
        text = text[1:]
    tokens = _DOTTED_TOKEN.findall(text)
    if not tokens or not tokens[0].isdigit():
        raise ValueError(f"{version[:40]!r} is not a version")
    lead = 0
    while lead < len(tokens) and tokens[lead].isdigit():
        lead += 1
    numbers = [int(token) for token in tokens[:lead]]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    out: list[tuple[int, Any]] = [(4, number) for number in numbers]
    for token in tokens[lead:]:
        if token.isdigit():
            out.append((4, int(token)))
        else:
            out.append((0 if token in _PRE_RELEASE else 3, token))
    out.append((1, ""))
    return tuple(out)


@lru_cache(maxsize=1 << 18)
def windows_key(version: str) -> Key:
    """`10.0.22631.3447` as four numbers (missing ones are 0)."""
    text = _checked(version.strip(), _WINDOWS)
    numbers = [int(part) for part in text.split(".")]
    return tuple(numbers + [0] * (4 - len(numbers)))


KEYS = {"dpkg": dpkg_key, "rpm": rpm_key, "dotted": dotted_key, "windows": windows_key}


def version_key(scheme: Scheme, version: str) -> Key:
    """The sort key of `version` in `scheme`; ValueError when it is not a version there."""
    return KEYS[scheme](version)


def compare(scheme: Scheme, left: str, right: str) -> int:
    """-1, 0 or 1 as `left` is older than, the same as or newer than `right`."""
    a, b = version_key(scheme, left), version_key(scheme, right)
    return (a > b) - (a < b)


def upstream_version(version: str) -> str:
    """A distribution package's version as its application says it: without the epoch
    (`1:`) and the packaging revision (`-1~deb12u1`), e.g. for matching `chromium` by CPE."""
    text = version.strip()
    head, colon, rest = text.partition(":")
    if colon and head.isdigit():
        text = rest
    return text.rpartition("-")[0] if "-" in text else text
