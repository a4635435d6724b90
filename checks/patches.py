"""`patches`: no pending security updates, no reboot waiting, an OS release still supported (SPEC §3).

Pending updates come from the package manager's own simulation against the lists the
host already has (`apt-get -s dist-upgrade`, `dnf --cacheonly`): a sweep never refreshes
or changes anything. An update is a security update when the suite offering it says so
(Debian's `Debian-Security` label, Ubuntu's `*-security` pocket, dnf's security advisories).
Windows hosts are judged in `checks/windows/patches.py`; end-of-life dates for both are in
`data/eol.yml`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any

from checks.av import epoch
from checks.base import Check, Context, HostFacts, Sections, clean, load_data
from checks.pending import overdue
from checks.windows import patches as windows
from raquet.models import Finding, Host, OsName, Severity
from raquet.policy import Policy

LINUX = r"""
if command -v apt-get >/dev/null 2>&1; then
  rq patches.apt
  apt-get -s -o Debug::NoLocking=1 dist-upgrade 2>&1 | grep -E '^(Inst|E:|W:|Err)' | head -n 5000
  rq patches.apt_lists
  stat -c %Y /var/lib/apt/lists/*Packages* 2>/dev/null | sort -n | tail -n 1
elif command -v dnf >/dev/null 2>&1 || command -v yum >/dev/null 2>&1; then
  pm=$(command -v dnf || command -v yum)
  rq patches.dnf_security
  "$pm" -q --cacheonly updateinfo list --security --available 2>&1 | head -n 5000
  rq patches.dnf_updates
  "$pm" -q --cacheonly check-update 2>&1 | head -n 5000
fi
rq patches.reboot
if [ -f /var/run/reboot-required ]; then echo "required"; cat /var/run/reboot-required.pkgs 2>/dev/null
elif command -v needs-restarting >/dev/null 2>&1; then
  needs-restarting -r >/dev/null 2>&1; [ $? -eq 1 ] && echo "required"
fi
"""

# Inst openssl [3.0.11-1~deb12u2] (3.0.13-1~deb12u1 Debian-Security:12/stable-security [amd64])
_APT_INST = re.compile(
    r"^Inst (?P<name>\S+)(?: \[(?P<old>[^\]]*)\])? \((?P<new>\S+) (?P<origins>.*?)(?: \[[^\]]*\])?\)"
)
# FEDORA-2024-1a2b3c4d5e Important/Sec.  openssl-libs-1:3.1.4-2.fc39.x86_64
_DNF_ADVISORY = re.compile(r"^\S+\s+\S*/Sec\.\s+(?P<nevra>\S+)$")
_NEVRA = re.compile(r"^(?P<name>.+?)-(?:\d+:)?(?P<version>[^-]+-[^-]+?)\.(?P<arch>[^.]+)$")


@dataclass(slots=True, kw_only=True)
class Update:
    name: str
    installed: str | None = None
    available: str
    origin: str = ""
    security: bool = False

    def evidence(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "installed": self.installed,
            "available": self.available,
            "origin": self.origin,
            "security": self.security,
        }


@dataclass(slots=True)
class PatchState:
    manager: str | None = None
    updates: list[Update] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    reboot_required: bool = False
    reboot_packages: list[str] = field(default_factory=list)
    lists_updated_at: datetime | None = None

    @property
    def security(self) -> list[Update]:
        return [u for u in self.updates if u.security]


@cache
def eol_table() -> dict[str, dict[str, date]]:
    table: Any = load_data("eol.yml")
    return {os_id: {str(v): d for v, d in versions.items()} for os_id, versions in table.items()}


def end_of_life(facts: HostFacts) -> date | None:
    """The release's end of support, from the shipped table; RHEL-likes by major version."""
    for os_id in [facts.os_id, *facts.os_like]:
        versions = eol_table().get(os_id, {})
        for key in (facts.os_version, facts.os_version.split(".")[0]):
            if key in versions:
                return versions[key]
    return None


def parse_apt(lines: list[str]) -> tuple[list[Update], list[str]]:
    updates, errors = [], []
    for line in lines:
        match = _APT_INST.match(line)
        if match:
            origins = match["origins"]
            updates.append(
                Update(
                    name=clean(match["name"], 128),
                    installed=match["old"],
                    available=clean(match["new"], 64),
                    origin=clean(origins, 200),
                    security="security" in origins.lower(),
                )
            )
        elif not line.startswith("Inst"):
            errors.append(clean(line))
    return updates, errors


def parse_dnf(security_lines: list[str], update_lines: list[str]) -> list[Update]:
    secure = set()
    for line in security_lines:
        match = _DNF_ADVISORY.match(line.strip())
        nevra = _NEVRA.match(match["nevra"]) if match else None
        if nevra:
            secure.add(nevra["name"])
    updates = []
    for line in update_lines:
        if line.startswith("Obsoleting"):
            break  # what follows lists replacements, not further updates
        parts = line.split()
        if len(parts) != 3 or "." not in parts[0] or line.startswith(" "):
            continue
        name = parts[0].rsplit(".", 1)[0]
        updates.append(
            Update(
                name=clean(name, 128),
                available=clean(parts[1], 64),
                origin=clean(parts[2], 64),
                security=name in secure,
            )
        )
    return updates


class PatchesCheck(Check[PatchState | windows.WindowsPatchState]):
    name = "patches"
    title = "Patches"

    def snippet(self, os: OsName, policy: Policy) -> str | None:
        return LINUX if os == "linux" else windows.SNIPPET

    def parse(self, sections: Sections, facts: HostFacts) -> PatchState | windows.WindowsPatchState:
        if facts.windows:
            return windows.parse(sections, facts)
        state = PatchState()
        if "patches.apt" in sections:
            state.manager = "apt"
            state.updates, state.errors = parse_apt(sections.lines("patches.apt"))
            stamp = sections.lines("patches.apt_lists")
            state.lists_updated_at = epoch(stamp[0], facts.tz) if stamp else None
        elif "patches.dnf_updates" in sections:
            state.manager = "dnf"
            state.updates = parse_dnf(
                sections.lines("patches.dnf_security"), sections.lines("patches.dnf_updates")
            )
        reboot = sections.lines("patches.reboot")
        state.reboot_required = bool(reboot) and reboot[0] == "required"
        state.reboot_packages = [clean(p, 128) for p in reboot[1:50]]
        return state

    def evaluate(
        self,
        state: PatchState | windows.WindowsPatchState,
        host: Host,
        facts: HostFacts,
        ctx: Context,
    ) -> Finding:
        if isinstance(state, windows.WindowsPatchState):
            return windows.evaluate(state, host, facts, ctx, end_of_life(facts))
        eol = end_of_life(facts)
        is_eol = eol is not None and facts.now.date() > eol
        security = state.security
        evidence: dict[str, Any] = {
            "package_manager": state.manager,
            "pending": len(state.updates),
            "pending_security": len(security),
            "security_packages": sorted(u.name for u in security),
            "regular_packages": sorted(u.name for u in state.updates if not u.security)[:200],
            "updates": [u.evidence() for u in state.updates[:500]],
            "reboot_required": state.reboot_required,
            "reboot_packages": state.reboot_packages,
            "lists_updated_at": state.lists_updated_at.isoformat()
            if state.lists_updated_at
            else None,
            "os": facts.os_name,
            "os_end_of_life": eol.isoformat() if eol else None,
            "os_eol_reached": is_eol,
        }
        if state.manager is None:
            return self.error("no supported package manager (apt, dnf, yum) on the host")
        if state.manager == "apt" and state.errors:
            evidence["errors"] = state.errors[:20]
        problems: list[tuple[Severity, str]] = []
        late, waited = overdue(host, [(u.name, u.available) for u in security], facts, ctx)
        evidence.update(waited)
        if late:
            names = ", ".join(sorted({name for name, _ in late})[:5])
            problems.append(
                ("high", f"{len(late)} security update(s) pending{_longer(waited)} ({names})")
            )
        if is_eol and ctx.policy.patches.fail_on_eol:
            problems.append(
                ("high", f"{facts.os_name or facts.os_id} reached end of life on {eol}")
            )
        if state.reboot_required and ctx.policy.patches.fail_on_reboot_required:
            problems.append(("medium", "a reboot is required to finish updates"))
        if state.updates and ctx.policy.patches.fail_on_regular_updates and not security:
            problems.append(("low", f"{len(state.updates)} update(s) pending"))
        if not problems:
            title = (
                f"{len(security)} security update(s) pending, within the "
                f"{ctx.policy.patches.max_pending_days:g}-day limit"
                if security
                else f"No security updates pending ({len(state.updates)} other update(s))"
            )
            return Finding(
                check=self.name, status="pass", severity="info", title=title, evidence=evidence
            )
        order: list[Severity] = ["info", "low", "medium", "high", "critical"]
        severity = max((s for s, _ in problems), key=order.index)
        return Finding(
            check=self.name,
            status="fail",
            severity=severity,
            title="; ".join(t for _, t in problems),
            evidence=evidence,
        )


def _longer(waited: dict[str, Any]) -> str:
    return f" for more than {waited['max_pending_days']:g} days" if waited else ""


CHECK = PatchesCheck()
