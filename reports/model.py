"""The report document: everything a renderer may show, computed once from the store.

Every renderer (HTML, PDF, DOCX, XLSX, CSV, Markdown, JSON) reads only this model, so all
formats carry the same figures. Text from hosts in it has passed `reports.text.clean`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from raquet.models import Finding
from reports.change import Change
from reports.formatting import Lang

Kind = Literal["province", "unit"]
# A remediation done (the log's "planned" never ran to an outcome), and as a report shows
# it: its outcome, or "undone" once taken back.
RemediationOutcome = Literal["fixed", "failed", "unverified"]
RemediationShown = RemediationOutcome | Literal["undone"]
# Why a machine was not checked for weaknesses, in the order a unit's report lists them.
UncheckedKind = Literal["no_data", "not_covered", "not_run", "error", "not_swept"]


class SweepRef(BaseModel):
    """A sweep the report's host figures were read from."""

    id: str
    started_at: datetime
    status: str
    units: list[str]


class RemediationCounts(BaseModel):
    """Remediations done in the week by how they stand at its end (planned-only ones were
    never done and are not counted)."""

    fixed: int = 0
    failed: int = 0
    unverified: int = 0
    undone: int = 0


class UnitRow(BaseModel):
    """One unit's week: scope and compliance from its latest sweep, infections from detections,
    what was remediated from the remediation log."""

    unit: str
    name: str
    sweep_id: str | None = None
    in_scope: int = 0
    swept: int = 0
    not_swept: int = 0
    compliant: int = 0
    infected: int = 0
    detections: Change = Change(current=0, previous=0)
    malware: int = 0
    top_malware: str | None = None
    top_malware_count: int = 0
    cleaned: int = 0
    remediations: RemediationCounts = RemediationCounts()
    vulns_checked: int = Field(0, description="machines judged against vulnerability data")
    vulns_failing: int = Field(0, description="of them, with weaknesses at the threshold")
    vulns_critical: int = Field(0, description="of them, with a critical weakness")


class Totals(BaseModel):
    """Province (or unit) totals of the same figures; hosts are counted once."""

    in_scope: int = 0
    swept: int = 0
    not_swept: int = 0
    compliant: int = 0
    cleaned: int = 0
    remediations: RemediationCounts = RemediationCounts()


class Metrics(BaseModel):
    """The three week-over-week figures of the SOC letter (seed 000)."""

    detections: Change
    infected: Change
    malware: Change


class VulnCounts(BaseModel):
    """The weakness figures (`vulns`) of the letter's sentence and the campaign form.

    A machine is checked when its `vulns` finding judged it against vulnerability data
    (pass, fail or waived); `checked.previous == 0` means weaknesses were not checked
    last week, `checked.current == 0` this week: then there is no figure, not a zero."""

    in_scope: int = 0
    checked: Change = Change(current=0, previous=0)
    critical: Change = Change(current=0, previous=0)
    failing: int = Field(0, description="this week, with weaknesses at the policy threshold")
    top_components: list[str] = Field(
        default_factory=list, description="on most failing machines this week (ties by name)"
    )
    top_component_machines: int = 0


class VulnHost(BaseModel):
    """A machine of the unit with critical or high weaknesses; `components` are its
    components with such weaknesses, worst first."""

    unit: str
    host: str
    os: str
    status: str
    critical: int
    high: int
    components: list[str]


class TopCve(BaseModel):
    """A vulnerability of the unit's machines: its worst severity and CVSS among them, the
    machines it affects, and the versions (or Windows updates) that fix it."""

    cve: str
    component: str
    severity: str
    cvss: float | None
    machines: int
    fixed: list[str]
    kb: list[str]


class VulnUnchecked(BaseModel):
    """Machines of the unit not checked for weaknesses, for one reason (report language)."""

    kind: UncheckedKind
    reason: str
    hosts: list[str]


class MalwareRow(BaseModel):
    name: str
    detections: int
    hosts: int
    units: int


class WeekPoint(BaseModel):
    week: str
    monday: date
    detections: int
    infected: int


class InfectedHost(BaseModel):
    unit: str
    unit_name: str
    host: str
    detections: int
    malware: list[str]
    first_seen: datetime
    last_seen: datetime
    cleaned: bool


class DetectionRow(BaseModel):
    unit: str
    host: str
    name: str
    path: str
    detected_at: datetime
    source: str
    action: str | None


class ConnectionRow(BaseModel):
    """One live connection, hosts-file entry or cached DNS name (`reports.connections`),
    with every indicator, kind and feed that matched it."""

    unit: str
    host: str
    source: Literal["socket", "hosts_file", "dns_cache"]
    remote: str = Field(description="address:port; the hosts-file line; the cached record")
    pid: int | None = None
    process: str = ""
    kinds: list[str] = Field(default_factory=list)
    indicators: list[str] = Field(default_factory=list)
    feeds: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)


class ConnectionCounts(BaseModel):
    """Distinct live connections, hosts-file entries, DNS cache names, and machines with any."""

    live: int = 0
    hosts_entries: int = 0
    dns_names: int = 0
    machines: int = 0


class FailingFinding(BaseModel):
    """A finding to act on. `title` and `detail` are in the report's language (what was
    found, what to do; `reports.explain`), `check_title` the check's own words; `evidence`
    is kept whole for JSON, XLSX and the evidence appendix."""

    unit: str
    host: str
    check: str
    status: str
    severity: str
    title: str
    detail: str = ""
    check_title: str = ""
    evidence: dict[str, Any]


class WaiverRow(BaseModel):
    """An approved exception met in the unit's sweep: `expired` when the finding it covered
    fails again because the waiver's date passed (the report says so, it does not vanish)."""

    host: str
    check: str
    item: str = ""
    reason: str
    approved_by: str
    expires: str
    expired: bool = False


class CleanedHost(BaseModel):
    """A host counted as cleaned (campaign form "số máy đã xử lý"), with what proves it: a
    passing sweep, a fixed `infections` remediation, or both."""

    unit: str
    host: str
    last_infected: datetime | None = Field(description="None: no detection record before")
    verified_at: datetime
    sweep_id: str | None = Field(description="the sweep that found it clean, if one was run")
    remediation_id: str | None = None


class RemediationDone(BaseModel):
    """A remediation of the week from the remediation log, and how its verification ended."""

    id: str
    unit: str
    host: str
    check: str
    finding: str = Field(description="the finding's title as the check wrote it")
    finding_title: str = Field("", description="the same finding in the report's language")
    judged: Finding | None = Field(None, exclude=True, description="the finding remediated")
    status: RemediationShown
    outcome: RemediationOutcome = Field(description="as recorded when done, before any undo")
    error: str
    operator: str
    done_at: datetime = Field(description="finished, or started if the log has no end")
    verify_sweep_id: str | None
    undone_at: datetime | None
    undone_by: str | None


class UnsweptHost(BaseModel):
    """A planned host without a swept result; `reason` in the report's language, `error`
    as the sweep recorded it."""

    unit: str
    host: str
    status: str
    reason: str = ""
    error: str


class Report(BaseModel):
    """A province letter (`kind="province"`) or one unit's report (`kind="unit"`)."""

    kind: Kind
    lang: Lang
    province: str
    issuer: list[str]
    timezone: str
    week: str
    period_start: date
    period_end: date
    complete: bool = Field(True, description="False: the week was still in progress")
    until: datetime | None = Field(None, description="an incomplete week: figures up to here")
    compared_until: datetime | None = Field(
        None, description="an incomplete week: last week counted up to here (like for like)"
    )
    generated_at: datetime
    sweep_id: str | None = Field(None, description="set when one sweep was selected")
    sweeps: list[SweepRef]
    metrics: Metrics
    top_units: list[str]
    top_units_detections: int
    unit_order: list[str] = Field(
        default_factory=list, description="unit names in the inventory's (or settings') order"
    )
    units: list[UnitRow]
    totals: Totals
    malware: list[MalwareRow]
    trend: list[WeekPoint]
    infected_hosts: list[InfectedHost]
    connections: list[ConnectionRow]
    connection_counts: ConnectionCounts = ConnectionCounts()
    cleaned: list[CleanedHost]
    unit: UnitRow | None = None
    detections: list[DetectionRow] = Field(default_factory=list)
    failing: list[FailingFinding] = Field(default_factory=list)
    waivers: list[WaiverRow] = Field(default_factory=list)
    unswept: list[UnsweptHost] = Field(default_factory=list)
    remediations: list[RemediationDone] = Field(default_factory=list)
    vulns: VulnCounts = VulnCounts()
    vulns_hosts: list[VulnHost] = Field(default_factory=list)
    top_cves: list[TopCve] = Field(default_factory=list)
    vulns_unchecked: list[VulnUnchecked] = Field(default_factory=list)
