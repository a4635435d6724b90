"""`vulns` remediation: OS packages upgraded to the version that fixes them, where the host's
own repositories offer it; browsers, other programs and Windows builds said, never done.

The finding's `upgrades` name, per vulnerable component and data space, the version the
data says fixes it (the highest fix of its failing vulnerabilities). For OS packages
(spaces `debian:12`, `rocky:9`…) raquet asks the host, at plan and again at apply time,
what its package lists offer (`apt-cache policy`, `dnf repoquery`; never refreshed, as
`patches` never refreshes them) and installs a package only when the candidate its lists
offer is the fixed version or newer, through the `patches` remediation's own operations
(`apt-get install --only-upgrade name=version`, `dnf upgrade name-version`). A package
whose fix the lists do not offer is said to be "not offered by the host's repositories"
and is not attempted. The Debian data's fixed version is the source package's; it is
compared with the binary candidate's version, which is the source's or the source's with
a binNMU suffix (`+b1`), newer by dpkg's ordering.

Applications matched by CPE (Chrome, Firefox, 7-Zip…, on Windows and Linux alike) and the
Windows build (MSRC: a KB and the build it brings) are planned as manual steps: the plan
says what to install; nothing is sent to the host for them.

After an apply the re-sweep tells, per package, whether the fixed version was reached
(`Remedy.verified`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pyinfra import host
from pyinfra.api import FactBase, QuoteString, StringCommand, operation

from checks.base import clean
from raquet.models import Finding
from remediations import patches, values
from remediations.base import Remedy, RemedyContext, Step

CHECK = "vulns"
Manager = Literal["apt", "dnf"]
MAX_FACT_BYTES = 1 << 20
"""What the offered-versions fact reads from a host at most (`head -c`)."""
MAX_PACKAGES = 2_000
"""Packages one remediation upgrades at most (the finding names every failing component;
a host past this many is upgraded in several runs, each verified)."""
NOT_OFFERED = "not offered by the host's repositories"
_KB = re.compile(r"^KB\d{6,8}$")
_BUILD = re.compile(r"^\d{1,3}(?:\.\d{1,6}){1,3}$")
_OS_SPACE = re.compile(r"^(?:debian|ubuntu|rocky|almalinux|rhel):[0-9.]{1,10}$")
_APT_HEADER = re.compile(r"^([a-z0-9][a-z0-9+.-]{0,127}):$")
_APT_FIELD = re.compile(r"^  (Installed|Candidate): (\S{1,140})$")


@dataclass
class Decision:
    """What became of one package at the last plan or apply."""

    name: str
    fixed: str
    installed: str | None = None
    candidate: str | None = None
    outcome: Literal["upgrade", "not offered", "already fixed", "unknown"] = "unknown"


@dataclass
class Ledger:
    """Filled by `fixed_versions` on the host's facts, read by the plan and the outcome."""

    decisions: dict[str, Decision] = field(default_factory=dict)


class AptOffered(FactBase[dict[str, tuple[str | None, str | None]]]):
    """{package: (installed version, candidate version)} for the packages asked about, as the
    host's package lists say (`apt-cache policy`). The output is the host's: read strictly,
    at most MAX_FACT_BYTES, names and versions held to their grammar, anything else dropped."""

    def command(self, packages: list[str]) -> StringCommand:
        names = [QuoteString(values.package(p, "deb")) for p in packages]
        return StringCommand(
            "LC_ALL=C apt-cache policy", *names, f"2>/dev/null | head -c {MAX_FACT_BYTES}"
        )

    def process(self, output: list[str]) -> dict[str, tuple[str | None, str | None]]:
        return parse_offered(output, "apt")


class DnfOffered(FactBase[dict[str, tuple[str | None, str | None]]]):
    """The same from `rpm -q` (installed) and `dnf --cacheonly repoquery` (the newest the
    lists offer), one `I|A \\t name \\t epoch:version-release` line each."""

    def command(self, packages: list[str]) -> StringCommand:
        names = [QuoteString(values.package(p, "rpm")) for p in packages]
        installed = QuoteString(r"I\t%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\n")
        offered = QuoteString(r"A\t%{name}\t%{epoch}:%{version}-%{release}\n")
        return StringCommand(
            "{ rpm -q --qf", installed, *names, "2>/dev/null;",
            "dnf -q --cacheonly repoquery --latest-limit 1 --qf", offered, *names,
            f"2>/dev/null; }} | head -c {MAX_FACT_BYTES}",
        )  # fmt: skip

    def process(self, output: list[str]) -> dict[str, tuple[str | None, str | None]]:
        return parse_offered(output, "dnf")


def parse_offered(lines: list[str], manager: Manager) -> dict[str, tuple[str | None, str | None]]:
    """`apt-cache policy` blocks (`name:`, `  Installed: v`, `  Candidate: v`; `(none)`), or
    `I|A \\t name \\t epoch:version-release` lines; a name given twice keeps its first."""
    flavour: Literal["deb", "rpm"] = "deb" if manager == "apt" else "rpm"
    found: dict[str, list[str | None]] = {}
    current: str | None = None
    for line in lines[:20_000]:
        line = line.rstrip("\r")
        if manager == "apt":
            header = _APT_HEADER.match(line)
            if header:
                current = header[1] if header[1] not in found else None
                if current is not None:
                    found[current] = [None, None]
                continue
            entry = _APT_FIELD.match(line)
            if entry and current is not None:
                slot = 0 if entry[1] == "Installed" else 1
                found[current][slot] = _version(entry[2], flavour)
            continue
        parts = line.split("\t")
        if len(parts) != 3 or parts[0] not in ("I", "A"):
            continue
        try:
            name = values.package(parts[1], flavour)
        except values.Refused:
            continue
        version = _version(parts[2], flavour)
        if version is None:
            continue
        slot = 0 if parts[0] == "I" else 1
        versions = found.setdefault(name, [None, None])
        if versions[slot] is None:
            versions[slot] = version
    return {name: (pair[0], pair[1]) for name, pair in found.items()}


def _version(text: str, flavour: Literal["deb", "rpm"]) -> str | None:
    if text == "(none)":
        return None
    try:
        return values.version(text, flavour)
    except values.Refused:
        return None


def _at_least(manager: Manager, version: str | None, fixed: str) -> bool:
    from raquet.vulns.versions import compare

    if version is None:
        return False
    try:
        return compare("dpkg" if manager == "apt" else "rpm", version, fixed) >= 0
    except ValueError:
        return False


@operation()
def fixed_versions(packages: list[list[str]], manager: Manager, ledger: Ledger | None = None):
    """Each `[name, fixed]` package upgraded to the candidate its lists offer, when that is
    the fixed version or newer (through `patches`' operation); the others left alone."""
    ledger = ledger if ledger is not None else Ledger()
    names = sorted({name for name, _ in packages})
    fact = AptOffered if manager == "apt" else DnfOffered
    offered = host.get_fact(fact, packages=names, _sudo=False)
    chosen: list[tuple[str, str]] = []
    for name, fixed in packages:
        installed, candidate = offered.get(name, (None, None))
        decision = Decision(name, fixed, installed, candidate)
        ledger.decisions[name] = decision
        if _at_least(manager, installed, fixed):
            decision.outcome = "already fixed"
        elif _at_least(manager, candidate, fixed) and candidate is not None:
            decision.outcome = "upgrade"
            chosen.append((name, candidate))
        else:
            decision.outcome = "not offered"
            host.noop(
                f"{name}: the fixed {fixed} is {NOT_OFFERED}"
                f" (they offer {candidate or 'nothing'}); not attempted"
            )
    if not chosen:
        if all(d.outcome == "already fixed" for d in ledger.decisions.values()):
            host.noop("the fixed versions are installed")
        return
    op = patches.apt_security_updates if manager == "apt" else patches.dnf_security_updates
    yield from op._inner(updates=chosen)


def _text(value: object, limit: int = 256) -> str:
    return clean(str(value), limit) if value is not None else ""


def plan(finding: Finding, ctx: RemedyContext) -> Remedy:
    remedy = Remedy(CHECK, finding)
    evidence = finding.evidence
    upgrades = [u for u in evidence.get("upgrades") or [] if isinstance(u, dict)]
    manager: Manager | None = {"dpkg": "apt", "rpm": "dnf"}.get(  # type: ignore[assignment]
        str(evidence.get("package_manager"))
    )
    groups: dict[tuple[str, str], list[str]] = {}
    wanted: dict[str, dict[str, Any]] = {}
    for entry in upgrades[:MAX_PACKAGES]:
        space = str(entry.get("space") or "")
        component, fixed = entry.get("component"), entry.get("fixed")
        if space == "windows":
            remedy.notes.append(_windows_note(entry))
        elif space == "cpe" or not _OS_SPACE.match(space):
            remedy.notes.append(
                f"manual: install {_text(component)} ≥ {_text(fixed, 128)}"
                f" (installed {_text(entry.get('version'), 128)}; {_cves(entry)});"
                " raquet upgrades no browser or application by itself"
            )
        elif ctx.host.os == "windows" or manager is None:
            remedy.notes.append(
                f"skipped: {_text(component)}: no package manager to upgrade it with"
            )
        else:
            flavour: Literal["deb", "rpm"] = "deb" if manager == "apt" else "rpm"
            try:
                name = values.package(str(component), flavour)
                version = values.version(str(fixed), flavour)
            except values.Refused as exc:
                remedy.notes.append(f"skipped: {exc}")
                continue
            source = _text(entry.get("package") or name, 128)
            groups.setdefault((source, version), []).append(name)
            wanted[name] = entry
    failing = [str(c) for c in evidence.get("failing_components") or []]
    covered = {str(u.get("component")) for u in upgrades}
    for component in failing:
        if component not in covered:
            remedy.notes.append(
                f"no fixed version is known yet for {_text(component)}: nothing to install"
            )
    ledger = Ledger()
    for (source, version), names in sorted(groups.items()):
        shown = ", ".join(names)
        of = f" (source {source})" if source not in names or len(names) > 1 else ""
        cves = "; ".join(dict.fromkeys(_cves(wanted[n]) for n in names))
        remedy.steps.append(
            Step(
                f"upgrade {shown}{of} to the fixed {version} or newer where the host's"
                f" repositories offer it ({cves})",
                fixed_versions,
                {
                    "packages": [[n, version] for n in names],
                    "manager": manager,
                    "ledger": ledger,
                },
            )
        )
    if remedy.steps:
        remedy.notes.append(
            "the host's package lists are read as they are (never refreshed): a fix its"
            " repositories do not offer yet is left alone"
        )
    remedy.verified = lambda after: outcome(ledger, wanted, after)
    return remedy


def _cves(entry: dict[str, Any]) -> str:
    cves = [_text(c, 64) for c in entry.get("cves") or [] if c][:5]
    more = len(entry.get("cves") or []) - len(cves)
    return ", ".join(cves) + (f" and {more} more" if more > 0 else "") or "no CVE named"


def _windows_note(entry: dict[str, Any]) -> str:
    """What to install for a Windows build: the KB and the build it brings (both held to
    their grammar; a value that is not one is left out of the sentence)."""
    kb = _text(entry.get("kb"), 16)
    build = _text(entry.get("fixed"), 32)
    parts = []
    if _KB.match(kb):
        parts.append(f"install {kb}")
    if _BUILD.match(build):
        parts.append(f"reach build {build}")
    what = " / ".join(parts) or "install the month's cumulative update"
    return (
        f"manual: {what} ({_text(entry.get('component'))}, now"
        f" {_text(entry.get('version'), 32)}; {_cves(entry)})"
    )


def outcome(ledger: Ledger, wanted: dict[str, dict[str, Any]], after: Finding | None) -> list[str]:
    """Per package raquet was to upgrade: the fixed version the data asks for, and whether
    the re-sweep finds it reached (the package no longer among the vulnerable components
    with a fix, or now at the fixed version or newer)."""
    still: dict[str, dict[str, Any]] = {}
    if after is not None:
        for entry in after.evidence.get("upgrades") or []:
            if isinstance(entry, dict) and str(entry.get("space") or "") not in ("cpe", "windows"):
                still[str(entry.get("component"))] = entry
    lines = []
    for name in wanted:
        decision = ledger.decisions.get(name)
        fixed = str(wanted[name].get("fixed"))
        if decision is not None and decision.outcome == "not offered":
            lines.append(f"{name}: fixed {fixed} not reached: {NOT_OFFERED}; not attempted")
        elif after is None or after.status not in ("pass", "fail", "not_applicable"):
            lines.append(f"{name}: fixed {fixed}: not verified (the check could not run again)")
        elif name in still:
            left = _text(still[name].get("version"), 128)
            lines.append(f"{name}: fixed {fixed} not reached: still {left}")
        else:
            got = decision.candidate if decision and decision.outcome == "upgrade" else None
            lines.append(f"{name}: fixed {fixed} reached" + (f" ({got} installed)" if got else ""))
    return lines
