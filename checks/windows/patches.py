"""`patches` on Windows: hotfixes and last install, pending updates, reboot-pending keys.

Pending updates come from the Windows Update Agent's own searcher, against whatever
source the host's policy sets (WSUS or Microsoft Update). Microsoft documents the search
as usable remotely, but recent builds refuse it from a WinRM logon with 0x80070005
(PSWindowsUpdate#65, #60): the finding then says so plainly and is an `error` unless
something else already fails. Reboot-pending follows the DSC `PendingReboot` resource's
keys; `PendingFileRenameOperations` alone is reported but not failed on, since antivirus
products set it routinely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from checks.base import Context, HostFacts, Sections
from checks.pending import overdue
from checks.windows.common import flag, load, number, objects, parse_date, strings, text
from raquet.models import Finding, FindingStatus, Host, Severity

SNIPPET = r"""
$r = @{}
try {
  $r.HotFix = @(Get-HotFix | Select-Object HotFixID, Description, InstalledBy, InstalledOn)
} catch { $r.HotFixError = Rq-Error $_ }
try {
  $au = (New-Object -ComObject Microsoft.Update.AutoUpdate).Results
  $r.AutoUpdate = @{}
  if ($au.LastInstallationSuccessDate) {
    $r.AutoUpdate.LastInstallationSuccessDate = [DateTime]::SpecifyKind($au.LastInstallationSuccessDate, 'Utc')
  }
  if ($au.LastSearchSuccessDate) {
    $r.AutoUpdate.LastSearchSuccessDate = [DateTime]::SpecifyKind($au.LastSearchSuccessDate, 'Utc')
  }
} catch { $r.AutoUpdateError = Rq-Error $_ }
try {
  $searcher = (New-Object -ComObject Microsoft.Update.Session).CreateUpdateSearcher()
  $found = $searcher.Search("IsInstalled=0 and Type='Software' and IsHidden=0")
  $r.Search = @{
    ResultCode = [int]$found.ResultCode
    Updates = @(foreach ($u in $found.Updates) {
      @{
        Title = $u.Title
        KBArticleIDs = @($u.KBArticleIDs)
        MsrcSeverity = $u.MsrcSeverity
        Categories = @(foreach ($c in $u.Categories) { $c.Name })
        IsDownloaded = $u.IsDownloaded
        RebootRequired = $u.RebootRequired
      }
    })
  }
} catch { $r.SearchError = Rq-Error $_ }
$sm = Get-ItemProperty -LiteralPath 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager' -ErrorAction SilentlyContinue
$cn = 'HKLM:\SYSTEM\CurrentControlSet\Control\ComputerName\'
$r.Reboot = @{
  CBSRebootPending = Test-Path -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending'
  WURebootRequired = Test-Path -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired'
  PendingFileRename = [bool]($sm.PendingFileRenameOperations)
  ComputerRenamePending = (Get-ItemProperty -LiteralPath ($cn + 'ActiveComputerName')).ComputerName -ne (Get-ItemProperty -LiteralPath ($cn + 'ComputerName')).ComputerName
}
$r
"""

REBOOT_KEYS = {
    "CBSRebootPending": "component-based servicing",
    "WURebootRequired": "windows update",
    "ComputerRenamePending": "computer rename",
}
SECURITY_SEVERITIES = {"critical", "important", "moderate", "low"}
ORDER: list[Severity] = ["info", "low", "medium", "high", "critical"]


@dataclass(slots=True)
class Hotfix:
    id: str
    description: str = ""
    installed_on: datetime | None = None


@dataclass(slots=True)
class PendingUpdate:
    title: str
    kb: list[str] = field(default_factory=list)
    severity: str | None = None
    categories: list[str] = field(default_factory=list)

    def evidence(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "kb": list(self.kb),
            "severity": self.severity,
            "categories": list(self.categories),
            "security": self.security,
        }

    @property
    def security(self) -> bool:
        return (self.severity or "").lower() in SECURITY_SEVERITIES or any(
            c.lower() == "security updates" for c in self.categories
        )

    @property
    def label(self) -> str:
        return f"KB{self.kb[0]}" if self.kb else self.title


@dataclass(slots=True)
class WindowsPatchState:
    hotfixes: list[Hotfix] = field(default_factory=list)
    last_installed_at: datetime | None = None
    last_search_at: datetime | None = None
    pending: list[PendingUpdate] | None = None
    search_error: str | None = None
    reboot: dict[str, bool] = field(default_factory=dict)

    @property
    def reboot_required(self) -> bool:
        return any(self.reboot.get(key) for key in REBOOT_KEYS)


def parse(sections: Sections, facts: HostFacts) -> WindowsPatchState:
    data = load(sections, "patches")
    state = WindowsPatchState(
        hotfixes=[
            Hotfix(
                id=text(h.get("HotFixID"), 32),
                description=text(h.get("Description"), 64),
                installed_on=parse_date(h.get("InstalledOn")),
            )
            for h in objects(data.get("HotFix"))
            if text(h.get("HotFixID"))
        ],
        search_error=text(data.get("SearchError"), 400) or None,
    )
    auto = _object(data.get("AutoUpdate"))
    state.last_search_at = parse_date(auto.get("LastSearchSuccessDate"))
    installed = [h.installed_on for h in state.hotfixes]
    installed.append(parse_date(auto.get("LastInstallationSuccessDate")))
    state.last_installed_at = max((d for d in installed if d), default=None)
    search = data.get("Search")
    if isinstance(search, dict):
        state.pending = [
            PendingUpdate(
                title=text(u.get("Title"), 256),
                kb=strings(u.get("KBArticleIDs"), 16),
                severity=text(u.get("MsrcSeverity"), 32) or None,
                categories=strings(u.get("Categories"), 64),
            )
            for u in objects(search.get("Updates"))
        ]
        if number(search.get("ResultCode")) not in (2, 3, None):  # 2 succeeded, 3 with errors
            state.search_error = f"the search ended with result code {search.get('ResultCode')}"
    elif state.search_error is None:
        state.search_error = "the script returned no search result"
    reboot = _object(data.get("Reboot"))
    state.reboot = {k: flag(v) is True for k, v in reboot.items() if isinstance(k, str)}
    return state


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def search_reason(error: str) -> str:
    if "0x80070005" in error or "access is denied" in error.lower():
        return (
            "Windows Update refused the search from a remote (WinRM) logon (0x80070005, access "
            "denied), as recent Windows builds do; read pending updates from WSUS or run the "
            f"search as a SYSTEM scheduled task. Host said: {error}"
        )
    return f"the Windows Update search failed: {error}"


def evaluate(
    state: WindowsPatchState, host: Host, facts: HostFacts, ctx: Context, eol: date | None
) -> Finding:
    is_eol = eol is not None and facts.now.date() > eol
    pending = state.pending or []
    security = [u for u in pending if u.security]
    dated = [h for h in state.hotfixes if h.installed_on]
    latest = max(
        dated, key=lambda h: h.installed_on.timestamp() if h.installed_on else 0, default=None
    )
    evidence: dict[str, Any] = {
        "package_manager": "windows-update",
        "pending": len(pending) if state.pending is not None else None,
        "pending_security": len(security) if state.pending is not None else None,
        "security_packages": sorted(u.label for u in security),
        "regular_packages": sorted(u.label for u in pending if not u.security)[:200],
        "updates": [u.evidence() for u in pending[:500]],
        "reboot_required": state.reboot_required,
        "reboot_signals": sorted(k for k, v in state.reboot.items() if v),
        "hotfixes": len(state.hotfixes),
        "last_hotfix": latest.id if latest else None,
        "last_installed_at": state.last_installed_at.isoformat()
        if state.last_installed_at
        else None,
        "last_search_at": state.last_search_at.isoformat() if state.last_search_at else None,
        "os": facts.os_name,
        "os_end_of_life": eol.isoformat() if eol else None,
        "os_eol_reached": is_eol,
    }
    if state.search_error:
        evidence["pending_error"] = search_reason(state.search_error)
    problems: list[tuple[Severity, str]] = []
    late, waited = overdue(host, [(u.label, u.title) for u in security], facts, ctx)
    evidence.update(waited)
    if late:
        names = ", ".join(sorted({label for label, _ in late})[:5])
        limit = f" for more than {waited['max_pending_days']:g} days" if waited else ""
        problems.append(("high", f"{len(late)} security update(s) pending{limit} ({names})"))
    if is_eol and ctx.policy.patches.fail_on_eol:
        problems.append(("high", f"{facts.os_name or facts.os_id} reached end of life on {eol}"))
    if state.reboot_required and ctx.policy.patches.fail_on_reboot_required:
        problems.append(("medium", "a reboot is pending to finish updates"))
    if pending and ctx.policy.patches.fail_on_regular_updates and not security:
        problems.append(("low", f"{len(pending)} update(s) pending"))
    status: FindingStatus
    if problems:
        status, severity = "fail", max((s for s, _ in problems), key=ORDER.index)
        title = "; ".join(t for _, t in problems)
    elif state.search_error:
        status, severity = "error", "medium"
        title = f"Patches check could not list pending updates: {evidence['pending_error']}"
    elif security:
        status, severity = "pass", "info"
        limit_days = ctx.policy.patches.max_pending_days
        title = f"{len(security)} security update(s) pending, within the {limit_days:g}-day limit"
    else:
        status, severity = "pass", "info"
        title = f"No security updates pending ({len(pending)} other update(s))"
    return Finding(
        check="patches", status=status, severity=severity, title=title[:600], evidence=evidence
    )
