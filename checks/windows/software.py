"""`software` on Windows: installed programs, licence activation, activator traces.

Programs come from the Uninstall registry keys (64-bit, WOW6432Node, every loaded user
hive) — never `Win32_Product`, whose enumeration makes Windows Installer check, and
sometimes repair, every MSI product. They are matched against the same policy denylist
as Linux packages, versions compared numerically. Activation is
`SoftwareLicensingProduct.LicenseStatus` (1 = licensed). Activator traces are the files,
scheduled tasks, services and IFEO hook that `data/windows_activators.yml` lists, and a
KMS host that is the machine itself (a local KMS emulator) or not one of the policy's
`approved_kms_hosts`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cache
from typing import Any

from pydantic import BaseModel

from checks.base import Context, HostFacts, Sections, load_data
from checks.windows.common import load, number, objects, running_services, strings, text
from raquet.models import Finding, Severity
from raquet.policy import Policy
from raquet.powershell import quote_list

ORDER: list[Severity] = ["info", "low", "medium", "high", "critical"]
LICENSE_STATUS = {
    0: "Unlicensed",
    1: "Licensed",
    2: "OOBGrace",
    3: "OOTGrace",
    4: "NonGenuineGrace",
    5: "Notification",
    6: "ExtendedGrace",
}
WINDOWS_APPLICATION = "55c92734-d682-4d71-983e-d6ec3f16059f"


class Trace(BaseModel):
    tool: str
    path: str = ""
    glob: str = ""


class Activators(BaseModel):
    paths: list[Trace]
    tasks: list[Trace]
    services: list[Trace]
    ifeo_images: list[str]


@cache
def activators() -> Activators:
    table: Any = load_data("windows_activators.yml")
    return Activators.model_validate(table)


def snippet() -> str:
    table = activators()
    return rf"""
$r = @{{}}
$keys = @(
  @('HKLM', 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall'),
  @('HKLM32', 'HKLM:\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall')
)
foreach ($sid in @(Get-ChildItem -LiteralPath 'Registry::HKEY_USERS' -ErrorAction SilentlyContinue)) {{
  if ($sid.PSChildName -match '^S-1-5-21-[0-9-]+$') {{
    $keys += ,@(('HKU:' + $sid.PSChildName), ('Registry::HKEY_USERS\' + $sid.PSChildName + '\Software\Microsoft\Windows\CurrentVersion\Uninstall'))
  }}
}}
$r.Uninstall = @(foreach ($k in $keys) {{
  foreach ($item in @(Get-ChildItem -LiteralPath $k[1] -ErrorAction SilentlyContinue)) {{
    $p = Get-ItemProperty -LiteralPath $item.PSPath -ErrorAction SilentlyContinue
    if ($p -and $p.DisplayName) {{
      @{{ Hive = $k[0]; DisplayName = [string]$p.DisplayName; DisplayVersion = [string]$p.DisplayVersion;
         Publisher = [string]$p.Publisher; InstallDate = [string]$p.InstallDate; SystemComponent = $p.SystemComponent }}
    }}
  }}
}})
try {{
  $r.Licensing = @(Get-CimInstance -ClassName SoftwareLicensingProduct -Filter 'PartialProductKey IS NOT NULL' |
    Select-Object Name, Description, ApplicationID, LicenseStatus, LicenseStatusReason, GracePeriodRemaining,
      PartialProductKey, ProductKeyChannel, KeyManagementServiceMachine, KeyManagementServicePort,
      DiscoveredKeyManagementServiceMachineName, DiscoveredKeyManagementServiceMachineIpAddress)
}} catch {{ $r.LicensingError = Rq-Error $_ }}
$spp = @('HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion\SoftwareProtectionPlatform',
  'HKLM:\SOFTWARE\WOW6432Node\Microsoft\Windows NT\CurrentVersion\SoftwareProtectionPlatform',
  'HKLM:\SOFTWARE\Microsoft\OfficeSoftwareProtectionPlatform')
$r.Kms = @(foreach ($key in $spp) {{
  $p = Get-ItemProperty -LiteralPath $key -ErrorAction SilentlyContinue
  if ($p -and $p.KeyManagementServiceName) {{
    @{{ Key = $key; KeyManagementServiceName = [string]$p.KeyManagementServiceName; KeyManagementServicePort = [string]$p.KeyManagementServicePort }}
  }}
}})
$ifeo = 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Image File Execution Options\'
$r.Ifeo = @(foreach ($image in {quote_list(table.ifeo_images)}) {{
  $p = Get-ItemProperty -LiteralPath ($ifeo + $image) -ErrorAction SilentlyContinue
  if ($p) {{ @{{ Image = $image; VerifierDlls = [string]$p.VerifierDlls; GlobalFlag = $p.GlobalFlag; KMS_Emulation = $p.KMS_Emulation }} }}
}})
$r.Paths = @(foreach ($path in {quote_list(t.path for t in table.paths)}) {{
  if (Test-Path -LiteralPath ([Environment]::ExpandEnvironmentVariables($path))) {{ $path }}
}})
$tree = 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Schedule\TaskCache\Tree'
$r.Tasks = @(Get-ChildItem -LiteralPath $tree -Recurse -ErrorAction SilentlyContinue | Select-Object -First 5000 |
  ForEach-Object {{ [string]$_.Name.Substring($_.Name.IndexOf('\Tree') + 5) }})
$r.Services = @(Get-Service -Name {quote_list(t.glob for t in table.services)} -ErrorAction SilentlyContinue |
  Select-Object Name, Status)
$r
"""


@dataclass(slots=True)
class Program:
    name: str
    version: str
    publisher: str = ""
    hive: str = ""


@dataclass(slots=True)
class License:
    name: str
    application: str
    status: int | None
    channel: str = ""
    kms_host: str = ""

    @property
    def status_name(self) -> str:
        if self.status is None:
            return "unknown"
        return LICENSE_STATUS.get(self.status, f"unknown ({self.status})")


@dataclass(slots=True)
class WindowsSoftwareState:
    programs: list[Program] = field(default_factory=list)
    licenses: list[License] = field(default_factory=list)
    licensing_error: str | None = None
    kms_registry: list[str] = field(default_factory=list)
    ifeo: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    services: dict[str, bool] = field(default_factory=dict)


def parse(sections: Sections, facts: HostFacts) -> WindowsSoftwareState:
    data = load(sections, "software")
    seen: dict[tuple[str, str], Program] = {}
    for entry in objects(data.get("Uninstall")):
        program = Program(
            name=text(entry.get("DisplayName"), 256),
            version=text(entry.get("DisplayVersion"), 64),
            publisher=text(entry.get("Publisher"), 128),
            hive=text(entry.get("Hive"), 64),
        )
        if program.name:
            seen.setdefault((program.name.lower(), program.version), program)
    return WindowsSoftwareState(
        programs=list(seen.values()),
        licenses=[
            License(
                name=text(p.get("Name"), 128),
                application=text(p.get("ApplicationID"), 64).lower(),
                status=number(p.get("LicenseStatus")),
                channel=text(p.get("ProductKeyChannel"), 64) or text(p.get("Description"), 128),
                kms_host=text(p.get("KeyManagementServiceMachine"), 253),
            )
            for p in objects(data.get("Licensing"))
        ],
        licensing_error=text(data.get("LicensingError"), 300) or None,
        kms_registry=[
            text(k.get("KeyManagementServiceName"), 253)
            for k in objects(data.get("Kms"))
            if text(k.get("KeyManagementServiceName"))
        ],
        ifeo=[
            {
                "image": text(i.get("Image"), 64),
                "verifier_dlls": text(i.get("VerifierDlls"), 256),
                "kms_emulation": i.get("KMS_Emulation") is not None,
            }
            for i in objects(data.get("Ifeo"))
        ],
        paths=strings(data.get("Paths"), 260),
        tasks=strings(data.get("Tasks"), 260)[:5000],
        services=running_services(data.get("Services")),
    )


def activator_traces(state: WindowsSoftwareState, approved: list[str]) -> list[dict[str, str]]:
    table = activators()
    traces = []
    for path in state.paths:
        tool = next((t.tool for t in table.paths if t.path.lower() == path.lower()), "activator")
        traces.append({"kind": "file", "detail": path, "tool": tool})
    for task in state.tasks:
        for trace in table.tasks:
            if fnmatchcase(task.lower(), trace.glob.lower()):
                traces.append({"kind": "scheduled_task", "detail": task, "tool": trace.tool})
                break
    for name in state.services:
        for trace in table.services:
            if fnmatchcase(name, trace.glob.lower()):
                traces.append({"kind": "service", "detail": name, "tool": trace.tool})
                break
    for hook in state.ifeo:
        if "sppextcomobjhook" in hook["verifier_dlls"].lower() or hook["kms_emulation"]:
            detail = f"Image File Execution Options\\{hook['image']}: VerifierDlls={hook['verifier_dlls']}"
            traces.append(
                {"kind": "ifeo_hook", "detail": detail, "tool": "KMS_VL_ALL (SppExtComObjHook)"}
            )
    kms = {h for h in [*state.kms_registry, *(lic.kms_host for lic in state.licenses)] if h}
    for host in sorted(kms):
        if _loopback(host):
            traces.append(
                {
                    "kind": "kms_host",
                    "detail": f"KMS host {host} is this machine",
                    "tool": "local KMS emulator",
                }
            )
        elif not _approved(host, approved):
            detail = f"KMS host {host} is not one of the approved KMS hosts"
            traces.append({"kind": "kms_host", "detail": detail, "tool": "unapproved KMS server"})
    return traces


def _host_part(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]")[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _loopback(host: str) -> bool:
    name = _host_part(host)
    if name in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _approved(host: str, approved: list[str]) -> bool:
    return _host_part(host) in {_host_part(a) for a in approved}


def evaluate(state: WindowsSoftwareState, facts: HostFacts, ctx: Context) -> Finding:
    policy: Policy = ctx.policy
    rules = policy.software
    banned, banned_rules = [], []
    denylist = rules.denylists["windows"]
    for program in state.programs:
        rule = denylist.first(program.name, program.version, "windows")
        if rule is not None:
            banned_rules.append(rule)
            banned.append(
                {
                    "name": program.name,
                    "version": program.version,
                    "rule": rule.name or rule.regex,
                    "reason": rule.reason,
                    "category": rule.category,
                }
            )
    unlisted = (
        [p.name for p in state.programs if not rules.allowed(p.name)]
        if rules.mode == "allowlist"
        else []
    )
    traces = activator_traces(state, rules.approved_kms_hosts)
    unlicensed = [lic for lic in state.licenses if lic.status != 1]
    evidence: dict[str, Any] = {
        "package_manager": "windows-registry",
        "packages": len(state.programs),
        "banned": banned,
        "mode": rules.mode,
        "activation": [
            {
                "name": lic.name,
                "status": lic.status_name,
                "channel": lic.channel,
                "kms_host": lic.kms_host or None,
                "windows": lic.application == WINDOWS_APPLICATION,
            }
            for lic in state.licenses
        ],
        "activation_error": state.licensing_error,
        "activator_traces": traces,
        "approved_kms_hosts": rules.approved_kms_hosts,
    }
    if rules.mode == "allowlist":
        evidence["not_allowed"] = unlisted[:500]
        evidence["not_allowed_count"] = len(unlisted)
    problems: list[tuple[Severity, str]] = []
    if banned:
        names = ", ".join(f"{b['name']} ({b['category']})" for b in banned[:5])
        worst: Severity = max((rule.severity for rule in banned_rules), key=ORDER.index)
        problems.append((worst, f"{len(banned)} banned program(s) installed: {names}"))
    if traces:
        tools = ", ".join(sorted({t["tool"] for t in traces})[:4])
        problems.append(("critical", f"activator traces found ({tools})"))
    if unlicensed:
        first = unlicensed[0]
        problems.append(
            ("medium", f"{first.name or 'Windows'} is not activated ({first.status_name})")
        )
    if unlisted:
        problems.append(("medium", f"{len(unlisted)} program(s) not on the allowlist"))
    if not problems:
        activated = any(lic.application == WINDOWS_APPLICATION for lic in state.licenses)
        return Finding(
            check="software",
            status="pass",
            severity="info",
            title=f"No banned software among {len(state.programs)} programs"
            + ("; Windows is activated" if activated else ""),
            evidence=evidence,
        )
    return Finding(
        check="software",
        status="fail",
        severity=max((s for s, _ in problems), key=ORDER.index),
        title="; ".join(t for _, t in problems),
        evidence=evidence,
    )
