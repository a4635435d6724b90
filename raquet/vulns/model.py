"""The one form every vulnerability data set is read into, and what matching answers.

A `Vulnerability` is one advisory or CVE record of one data set; each `Affected` names one
thing it affects in one *space* and the versions that are vulnerable there:

- space `debian:12`, `ubuntu:22.04`, `rocky:9`, `almalinux:9`, `rhel:9` — an OS package by
  name (the **source** package for Debian and Ubuntu data, the binary RPM for the RPM
  distributions), versions in that distribution's scheme (`dpkg` or `rpm`);
- space `cpe` — an application by CPE `vendor:product` (NVD), `dotted` versions;
- space `windows` — a Microsoft product by its MSRC name (`Windows Server 2022`), with
  the build that fixes it (`windows` versions) and the KB that brings the build.

Records are slotted frozen dataclasses, not pydantic models: an import of 300,000 CVEs
makes about a million of them, and they are built only by raquet's own parsers.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, NamedTuple

from raquet.vulns.versions import Scheme

Format = Literal["osv", "debian", "nvd", "msrc"]


class Range(NamedTuple):
    """Versions from `start` to `end`; a missing bound is open (every version below, above).

    OSV `introduced`/`fixed`/`last_affected` are (start, inclusive) / (end, exclusive) /
    (end, inclusive); NVD's versionStart/End Including/Excluding say it themselves.
    """

    start: str | None = None
    start_inclusive: bool = True
    end: str | None = None
    end_inclusive: bool = False


@dataclass(frozen=True, slots=True)
class Affected:
    """One package, application or product a vulnerability affects, and which versions.

    A version is vulnerable when it is in one of `ranges` or equal to one of `versions`.
    `fixed` is the first version that is not (what to upgrade to), when the data says one;
    `kb` the Microsoft update that brings it. `platform` is a CPE's target software
    (`android`, `iphone_os`) when it names one: such an entry is not a Windows program.
    """

    space: str
    package: str
    scheme: Scheme
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()
    fixed: str | None = None
    kb: str | None = None
    platform: str | None = None


@dataclass(frozen=True, slots=True)
class Vulnerability:
    """One record of one data set: its id (`DSA-5678-1`, `CVE-2024-3094`), the CVE ids it
    stands for, how severe it is, and what it affects.

    `severity` is the data set's own word (CRITICAL, HIGH, Important, a Debian urgency such
    as `low` or `unimportant`), or the CVSS v3 rating of `cvss` when it gives none.
    """

    id: str
    cves: tuple[str, ...]
    severity: str | None
    cvss: float | None
    dataset: str
    format: Format
    affected: tuple[Affected, ...]
    modified: str | None = None
    """The day the record was last changed (`YYYY-MM-DD`, UTC) when the data says it (OSV
    `modified`, NVD `lastModified`, MSRC's revision history; the Debian tracker has none):
    how old a data set is, told by its newest record (`record_day`)."""


def record_day(value: object) -> str | None:
    """An ISO 8601 date or time from a data set (`2024-05-08T00:00:00Z`, `2024-04-09T07:00:00`,
    `2024-05-08T12:31:05.123`) as the UTC day `YYYY-MM-DD`, interned (records share their
    days, so an index of 300,000 records holds a few thousand strings); None otherwise."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    if not 1990 <= moment.year <= 9999:
        return None
    return sys.intern(moment.date().isoformat())


@dataclass(frozen=True, slots=True)
class Package:
    """An installed OS package: binary name, version, and the source package it was built
    from (dpkg's `${source:Package}`; empty when it has the binary's name)."""

    name: str
    version: str
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Application:
    """An installed program: a Windows registry DisplayName ("Google Chrome", "7-Zip 23.01
    (x64)"), a Linux package name (`chromium`) or a CPE `vendor:product`, and its version."""

    name: str
    version: str


@dataclass(frozen=True, slots=True)
class WindowsBuild:
    """A Windows host as MSRC names it (`Windows 11 Version 23H2 for x64-based Systems`) and
    its build and update build revision: `10.0.{build}.{ubr}`."""

    product: str
    build: int | str
    ubr: int | str = 0
    major: str = "10.0"

    @property
    def version(self) -> str:
        return f"{self.major}.{self.build}.{self.ubr}"


@dataclass(frozen=True)
class Installed:
    """What one host has, as the sweep reads it.

    `os` is (os-release ID, VERSION_ID), e.g. ("debian", "12"), ("ubuntu", "22.04"),
    ("rocky", "9.3"); `packages` may be given as `Package`s or (binary, source, version)
    tuples; `applications` as `Application`s or (name, version) tuples. `platform`
    ("windows", "linux") drops CPE entries meant for another platform (Chrome for Android).
    """

    os: tuple[str, str] | None = None
    packages: Sequence[Package | tuple[str, str | None, str]] = ()
    applications: Sequence[Application | tuple[str, str]] = ()
    windows: WindowsBuild | None = None
    platform: str | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """One vulnerability of one installed component.

    `component` is what the host has (the binary package, the program's name, the Windows
    product), `package` what the data names (the source package, the CPE
    `vendor:product`, the MSRC product); `cve` a CVE id, or the record's own id when it
    lists none; `advisory` the record's id (`DSA-5678-1`).
    """

    component: str
    version: str
    cve: str
    severity: str | None
    cvss: float | None
    fixed: str | None
    dataset: str
    package: str
    advisory: str
    kb: str | None = None
    space: str = field(default="", compare=False)
