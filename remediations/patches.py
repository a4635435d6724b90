"""`patches` remediation: install the pending security updates the sweep found, and nothing else.

Exactly the packages and versions of the finding's evidence are installed, from the
package lists the host already has (no refresh, so nothing newer and nothing unplanned
slips in), and only as upgrades of what is installed. A reboot is reported, never done,
unless the operator asks for it with `--reboot`. An end-of-life release needs an OS
upgrade, which is left to people.
"""

from __future__ import annotations

from typing import Any

from pyinfra import host
from pyinfra.api import FactBase, QuoteString, StringCommand, operation
from pyinfra.facts.rpm import RpmPackages
from pyinfra.facts.server import RebootRequired
from pyinfra.operations import apt, server

from raquet.models import Finding
from raquet.powershell import quote
from remediations import values
from remediations.base import Remedy, RemedyContext, Step

CHECK = "patches"
# Windows Update's "Security Updates" classification
SECURITY_CATEGORY = "0FA1201D-4330-4FA8-8AE9-B877473B6441"
WU_SEARCH = f"IsInstalled=0 and Type='Software' and CategoryIDs contains '{SECURITY_CATEGORY}'"


@operation()
def apt_security_updates(updates: list[tuple[str, str]]):
    """`apt-get install --only-upgrade name=version…` for the versions not yet installed."""
    yield from apt.packages._inner(
        packages=[f"{name}={version}" for name, version in updates],
        extra_install_args="--only-upgrade",
    )


@operation()
def dnf_security_updates(updates: list[tuple[str, str]]):
    """`dnf upgrade name-version…` for the versions not yet installed (rpm keeps no epoch in
    its version list, so the epoch is dropped for the comparison only)."""
    installed = host.get_fact(RpmPackages, _sudo=False)
    wanted = [
        f"{name}-{version}"
        for name, version in updates
        if version.split(":", 1)[-1] not in installed.get(name, ())
    ]
    if not wanted:
        host.noop("security updates are installed")
        return
    yield StringCommand("dnf", "upgrade", "-y", *(QuoteString(w) for w in wanted))


@operation()
def reboot_if_required():
    """Reboot and wait for the host to come back, only when it says a reboot is pending."""
    if not host.get_fact(RebootRequired, _sudo=False):
        host.noop("no reboot is pending")
        return
    yield from server.reboot._inner()


class PendingSecurityUpdates(FactBase[int | None]):
    """How many security updates the Windows Update Agent has pending (its own search)."""

    def command(self) -> StringCommand:
        return StringCommand(
            "(New-Object -ComObject Microsoft.Update.Session).CreateUpdateSearcher()"
            f".Search({quote(WU_SEARCH)}).Updates.Count"
        )

    def process(self, output: list[str]) -> int | None:
        text = "".join(output).strip()
        return int(text) if text.isdigit() else None


@operation()
def windows_security_updates():
    """Every pending update of the Security Updates classification, through the update agent
    (downloaded and installed by the agent itself; result codes 2 and 3 are success)."""
    if host.get_fact(PendingSecurityUpdates) == 0:
        host.noop("no security update is pending")
        return
    yield StringCommand(
        "$s = New-Object -ComObject Microsoft.Update.Session;"
        f" $r = $s.CreateUpdateSearcher().Search({quote(WU_SEARCH)});"
        " $d = $s.CreateUpdateDownloader(); $d.Updates = $r.Updates; [void]$d.Download();"
        " $i = $s.CreateUpdateInstaller(); $i.Updates = $r.Updates; $x = $i.Install();"
        " if ($x.ResultCode -ne 2 -and $x.ResultCode -ne 3) {"
        " throw ('Windows Update result code ' + $x.ResultCode) }"
    )


def _updates(evidence: dict[str, Any], flavour: Any, remedy: Remedy) -> list[tuple[str, str]]:
    chosen = []
    for update in evidence.get("updates") or []:
        if not isinstance(update, dict) or update.get("security") is not True:
            continue
        try:
            name = values.package(str(update.get("name")), flavour)
            version = values.version(str(update.get("available")), flavour)
        except values.Refused as exc:
            remedy.notes.append(f"skipped: {exc}")
            continue
        chosen.append((name, version))
    return chosen


def plan(finding: Finding, ctx: RemedyContext) -> Remedy:
    remedy = Remedy(CHECK, finding)
    evidence = finding.evidence
    if ctx.host.os == "windows":
        remedy.steps.append(Step("install security updates", windows_security_updates))
    elif evidence.get("package_manager") in ("apt", "dnf"):
        manager = evidence["package_manager"]
        updates = _updates(evidence, "deb" if manager == "apt" else "rpm", remedy)
        if updates:
            op = apt_security_updates if manager == "apt" else dnf_security_updates
            names = ", ".join(name for name, _ in updates)
            remedy.steps.append(
                Step(f"install security updates ({names})", op, {"updates": updates})
            )
    if evidence.get("reboot_required") or remedy.steps:
        if ctx.reboot:
            remedy.steps.append(Step("reboot if the updates need it", reboot_if_required))
        elif evidence.get("reboot_required"):
            remedy.notes.append("a reboot is pending; raquet reboots only with --reboot")
    if evidence.get("os_eol_reached"):
        remedy.notes.append(
            f"{evidence.get('os') or 'the OS'} is past its end of life: it needs a release upgrade"
        )
    return remedy
