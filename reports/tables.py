"""The report's tables, built once and laid out by every renderer.

A cell keeps its type (int, Change, datetime, text) so that each format can write it its
own way: a spreadsheet as a number, a letter as 4.505, a CSV as 4505.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from reports.change import Change
from reports.evidence import lines as evidence_lines
from reports.formatting import Formatter, Ident
from reports.labels import Labels
from reports.model import RemediationCounts, Report, UnitRow
from reports.text import one_line

Cell = int | Change | datetime | date | str | None


class Table(BaseModel):
    """`key` names the CSV file and is stable across languages; `title` is for people."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[Cell]]
    total: list[Cell] | None = None
    highlight: list[int] = Field(default_factory=list, description="row indexes to stress")
    note: str | None = Field(None, description="a line for people under the table (not in CSV)")


def _cells(*values: Cell) -> list[Cell]:
    return list(values)


def _numbered(rows: list[list[Cell]]) -> list[list[Cell]]:
    return [[index, *row] for index, row in enumerate(rows, 1)]


def remediation_line(counts: RemediationCounts, L: Labels, fmt: Formatter) -> str:
    """The week's remediations in one sentence, under the summary."""
    return L.remediation_line.format(
        **{status: fmt.number(count) for status, count in counts.model_dump().items()}
    )


def summary(report: Report, L: Labels, fmt: Formatter) -> Table:
    m = report.metrics
    return Table(
        key="summary",
        title=L.t_summary,
        columns=[L.c_metric, L.c_this_week, L.c_last_week, L.c_change],
        rows=[
            [L.m_detections, m.detections.current, m.detections.previous, m.detections],
            [L.m_infected, m.infected.current, m.infected.previous, m.infected],
            [L.m_malware, m.malware.current, m.malware.previous, m.malware],
        ],
        note=remediation_line(report.totals.remediations, L, fmt),
    )


def _unit_cells(u: UnitRow) -> list[Cell]:
    return [
        u.name,
        u.in_scope,
        u.swept,
        u.not_swept,
        u.compliant,
        u.infected,
        u.detections.current,
        u.detections.previous,
        u.detections,
        u.malware,
        f"{u.top_malware} ({u.top_malware_count})" if u.top_malware else "",
    ]


def units(report: Report, L: Labels) -> Table:
    t, m = report.totals, report.metrics
    rows = report.units if report.unit is None else [report.unit]
    return Table(
        key="units",
        title=L.t_units,
        columns=[
            L.c_no,
            L.c_unit,
            L.c_in_scope,
            L.c_swept,
            L.c_not_swept,
            L.c_compliant,
            L.c_infected,
            L.c_detections,
            L.c_last_week,
            L.c_change,
            L.c_malware_types,
            L.c_top_malware,
        ],
        rows=_numbered([_unit_cells(u) for u in rows]),
        total=None
        if report.unit
        else [
            "",
            L.total,
            t.in_scope,
            t.swept,
            t.not_swept,
            t.compliant,
            m.infected.current,
            m.detections.current,
            m.detections.previous,
            m.detections,
            m.malware.current,
            "",
        ],
        highlight=[i for i, u in enumerate(rows) if u.name in report.top_units],
    )


def malware(report: Report, L: Labels) -> Table:
    return Table(
        key="malware",
        title=L.t_malware,
        columns=[L.c_no, L.c_malware, L.c_detections, L.c_hosts, L.c_units],
        rows=_numbered([[m.name, m.detections, m.hosts, m.units] for m in report.malware]),
    )


NAMES_SHOWN = 3


def _names(names: list[str], limit: int = NAMES_SHOWN) -> str:
    """The most frequent names of a host; how many more there are (JSON has them all)."""
    shown = ", ".join(names[:limit])
    return f"{shown} (+{len(names) - limit})" if len(names) > limit else shown


HOSTS_SHOWN = 20


def _hosts(names: list[str]) -> str:
    return _names(names, HOSTS_SHOWN)


def infected(report: Report, L: Labels) -> Table:
    return Table(
        key="infected_hosts",
        title=L.t_infected,
        columns=[
            L.c_no,
            L.c_unit,
            L.c_host,
            L.c_detections,
            L.c_malware,
            L.c_first_seen,
            L.c_last_seen,
            L.c_status,
        ],
        rows=_numbered(
            [
                [
                    h.unit_name,
                    h.host,
                    h.detections,
                    _names(h.malware),
                    h.first_seen,
                    h.last_seen,
                    L.yes if h.cleaned else L.no,
                ]
                for h in report.infected_hosts
            ]
        ),
    )


def connections(report: Report, L: Labels) -> Table:
    names = {u.unit: u.name for u in report.units}
    return Table(
        key="connections",
        title=L.t_connections,
        columns=[
            L.c_no,
            L.c_unit,
            L.c_host,
            L.c_kind,
            L.c_remote,
            L.c_pid,
            L.c_process,
            L.c_indicator,
            L.c_feed,
        ],
        rows=_numbered(
            [
                _cells(
                    names.get(c.unit, c.unit),
                    c.host,
                    L.connection_source(c.source),
                    c.remote,
                    Ident(c.pid) if c.pid is not None else None,
                    c.process,
                    ", ".join(c.indicators),
                    ", ".join(c.feeds),
                )
                for c in report.connections
            ]
        ),
    )


def trend(report: Report, L: Labels) -> Table:
    return Table(
        key="trend",
        title=L.t_trend,
        columns=[L.c_week, L.c_from, L.c_detections, L.c_infected],
        rows=[[p.week, p.monday, p.detections, p.infected] for p in report.trend],
    )


def campaign(report: Report, L: Labels) -> Table:
    """The figures of seed 002's form (section 2, "Thông tin số liệu"), for machines; the
    campaign's first task, checking browsers and operating systems for weaknesses, as the
    machines judged against vulnerability data and those of them to fix."""
    t, v = report.totals, report.vulns
    checked_note = L.f_vulns_checked_note if v.checked.current else L.f_vulns_unchecked_note
    return Table(
        key="campaign",
        title=L.t_campaign,
        columns=[L.c_no, L.c_content, L.c_count, L.c_note],
        rows=_numbered(
            [
                [L.f_in_scope, t.in_scope, L.f_in_scope_note],
                [L.f_swept, t.swept, ""],
                [L.f_vulns_checked, v.checked.current, checked_note],
                [L.f_vulns_failing, v.failing, L.f_vulns_failing_note],
                [L.f_infected, report.metrics.infected.current, ""],
                [L.f_cleaned, t.cleaned, L.f_cleaned_note],
            ]
        ),
    )


def campaign_units(report: Report, L: Labels) -> Table:
    t, v = report.totals, report.vulns
    rows = report.units if report.unit is None else [report.unit]
    return Table(
        key="campaign_units",
        title=L.t_campaign_units,
        columns=[
            L.c_no,
            L.c_unit,
            L.c_in_scope,
            L.c_swept,
            L.c_vulns_checked,
            L.c_vulns_failing,
            L.c_infected,
            L.c_cleaned,
        ],
        rows=_numbered(
            [
                _cells(
                    u.name,
                    u.in_scope,
                    u.swept,
                    u.vulns_checked,
                    u.vulns_failing,
                    u.infected,
                    u.cleaned,
                )
                for u in rows
            ],
        ),
        total=[
            "",
            L.total,
            t.in_scope,
            t.swept,
            v.checked.current,
            v.failing,
            report.metrics.infected.current,
            t.cleaned,
        ],
    )


def vulns_hosts(report: Report, L: Labels, fmt: Formatter) -> Table:
    """The unit's machines with critical or high weaknesses; the line under it says how
    many were checked at all (a machine not checked is not a clean one)."""
    v = report.vulns
    line = L.vulns_line.format(
        checked=fmt.number(v.checked.current),
        in_scope=fmt.number(v.in_scope),
        critical=fmt.number(v.critical.current),
        high=fmt.number(sum(1 for h in report.vulns_hosts if not h.critical)),
        unchecked=fmt.number(v.in_scope - v.checked.current),
    )
    return Table(
        key="vulns_hosts",
        title=L.t_vulns_hosts,
        columns=[
            L.c_no,
            L.c_host,
            L.c_os,
            L.c_critical,
            L.c_high,
            L.c_components,
            L.c_status,
        ],
        rows=_numbered(
            [
                [h.host, h.os, h.critical, h.high, _names(h.components), L.status(h.status)]
                for h in report.vulns_hosts
            ]
        ),
        note=line,
    )


def top_cves(report: Report, L: Labels, fmt: Formatter) -> Table:
    return Table(
        key="top_cves",
        title=L.t_top_cves,
        columns=[
            L.c_no,
            L.c_cve,
            L.c_severity,
            L.c_cvss,
            L.c_component,
            L.c_machines,
            L.c_fixed,
        ],
        rows=_numbered(
            [
                [
                    c.cve,
                    L.severity(c.severity),
                    fmt.decimal(c.cvss),
                    c.component,
                    c.machines,
                    ", ".join([*c.fixed, *c.kb]),
                ]
                for c in report.top_cves
            ]
        ),
    )


def vulns_unchecked(report: Report, L: Labels) -> Table:
    return Table(
        key="vulns_unchecked",
        title=L.t_vulns_unchecked,
        columns=[L.c_no, L.c_reason, L.c_hosts, L.c_host_names],
        rows=_numbered([[u.reason, len(u.hosts), _hosts(u.hosts)] for u in report.vulns_unchecked]),
    )


def failing(report: Report, L: Labels) -> Table:
    """What the unit must fix, in its language: the finding explained, what to do."""
    return Table(
        key="findings",
        title=L.t_failing,
        columns=[
            L.c_no,
            L.c_host,
            L.c_check,
            L.c_status,
            L.c_severity,
            L.c_title,
            L.c_detail,
        ],
        rows=_numbered(
            [
                [
                    f.host,
                    L.check(f.check),
                    L.status(f.status),
                    L.severity(f.severity),
                    f.title,
                    f.detail,
                ]
                for f in report.failing
            ]
        ),
    )


def waivers(report: Report, L: Labels) -> Table:
    """The exceptions the province approved, in force or lapsed, with who approved them."""
    return Table(
        key="waivers",
        title=L.t_waivers,
        columns=[
            L.c_no,
            L.c_host,
            L.c_check,
            L.c_item,
            L.c_reason,
            L.c_approved_by,
            L.c_expires,
            L.c_status,
        ],
        rows=_numbered(
            [
                [
                    w.host,
                    L.check(w.check),
                    w.item,
                    w.reason,
                    w.approved_by,
                    w.expires,
                    L.w_expired if w.expired else L.w_active,
                ]
                for w in report.waivers
            ]
        ),
    )


def evidence_annex(report: Report, L: Labels, fmt: Formatter) -> Table:
    """Every failing finding's evidence, whole, numbered as in the findings table."""
    rows: list[list[Cell]] = [
        [index, f.host, L.check(f.check), key, value]
        for index, f in enumerate(report.failing, 1)
        for key, value in evidence_lines(f.evidence, fmt, L)
    ]
    return Table(
        key="evidence",
        title=L.t_evidence,
        columns=[L.c_no, L.c_host, L.c_check, L.c_key, L.c_value],
        rows=rows,
    )


def detections(report: Report, L: Labels) -> Table:
    return Table(
        key="detections",
        title=L.t_detections,
        columns=[
            L.c_no,
            L.c_host,
            L.c_malware,
            L.c_path,
            L.c_detected_at,
            L.c_source,
            L.c_action,
        ],
        rows=_numbered(
            [
                [d.host, d.name, d.path, d.detected_at, d.source, d.action or ""]
                for d in report.detections
            ]
        ),
    )


ID_SHOWN = 12  # of a sweep or remediation id in a table; JSON has it whole


def _short(ref: str | None) -> str:
    return (ref or "")[:ID_SHOWN]


def cleaned(report: Report, L: Labels) -> Table:
    return Table(
        key="cleaned",
        title=L.t_cleaned,
        columns=[
            L.c_no,
            L.c_host,
            L.c_last_infected,
            L.c_verified_at,
            L.c_sweep,
            L.c_remediation,
        ],
        rows=_numbered(
            [
                [
                    c.host,
                    c.last_infected,
                    c.verified_at,
                    _short(c.sweep_id),
                    _short(c.remediation_id),
                ]
                for c in report.cleaned
            ]
        ),
    )


def remediations(report: Report, L: Labels) -> Table:
    return Table(
        key="remediations",
        title=L.t_remediations,
        columns=[
            L.c_no,
            L.c_host,
            L.c_check,
            L.c_title,
            L.c_result,
            L.c_error,
            L.c_operator,
            L.c_done_at,
            L.c_verify_sweep,
            L.c_undone_at,
        ],
        rows=_numbered(
            [
                [
                    r.host,
                    L.check(r.check),
                    r.finding_title or r.finding,
                    L.remediation(r.status),
                    cell_text(r.error),
                    r.operator,
                    r.done_at,
                    _short(r.verify_sweep_id),
                    r.undone_at,
                ]
                for r in report.remediations
            ]
        ),
    )


def unswept(report: Report, L: Labels) -> Table:
    return Table(
        key="unswept",
        title=L.t_unswept,
        columns=[L.c_no, L.c_host, L.c_status, L.c_reason, L.c_message],
        rows=_numbered(
            [
                [h.host, L.host_status(h.status), h.reason, cell_text(h.error)]
                for h in report.unswept
            ]
        ),
    )


CELL_LIMIT = 600


def cell_text(text: str) -> str:
    """Host text (evidence, an error's output) on one line for a table cell, cut at
    CELL_LIMIT (JSON has it whole)."""
    text = one_line(text)
    return text if len(text) <= CELL_LIMIT else text[: CELL_LIMIT - 1] + "…"


def all_tables(report: Report, L: Labels, fmt: Formatter) -> list[Table]:
    """The tables in the order every format shows them; the summary first, with its line."""
    if report.unit is None:
        builders = [units, malware, infected, connections, trend, campaign, campaign_units]
        return [summary(report, L, fmt), *(build(report, L) for build in builders)]
    before = [units, malware, infected, connections, failing]
    after = [vulns_unchecked, waivers, detections, remediations, cleaned, unswept, trend]
    return [
        summary(report, L, fmt),
        *(build(report, L) for build in before),
        vulns_hosts(report, L, fmt),
        top_cves(report, L, fmt),
        *(build(report, L) for build in [*after, campaign]),
        evidence_annex(report, L, fmt),
    ]
