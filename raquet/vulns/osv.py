"""OSV records (https://ossf.github.io/osv-schema/) of the Linux distributions raquet sweeps.

Read: one record file, a directory of them, or an ecosystem's `all.zip` export (members
read one at a time). Kept, per `affected[]` entry whose `package.ecosystem` is a
distribution release raquet knows:

- `Debian:12`, `Ubuntu:22.04:LTS` (also `Ubuntu:Pro:18.04:LTS`, `Ubuntu:24.10`): space
  `debian:12` / `ubuntu:22.04`, names are source packages, versions `dpkg`;
- `Rocky Linux:9`, `AlmaLinux:9`, `Red Hat:enterprise_linux:9::baseos`: space `rocky:9`,
  `almalinux:9`, `rhel:9`, binary RPM names, versions `rpm` (epoch `0:` optional).

`ranges[]` of type ECOSYSTEM (and SEMVER) become `Range`s: `introduced` opens one (`0` is
the beginning of time), `fixed` closes it excluded, `last_affected` closes it included,
`limit` is ignored (it only bounds git bisection). GIT ranges are ignored. The `versions`
list is kept only for versions no range covers (exporters enumerate what the ranges already
say, often hundreds of versions). CVE ids come from `id`, `aliases` and `upstream`, or else `related` (where Red Hat's
advisories list theirs).
Severity: a CVSS v3 vector in `severity[]` (the record's or the package's) is scored;
a data set's word (`database_specific.severity`, Ubuntu's `severity` entry, Debian's
`ecosystem_specific.urgency`) is kept as the severity. Withdrawn records, other ecosystems
and packages without a usable range are skipped without a problem (they are not wrong).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from raquet.errors import Problem
from raquet.vulns.cvss import cvss3_score, rating
from raquet.vulns.model import Affected, Range, Vulnerability, record_day
from raquet.vulns.source import (
    MAX_MEMBERS,
    MAX_RECORD_BYTES,
    is_zip,
    items,
    mapping,
    open_json,
    read_bounded,
    sniff,
    text,
    zip_members,
)
from raquet.vulns.versions import Scheme, version_key

Item = Vulnerability | Problem
_CVE = re.compile(r"CVE-\d{4}-\d{4,}")
_RELEASE = re.compile(r"\d+(?:\.\d+)?")
_RPM_DISTROS = {"Rocky Linux": "rocky", "AlmaLinux": "almalinux"}
MAX_JSON_DEPTH = 64


def ecosystem_space(ecosystem: str) -> tuple[str, Scheme] | None:
    """The index space and version scheme of an OSV ecosystem, or None when raquet does not
    sweep it (`Debian:12` -> ("debian:12", "dpkg"); `Red Hat:enterprise_linux:9::appstream`
    -> ("rhel:9", "rpm"))."""
    name, _, rest = ecosystem.partition(":")
    parts = rest.split(":")
    if name == "Debian":
        release = parts[0]
        return (f"debian:{release.split('.')[0]}", "dpkg") if release.isdigit() else None
    if name == "Ubuntu":
        for part in parts:
            if re.fullmatch(r"\d{2}\.\d{2}", part):
                return f"ubuntu:{part}", "dpkg"
        return None
    if name in _RPM_DISTROS:
        release = parts[0].split(".")[0]
        return (f"{_RPM_DISTROS[name]}:{release}", "rpm") if release.isdigit() else None
    if name == "Red Hat" and len(parts) >= 2 and parts[0] == "enterprise_linux":
        release = parts[1].split(".")[0]
        return (f"rhel:{release}", "rpm") if release.isdigit() else None
    return None


def read_osv(path: Path, *, dataset: str | None = None) -> Iterator[Item]:
    """Every record of an OSV file, directory or zip export, and a problem for each skipped."""
    name = dataset or path.name
    if path.is_dir():
        yield from _directory(path, name)
        return
    head = sniff(path)
    if is_zip(head):
        for member in zip_members(path):
            if isinstance(member, Problem):
                yield member
                continue
            file, handle = member
            yield from _bytes(read_bounded(handle, file), file, name)
        return
    try:
        with open_json(path, MAX_RECORD_BYTES) as handle:
            raw = read_bounded(handle, str(path))
    except OSError as err:
        yield Problem(str(path), None, "", f"cannot read: {err.strerror or err}")
        return
    yield from _bytes(raw, str(path), name)


def _directory(path: Path, name: str) -> Iterator[Item]:
    try:
        files = sorted(p for p in path.rglob("*.json") if p.is_file())
    except OSError as err:
        yield Problem(str(path), None, "", f"cannot list: {err.strerror or err}")
        return
    if len(files) > MAX_MEMBERS:
        yield Problem(str(path), None, "", f"more than {MAX_MEMBERS:,} files: not read")
        return
    for file in files:
        yield from read_osv(file, dataset=name)


def _bytes(raw: bytes | Problem, file: str, dataset: str) -> Iterator[Item]:
    if isinstance(raw, Problem):
        yield raw
        return
    try:
        document = json.loads(_depth_checked(raw))
    except (ValueError, RecursionError) as err:
        yield Problem(file, None, "", f"not an OSV record: invalid JSON ({str(err)[:200]})")
        return
    records = document if isinstance(document, list) else [document]
    for position, record in enumerate(records):
        pointer = f"/{position}" if isinstance(document, list) else ""
        yield from parse_record(record, file=file, pointer=pointer, dataset=dataset)


def _depth_checked(raw: bytes) -> bytes:
    """The JSON text, refused (ValueError) when it nests past MAX_JSON_DEPTH: the json
    module recurses per level; strings are set aside first so brackets in them do not count."""
    structure = re.sub(rb'"(?:[^"\\]|\\.)*"', b'""', raw)
    depth = 0
    for found in re.finditer(rb"[\[\]{}]", structure):
        depth += 1 if found[0] in b"[{" else -1
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"nested more than {MAX_JSON_DEPTH} levels deep")
    return raw


def parse_record(record: Any, *, file: str, pointer: str, dataset: str) -> Iterator[Item]:
    """One OSV record -> a `Vulnerability` (when it affects a release raquet knows) and a
    problem for each part that could not be read."""
    if not isinstance(record, dict):
        yield Problem(file, None, pointer or "/", "an OSV record is a JSON object")
        return
    ident = text(record.get("id"))
    if ident is None:
        yield Problem(file, None, f"{pointer}/id", "the record has no id")
        return
    if record.get("withdrawn"):
        return
    score, word = _severity(record)
    if not isinstance(record.get("affected"), list):
        yield Problem(file, None, f"{pointer}/affected", "the record has no affected list")
        return
    affected: list[Affected] = []
    problems: list[Problem] = []
    for position, entry in enumerate(record["affected"]):
        found = _affected(entry, f"{pointer}/affected/{position}", file, problems)
        if found is not None:
            affected.append(found[0])
            score = score if score is not None else found[1]
            word = word or found[2]
    yield from problems
    if not affected:
        return
    cves = [ident] if _CVE.fullmatch(ident) else []
    for keys in (("aliases", "upstream"), ("related",)):
        if cves:
            break  # `related` only when nothing else names a CVE (Red Hat's advisories)
        for key in keys:
            for alias in items(record.get(key)):
                alias = text(alias)
                if alias and _CVE.fullmatch(alias) and alias not in cves:
                    cves.append(alias)
    yield Vulnerability(
        id=ident,
        cves=tuple(cves),
        severity=word or rating(score),
        cvss=score,
        dataset=dataset,
        format="osv",
        affected=tuple(affected),
        modified=record_day(record.get("modified")) or record_day(record.get("published")),
    )


def _severity(holder: dict[str, Any]) -> tuple[float | None, str | None]:
    """(CVSS v3 score, the data set's own word) from `severity[]` and `database_specific`
    / `ecosystem_specific` of a record or an affected entry."""
    score: float | None = None
    word: str | None = None
    for entry in items(holder.get("severity")):
        entry = mapping(entry)
        kind, value = text(entry.get("type")), text(entry.get("score"))
        if value is None:
            continue
        if kind == "CVSS_V3" and score is None:
            score = cvss3_score(value)
        elif kind == "Ubuntu" and word is None and len(value) <= 40:
            word = value
    for key in ("database_specific", "ecosystem_specific"):
        specific = mapping(holder.get(key))
        found = text(specific.get("severity")) or text(specific.get("urgency"))
        if word is None and found is not None and len(found) <= 40:
            word = found
    return score, word


def _affected(
    entry: Any, where: str, file: str, problems: list[Problem]
) -> tuple[Affected, float | None, str | None] | None:
    """One `affected[]` entry in a space raquet knows, with its own severity; None when it
    is in another ecosystem or says no version (problems for what is malformed)."""
    if not isinstance(entry, dict):
        problems.append(Problem(file, None, where, "an affected entry is a JSON object"))
        return None
    package = mapping(entry.get("package"))
    ecosystem, name = text(package.get("ecosystem")), text(package.get("name"))
    if ecosystem is None or name is None:
        problems.append(Problem(file, None, f"{where}/package", "needs an ecosystem and a name"))
        return None
    known = ecosystem_space(ecosystem)
    if known is None:
        return None
    space, scheme = known
    ranges: list[Range] = []
    fixed: str | None = None
    for position, found in enumerate(items(entry.get("ranges"))):
        here = f"{where}/ranges/{position}"
        found = mapping(found)
        if text(found.get("type")) not in ("ECOSYSTEM", "SEMVER"):
            continue
        read = _events(found.get("events"), scheme, here, file, problems)
        for start, end, inclusive in read:
            ranges.append(Range(start, True, end, inclusive))
            if end is not None and not inclusive and fixed is None:
                fixed = end
    extra: list[str] = []
    for position, version in enumerate(items(entry.get("versions"))):
        value = text(version)
        if value is None or not _valid(scheme, value):
            problems.append(Problem(file, None, f"{where}/versions/{position}", "not a version"))
            continue
        if not any(_within(scheme, value, bounds) for bounds in ranges) and value not in extra:
            extra.append(value)
    if not ranges and not extra:
        return None
    score, word = _severity(entry)
    affected = Affected(
        space=space,
        package=name,
        scheme=scheme,
        ranges=tuple(ranges),
        versions=tuple(extra),
        fixed=fixed,
    )
    return affected, score, word


def _events(
    events: Any, scheme: Scheme, where: str, file: str, problems: list[Problem]
) -> list[tuple[str | None, str | None, bool]]:
    """(introduced or None, end or None, end included) for each range the events make: each
    `introduced` opens one that the next `fixed` or `last_affected` closes."""
    if not isinstance(events, list) or not events:
        problems.append(Problem(file, None, f"{where}/events", "a range needs a list of events"))
        return []
    out: list[tuple[str | None, str | None, bool]] = []
    start: str | None = None
    open_ = False
    for position, event in enumerate(events):
        here = f"{where}/events/{position}"
        event = mapping(event)
        kinds = [
            kind for kind in ("introduced", "fixed", "last_affected", "limit") if kind in event
        ]
        if len(kinds) != 1:
            problems.append(
                Problem(
                    file, None, here, "an event is one of introduced, fixed, last_affected, limit"
                )
            )
            return []
        kind = kinds[0]
        value = text(event[kind])
        if kind == "limit":
            continue
        if value is None or (value != "0" and not _valid(scheme, value)):
            problems.append(Problem(file, None, f"{here}/{kind}", f"not a {scheme} version"))
            return []
        if kind == "introduced":
            if open_:
                out.append((start, None, False))
            start, open_ = (None if value == "0" else value), True
        else:
            out.append((start, value, kind == "last_affected"))
            start, open_ = None, False
    if open_:
        out.append((start, None, False))
    return out


def _valid(scheme: Scheme, version: str) -> bool:
    try:
        version_key(scheme, version)
    except ValueError:
        return False
    return True


def _within(scheme: Scheme, version: str, bounds: Range) -> bool:
    key = version_key(scheme, version)
    if bounds.start is not None:
        start = version_key(scheme, bounds.start)
        if key < start or (key == start and not bounds.start_inclusive):
            return False
    if bounds.end is not None:
        end = version_key(scheme, bounds.end)
        if key > end or (key == end and not bounds.end_inclusive):
            return False
    return True
