"""The Debian security tracker's JSON export (security-tracker.debian.org/tracker/data/json).

Shape: `{source package: {CVE id: {"description", "scope", "debianbug", "releases":
{codename: {"status", "fixed_version", "urgency", "repositories": {suite: version},
"nodsa", ...}}}}}`: tens of MiB, streamed one source package at a time.

Per (CVE, release), in space `debian:<number>` (bookworm -> `debian:12`; sid and codenames
raquet does not know are skipped):
- `resolved` with a `fixed_version`: versions below it are vulnerable; a fixed version of
  `0` means the release never had the flaw (nothing kept);
- `open`: every version is vulnerable (no fix yet), whatever `fixed_version` says;
- `undetermined`: skipped — the tracker does not yet know whether the release is affected,
  and a sweep that called it vulnerable would be guessing.
The urgency (`low`, `medium`, `high`, `unimportant`, `not yet assigned`, `end-of-life`) is
the severity; the tracker has no CVSS. Ids that are not CVEs (`TEMP-0000000-6A2E8C`)
are kept as the record's id with no CVE. One `Vulnerability` is made per (package, CVE),
listing each affected release.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from raquet.errors import Problem
from raquet.vulns.model import Affected, Range, Vulnerability
from raquet.vulns.source import escape, mapping, open_json, stream, text
from raquet.vulns.versions import version_key

Item = Vulnerability | Problem
RELEASES = {
    "buster": "10",
    "bullseye": "11",
    "bookworm": "12",
    "trixie": "13",
    "forky": "14",
    "duke": "15",
    "stretch": "9",
    "jessie": "8",
}
"""Debian codenames -> release numbers (the VERSION_ID of /etc/os-release)."""
_CVE = re.compile(r"CVE-\d{4}-\d{4,}")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+\-]{0,80}")


def read_debian_tracker(path: Path, *, dataset: str | None = None) -> Iterator[Item]:
    """Every (package, CVE) of a tracker export affecting a known release, and problems."""
    name = dataset or path.name
    try:
        with open_json(path) as handle:
            for found in stream(handle, "", str(path), "", pairs=True):
                if isinstance(found, Problem):
                    yield found
                    continue
                pointer, (package, issues) = found
                yield from parse_package(
                    package, issues, file=str(path), pointer=pointer, dataset=name
                )
    except OSError as err:
        yield Problem(str(path), None, "", f"cannot read: {err.strerror or err}")


def parse_package(
    package: Any, issues: Any, *, file: str, pointer: str, dataset: str
) -> Iterator[Item]:
    """One source package's issues -> a `Vulnerability` per issue affecting a known release."""
    source = text(package)
    if source is None or not isinstance(issues, dict):
        yield Problem(file, None, pointer or "/", "a source package maps to an object of issues")
        return
    for issue, detail in issues.items():
        where = f"{pointer}/{escape(str(issue))}"
        ident = text(issue)
        if ident is None or _ID.fullmatch(ident) is None:
            yield Problem(file, None, where, "not an issue id (CVE-YYYY-NNNN or TEMP-…)")
            continue
        releases = mapping(detail).get("releases")
        if not isinstance(releases, dict):
            yield Problem(file, None, f"{where}/releases", "an issue needs its releases")
            continue
        affected: list[Affected] = []
        urgencies: list[str] = []
        for codename, state in releases.items():
            number = RELEASES.get(codename) if isinstance(codename, str) else None
            if number is None:
                continue
            here = f"{where}/releases/{escape(codename)}"
            found = _release(state, source, number, file, here)
            if isinstance(found, Problem):
                yield found
            elif found is not None:
                affected.append(found[0])
                if found[1]:
                    urgencies.append(found[1])
        if affected:
            yield Vulnerability(
                id=ident,
                cves=(ident,) if _CVE.fullmatch(ident) else (),
                severity=_worst(urgencies),
                cvss=None,
                dataset=dataset,
                format="debian",
                affected=tuple(affected),
            )


def _release(
    state: Any, source: str, number: str, file: str, where: str
) -> tuple[Affected, str | None] | Problem | None:
    if not isinstance(state, dict):
        return Problem(file, None, where, "a release's state is an object")
    status = text(state.get("status"))
    urgency = text(state.get("urgency"))
    urgency = urgency if urgency is not None and len(urgency) <= 40 else None
    space = f"debian:{number}"
    if status == "open":
        return Affected(space=space, package=source, scheme="dpkg", ranges=(Range(),)), urgency
    if status == "undetermined":
        return None
    if status != "resolved":
        return Problem(file, None, f"{where}/status", "expected open, resolved or undetermined")
    fixed = text(state.get("fixed_version"))
    if fixed is None:
        return Problem(
            file, None, f"{where}/fixed_version", "a resolved issue needs its fixed version"
        )
    if fixed == "0":
        return None  # never affected this release
    try:
        version_key("dpkg", fixed)
    except ValueError as err:
        return Problem(file, None, f"{where}/fixed_version", str(err))
    ranges = (Range(end=fixed),)
    return Affected(space=space, package=source, scheme="dpkg", ranges=ranges, fixed=fixed), urgency


_URGENCY = ("unimportant", "end-of-life", "not yet assigned", "low", "medium", "high")


def _worst(urgencies: list[str]) -> str | None:
    """The most urgent of the releases' urgencies (the tracker gives one per release)."""
    if not urgencies:
        return None
    ranked = [
        (_URGENCY.index(u.rstrip("*")) if u.rstrip("*") in _URGENCY else -1, u) for u in urgencies
    ]
    return max(ranked)[1]
