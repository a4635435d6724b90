"""Typed models at raquet's boundaries: the inventory, a finding, a host's result, a sweep.

Everything that crosses a boundary (file -> engine, engine -> store, store -> report,
engine -> JSON document) is one of these, so a shape is written down exactly once.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

OsName = Literal["linux", "windows"]
Role = Literal["server", "workstation"]
WinRMTransport = Literal["ntlm", "kerberos", "credssp", "certificate", "basic"]
FindingStatus = Literal["pass", "fail", "error", "not_applicable", "waived"]
"""`waived`: failed, and an approved waiver that has not expired covers the failure."""
Severity = Literal["info", "low", "medium", "high", "critical"]
HostStatus = Literal["swept", "unreachable", "error"]

VERIFICATION_PURPOSE = "remediation verification"
"""The `purpose` option of a sweep that re-checks remediated hosts only; reports do not take
it for a unit's sweep of the week."""

SLUG = r"^[a-z0-9][a-z0-9._-]*$"
HOST_NAME = r"^[A-Za-z0-9][A-Za-z0-9._@/-]*$"
_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_CONTROL = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
"""Line and paragraph breaks (\\n, \\r, \\x0b, \\x0c, \\x1c-\\x1e, \\x85, U+2028, U+2029),
tabs, every other C0/C1 control, and the bidirectional marks, embeddings, overrides and
isolates."""


def check_text(value: str) -> str:
    """Refuse control characters in a name from an inventory.

    Names end up in letters and reports: a line break in a unit's name once added a
    recipient, a signer and a subject to the letter, and a right-to-left override makes
    `invoice<RLO>fdp.exe` read as `invoiceexe.pdf`. No name needs either.
    """
    found = _CONTROL.search(value)
    if found:
        raise ValueError(
            "expected text without line breaks, tabs, control characters or bidirectional "
            f"overrides; found {found[0]!r} at character {found.start() + 1}"
        )
    return value


def check_lines(value: str) -> str:
    """`check_text` on each line of a text whose lines raquet itself joined with `\\n`."""
    for line in value.split("\n"):
        check_text(line)
    return value


Text = Annotated[str, AfterValidator(check_text)]
"""A name or other one-line text from an inventory (`check_text`)."""
MAX_NAME = 200
"""Longest unit, province or issuer name: a letter's heading, not a page."""


DEFAULT_SEGMENT = "default"
"""The segment of a host that names none: the network the main jump host sits in."""
MAX_SEGMENT = 64
_SEGMENT = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{MAX_SEGMENT - 1}}}")


def check_segment(value: str) -> str:
    """A segment name is a worker's queue name and is typed on command lines: a slug of
    lowercase letters, digits, `-` and `_`. A near miss (`TD LAN`) is refused, with the
    slug it probably meant, rather than quietly made into another segment."""
    if _SEGMENT.fullmatch(value):
        return value
    latin = value.replace("đ", "d").replace("Đ", "D")
    ascii_name = unicodedata.normalize("NFKD", latin).encode("ascii", "ignore").decode()
    close = re.sub(r"[^a-z0-9_-]+", "-", ascii_name.lower()).strip("-_")
    hint = f", such as '{close}'" if _SEGMENT.fullmatch(close) and close != value else ""
    raise ValueError(
        f"expected a segment name of at most {MAX_SEGMENT} lowercase letters a-z, digits, "
        f"'-' or '_', starting with a letter or digit{hint}"
    )


Segment = Annotated[str, AfterValidator(check_segment)]
"""The name of the network segment a host is reached from (`check_segment`)."""


def check_address(value: str) -> str:
    """Accept an IPv4/IPv6 address or a DNS name; anything else is a typo worth stopping on."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    name = value.rstrip(".")
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_DNS_LABEL.match(label) for label in labels):
        raise ValueError("expected an IPv4/IPv6 address or a DNS host name")
    if all(label.isdigit() for label in labels):
        raise ValueError("expected an IPv4 address with four numbers from 0 to 255")
    return name


class HostSettings(BaseModel):
    """Connection settings a host may carry or inherit from the inventory's `defaults`."""

    model_config = ConfigDict(extra="forbid")

    connector: Text | None = None
    ssh_port: int | None = Field(default=None, ge=1, le=65535)
    ssh_user: Text | None = None
    ssh_key: Text | None = None
    ssh_password_env: str | None = Field(default=None, pattern=_ENV_NAME)
    known_hosts: Text | None = None
    sudo: bool = False
    winrm_transport: WinRMTransport | None = None
    winrm_port: int | None = Field(default=None, ge=1, le=65535)
    winrm_scheme: Literal["http", "https"] | None = None
    winrm_user: Text | None = None
    winrm_password_env: str | None = Field(default=None, pattern=_ENV_NAME)
    winrm_ca_bundle: Text | None = None
    segment: Segment = DEFAULT_SEGMENT
    """The network segment the host is reached from, so the jump host (worker) inside that
    segment sweeps it; hosts that name none are in `default`."""
    tags: list[Text] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)


class Host(HostSettings):
    """One machine of a unit, as validated from any inventory format."""

    name: str = Field(pattern=HOST_NAME, max_length=253)
    address: str
    os: OsName = "linux"
    role: Role = "server"
    unit: str = ""

    @field_validator("address")
    @classmethod
    def _valid_address(cls, value: str) -> str:
        return check_address(value)

    @property
    def connector_name(self) -> str:
        """The pyinfra connector that reaches this host (`ssh`, `winrm`, `local`, ...)."""
        if self.connector:
            return self.connector
        return "winrm" if self.os == "windows" else "ssh"


class Unit(BaseModel):
    """An organisational unit (Sở, ban, ngành, UBND huyện…) and its hosts."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=SLUG, max_length=64)
    name: Text = Field(default="", max_length=MAX_NAME)
    hosts: list[Host] = Field(default_factory=list)

    @property
    def display_name(self) -> str:
        return self.name or self.id


class Inventory(BaseModel):
    """A whole inventory: where it came from, the province, its units."""

    source: Path
    province: Text = Field(default="", max_length=MAX_NAME)
    timezone: str = "Asia/Ho_Chi_Minh"
    issuer: Annotated[str, AfterValidator(check_lines)] = ""
    """The issuing body, one line per level (parent authority first), joined by `\\n`."""
    units: list[Unit] = Field(default_factory=list)

    def hosts(self) -> list[Host]:
        return [host for unit in self.units for host in unit.hosts]

    def segments(self, hosts: list[Host] | None = None) -> dict[str, list[Host]]:
        """`hosts` (all by default) by the segment each is reached from, segments in name
        order and hosts in inventory order: what one jump host per segment sweeps."""
        grouped: dict[str, list[Host]] = {}
        for host in self.hosts() if hosts is None else hosts:
            grouped.setdefault(host.segment, []).append(host)
        return dict(sorted(grouped.items()))

    def select(self, unit_ids: list[str] | None = None) -> list[Host]:
        """Hosts of the named units (all when none are named); unknown ids are an error."""
        if not unit_ids:
            return self.hosts()
        known = {unit.id for unit in self.units}
        unknown = [u for u in unit_ids if u not in known]
        if unknown:
            raise KeyError(
                f"unknown unit id(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return [h for unit in self.units if unit.id in unit_ids for h in unit.hosts]


class Finding(BaseModel):
    """One check's verdict on one host, with the evidence it was judged on."""

    model_config = ConfigDict(defer_build=True)  # built when first used, not at import

    check: str
    status: FindingStatus
    severity: Severity = "info"
    title: str
    evidence: dict[str, Any] = Field(default_factory=dict)


class Detection(BaseModel):
    """One malware detection recorded by a host's AV, kept once however many sweeps see it."""

    model_config = ConfigDict(defer_build=True)  # built when first used, not at import

    name: str
    path: str
    detected_at: datetime
    source: str
    action: str | None = None


class HostResult(BaseModel):
    """What one sweep learned about one host; stored the moment it exists."""

    model_config = ConfigDict(defer_build=True)  # built when first used, not at import

    name: str
    unit: str
    os: OsName
    role: Role
    address: str = ""
    status: HostStatus
    error: str | None = None
    findings: list[Finding] = Field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    detections: list[Detection] = Field(default_factory=list, exclude=True)
    """Every detection read on the host this sweep; stored once each, apart from the result."""

    @property
    def compliant(self) -> bool:
        """Swept, and no finding failed or errored (a waived failure was accepted)."""
        return self.status == "swept" and all(
            f.status in ("pass", "not_applicable", "waived") for f in self.findings
        )


class SweepResult(BaseModel):
    """The document `raquet sweep --json` writes (SPEC §4)."""

    model_config = ConfigDict(defer_build=True)  # built when first used, not at import

    sweep_id: str
    started_at: datetime
    finished_at: datetime | None = None
    inventory: str = ""
    checks: list[str] = Field(default_factory=list)
    hosts: list[HostResult] = Field(default_factory=list)

    def localized(self, zone: str) -> SweepResult:
        """The same document with its times in the province's zone, as auditors read them."""
        tz = ZoneInfo(zone)

        def local(value: datetime | None) -> datetime | None:
            return value.astimezone(tz) if value else None

        hosts = [
            h.model_copy(
                update={"started_at": local(h.started_at), "finished_at": local(h.finished_at)}
            )
            for h in self.hosts
        ]
        return self.model_copy(
            update={
                "started_at": self.started_at.astimezone(tz),
                "finished_at": local(self.finished_at),
                "hosts": hosts,
            }
        )
