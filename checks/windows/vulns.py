"""`vulns` on Windows: the Windows build and installed programs, as the vulnerability data
names them.

The build is the CurrentVersion key's (CurrentBuildNumber, UBR: `10.0.22631.3447`), and
the product the name Microsoft's monthly CVRF documents use for it ("Windows 11 Version
23H2 for x64-based Systems", "Windows Server 2022 (Server Core installation)"), made from
the build number, DisplayVersion, InstallationType and the processor architecture —
never from ProductName, which still says "Windows 10" on Windows 11. Programs come from
the Uninstall keys (64-bit, WOW6432Node, every loaded user hive), DisplayName and
DisplayVersion only; `raquet.vulns.names` maps their names to CPEs for NVD data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from checks.base import HostFacts, Sections
from checks.windows.common import load, number, objects, text
from raquet.vulns import Installed, WindowsBuild

SNIPPET = r"""
$r = @{}
$cv = Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion' -ErrorAction SilentlyContinue
if ($cv) {
  $r.Os = @{ ProductName = [string]$cv.ProductName; CurrentBuildNumber = [string]$cv.CurrentBuildNumber; UBR = $cv.UBR;
    DisplayVersion = [string]$cv.DisplayVersion; ReleaseId = [string]$cv.ReleaseId; InstallationType = [string]$cv.InstallationType;
    EditionID = [string]$cv.EditionID; CurrentVersion = [string]$cv.CurrentVersion;
    CurrentMajorVersionNumber = $cv.CurrentMajorVersionNumber; CurrentMinorVersionNumber = $cv.CurrentMinorVersionNumber }
}
$r.Arch = [string]$env:PROCESSOR_ARCHITECTURE
if ($env:PROCESSOR_ARCHITEW6432) { $r.Arch = [string]$env:PROCESSOR_ARCHITEW6432 }
$keys = @('HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall',
  'HKLM:\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall')
foreach ($sid in @(Get-ChildItem -LiteralPath 'Registry::HKEY_USERS' -ErrorAction SilentlyContinue)) {
  if ($sid.PSChildName -match '^S-1-5-21-[0-9-]+$') {
    $keys += ('Registry::HKEY_USERS\' + $sid.PSChildName + '\Software\Microsoft\Windows\CurrentVersion\Uninstall')
  }
}
$r.Programs = @(foreach ($k in $keys) {
  foreach ($item in @(Get-ChildItem -LiteralPath $k -ErrorAction SilentlyContinue)) {
    $p = Get-ItemProperty -LiteralPath $item.PSPath -ErrorAction SilentlyContinue
    if ($p -and $p.DisplayName) { @{ Name = [string]$p.DisplayName; Version = [string]$p.DisplayVersion } }
  }
})
$r
"""

MAX_PROGRAMS = 5000
SERVERS = {
    26100: "Windows Server 2025",
    25398: "Windows Server 2022, 23H2 Edition",
    20348: "Windows Server 2022",
    17763: "Windows Server 2019",
    14393: "Windows Server 2016",
    9600: "Windows Server 2012 R2",
    9200: "Windows Server 2012",
}
"""Server builds -> the product MSRC names (23H2 Edition is Server Core only)."""
ARCHITECTURES = {
    "amd64": "x64-based Systems",
    "arm64": "ARM64-based Systems",
    "x86": "32-bit Systems",
}


@dataclass(slots=True)
class WindowsOs:
    product_name: str = ""
    build: int | None = None
    ubr: int = 0
    display_version: str = ""
    installation_type: str = ""
    major: str = "10.0"
    arch: str = ""


@dataclass(slots=True)
class WindowsVulnState:
    os: WindowsOs = field(default_factory=WindowsOs)
    programs: list[tuple[str, str]] = field(default_factory=list)
    skipped: int = 0


def parse(sections: Sections, facts: HostFacts) -> WindowsVulnState:
    data = load(sections, "vulns")
    found = data.get("Os")
    raw: dict[str, Any] = found if isinstance(found, dict) else {}
    build_text = text(raw.get("CurrentBuildNumber"), 12)
    major, minor = (
        number(raw.get("CurrentMajorVersionNumber")),
        number(raw.get("CurrentMinorVersionNumber")),
    )
    current = text(raw.get("CurrentVersion"), 12)
    if major is not None and minor is not None and 0 <= major < 100 and 0 <= minor < 100:
        version = f"{major}.{minor}"
    elif _dotted(current):
        version = current
    else:
        version = "10.0"
    ubr = number(raw.get("UBR"))
    os = WindowsOs(
        product_name=text(raw.get("ProductName"), 128),
        build=int(build_text) if build_text.isdigit() and len(build_text) <= 6 else None,
        ubr=ubr if ubr is not None and 0 <= ubr < 10**7 else 0,
        display_version=text(raw.get("DisplayVersion"), 16) or text(raw.get("ReleaseId"), 16),
        installation_type=text(raw.get("InstallationType"), 32),
        major=version,
        arch=text(data.get("Arch"), 16).lower(),
    )
    programs: dict[tuple[str, str], None] = {}
    skipped = 0
    for entry in objects(data.get("Programs")):
        name, version_text = text(entry.get("Name"), 256), text(entry.get("Version"), 64)
        if not name or not version_text or len(programs) >= MAX_PROGRAMS:
            skipped += 1
            continue
        programs.setdefault((name, version_text), None)
    return WindowsVulnState(os=os, programs=list(programs), skipped=skipped)


def _dotted(value: str) -> bool:
    parts = value.split(".")
    return len(parts) == 2 and all(p.isdigit() and len(p) <= 2 for p in parts)


def product(os: WindowsOs) -> str | None:
    """The product as MSRC's CVRF documents name it, or None for a release they do not
    list under a name raquet knows (Windows 7, 8.1, an unknown server build)."""
    if os.build is None:
        return None
    arch = ARCHITECTURES.get(os.arch, "x64-based Systems")
    kind = os.installation_type.lower()
    if kind.startswith("server"):
        name = SERVERS.get(os.build)
        if name is None:
            return None
        if kind == "server core" or os.build == 25398:
            name += " (Server Core installation)"
        return name
    if os.build < 10240:
        return None
    if os.build == 10240:
        return f"Windows 10 for {arch}"
    family = "Windows 11" if os.build >= 22000 else "Windows 10"
    release = os.display_version or ("21H2" if os.build == 22000 else "")
    if not release:
        return None
    return f"{family} Version {release} for {arch}"


def installed(state: WindowsVulnState) -> tuple[Installed, str | None]:
    """What the index is asked about, and the product it is asked under (None: unnamed)."""
    name = product(state.os)
    build = (
        WindowsBuild(name, state.os.build, state.os.ubr, state.os.major)
        if name is not None and state.os.build is not None
        else None
    )
    return Installed(applications=state.programs, windows=build, platform="windows"), name


def label(state: WindowsVulnState, facts: HostFacts) -> str:
    """How the finding names the host's Windows."""
    name = product(state.os)
    if name is not None:
        return f"{name} (build {state.os.major}.{state.os.build}.{state.os.ubr})"
    return facts.os_name or state.os.product_name or "this Windows release"
