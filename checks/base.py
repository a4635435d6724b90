"""What a check is: a snippet per OS that gathers state, a parser, and a judgement against the policy.

A check never talks to a host itself. The sweep joins every selected check's snippet into
one script per host (one round trip), splits the output back into named sections, and
hands each check its own sections. Parsing and judging are pure functions of text, so
they are tested from recorded outputs in `tests/fixtures/`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field

from raquet.errors import clean
from raquet.models import Detection, Finding, Host, OsName
from raquet.policy import Policy

if TYPE_CHECKING:
    from raquet.vulns import VulnIndex
    from raquet.waivers import Waiver

StateT = TypeVar("StateT")
"""A check's parsed state: plain dataclasses and tuples (one per package, socket, line…),
since host output is only ever made into pydantic models at the boundary, the Finding."""

CHECK_BUDGET_MIB = 4  # raquet.script.CHECK_BUDGET, named here for the reasons it gives


CTIME = "%a %b %d %H:%M:%S %Y"
_CTIME = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +"
    r"([0-9]{1,2}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([0-9]{4})"
)
_MONTHS = {
    m: n
    for n, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}


def ctime(text: str) -> datetime:
    """C's `ctime` text (`Mon Dec  2 12:00:00 2026`, as clamd and freshclam date their logs)
    as a naive time: `datetime.strptime(" ".join(text.split()), CTIME)`, which is what any
    other text is given to, without its locale lookup and lock on every record. A date
    that does not exist raises ValueError from either."""
    found = _CTIME.fullmatch(text)
    if found is None:
        return datetime.strptime(" ".join(text.split()), CTIME)
    month, day, hour, minute, second, year = found.groups()
    return datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second))


class Sections(dict[str, str]):
    """One host's gathered output, keyed by section name (`av.procs`, `host.clock`, …),
    and what the frame said about it: cut at the jump host's cap (`truncated`), sections
    that hit their check's budget on the host (`over_budget`), the script's own reason for
    giving up (`fatal`), a frame somebody else wrote into (`tampered`, the reason)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.truncated = False
        self.complete = False
        self.over_budget: set[str] = set()
        self.fatal: str | None = None
        self.tampered: str | None = None

    def lines(self, name: str) -> list[str]:
        """Non-blank lines, split on `\\n` alone: `str.splitlines` also breaks on `\\x0b`, `\\x1c`,
        `\\u2028`… which a host's file names may hold, and would cut one record in two."""
        return [line for line in self.get(name, "").split("\n") if line.strip()]


class HostFacts(BaseModel):
    """What every check may need about the host itself, gathered once per sweep."""

    os_id: str = ""
    os_like: list[str] = Field(default_factory=list)
    os_version: str = ""
    os_name: str = ""
    variant_id: str = ""
    now: datetime = Field(default_factory=lambda: datetime.now(UTC))
    utc_offset_minutes: int = 0
    zone: str = ""

    @property
    def windows(self) -> bool:
        """Gathered by the PowerShell script (`windows`, `windows-server`, `windows-enterprise`)."""
        return self.os_id.startswith("windows")

    @property
    def tz(self) -> tzinfo:
        """The host's own zone (DST-aware) when it names a known one, else its current offset."""
        try:
            return ZoneInfo(self.zone) if self.zone else self._offset()
        except (ZoneInfoNotFoundError, ValueError):
            return self._offset()

    def _offset(self) -> timezone:
        return timezone(timedelta(minutes=self.utc_offset_minutes))

    @classmethod
    def parse(cls, sections: Sections) -> HostFacts:
        release = parse_os_release(sections.get("host.os_release", ""))
        facts = cls(
            os_id=release.get("ID", ""),
            os_like=release.get("ID_LIKE", "").split(),
            os_version=release.get("VERSION_ID", ""),
            os_name=clean(release.get("PRETTY_NAME", ""), 120),
            variant_id=release.get("VARIANT_ID", ""),
        )
        zone = sections.lines("host.zone")
        if zone:
            facts.zone = clean(zone[0].removeprefix("/usr/share/zoneinfo/").strip(), 64)
        clock = sections.lines("host.clock")
        if clock:
            epoch, _, offset = clock[0].partition(" ")
            if epoch.isdigit() and len(epoch) <= 12:
                with suppress(OverflowError, OSError, ValueError):  # a clock past year 9999
                    facts.now = datetime.fromtimestamp(int(epoch), UTC)
            if len(offset) == 5 and offset[1:].isdigit():
                sign = -1 if offset[0] == "-" else 1
                facts.utc_offset_minutes = sign * (int(offset[1:3]) * 60 + int(offset[3:]))
        return facts


def parse_os_release(text: str) -> dict[str, str]:
    """os-release(5): KEY=value lines, values optionally quoted."""
    values = {}
    for line in text.split("\n"):
        key, sep, value = line.strip().partition("=")
        if sep and key.isidentifier():
            values[key] = value.strip().strip("\"'")
    return values


class Indicators(Protocol):
    """The indicator index the `connections` check matches against (raquet.feeds.IndicatorSet)."""

    def match_ip(self, address: str) -> list[Any]: ...

    def match_domain(self, name: str) -> list[Any]: ...


PendingSince = Callable[[str, list[tuple[str, str]], datetime], dict[tuple[str, str], datetime]]
"""(host, [(package, version)], now) -> when each was first seen pending (Store.pending_since)."""


@dataclass(frozen=True)
class Context:
    """What a judgement may use besides the host's own output."""

    policy: Policy = field(default_factory=Policy)
    indicators: Indicators | None = None
    pending_since: PendingSince | None = None
    waivers: list[Waiver] | None = None
    """Approved exceptions `judge` applies to each finding (`raquet.waivers`)."""
    vulns: VulnIndex | None = None
    """The store's vulnerability data, indexed, when `vulns` will run (None: none imported)."""


@dataclass(frozen=True)
class Outcome:
    """A check's verdict on one host, and the detections it read there (stored once each)."""

    finding: Finding
    detections: list[Detection] = field(default_factory=list)


class Check(ABC, Generic[StateT]):
    """One concern (av, patches, …). Subclasses set `name` and implement the three steps."""

    name: ClassVar[str]
    title: ClassVar[str]

    @abstractmethod
    def snippet(self, os: OsName, policy: Policy) -> str | None:
        """The shell text that gathers this check's state on `os`; None if it does not apply there."""

    @abstractmethod
    def parse(self, sections: Sections, facts: HostFacts) -> StateT:
        """This check's state, from its own sections of the host's output."""

    @abstractmethod
    def evaluate(self, state: StateT, host: Host, facts: HostFacts, ctx: Context) -> Finding:
        """The verdict: pass / fail / not_applicable, with the evidence it rests on."""

    def detections(self, state: StateT) -> list[Detection]:
        """Malware detections the state holds; only checks that read AV logs have any."""
        return []

    def judge(self, sections: Sections, host: Host, facts: HostFacts, ctx: Context) -> Outcome:
        """parse + evaluate; a snippet that timed out or a parser that chokes becomes an `error`
        finding, and output somebody forged becomes a critical one."""
        if sections.tampered:
            return Outcome(self.tampered(sections.tampered))
        over = sorted(n for n in sections.over_budget if n.startswith(f"{self.name}."))
        if over:
            return Outcome(
                self.error(
                    f"the host's output for {', '.join(over)} exceeded the check's budget "
                    f"of {CHECK_BUDGET_MIB} MiB"
                )
            )
        exit_status = sections.get(f"{self.name}.__exit", "0").strip()
        if exit_status in ("124", "137"):
            return Outcome(self.error("the check timed out on the host"))
        if exit_status.startswith("error:"):  # the PowerShell scriptblock threw
            reason = clean(exit_status.removeprefix("error:").strip())
            return Outcome(self.error(f"the check failed on the host: {reason}"))
        if f"{self.name}.__exit" not in sections:
            return Outcome(
                self.error("the check produced no result (output truncated or the script was cut)")
            )
        try:
            state = self.parse(sections, facts)
            return Outcome(self.evaluate(state, host, facts, ctx), self.detections(state))
        except (ValueError, KeyError, IndexError) as exc:
            return Outcome(self.error(f"could not parse the host's output: {clean(str(exc))}"))

    def error(self, reason: str) -> Finding:
        return Finding(
            check=self.name,
            status="error",
            severity="medium",
            title=f"{self.title} check could not run: {reason}",
            evidence={"reason": reason},
        )

    def tampered(self, reason: str) -> Finding:
        """The host's answer was not the script's own: somebody on the host wrote into it or
        altered the script's tools. That is itself a finding, and the gravest one."""
        return Finding(
            check=self.name,
            status="error",
            severity="critical",
            title=f"{self.title}: the host's output was tampered with ({reason})",
            evidence={"tampered": True, "reason": reason},
        )

    def not_applicable(self, reason: str) -> Finding:
        return Finding(check=self.name, status="not_applicable", severity="info", title=reason)


def load_data(name: str) -> object:
    """A YAML table shipped in `checks/data/` (product names, end-of-life dates…)."""
    from importlib.resources import files

    from ruamel.yaml import YAML

    return YAML(typ="safe").load(files("checks").joinpath("data", name).read_text(encoding="utf-8"))
