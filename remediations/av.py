"""`av` remediation: an antivirus installed, running, with fresh signatures.

Linux: ClamAV (scanner, daemon, updater) from the host's own configured repositories,
clamd enabled and started through whatever init system the host has (pyinfra picks it
from facts), and signatures refreshed from where the policy says: the vendor's mirrors
(default), an agency's private mirror (`av.update.mirror`, freshclam `PrivateMirror`), or,
for agencies without internet, a directory of signature files on the host such as a
mounted share (`av.update.share`). Whether signatures are stale is decided by running
the `av` check's own gather and parser as a fact, so the operation and the re-sweep can
never disagree about it.

Windows: Defender's service started, real-time protection on, signatures updated
(from a UNC file share when `av.update.windows_share` names one).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pyinfra import host
from pyinfra.api import FactBase, OperationError, QuoteString, StringCommand, operation
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.rpm import RpmPackages
from pyinfra.facts.server import Which
from pyinfra.operations import apt, dnf, files, server

from checks.av import CHECK as AV_CHECK
from checks.av import AvState
from checks.base import HostFacts
from raquet.gather import ComplianceState
from raquet.models import Finding
from raquet.powershell import quote
from remediations.base import Remedy, RemedyContext, Step

CHECK = "av"
DAY = 86400
SIGNATURE_FILE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*\.(?:cvd|cld|cud|[a-z]db|hsb|msb|ign2?|fp|sfp|yara?)$"
)
_URL = re.compile(r"^https?://[^\s'\"\\]+$")


@dataclass(frozen=True)
class Layout:
    """Where ClamAV lives on one family of distributions."""

    packages: tuple[str, ...]
    daemon: str
    updater: str
    freshclam_conf: str
    database: str
    owner: str


DEBIAN = Layout(
    packages=("clamav", "clamav-daemon", "clamav-freshclam"),
    daemon="clamav-daemon",
    updater="clamav-freshclam",
    freshclam_conf="/etc/clamav/freshclam.conf",
    database="/var/lib/clamav",
    owner="clamav",
)
REDHAT = Layout(
    packages=("clamav", "clamd", "clamav-update"),
    daemon="clamd@scan",
    updater="clamav-freshclam",
    freshclam_conf="/etc/freshclam.conf",
    database="/var/lib/clamav",
    owner="clamupdate",
)


def layout() -> Layout:
    """The layout of the host being operated on, from its package manager."""
    if host.get_fact(Which, command="apt-get"):
        return DEBIAN
    if host.get_fact(Which, command="dnf") or host.get_fact(Which, command="yum"):
        return REDHAT
    raise OperationError("neither apt-get nor dnf/yum on the host: cannot install ClamAV")


class SignatureFiles(FactBase[dict[str, str]]):
    """Signature files in a directory, name -> sha256, in one round trip."""

    default = dict

    def command(self, directory: str) -> StringCommand:
        return StringCommand(
            "find",
            QuoteString(directory),
            "-maxdepth 1 -type f -exec sha256sum {} + 2>/dev/null || true",
        )

    def process(self, output: list[str]) -> dict[str, str]:
        found = {}
        for line in output:
            digest, _, path = line.partition("  ")
            name = path.rsplit("/", 1)[-1]
            if len(digest) == 64 and SIGNATURE_FILE.match(name):
                found[name] = digest
        return found


def signature_age_days() -> float | None:
    """Age of the newest signatures, read and judged exactly as the `av` check does."""
    sections = host.get_fact(ComplianceState, checks=[CHECK], timeout=60)
    facts = HostFacts.parse(sections)
    state = AV_CHECK.parse(sections, facts)
    if not isinstance(state, AvState):
        return None
    signed_at, _ = state.signature_time()
    return None if signed_at is None else (facts.now - signed_at) / timedelta(days=1)


@operation()
def clamav_installed():
    """ClamAV's scanner, daemon and updater, from the repositories the host already uses.

    The package lists are refreshed only when something must be installed (and at most
    daily), so an installed host costs one fact and no change.
    """
    clam = layout()
    if clam is DEBIAN:
        missing = [p for p in clam.packages if p not in host.get_fact(DebPackages, _sudo=False)]
        if missing:
            yield from apt.packages._inner(
                packages=missing, update=True, cache_time=DAY, no_recommends=True
            )
    else:
        missing = [p for p in clam.packages if p not in host.get_fact(RpmPackages, _sudo=False)]
        if missing:
            yield from dnf.packages._inner(packages=missing)
    if not missing:
        host.noop("ClamAV is installed")


@operation()
def signatures_fresh(max_age_days: float, mirror: str | None = None, share: str | None = None):
    """Signatures no older than the policy allows: copied from `share`, else fetched by freshclam
    (from `mirror` when given, set as freshclam's PrivateMirror so later updates use it too)."""
    age = signature_age_days()
    if age is not None and age <= max_age_days:
        host.noop(f"signatures are {age:.1f} days old")
        return
    clam = layout()
    if share is not None:
        yield from _copy_from_share(clam, share)
        return
    if mirror is not None:
        if not _URL.match(mirror):
            raise OperationError(f"{mirror!r} is not an http(s) mirror URL")
        yield from files.line._inner(
            path=clam.freshclam_conf,
            line=r"^PrivateMirror[[:space:]].*$",
            replace=f"PrivateMirror {mirror}",
        )
    yield from files.directory._inner(path=clam.database, user=clam.owner, group=clam.owner)
    # exit 1 is freshclam's "already up to date"
    yield StringCommand("freshclam", "--stdout", _success_exit_codes=[0, 1])


def _copy_from_share(clam: Layout, share: str) -> Any:
    """Each signature file that differs is copied beside its target, then renamed over it, so
    clamd never loads a half-written database; mtimes travel with the files (`cp -p`)."""
    offered = host.get_fact(SignatureFiles, directory=share)
    if not offered:
        raise OperationError(f"no ClamAV signature files in {share} on the host")
    present = host.get_fact(SignatureFiles, directory=clam.database)
    changed = [name for name, digest in sorted(offered.items()) if present.get(name) != digest]
    yield from files.directory._inner(path=clam.database, user=clam.owner, group=clam.owner)
    for name in changed:
        source = f"{share.rstrip('/')}/{name}"
        target = f"{clam.database}/{name}"
        temporary = f"{clam.database}/.{name}.raquet"
        yield StringCommand("cp", "-p", QuoteString(source), QuoteString(temporary))
        yield StringCommand("chown", QuoteString(f"{clam.owner}:"), QuoteString(temporary))
        yield StringCommand("mv", "-f", QuoteString(temporary), QuoteString(target))
    if changed:
        yield from server.service._inner(service=clam.daemon, running=None, restarted=True)


class ProcessRunning(FactBase[bool]):
    """Whether a process of exactly this name runs."""

    default = bool

    def command(self, process: str) -> StringCommand:
        return StringCommand("pgrep", "-x", QuoteString(process), ">/dev/null && echo yes || true")

    def process(self, output: list[str]) -> bool:
        return output == ["yes"]


@operation()
def clamd_running():
    """clamd enabled at boot and running, by the host's init system (systemd, sysvinit…).

    A clamd already running is left alone, however it was started; the init system is
    asked to start it only when no clamd runs. Some init scripts report success when clamd
    refused to start (Debian's, without the official databases), so a start is followed by
    a look for the process itself.
    """
    running = host.get_fact(ProcessRunning, process="clamd", _sudo=False)
    yield from server.service._inner(
        service=layout().daemon, running=None if running else True, enabled=True
    )
    if not running:
        yield StringCommand(
            "sleep 1; pgrep -x clamd >/dev/null || "
            "{ echo 'clamd is not running after its start: see its log' >&2; exit 1; }"
        )


@operation()
def updater_running():
    """freshclam's daemon enabled and running, so signatures stay fresh after today."""
    yield from server.service._inner(service=layout().updater, running=True, enabled=True)


class DefenderStatus(FactBase[dict[str, Any]]):
    """Defender's own view of itself (`Get-MpComputerStatus`), plus its service's state."""

    default = dict

    def command(self) -> StringCommand:
        return StringCommand(
            "$s = Get-Service -Name WinDefend -ErrorAction SilentlyContinue;"
            "$m = Get-MpComputerStatus -ErrorAction SilentlyContinue;"
            "@{service = if ($s) { [string]$s.Status } else { $null };"
            " startup = if ($s) { [string]$s.StartType } else { $null };"
            " realtime = if ($m) { [bool]$m.RealTimeProtectionEnabled } else { $null };"
            " age = if ($m) { [int]$m.AntivirusSignatureAge } else { $null }}"
            " | ConvertTo-Json -Compress"
        )

    def process(self, output: list[str]) -> dict[str, Any]:
        try:
            value = json.loads("".join(output))
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


@operation()
def defender_service():
    """The WinDefend service set to start automatically and running."""
    status = host.get_fact(DefenderStatus)
    if status.get("startup") == "Disabled":
        yield StringCommand("Set-Service -Name WinDefend -StartupType Automatic")
    if status.get("service") != "Running":
        yield StringCommand("Start-Service -Name WinDefend")
    else:
        host.noop("WinDefend is running")


@operation()
def defender_realtime():
    if host.get_fact(DefenderStatus).get("realtime") is True:
        host.noop("real-time protection is on")
        return
    yield StringCommand("Set-MpPreference -DisableRealtimeMonitoring $false")


@operation()
def defender_signatures(max_age_days: float, share: str | None = None):
    """Signatures updated when older than the policy allows; from a UNC share when given."""
    age = host.get_fact(DefenderStatus).get("age")
    if isinstance(age, int) and age <= max_age_days:
        host.noop(f"signatures are {age} days old")
        return
    if share is None:
        yield StringCommand("Update-MpSignature")
        return
    if not share.startswith("\\\\"):
        raise OperationError(f"{share!r} is not a UNC path (\\\\server\\share)")
    yield StringCommand(
        f"Set-MpPreference -SignatureDefinitionUpdateFileSharesSources {quote(share)};"
        " Update-MpSignature -UpdateSource FileShares"
    )


def plan(finding: Finding, ctx: RemedyContext) -> Remedy:
    remedy = Remedy(CHECK, finding)
    rules = ctx.policy.av
    if ctx.host.os == "windows":
        remedy.steps = [
            Step("start Microsoft Defender", defender_service),
            Step("turn on real-time protection", defender_realtime),
            Step(
                "update Defender signatures",
                defender_signatures,
                {"max_age_days": rules.max_signature_age_days, "share": rules.update.windows_share},
            ),
        ]
        return remedy
    remedy.steps = [
        Step("install ClamAV", clamav_installed),
        Step(
            "refresh ClamAV signatures",
            signatures_fresh,
            {
                "max_age_days": rules.max_signature_age_days,
                "mirror": rules.update.mirror,
                "share": rules.update.share,
            },
        ),
        Step("run clamd", clamd_running),
    ]
    if rules.update.share is None:
        remedy.steps.append(Step("keep signatures updated", updater_running))
    return remedy
