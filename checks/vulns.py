"""`vulns`: no installed OS package, browser or Windows build with a known vulnerability at or
above the policy's threshold, from the offline vulnerability data in the store (issue 14).

`patches` asks the package manager what its lists offer, so a host whose lists are stale
(or whose mirror stopped) shows nothing pending; this check compares what is installed
with the data sets a province imported (`raquet vulns import`: OSV, the Debian security
tracker, NVD, MSRC), so that host still fails here.

Linux: every installed package from the package database with its source package and
versions (`dpkg-query`, `rpm -qa`), matched by the source package and source version for
Debian and Ubuntu data and by binary name for RPM distributions; the browsers and other
programs `raquet/vulns/data/applications.yml` names by package (chromium, firefox-esr…)
also by CPE for NVD data. The OS is os-release's ID and VERSION_ID (HostFacts). Windows
hosts are read in `checks/windows/vulns.py`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any, Literal

from checks.base import Check, Context, HostFacts, Sections, clean
from checks.windows import vulns as windows
from raquet.models import Finding, Host, OsName, Severity
from raquet.policy import Policy, VulnsPolicy

if TYPE_CHECKING:
    from raquet.vulns import DatasetInfo, Installed, Match, Scheme, VulnIndex

LINUX = r"""
if command -v dpkg-query >/dev/null 2>&1; then
  rq vulns.dpkg
  dpkg-query -W -f='${db:Status-Abbrev}\t${binary:Package}\t${source:Package}\t${Version}\t${source:Version}\n' 2>/dev/null |
    awk -F'\t' '$1 ~ /^[hi]i/ {print $2 "\t" $3 "\t" $4 "\t" $5}'
elif command -v rpm >/dev/null 2>&1; then
  rq vulns.rpm
  rpm -qa --qf '%{NAME}\t%{SOURCERPM}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\n' 2>/dev/null
fi
"""

MAX_FIELD = 128
MAX_PACKAGES = 50_000
SHOWN = 50
"""Vulnerabilities listed whole in the evidence (the worst first); all are counted, and
the failing ones are all named in compact form (`failing_pairs`, `failing_components`,
`upgrades`), which the reports' machine counts and the remediation read: a stale host
with hundreds of failing packages is upgraded and counted whole, not its first fifty."""
ORDER: list[Severity] = ["info", "low", "medium", "high", "critical"]
_WORDS: dict[str, Severity] = {
    "critical": "critical",
    "high": "high",
    "important": "high",
    "medium": "medium",
    "moderate": "medium",
    "low": "low",
    "unimportant": "info",
    "negligible": "info",
    "none": "info",
}
"""Data sets' own ratings: NVD/CVSS words, MSRC's Critical/Important/Moderate/Low, Debian
urgencies (`unimportant`: no security impact in Debian), Ubuntu priorities."""
NO_DATA = (
    "no vulnerability data imported: import a data set first (raquet vulns import FILE: "
    "OSV, the Debian security tracker JSON, NVD CVE 2.0, MSRC CVRF)"
)
_HINTS = {
    "debian": "import the Debian security tracker JSON "
    "(security-tracker.debian.org/tracker/data/json) or OSV Debian:{major} "
    "(osv-vulnerabilities.storage.googleapis.com/Debian:{major}/all.zip)",
    "ubuntu": "import OSV Ubuntu (osv-vulnerabilities.storage.googleapis.com/Ubuntu/all.zip)",
    "rocky": "import OSV Rocky Linux (osv-vulnerabilities.storage.googleapis.com/Rocky Linux/all.zip)",
    "almalinux": "import OSV AlmaLinux (osv-vulnerabilities.storage.googleapis.com/AlmaLinux/all.zip)",
    "rhel": "import OSV Red Hat (osv-vulnerabilities.storage.googleapis.com/Red Hat/all.zip)",
    "windows": "import the month's MSRC CVRF document "
    "(api.msrc.microsoft.com/cvrf/v3.0/cvrf/YYYY-Mon, as JSON)",
}


@dataclass(frozen=True, slots=True)
class InstalledPackage:
    """One package as the package database lists it: binary name, source package, the
    binary's version and its source's (dpkg; rpm gives one version)."""

    name: str
    source: str | None
    version: str
    source_version: str


@dataclass(slots=True)
class LinuxVulnState:
    manager: Literal["dpkg", "rpm"] | None = None
    packages: list[InstalledPackage] = field(default_factory=list)
    skipped: int = 0
    """Lines that were not a package record (wrong field count, empty or oversized fields)."""


def _field(value: str) -> str | None:
    """A name or version as kept: printable, no whitespace, at most MAX_FIELD characters.
    (In a printable string the only whitespace there can be is the space: every other
    whitespace character is a control or a separator, none of them printable.)"""
    value = value.strip()
    if not value or len(value) > MAX_FIELD or " " in value or not value.isprintable():
        return None
    return value


def _record(line: str, width: int) -> list[str | None] | None:
    """A line's `width` tab-separated fields (each checked by `_field`), or None."""
    parts = line.split("\t")
    if len(parts) != width:
        return None
    return [_field(part) for part in parts]


def parse_dpkg(lines: list[str]) -> tuple[list[InstalledPackage], int]:
    """`binary:Package \\t source:Package \\t Version \\t source:Version` lines."""
    packages: dict[InstalledPackage, None] = {}
    skipped = 0
    for line in lines:
        fields = _record(line, 4)
        if fields is None or len(packages) >= MAX_PACKAGES:
            skipped += 1
            continue
        binary, source, version, source_version = fields
        if binary is None or version is None:
            skipped += 1
            continue
        name = binary.partition(":")[0] or binary  # libc6:amd64 -> libc6
        package = InstalledPackage(
            name, source if source != name else None, version, source_version or version
        )
        packages.setdefault(package, None)
    return list(packages), skipped


def parse_rpm(lines: list[str]) -> tuple[list[InstalledPackage], int]:
    """`NAME \\t SOURCERPM \\t EPOCH:VERSION-RELEASE` lines (`gpg-pubkey` has no source)."""
    packages: dict[InstalledPackage, None] = {}
    skipped = 0
    for line in lines:
        fields = _record(line, 3)
        if fields is None or len(packages) >= MAX_PACKAGES:
            skipped += 1
            continue
        name, source_rpm, version = fields
        if name is None or version is None:
            skipped += 1
            continue
        package = InstalledPackage(name, _rpm_source(source_rpm, name), version, version)
        packages.setdefault(package, None)
    return list(packages), skipped


def _rpm_source(source_rpm: str | None, name: str) -> str | None:
    """`openssl-3.0.7-27.el9.src.rpm` -> `openssl`; `(none)` or the binary's own name -> None."""
    if source_rpm is None or not source_rpm.endswith((".src.rpm", ".nosrc.rpm")):
        return None
    parts = source_rpm.rsplit("-", 2)
    if len(parts) != 3 or not parts[0]:
        return None
    return parts[0] if parts[0] != name else None


def packaged_applications(packages: list[InstalledPackage]) -> list[tuple[str, str]]:
    """The packages `applications.yml` names by package (browsers…), with their version."""
    from raquet.vulns.names import application_cpes

    return [
        (p.name, p.version)
        for p in packages
        if any(packaged for _, packaged in application_cpes(p.name))
    ]


def level(match: Match, policy: VulnsPolicy) -> Severity:
    """A vulnerability's severity in raquet's words: the data set's rating, else the CVSS
    score's, else the policy's `unrated`."""
    from raquet.vulns.cvss import rating

    word = (match.severity or "").strip().lower().rstrip("*")
    found = _WORDS.get(word)
    if found is None and match.cvss is not None:
        found = _WORDS.get((rating(match.cvss) or "").lower())
    return found if found is not None else policy.unrated


@dataclass(frozen=True, slots=True)
class Target:
    """What one host is asked about and how the finding names it."""

    installed: Installed
    os_label: str
    space: str | None
    """The data space the host's OS needs (`debian:12`, `windows`); None when raquet reads
    no data for it."""
    family: str
    major: str
    covered: bool
    packages: int
    """Packages (Linux) or programs (Windows) the host listed."""
    applications: list[tuple[str, str]]
    """Those of them matched by CPE (browsers…)."""
    noun: str = "packages"
    skipped: int = 0
    manager: str | None = None
    """The package database the host listed (`dpkg`, `rpm`); None on Windows."""


class VulnsCheck(Check[LinuxVulnState | windows.WindowsVulnState]):
    name = "vulns"
    title = "Known vulnerabilities"

    def snippet(self, os: OsName, policy: Policy) -> str | None:
        return LINUX if os == "linux" else windows.SNIPPET

    def parse(
        self, sections: Sections, facts: HostFacts
    ) -> LinuxVulnState | windows.WindowsVulnState:
        if facts.windows:
            return windows.parse(sections, facts)
        for manager in ("dpkg", "rpm"):
            if f"vulns.{manager}" in sections:
                lines = sections.lines(f"vulns.{manager}")
                packages, skipped = parse_dpkg(lines) if manager == "dpkg" else parse_rpm(lines)
                return LinuxVulnState(manager, packages, skipped)
        return LinuxVulnState()

    def evaluate(
        self,
        state: LinuxVulnState | windows.WindowsVulnState,
        host: Host,
        facts: HostFacts,
        ctx: Context,
    ) -> Finding:
        index = ctx.vulns
        if index is None:
            # not judged, not failed: a province that has imported no data yet keeps its
            # verdicts (the finding says what to import)
            return self.not_applicable(NO_DATA)
        if isinstance(state, windows.WindowsVulnState):
            target = _windows_target(state, facts, index)
        else:
            if state.manager is None:
                return self.error("no package database (dpkg or rpm) on the host")
            target = _linux_target(state, facts, index)
        return self.verdict(index.match(target.installed), target, ctx.policy.vulns, index)

    def verdict(
        self,
        matches: list[Match],
        target: Target,
        policy: VulnsPolicy,
        index: VulnIndex,
        now: datetime | None = None,
    ) -> Finding:
        ignored_ids = policy.ignored
        ignored: dict[str, set[str]] = {}
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for match in matches:
            if match.cve.upper() in ignored_ids:
                ignored.setdefault(match.cve.upper(), set()).add(match.component)
                continue
            severity = level(match, policy)
            key = (match.component, match.cve)
            entry = merged.get(key)
            if entry is None:
                merged[key] = {
                    "component": clean(match.component, 256),
                    "version": clean(match.version, MAX_FIELD),
                    "cve": match.cve,
                    "severity": severity,
                    "rating": match.severity,
                    "cvss": match.cvss,
                    "fixed": match.fixed,
                    "kb": match.kb,
                    "package": match.package,
                    "advisory": match.advisory,
                    "datasets": [match.dataset],
                    "space": match.space,
                }
                continue
            if ORDER.index(severity) > ORDER.index(entry["severity"]):
                entry["severity"], entry["rating"] = severity, match.severity
            if entry["cvss"] is None or (match.cvss is not None and match.cvss > entry["cvss"]):
                entry["cvss"] = match.cvss
            entry["fixed"] = entry["fixed"] or match.fixed
            entry["kb"] = entry["kb"] or match.kb
            if match.dataset not in entry["datasets"]:
                entry["datasets"].append(match.dataset)
        found = sorted(
            merged.values(),
            key=lambda e: (
                -ORDER.index(e["severity"]),
                -(e["cvss"] or 0),
                e["component"],
                e["cve"],
            ),
        )
        threshold = ORDER.index(policy.fail_on)
        failing = [e for e in found if ORDER.index(e["severity"]) >= threshold]
        components = sorted({e["component"] for e in failing})
        upgrades = _upgrades(failing)
        evidence: dict[str, Any] = {
            "os": target.os_label,
            "data_space": target.space,
            "covered": target.covered,
            "packages": target.packages,
            "applications": [
                {"name": clean(name, 256), "version": clean(version, MAX_FIELD)}
                for name, version in target.applications[:SHOWN]
            ],
            "fail_on": policy.fail_on,
            "datasets": sorted({d for e in found for d in e["datasets"]}),
            "vulnerabilities": len(found),
            "by_severity": dict(Counter(e["severity"] for e in found)),
            "failing": len(failing),
            "failing_components": components,
            "failing_component_count": len(components),
            "failing_pairs": [[e["component"], e["cve"], e["severity"]] for e in failing],
            "upgrades": upgrades,
            "vulnerable": found[:SHOWN],
            "ignored": [
                {"cve": cve, "reason": ignored_ids[cve], "components": sorted(names)[:SHOWN]}
                for cve, names in sorted(ignored.items())
            ],
        }
        if target.manager is not None:
            evidence["package_manager"] = target.manager
        data, stale = _data_used(index, target, policy, now or datetime.now(UTC))
        evidence["data"] = data
        evidence["max_data_age_days"] = policy.max_data_age_days
        evidence["stale_data"] = stale
        if target.skipped:
            evidence["skipped_lines"] = target.skipped
        uncovered = None if target.covered else _uncovered_reason(target, index)
        if uncovered is not None:
            evidence["not_covered"] = uncovered
        warning = _stale_warning(stale, policy.max_data_age_days)
        if failing:
            shown = []
            for component in components[:3]:
                cves = [e["cve"] for e in failing if e["component"] == component]
                more = f", {len(cves) - 2} more" if len(cves) > 2 else ""
                shown.append(f"{component} ({', '.join(cves[:2])}{more})")
            others = f" and {len(components) - 3} more" if len(components) > 3 else ""
            title = (
                f"{len(components)} component(s) with known vulnerabilities at or above "
                f"{policy.fail_on}: {', '.join(shown)}{others}"
            )
            if uncovered is not None:
                title += f"; {uncovered}"
            return Finding(
                check=self.name,
                status="fail",
                severity=max((e["severity"] for e in failing), key=ORDER.index),
                title=title + warning,
                evidence=evidence,
            )
        if uncovered is not None:
            return Finding(
                check=self.name,
                status="not_applicable",
                severity="info",
                title=uncovered + warning,
                evidence=evidence,
            )
        below = f" ({len(found)} below it)" if found else ""
        what = f"{target.packages} {target.noun}"
        if target.installed.windows is not None:
            what = f"{target.os_label} and {what}"
        return Finding(
            check=self.name,
            status="pass",
            severity="info",
            title=f"No known vulnerabilities at or above {policy.fail_on} among {what}{below}"
            + warning,
            evidence=evidence,
        )


def _scheme(space: str) -> Scheme:
    if space == "cpe":
        return "dotted"
    if space == "windows":
        return "windows"
    return "dpkg" if space.startswith(("debian:", "ubuntu:")) else "rpm"


def _upgrades(failing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per failing component and data space, the version that fixes every one of its
    failing vulnerabilities the data gives a fix for (the highest of their fixes), its KB,
    the version installed, the name the data gives it (the source package) and the CVEs
    that fix closes. Versions are compared only within one space (one scheme): a Debian
    chromium's dpkg fix and NVD's dotted one for the same package are two upgrades."""
    from raquet.vulns.versions import version_key

    best: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {}
    cves: dict[tuple[str, str], list[str]] = {}
    for entry in failing:
        fixed = entry["fixed"]
        if not fixed:
            continue
        try:
            key = version_key(_scheme(entry["space"]), fixed)
        except ValueError:
            continue
        where = (entry["component"], entry["space"])
        cves.setdefault(where, [])
        if entry["cve"] not in cves[where]:
            cves[where].append(entry["cve"])
        known = best.get(where)
        if known is None or key > known[0]:
            best[where] = (key, entry)
    return [
        {
            "component": component,
            "fixed": entry["fixed"],
            "kb": entry["kb"],
            "space": space,
            "version": entry["version"],
            "package": entry["package"],
            "cves": cves[component, space],
        }
        for (component, space), (_, entry) in sorted(best.items())
    ]


def _data_used(
    index: VulnIndex, target: Target, policy: VulnsPolicy, now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each data set the host was judged against (one covering its OS, or applications by
    CPE when it has any), with where and when it came from, its newest record's day and its
    age; and those older than `max_data_age_days`. The age is counted from the newest
    record when the format dates records (a file downloaded months ago and imported today
    is months old), never from later than the import."""
    wanted = {target.space} if target.covered and target.space else set()
    if target.applications:
        wanted.add("cpe")
    data: list[dict[str, Any]] = []
    stale: list[dict[str, Any]] = []
    for name, info in sorted(index.datasets().items()):
        if not info.spaces & wanted:
            continue
        age = _age(info, now)
        data.append(
            {
                "name": clean(name, 256),
                "format": info.format,
                "source": clean(info.source, 1024) if info.source else None,
                "imported_at": info.imported_at.isoformat() if info.imported_at else None,
                "newest_record": info.newest,
                "age_days": age,
            }
        )
        if age is not None and age > policy.max_data_age_days:
            stale.append({"name": clean(name, 256), "age_days": age})
    return data, stale


def _age(info: DatasetInfo, now: datetime) -> float | None:
    """Days since the data set's newest record (else its import), one decimal."""
    moment = info.imported_at
    if info.newest is not None:
        try:
            newest = datetime.combine(date.fromisoformat(info.newest), time(), UTC)
        except ValueError:
            newest = None
        if newest is not None and (moment is None or newest < moment):
            moment = newest
    if moment is None:
        return None
    return round(max((now - moment).total_seconds(), 0.0) / 86400, 1)


def _stale_warning(stale: list[dict[str, Any]], limit: float) -> str:
    if not stale:
        return ""
    names = ", ".join(f"{s['name']} ({s['age_days']:g} days)" for s in stale[:3])
    more = f" and {len(stale) - 3} more" if len(stale) > 3 else ""
    return f"; vulnerability data older than {limit:g} days: {names}{more}"


def _uncovered_reason(target: Target, index: VulnIndex) -> str:
    hint = _HINTS.get(target.family)
    if target.space is None or hint is None:
        return f"no vulnerability data raquet can read covers {target.os_label}"
    named = target.os_label if target.family == "windows" else target.space
    return f"no vulnerability data for {named} — " + hint.format(major=target.major)


def _linux_target(state: LinuxVulnState, facts: HostFacts, index: VulnIndex) -> Target:
    from raquet.vulns import Installed, os_space

    os_pair = (facts.os_id, facts.os_version)
    space, _ = os_space(os_pair)
    covered = space is not None and space in index.spaces()
    applications = packaged_applications(state.packages)
    installed = Installed(
        os=os_pair if covered else None,
        packages=[
            (p.name, p.source, p.source_version if state.manager == "dpkg" else p.version)
            for p in state.packages
        ],
        applications=applications,
        platform="linux",
    )
    label = facts.os_name or f"{facts.os_id} {facts.os_version}".strip() or "this host's OS"
    return Target(
        installed=installed,
        os_label=label,
        space=space,
        family=facts.os_id.lower(),
        major=facts.os_version.split(".")[0],
        covered=covered,
        packages=len(state.packages),
        applications=applications,
        skipped=state.skipped,
        manager=state.manager,
    )


def _windows_target(state: windows.WindowsVulnState, facts: HostFacts, index: VulnIndex) -> Target:
    from raquet.vulns.names import application_cpes

    installed, product = windows.installed(state)
    covered = product is not None and index.knows("windows", product)
    return Target(
        installed=installed,
        os_label=windows.label(state, facts),
        space="windows" if product is not None else None,
        family="windows",
        major="",
        covered=covered,
        packages=len(state.programs),
        applications=[p for p in state.programs if application_cpes(p[0])],
        noun="programs",
        skipped=state.skipped,
    )


CHECK = VulnsCheck()
