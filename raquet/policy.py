"""What *compliant* means (SPEC §2): a YAML policy validated into typed sections with shipped defaults.

A policy file is optional; any section or key it leaves out keeps the default below,
so a province writes down only where it differs. The shipped software denylist stays in
force unless a policy replaces `software.denylist`; `software.extra_denylist` adds to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from fnmatch import fnmatchcase, translate
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from raquet.models import OsName, Severity

if TYPE_CHECKING:  # univers is imported by the first rule that names versions
    from univers.version_range import VersionRange
    from univers.versions import Version


class _Section(BaseModel):
    # Defaults validated too, so `lookback_days = 7` is 7.0 like a value read back from a
    # stored policy: a sweep judged by workers or resumed says exactly what a local one does.
    model_config = ConfigDict(extra="forbid", validate_default=True)


MAX_DAYS = 3650
"""Ten years: the longest any age, wait or look-back in a policy may be. A larger one is a
typo, and past about 2.7 million days Python cannot even make the date (1e308 once broke
every host of a sweep)."""
MAX_SCAN_SECONDS = 86400
"""A day: the longest an on-demand scan may run on a host."""


Days = Annotated[float, Field(gt=0, le=MAX_DAYS, allow_inf_nan=False)]
"""A number of days above 0, finite and at most `MAX_DAYS`."""
DaysOrNone = Annotated[float, Field(ge=0, le=MAX_DAYS, allow_inf_nan=False)]
"""The same, where 0 means "no delay"."""


class AvUpdatePolicy(_Section):
    """Where `raquet remediate` refreshes signatures from; the vendor's own servers by default."""

    mirror: str | None = Field(default=None, pattern=r"^https?://[^\s'\"\\]+$")
    """ClamAV: an agency's private mirror, written as freshclam's `PrivateMirror`."""
    share: str | None = Field(default=None, pattern=r"^/[^\x00]*$")
    """ClamAV without internet: a directory on each host holding signature files (a mounted share)."""
    windows_share: str | None = Field(default=None, pattern=r"^\\\\[^\x00]+$")
    """Defender without internet: a UNC path for `Update-MpSignature -UpdateSource FileShares`."""


class AvPolicy(_Section):
    max_signature_age_days: Days = 7
    update: AvUpdatePolicy = Field(default_factory=AvUpdatePolicy)


class PatchPolicy(_Section):
    max_pending_days: DaysOrNone = 0
    """A pending security update fails only once it has waited longer than this (0: at once)."""
    fail_on_regular_updates: bool = False
    fail_on_reboot_required: bool = True
    fail_on_eol: bool = True


ALL_OS: tuple[OsName, ...] = ("linux", "windows")
Flavour = Literal["deb", "rpm", "windows"]


class SoftwareRule(_Section):
    """One denylist entry: a name glob or a regex, optionally only some versions."""

    name: str | None = None
    regex: str | None = None
    versions: str | None = None
    reason: str
    category: Literal["miner", "p2p", "remote-access", "activator", "crack", "malware", "other"] = (
        "other"
    )
    severity: Severity = "high"
    os: list[OsName] = Field(default_factory=lambda: list(ALL_OS))

    @model_validator(mode="after")
    def _one_matcher(self) -> SoftwareRule:
        if (self.name is None) == (self.regex is None):
            raise ValueError("give exactly one of 'name' (a glob) or 'regex'")
        return self

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    @field_validator("versions")
    @classmethod
    def _range(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                _range_for(value, "deb")
            except Exception as exc:  # univers raises several types for bad ranges
                raise ValueError(
                    f"expected a version range like '<6.22' or '>=1.0,<2.0': {exc}"
                ) from None
        return value

    def matches(self, package: str, version: str, flavour: Flavour) -> bool:
        """Case-insensitive name match, then the version range in the package manager's ordering
        (`windows`: dotted numbers as DisplayVersion writes them, compared numerically)."""
        if self.regex is not None:
            if not re.search(self.regex, package, re.IGNORECASE):
                return False
        elif not fnmatchcase(package.lower(), (self.name or "").lower()):
            return False
        if self.versions is None:
            return True
        try:
            return _version(version, flavour) in _range_for(self.versions, flavour)
        except Exception:  # an unparsable version cannot be shown to be in range
            return False


@lru_cache(maxsize=1024)
def _range_for(spec: str, flavour: Flavour) -> VersionRange:
    from univers.version_range import DebianVersionRange, GenericVersionRange, RpmVersionRange

    ranges: dict[str, type[VersionRange]] = {
        "deb": DebianVersionRange,
        "rpm": RpmVersionRange,
        "windows": GenericVersionRange,
    }
    constraints = "|".join(part.strip() for part in spec.split(",") if part.strip())
    cls = ranges[flavour]
    return cls.from_string(f"vers:{cls.scheme}/{constraints}")


def _version(text: str, flavour: Flavour) -> Version:
    from univers.versions import DebianVersion, RpmVersion, SemverVersion

    versions: dict[str, type[Version]] = {
        "deb": DebianVersion,
        "rpm": RpmVersion,
        "windows": SemverVersion,
    }
    return versions[flavour](text)


class GlobSet:
    """Names that match one of some globs (case-insensitive), tested by one regular expression:
    the verdict of `any(fnmatchcase(name.lower(), g.lower()) for g in globs)`, since
    `fnmatchcase` is `re.match(translate(glob))` and `translate` makes patterns meant to be
    joined with `|`."""

    __slots__ = ("_pattern",)

    def __init__(self, globs: list[str]) -> None:
        self._pattern = re.compile("|".join(translate(g.lower()) for g in globs)) if globs else None

    def __call__(self, name: str) -> bool:
        return self._pattern is not None and self._pattern.match(name.lower()) is not None

    @property
    def match(self) -> Callable[[str], bool]:
        """`self` itself, or a quicker function of the same verdicts."""
        pattern = self._pattern
        if pattern is None:
            return _never
        match = pattern.match
        return lambda name: match(name.lower()) is not None


def _never(name: str) -> bool:
    return False


class Denylist:
    """The rules that apply to one OS, compiled once per policy: every glob joined into one
    regular expression, each regex compiled. Most packages match no rule, which that one
    expression (and one search per regex rule) shows; only a package some rule's name
    matches is then weighed rule by rule, in the policy's order, with its version range.
    `first` gives exactly the rule `next(r for r in rules if os in r.os and r.matches(…))`
    gives."""

    __slots__ = ("_globs", "_regexes", "_rules")

    def __init__(self, rules: list[SoftwareRule], os: OsName) -> None:
        self._rules = [r for r in rules if os in r.os]
        self._globs = GlobSet(
            [r.name for r in self._rules if r.name is not None and r.regex is None]
        )
        self._regexes = [
            re.compile(r.regex, re.IGNORECASE) for r in self._rules if r.regex is not None
        ]

    def first(self, package: str, version: str, flavour: Flavour) -> SoftwareRule | None:
        """The first rule `package` at `version` breaks, or None."""
        if not self._globs(package) and not any(p.search(package) for p in self._regexes):
            return None
        return self._weighed(package, version, flavour)

    def banned(
        self, packages: Iterable[tuple[str, str]], flavour: Flavour
    ) -> list[tuple[tuple[str, str], SoftwareRule]]:
        """Each (name, version) of `packages` that breaks a rule, with the first it breaks
        (`first`'s verdicts, in one pass)."""
        glob = self._globs.match
        regexes = self._regexes
        return [
            (package, rule)
            for package in packages
            if glob(package[0]) or any(p.search(package[0]) for p in regexes)
            if (rule := self._weighed(package[0], package[1], flavour)) is not None
        ]

    def _weighed(self, package: str, version: str, flavour: Flavour) -> SoftwareRule | None:
        return next((r for r in self._rules if r.matches(package, version, flavour)), None)


def _rule(name: str, reason: str, category: str, **extra: object) -> SoftwareRule:
    return SoftwareRule.model_validate(
        {"name": name, "reason": reason, "category": category, **extra}
    )


DEFAULT_DENYLIST = [
    *(
        _rule(n, "cryptocurrency miner", "miner")
        for n in ("xmrig*", "xmr-stak*", "cpuminer*", "minerd", "ethminer", "nbminer", "t-rex*")
    ),
    *(
        _rule(n, "malware known to ship as a package or binary", "malware", severity="critical")
        for n in ("kdevtmpfsi", "kinsing")
    ),
    *(
        _rule(n, "peer-to-peer file sharing", "p2p")
        for n in (
            "transmission*",
            "qbittorrent*",
            "deluge*",
            "*utorrent*",
            "bittorrent*",
            "ktorrent",
        )
    ),
    *(
        _rule(n, "remote-access tool not approved for agency machines", "remote-access")
        for n in ("anydesk*", "teamviewer*", "ultraviewer*", "rustdesk*", "ammyy*")
    ),
    *(
        _rule(n, "Windows/Office activator (cracked licence)", "activator", severity="critical")
        for n in ("kmspico*", "kmsauto*", "aact*", "microsoft toolkit*", "*kms activator*")
    ),
    _rule("*keygen*", "key generator (cracked software)", "crack"),
]


class SoftwarePolicy(_Section):
    mode: Literal["denylist", "allowlist"] = "denylist"
    denylist: list[SoftwareRule] = Field(default_factory=lambda: list(DEFAULT_DENYLIST))
    extra_denylist: list[SoftwareRule] = Field(default_factory=list)
    allowlist: list[str] = Field(default_factory=list)
    approved_kms_hosts: list[str] = Field(default_factory=list)
    """The agency's own KMS hosts (name or address, optionally `:port`); any other KMS host set
    on a Windows client is reported as an activator trace."""

    @cached_property
    def rules(self) -> list[SoftwareRule]:
        return [*self.denylist, *self.extra_denylist]

    @cached_property
    def denylists(self) -> dict[OsName, Denylist]:
        """The rules compiled once per policy (so once per sweep), one matcher per OS."""
        return {os: Denylist(self.rules, os) for os in ALL_OS}

    @cached_property
    def allowlist_globs(self) -> GlobSet:
        return GlobSet(self.allowlist)

    def allowed(self, package: str) -> bool:
        return self.allowlist_globs(package)


class ConnectionsPolicy(_Section):
    feeds: list[str] | None = None  # None: every imported feed
    hosts_file: bool = True


class InfectionsPolicy(_Section):
    lookback_days: Days = 7
    log_paths: list[str] = Field(
        default_factory=lambda: [
            "/var/log/clamav/clamav.log",
            "/var/log/clamav/clamd.log",
            "/var/log/clamav/clamscan.log",
            "/var/log/clamd.scan",
        ]
    )
    scan: bool = False
    scan_paths: list[str] = Field(default_factory=lambda: ["/home", "/tmp", "/var/tmp", "/dev/shm"])
    scan_timeout: float = Field(default=600, ge=1, le=MAX_SCAN_SECONDS, allow_inf_nan=False)
    """Seconds; whole seconds reach the host (`timeout N`), so at least 1 (`timeout 0` never
    stops)."""
    quarantine_dir: str = Field(default="/var/lib/raquet/quarantine", pattern=r"^/[^\x00]+$")
    """Where `raquet remediate` moves detected files (root only); detections of files moved
    there since are resolved."""


VulnLevel = Literal["critical", "high", "medium", "low"]


class VulnIgnore(_Section):
    """A vulnerability the province has judged not to apply (mitigated, not exposed)."""

    cve: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9]*-[A-Za-z0-9][A-Za-z0-9.:_-]{0,80}$")
    """A CVE id (`CVE-2024-3094`), or a data set's own id for records without one
    (`TEMP-0000000-F7A20F`, `DSA-5678-1`); compared without regard to case."""
    reason: str = Field(min_length=1)


class VulnsPolicy(_Section):
    fail_on: VulnLevel = "high"
    """The least severe known vulnerability that fails a host (data sets' own ratings:
    Critical / Important / Moderate / Low, Debian urgencies, or the CVSS v3 rating)."""
    unrated: VulnLevel = "high"
    """What a vulnerability counts as when its data set rates it neither by word nor by
    score (the Debian tracker's "not yet assigned", which many serious CVEs still carry):
    high by default, since such a record is known, dated and usually fixed by an update."""
    ignore: list[VulnIgnore] = Field(default_factory=list)
    max_data_age_days: Days = 30
    """Vulnerability data older than this (its newest record, else its import) is said to be
    stale in the finding: new vulnerabilities are missing from it. Verdicts are kept."""

    @cached_property
    def ignored(self) -> dict[str, str]:
        """{upper-case id: reason}."""
        return {entry.cve.upper(): entry.reason for entry in self.ignore}


class Policy(_Section):
    """The whole policy; `Policy()` is the shipped default."""

    model_config = ConfigDict(extra="forbid", ignored_types=(cached_property,))

    av: AvPolicy = Field(default_factory=AvPolicy)
    patches: PatchPolicy = Field(default_factory=PatchPolicy)
    software: SoftwarePolicy = Field(default_factory=SoftwarePolicy)
    connections: ConnectionsPolicy = Field(default_factory=ConnectionsPolicy)
    infections: InfectionsPolicy = Field(default_factory=InfectionsPolicy)
    vulns: VulnsPolicy = Field(default_factory=VulnsPolicy)
    source: str = "(defaults)"


def load_policy(path: Path | None) -> Policy:
    """The policy at `path`, or the shipped defaults; errors name file, line and field."""
    if path is None:
        return Policy()
    from raquet.yamlfile import load_model

    policy = load_model(path, Policy)
    return policy.model_copy(update={"source": str(path)})
