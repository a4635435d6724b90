"""`software`: no banned software installed — miners, P2P, unapproved remote access, cracks (SPEC §3).

Installed packages come from the package database itself (dpkg or rpm), matched against
the policy's denylist by name glob or regex and, where a rule says so, by version range
compared the way the package manager compares versions. In allowlist mode every package
the allowlist does not name is reported instead. Windows hosts (Uninstall keys,
activation, activator traces) are judged in `checks/windows/software.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from checks.base import Check, Context, HostFacts, Sections, clean
from checks.windows import software as windows
from raquet.models import Finding, Host, OsName, Severity
from raquet.policy import Policy

LINUX = r"""
if command -v dpkg-query >/dev/null 2>&1; then
  rq software.dpkg
  dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Version}\n' 2>/dev/null |
    awk -F'\t' '$1 ~ /^[hi]i/ {print $2 "\t" $3}'
elif command -v rpm >/dev/null 2>&1; then
  rq software.rpm
  rpm -qa --qf '%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\n' 2>/dev/null
fi
"""

SEVERITY_ORDER: list[Severity] = ["info", "low", "medium", "high", "critical"]


class Package(NamedTuple):
    name: str
    version: str


@dataclass(slots=True)
class SoftwareState:
    manager: Literal["dpkg", "rpm"] | None = None
    packages: list[Package] = field(default_factory=list)


class SoftwareCheck(Check[SoftwareState | windows.WindowsSoftwareState]):
    name = "software"
    title = "Software"

    def snippet(self, os: OsName, policy: Policy) -> str | None:
        return LINUX if os == "linux" else windows.snippet()

    def parse(
        self, sections: Sections, facts: HostFacts
    ) -> SoftwareState | windows.WindowsSoftwareState:
        if facts.windows:
            return windows.parse(sections, facts)
        for manager in ("dpkg", "rpm"):
            if f"software.{manager}" in sections:
                packages = []
                for line in sections.lines(f"software.{manager}"):
                    name, _, version = line.partition("\t")
                    if not (len(name) <= 128 >= len(version) and (name + version).isprintable()):
                        name, version = clean(name, 128), clean(version, 128)  # (else as is)
                    packages.append(Package(name, version))
                return SoftwareState(manager=manager, packages=packages)
        return SoftwareState()

    def evaluate(
        self,
        state: SoftwareState | windows.WindowsSoftwareState,
        host: Host,
        facts: HostFacts,
        ctx: Context,
    ) -> Finding:
        if isinstance(state, windows.WindowsSoftwareState):
            return windows.evaluate(state, facts, ctx)
        if state.manager is None:
            return self.error("no package database (dpkg or rpm) on the host")
        policy = ctx.policy.software
        flavour: Literal["deb", "rpm"] = "deb" if state.manager == "dpkg" else "rpm"
        banned: list[dict[str, Any]] = []
        severity: Severity = "info"
        for (name, version), rule in policy.denylists["linux"].banned(state.packages, flavour):
            banned.append(
                {
                    "name": name,
                    "version": version,
                    "rule": rule.name or rule.regex,
                    "reason": rule.reason,
                    "category": rule.category,
                }
            )
            severity = max(severity, rule.severity, key=SEVERITY_ORDER.index)
        unlisted = []
        if policy.mode == "allowlist":
            unlisted = [p.name for p in state.packages if not policy.allowed(p.name)]
        evidence: dict[str, Any] = {
            "package_manager": state.manager,
            "packages": len(state.packages),
            "banned": banned,
            "mode": policy.mode,
        }
        if policy.mode == "allowlist":
            evidence["not_allowed"] = unlisted[:500]
            evidence["not_allowed_count"] = len(unlisted)
        problems = []
        if banned:
            names = ", ".join(f"{b['name']} ({b['category']})" for b in banned[:5])
            problems.append(f"{len(banned)} banned package(s) installed: {names}")
        if unlisted:
            severity = max(severity, "medium", key=SEVERITY_ORDER.index)
            problems.append(f"{len(unlisted)} package(s) not on the allowlist")
        if not problems:
            return Finding(
                check=self.name,
                status="pass",
                severity="info",
                title=f"No banned software among {len(state.packages)} packages",
                evidence=evidence,
            )
        return Finding(
            check=self.name,
            status="fail",
            severity=severity,
            title="; ".join(problems),
            evidence=evidence,
        )


CHECK = SoftwareCheck()
