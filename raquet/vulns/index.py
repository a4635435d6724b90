"""`VulnIndex`: every imported vulnerability, looked up by what a host has, without a scan.

Keys: (space, name) — (`debian:12`, source package), (`rocky:9`, binary RPM), (`cpe`,
`vendor:product`), (`windows`, MSRC product name casefolded). Each key holds its ranges
already turned into version keys (`raquet.vulns.versions`), in three shapes:

- ranges open below (`introduced: 0` / no start, the great majority): sorted by their end,
  so the ones a version is under are found by `bisect` and read off the end of the list;
- ranges with a start, exact versions (a dict), and "every version" (open issues): small
  lists read whole.

A host's package thus costs one dict lookup, one bisection, and the hits it has.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter

from raquet.errors import Problem
from raquet.vulns.model import (
    Affected,
    Application,
    Installed,
    Match,
    Package,
    Vulnerability,
    WindowsBuild,
)
from raquet.vulns.msrc import product_key
from raquet.vulns.versions import Key, Scheme, upstream_version, version_key

Ref = tuple[Vulnerability, Affected]
_OS = {
    "debian": ("debian", "dpkg", True),
    "ubuntu": ("ubuntu", "dpkg", False),
    "rocky": ("rocky", "rpm", True),
    "almalinux": ("almalinux", "rpm", True),
    "rhel": ("rhel", "rpm", True),
}
"""os-release ID -> (space prefix, scheme, keyed by major release only)."""
PLATFORMS = {
    "windows": frozenset(("windows", "microsoft_windows", "windows_10", "windows_11")),
    "linux": frozenset(("linux", "linux_kernel", "debian_linux", "ubuntu_linux")),
}
"""CPE target software values that name the host's own platform."""


@dataclass(slots=True)
class _Postings:
    scheme: Scheme
    below: list[tuple[Key, bool, Ref]] = field(default_factory=list)
    ordered: bool = True
    ends: list[Key] = field(default_factory=list)
    general: list[tuple[Key | None, bool, Key | None, bool, Ref]] = field(default_factory=list)
    exact: dict[Key, list[Ref]] = field(default_factory=dict)
    always: list[Ref] = field(default_factory=list)

    def sort(self) -> None:
        self.below.sort(key=itemgetter(0))
        self.ends = [entry[0] for entry in self.below]
        self.ordered = True

    def find(self, key: Key) -> Iterator[Ref]:
        """Every (vulnerability, affected) whose versions include `key`."""
        if not self.ordered:
            self.sort()
        yield from self.always
        below = self.below
        for position in range(bisect_left(self.ends, key), len(below)):
            end, inclusive, ref = below[position]
            if inclusive or end != key:
                yield ref
        for start, start_in, end_, end_in, ref in self.general:
            if start is not None and (key < start or (key == start and not start_in)):
                continue
            if end_ is not None and (key > end_ or (key == end_ and not end_in)):
                continue
            yield ref
        yield from self.exact.get(key, ())


@dataclass(slots=True)
class DatasetInfo:
    """One data set an index holds: where and when it came from (`describe`, from the store)
    and, from its records, the newest record's day and the spaces it covers."""

    name: str
    source: str | None = None
    format: str | None = None
    imported_at: datetime | None = None
    newest: str | None = None
    """The newest record's `modified` day (`YYYY-MM-DD`), when the format dates records."""
    spaces: set[str] = field(default_factory=set)


class VulnIndex:
    """Vulnerabilities of any number of data sets, indexed for `match`."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], _Postings] = {}
        self._datasets: dict[str, DatasetInfo] = {}
        self.records = 0
        self.skipped = 0
        """Ranges or versions `add` could not key (never from raquet's own parsers)."""

    def __len__(self) -> int:
        return self.records

    def add(self, vulnerability: Vulnerability) -> None:
        """Index one record (every affected entry, range and listed version)."""
        self.records += 1
        info = self._datasets.get(vulnerability.dataset)
        if info is None:
            info = self._datasets[vulnerability.dataset] = DatasetInfo(vulnerability.dataset)
        modified = vulnerability.modified
        if modified is not None and (info.newest is None or modified > info.newest):
            info.newest = modified
        for affected in vulnerability.affected:
            info.spaces.add(affected.space)
            name = _name(affected.space, affected.package)
            postings = self._keys.get((affected.space, name))
            if postings is None:
                postings = self._keys[affected.space, name] = _Postings(affected.scheme)
            elif postings.scheme != affected.scheme:
                self.skipped += 1
                continue
            ref = (vulnerability, affected)
            for bounds in affected.ranges:
                try:
                    start = (
                        None if bounds.start is None else version_key(affected.scheme, bounds.start)
                    )
                    end = None if bounds.end is None else version_key(affected.scheme, bounds.end)
                except ValueError:
                    self.skipped += 1
                    continue
                if start is None and end is None:
                    postings.always.append(ref)
                elif start is None and end is not None:
                    postings.below.append((end, bounds.end_inclusive, ref))
                    postings.ordered = False
                else:
                    postings.general.append(
                        (start, bounds.start_inclusive, end, bounds.end_inclusive, ref)
                    )
            for version in affected.versions:
                try:
                    key = version_key(affected.scheme, version)
                except ValueError:
                    self.skipped += 1
                    continue
                postings.exact.setdefault(key, []).append(ref)

    def describe(
        self, name: str, source: str, fmt: str, imported_at: datetime | None
    ) -> DatasetInfo:
        """Say where and when data set `name` came from (the store's record of its import)."""
        info = self._datasets.get(name)
        if info is None:
            info = self._datasets[name] = DatasetInfo(name)
        info.source, info.format, info.imported_at = source, fmt, imported_at
        return info

    def datasets(self) -> dict[str, DatasetInfo]:
        """Every data set of the index, by name."""
        return dict(self._datasets)

    def spaces(self) -> frozenset[str]:
        """What the indexed data covers: `debian:12`, `rocky:9`, `cpe`, `windows`…"""
        return frozenset(space for space, _ in self._keys)

    def knows(self, space: str, name: str) -> bool:
        """Whether any record names `name` in `space` (a Windows product, a package)."""
        return (space, _name(space, name)) in self._keys

    def vulnerabilities(self) -> Iterator[Vulnerability]:
        """Every indexed record once (in no particular order)."""
        seen: set[int] = set()
        for postings in self._keys.values():
            refs = [
                *postings.always,
                *(entry[-1] for entry in postings.below),
                *(entry[-1] for entry in postings.general),
                *(ref for refs in postings.exact.values() for ref in refs),
            ]
            for vulnerability, _ in refs:
                if id(vulnerability) not in seen:
                    seen.add(id(vulnerability))
                    yield vulnerability

    def extend(self, items: Iterable[Vulnerability | Problem]) -> list[Problem]:
        """Index every record of a parser's output; the problems it reported, in order."""
        problems: list[Problem] = []
        for item in items:
            if isinstance(item, Problem):
                problems.append(item)
            else:
                self.add(item)
        return problems

    def lookup(self, space: str, name: str, version: str) -> list[Ref]:
        """The (vulnerability, affected) pairs that `version` of `name` in `space` is in."""
        postings = self._keys.get((space, _name(space, name)))
        if postings is None:
            return []
        try:
            key = version_key(postings.scheme, version)
        except ValueError:
            return []
        return list(postings.find(key))

    def match(self, installed: Installed) -> list[Match]:
        """Every vulnerability of what `installed` has: its OS packages (by source package
        for Debian and Ubuntu), applications (by CPE through `raquet.vulns.names`) and
        Windows build. A component, CVE and data set is answered once."""
        from raquet.vulns.names import application_cpes

        out: list[Match] = []
        seen: set[tuple[str, str, str, str]] = set()

        def answer(component: str, version: str, space: str, names: Iterable[str]) -> None:
            platform = installed.platform if space == "cpe" else None
            for name in names:
                for vulnerability, affected in self.lookup(space, name, version):
                    if platform and _elsewhere(affected.platform, platform):
                        continue
                    dataset, package = vulnerability.dataset, affected.package
                    for cve in vulnerability.cves or (vulnerability.id,):
                        mark = (component, cve, dataset, package)
                        if mark in seen:
                            continue
                        seen.add(mark)
                        out.append(
                            Match(
                                component,
                                version,
                                cve,
                                vulnerability.severity,
                                vulnerability.cvss,
                                affected.fixed,
                                dataset,
                                package,
                                vulnerability.id,
                                affected.kb,
                                space,
                            )
                        )

        space, by_source = os_space(installed.os) if installed.os else (None, True)
        if space is not None:
            for entry in installed.packages:
                package = (
                    entry if isinstance(entry, Package) else Package(entry[0], entry[2], entry[1])
                )
                source = package.source or package.name
                names = [source] if by_source else list(dict.fromkeys((package.name, source)))
                answer(package.name, package.version, space, names)
        for app in installed.applications:
            application = app if isinstance(app, Application) else Application(app[0], app[1])
            for cpe, packaged in application_cpes(application.name):
                version = upstream_version(application.version) if packaged else application.version
                answer(application.name, version, "cpe", [cpe])
        if installed.windows is not None:
            host: WindowsBuild = installed.windows
            answer(host.product, host.version, "windows", [host.product])
        return out


def os_space(os: tuple[str, str]) -> tuple[str | None, bool]:
    """(index space, keyed by source package) of an os-release (ID, VERSION_ID):
    ("debian", "12.5") -> ("debian:12", True); ("rocky", "9.3") -> ("rocky:9", False);
    an OS raquet has no data for -> (None, True)."""
    ident, release = (part.strip().lower() for part in os)
    known = _OS.get(ident)
    if known is None or not release:
        return None, True
    prefix, scheme, major_only = known
    return f"{prefix}:{release.split('.')[0] if major_only else release}", scheme == "dpkg"


def _name(space: str, name: str) -> str:
    if space == "windows":
        return product_key(name)
    if space == "cpe":
        return unicodedata.normalize("NFC", name).strip().lower()
    return name


def _elsewhere(platform: str | None, host: str | None) -> bool:
    """Whether a CPE entry's target software is a platform other than the host's."""
    return bool(platform and host and platform not in PLATFORMS.get(host, ()))
