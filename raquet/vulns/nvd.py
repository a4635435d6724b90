"""NVD CVE JSON 2.0 (the API's and the yearly feed files' `{"vulnerabilities": [{"cve":
{...}}]}`), for applications matched by CPE `vendor:product`, streamed one CVE at a time.

Per CVE: `id`; the CVSS score and rating of the first of `metrics.cvssMetricV40`,
`cvssMetricV31`, `cvssMetricV30`, `cvssMetricV2` (the `Primary` entry — NVD's own — when
there are several); and from `configurations[].nodes[].cpeMatch[]` each entry with
`"vulnerable": true`, keyed by its criteria's vendor and product (any part: a, o, h):
- version `*` or `-` in the criteria, with `versionStartIncluding/Excluding` and
  `versionEndIncluding/Excluding`: a `Range` with those bounds (none at all: every version);
- a version in the criteria (`cpe:2.3:a:rarlab:winrar:6.23:*:…`): that version exactly;
  an entry that also names an update (`:1.8.0:update_391:`) is skipped: the update field is
  not a version raquet can compare, and reading only `1.8.0` would flag every update;
- a criteria's target software (`android`, `iphone_os`) is kept as the entry's platform,
  so that Chrome for Android's CVEs can be told from the desktop browser's.

Simplification, by design: an `AND` configuration (typically "Firefox *running on*
Windows": one node of vulnerable applications, one of `vulnerable: false` platforms) is
reduced to its vulnerable entries; the platform conditions are not checked, and `negate`d
nodes are skipped. A sweep knows the host's OS anyway, and the over-match this allows (an
application flagged on a platform the CVE does not concern) is rarer than the CVEs an
exact AND evaluation would miss when NVD's platform lists are incomplete.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from raquet.errors import Problem
from raquet.vulns.cpe import parse_cpe23
from raquet.vulns.cvss import rating
from raquet.vulns.model import Affected, Range, Vulnerability, record_day
from raquet.vulns.source import items, mapping, open_json, stream, text
from raquet.vulns.versions import version_key

Item = Vulnerability | Problem
_CVE = re.compile(r"CVE-\d{4}-\d{4,}")
_METRICS = ("cvssMetricV40", "cvssMetricV31", "cvssMetricV30", "cvssMetricV2")
_BOUNDS = (
    "versionStartIncluding",
    "versionStartExcluding",
    "versionEndIncluding",
    "versionEndExcluding",
)
_ANY = ("*", "-", "")


def read_nvd(path: Path, *, dataset: str | None = None) -> Iterator[Item]:
    """Every CVE of an NVD 2.0 file (plain or gzip) with a vulnerable CPE, and problems."""
    name = dataset or path.name
    try:
        with open_json(path) as handle:
            for found in stream(handle, "vulnerabilities.item", str(path), "/vulnerabilities"):
                if isinstance(found, Problem):
                    yield found
                    continue
                pointer, entry = found
                yield from parse_cve(entry, file=str(path), pointer=pointer, dataset=name)
    except OSError as err:
        yield Problem(str(path), None, "", f"cannot read: {err.strerror or err}")


def parse_cve(entry: Any, *, file: str, pointer: str, dataset: str) -> Iterator[Item]:
    """One `vulnerabilities[]` item -> a `Vulnerability` (when it names a vulnerable CPE)."""
    cve = mapping(entry).get("cve")
    if not isinstance(cve, dict):
        yield Problem(file, None, f"{pointer}/cve", "an NVD item holds a cve object")
        return
    ident = text(cve.get("id"))
    if ident is None or _CVE.fullmatch(ident) is None:
        yield Problem(file, None, f"{pointer}/cve/id", "not a CVE id")
        return
    if text(cve.get("vulnStatus")) == "Rejected":
        return
    score, word = _metrics(cve.get("metrics"))
    affected: list[Affected] = []
    seen: set[Affected] = set()
    for c, configuration in enumerate(items(cve.get("configurations"))):
        for n, node in enumerate(items(mapping(configuration).get("nodes"))):
            node = mapping(node)
            if node.get("negate") is True:
                continue
            for m, match in enumerate(items(node.get("cpeMatch"))):
                where = f"{pointer}/cve/configurations/{c}/nodes/{n}/cpeMatch/{m}"
                found = _match(match, file, where)
                if isinstance(found, Problem):
                    yield found
                elif found is not None and found not in seen:
                    seen.add(found)
                    affected.append(found)
    if affected:
        yield Vulnerability(
            id=ident,
            cves=(ident,),
            severity=word or rating(score),
            cvss=score,
            dataset=dataset,
            format="nvd",
            affected=tuple(affected),
            modified=record_day(cve.get("lastModified")) or record_day(cve.get("published")),
        )


def _metrics(metrics: Any) -> tuple[float | None, str | None]:
    """(base score, rating) of the newest CVSS version given, NVD's own entry first."""
    metrics = mapping(metrics)
    for name in _METRICS:
        entries = [mapping(entry) for entry in items(metrics.get(name))]
        entries.sort(key=lambda entry: text(entry.get("type")) != "Primary")
        for entry in entries:
            data = mapping(entry.get("cvssData"))
            score = data.get("baseScore")
            if (
                isinstance(score, bool)
                or not isinstance(score, int | float)
                or not 0 <= score <= 10
            ):
                continue
            word = text(data.get("baseSeverity")) or text(entry.get("baseSeverity"))
            return float(score), word if word and len(word) <= 20 else None
    return None, None


def _match(match: Any, file: str, where: str) -> Affected | Problem | None:
    match = mapping(match)
    if match.get("vulnerable") is not True:
        return None
    criteria = text(match.get("criteria"))
    if criteria is None:
        return Problem(file, None, f"{where}/criteria", "a cpeMatch entry needs its criteria")
    try:
        cpe = parse_cpe23(criteria)
    except ValueError as err:
        return Problem(file, None, f"{where}/criteria", str(err))
    platform = None if cpe.target_sw in _ANY else cpe.target_sw.lower()
    package = f"{cpe.vendor.lower()}:{cpe.product.lower()}"
    bounds: dict[str, str] = {}
    for key in _BOUNDS:
        if key in match:
            value = text(match[key])
            if value is None or not _valid(value):
                return Problem(file, None, f"{where}/{key}", "not a version")
            bounds[key] = value
    if cpe.version not in _ANY:
        if bounds:
            return Problem(file, None, where, "a version in the criteria and version bounds too")
        if cpe.update not in _ANY:
            return None  # an update field (update_391, sp1): not comparable, see above
        if not _valid(cpe.version):
            return Problem(
                file, None, f"{where}/criteria", f"{cpe.version[:40]!r} is not a version"
            )
        return Affected(
            space="cpe",
            package=package,
            scheme="dotted",
            versions=(cpe.version,),
            platform=platform,
        )
    start_in, start_ex = bounds.get("versionStartIncluding"), bounds.get("versionStartExcluding")
    end_in, end_ex = bounds.get("versionEndIncluding"), bounds.get("versionEndExcluding")
    if (start_in and start_ex) or (end_in and end_ex):
        return Problem(file, None, where, "both an including and an excluding bound on one side")
    bound = Range(
        start=start_in or start_ex,
        start_inclusive=start_ex is None,
        end=end_in or end_ex,
        end_inclusive=end_in is not None,
    )
    return Affected(
        space="cpe",
        package=package,
        scheme="dotted",
        ranges=(bound,),
        fixed=end_ex,
        platform=platform,
    )


def _valid(version: str) -> bool:
    try:
        version_key("dotted", version)
    except ValueError:
        return False
    return True
