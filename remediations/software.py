"""`software` remediation: remove the banned packages the sweep found.

Linux: `apt-get purge` (configuration goes too: a miner's pool settings should not
survive it) or `dnf remove`, through pyinfra's own package operations, which read the
installed packages and do nothing when the package is already gone. Windows: the
program's own QuietUninstallString, read from the registry on the host at run time (so no
command line from a finding is ever run), or `msiexec /x {GUID} /qn` for MSI products.

Allowlist mode's "not on the allowlist" packages are reported, never removed: that list
is too broad to act on without a person.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pyinfra import host
from pyinfra.api import FactBase, StringCommand, operation
from pyinfra.operations import apt, dnf

from raquet.models import Finding
from raquet.powershell import quote
from remediations import values
from remediations.base import Remedy, RemedyContext, Step

CHECK = "software"
UNINSTALL_KEYS = (
    r"HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall",
    r"HKLM:\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall",
)


@operation()
def packages_removed(packages: list[str], manager: Literal["apt", "dnf"]):
    if manager == "apt":
        yield from apt.packages._inner(packages=packages, present=False, purge=True)
    else:
        yield from dnf.packages._inner(packages=packages, present=False)


class UninstallEntry(FactBase[dict[str, Any] | None]):
    """The registry Uninstall entry whose DisplayName is exactly `display_name`, or None."""

    def command(self, display_name: str) -> StringCommand:
        keys = ",".join(quote(k + r"\*") for k in UNINSTALL_KEYS)
        return StringCommand(
            f"Get-ItemProperty -Path {keys} -ErrorAction SilentlyContinue"
            f" | Where-Object {{ $_.DisplayName -eq {quote(display_name)} }}"
            " | Select-Object -First 1 PSPath, QuietUninstallString, WindowsInstaller, PSChildName"
            " | ConvertTo-Json -Compress"
        )

    def process(self, output: list[str]) -> dict[str, Any] | None:
        try:
            value = json.loads("".join(output))
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


@operation()
def program_removed(name: str):
    """Uninstalled quietly: msiexec for an MSI product (its key is the product code), else the
    entry's QuietUninstallString, which the script reads from the registry itself."""
    entry = host.get_fact(UninstallEntry, display_name=name)
    if entry is None:
        host.noop(f"{name} is not installed")
        return
    code = str(entry.get("PSChildName") or "")
    if entry.get("WindowsInstaller") == 1:
        code = values.msi_product_code(code)
        yield StringCommand(
            "$p = Start-Process -FilePath msiexec.exe -Wait -PassThru"
            f" -ArgumentList @('/x', {quote(code)}, '/qn', '/norestart');"
            " if ($p.ExitCode -notin 0, 1605, 3010) { throw ('msiexec exit code ' + $p.ExitCode) }"
        )
        return
    if not entry.get("QuietUninstallString"):
        raise values.Refused(f"{name} has no quiet uninstaller: remove it by hand")
    yield StringCommand(
        f"$e = Get-ItemProperty -LiteralPath {quote(str(entry.get('PSPath') or ''))};"
        " $p = Start-Process -FilePath cmd.exe -Wait -PassThru"
        " -ArgumentList @('/d', '/c', $e.QuietUninstallString);"
        " if ($p.ExitCode -notin 0, 3010) { throw ('uninstaller exit code ' + $p.ExitCode) }"
    )


def plan(finding: Finding, ctx: RemedyContext) -> Remedy:
    remedy = Remedy(CHECK, finding)
    evidence = finding.evidence
    banned = [b for b in evidence.get("banned") or [] if isinstance(b, dict)]
    if ctx.host.os == "windows":
        for entry in banned:
            name = str(entry.get("name") or "")
            if name:
                remedy.steps.append(Step(f"uninstall {name}", program_removed, {"name": name}))
    else:
        manager = {"dpkg": "apt", "rpm": "dnf"}.get(str(evidence.get("package_manager")))
        names = []
        for entry in banned:
            try:
                names.append(
                    values.package(str(entry.get("name")), "deb" if manager == "apt" else "rpm")
                )
            except values.Refused as exc:
                remedy.notes.append(f"skipped: {exc}")
        if manager is not None and names:
            remedy.steps.append(
                Step(
                    f"remove {', '.join(names)}",
                    packages_removed,
                    {"packages": sorted(set(names)), "manager": manager},
                )
            )
    if evidence.get("not_allowed_count"):
        remedy.notes.append(
            f"{evidence['not_allowed_count']} package(s) not on the allowlist are left for a person"
        )
    return remedy
