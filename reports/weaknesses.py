"""The weakness figures (`vulns` check) of a report, from what `reports.vulnreads` read.

Counting rules (the notes of every report say them too):
- a machine is *checked* for weaknesses when its unit's sweep judged it against
  vulnerability data: its `vulns` finding passed, failed or was waived. A machine whose
  OS no imported data covers (`not_applicable`), whose check could not run (`error`),
  that was not swept, or whose sweep did not run the check is *not checked*: it is never
  counted as clean;
- critical / high: the per-CVE severity after the policy (`by_severity` of the
  evidence); a machine with critical weaknesses has at least one;
- failing: vulnerabilities at or above the sweep's `vulns.fail_on`; the most widespread
  component is the one failing on most machines;
- last week: each unit's latest sweep of the week before, as for this week.

A unit's tables read the evidence each finding lists: every failing (component, CVE,
severity) of a machine (`failing_pairs`), so the machines a failing CVE affects are
counted exactly, and the 50 worst vulnerabilities in full (CVSS, fixed version, KB, and
those below the threshold), so a CVE below the threshold and further down a machine's
list than that is not counted for it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, get_args

from checks.vulns import ORDER
from raquet.models import Finding
from reports.change import Change
from reports.collect import UnitSweep
from reports.explain import Explainer
from reports.labels import Labels
from reports.model import TopCve, UncheckedKind, VulnCounts, VulnHost, VulnUnchecked
from reports.vulnreads import VulnHostRow, VulnReads

TOP_CVES = 20
SEVERE = ("critical", "high")


def _judged(rows: list[VulnHostRow]) -> list[VulnHostRow]:
    return [r for r in rows if r.judged]


def counts(read: VulnReads, in_scope: int) -> VulnCounts:
    """The letter's weakness figures, this week against last."""
    now, before = _judged(read.hosts), _judged(read.previous)
    names, machines = read.components
    return VulnCounts(
        in_scope=in_scope,
        checked=Change(current=len(now), previous=len(before)),
        critical=Change(
            current=sum(1 for r in now if r.critical), previous=sum(1 for r in before if r.critical)
        ),
        failing=sum(1 for r in now if r.failing),
        top_components=names,
        top_component_machines=machines,
    )


def by_unit(read: VulnReads) -> dict[str, tuple[int, int, int]]:
    """(checked, failing, critical) machines of each unit this week."""
    figures: dict[str, tuple[int, int, int]] = {}
    for r in _judged(read.hosts):
        checked, failing, critical = figures.get(r.unit, (0, 0, 0))
        figures[r.unit] = (checked + 1, failing + bool(r.failing), critical + bool(r.critical))
    return figures


def _finding(findings: list[Finding]) -> Finding | None:
    return next((f for f in findings if f.check == "vulns"), None)


def _entries(finding: Finding | None) -> list[dict[str, Any]]:
    """The finding's vulnerabilities listed whole, then every failing one it names only
    (component, CVE, severity): together, each failing one at least once."""
    if finding is None:
        return []
    listed = finding.evidence.get("vulnerable")
    entries = [
        e for e in listed or [] if isinstance(e, dict) and e.get("cve") and e.get("component")
    ]
    pairs = finding.evidence.get("failing_pairs")
    for pair in pairs if isinstance(pairs, list) else []:
        if isinstance(pair, list) and len(pair) == 3 and all(isinstance(p, str) for p in pair):
            entries.append({"component": pair[0], "cve": pair[1], "severity": pair[2]})
    return entries


def _rank(severity: object) -> int:
    return ORDER.index(severity) if severity in ORDER else 0


def hosts(part: UnitSweep, rows: list[VulnHostRow]) -> list[VulnHost]:
    """The unit's machines with critical or high weaknesses, most critical first."""
    findings = {h.name: _finding(h.findings) for h in part.hosts}
    shown = []
    for r in _judged(rows):
        if not (r.critical or r.high):
            continue
        severe = [e for e in _entries(findings.get(r.host)) if e.get("severity") in SEVERE]
        components = list(dict.fromkeys(str(e["component"]) for e in severe))
        shown.append(
            VulnHost(
                unit=r.unit,
                host=r.host,
                os=r.os,
                status=r.status or "",
                critical=r.critical,
                high=r.high,
                components=components,
            )
        )
    return sorted(shown, key=lambda h: (-h.critical, -h.high, h.host))


def top_cves(part: UnitSweep, rows: list[VulnHostRow]) -> list[TopCve]:
    """The unit's vulnerabilities by worst severity, then machines affected, then CVSS."""
    judged = {r.host for r in _judged(rows)}
    seen: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    machines: dict[tuple[str, str], set[str]] = defaultdict(set)
    for host in part.hosts:
        if host.name not in judged:
            continue
        for e in _entries(_finding(host.findings)):
            key = (str(e["cve"]), str(e["component"]))
            seen[key].append(e)
            machines[key].add(host.name)
    found = []
    for (cve, component), entries in seen.items():
        scores = [float(e["cvss"]) for e in entries if isinstance(e.get("cvss"), int | float)]
        found.append(
            TopCve(
                cve=cve,
                component=component,
                severity=max((str(e.get("severity")) for e in entries), key=_rank),
                cvss=max(scores) if scores else None,
                machines=len(machines[(cve, component)]),
                fixed=sorted({str(e["fixed"]) for e in entries if e.get("fixed")}),
                kb=sorted({str(e["kb"]) for e in entries if e.get("kb")}),
            )
        )
    found.sort(key=lambda c: (-_rank(c.severity), -c.machines, -(c.cvss or 0), c.cve, c.component))
    return found[:TOP_CVES]


def unchecked(
    part: UnitSweep, rows: list[VulnHostRow], explainer: Explainer, L: Labels
) -> list[VulnUnchecked]:
    """The unit's planned machines not checked for weaknesses, grouped by why."""
    judged = {r.host for r in _judged(rows)}
    results = {h.name: h for h in part.hosts}
    groups: dict[tuple[UncheckedKind, str], list[str]] = defaultdict(list)
    kind: UncheckedKind
    for name in part.planned:
        if name in judged:
            continue
        host = results.get(name)
        finding = _finding(host.findings) if host else None
        if host is None or host.status != "swept":
            kind, reason = "not_swept", L.u_not_swept
        elif finding is None:
            kind, reason = "not_run", L.u_not_run
        elif finding.status == "error":
            kind, reason = "error", explainer.explain(finding)["title"]
        elif finding.evidence.get("not_covered"):
            kind = "not_covered"
            reason = L.u_not_covered.format(os=str(finding.evidence.get("os") or ""))
        else:
            kind, reason = "no_data", L.u_no_data
        groups[(kind, reason)].append(name)
    kinds = list(get_args(UncheckedKind))
    return [
        VulnUnchecked(kind=kind, reason=reason, hosts=names)
        for (kind, reason), names in sorted(groups.items(), key=lambda g: kinds.index(g[0][0]))
    ]
