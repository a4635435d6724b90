"""A report laid out for reading in one language: letter parts, tables, dates in words.

What every human-readable format shares (HTML, PDF, DOCX, Markdown, and the headings of
XLSX and CSV); each renderer then only decides how it looks.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment
from pydantic import BaseModel, ConfigDict

from reports.formatting import Formatter
from reports.labels import Labels, labels
from reports.model import Report
from reports.prose import Prose, prose
from reports.settings import ReportSettings
from reports.tables import Table, all_tables
from reports.templating import environment


class Document(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    report: Report
    fmt: Formatter
    labels: Labels
    env: Environment
    templates: Path | None
    prose: Prose
    tables: list[Table]
    issuer: list[str]
    reference: str
    date_line: str
    period: str
    heading: str
    annex_ref: str
    generated: str
    title: str


def layout(
    report: Report, templates: Path | None, settings: ReportSettings | None = None
) -> Document:
    """Everything a renderer needs for `report`, in the report's language, with the letter's
    own settings (issuer, ký hiệu, place, signer, recipients… as in force in its week)."""
    settings = settings or ReportSettings()
    fmt = Formatter(report.lang, ZoneInfo(report.timezone))
    L = labels(report.lang)
    env = environment(templates, fmt, L)
    text = prose(templates, fmt, L, report, settings.wording(report.lang))
    issuer = settings.issuer_at(report.period_end) or report.issuer or [L.issuer_placeholder]
    today = report.generated_at.date()
    place = settings.place or report.province or "……"
    period = L.period.format(start=fmt.day(report.period_start), end=fmt.day(report.period_end))
    subject = report.unit.name if report.unit else report.province
    heading = L.annex_title_unit if report.unit else L.annex_title
    return Document(
        report=report,
        fmt=fmt,
        labels=L,
        env=env,
        templates=templates,
        prose=text,
        tables=all_tables(report, L, fmt),
        issuer=issuer,
        reference="/" + (settings.reference_at(report.period_end) or "").lstrip("/"),
        date_line=L.date_line.format(place=place, month=fmt.month(today), year=today.year),
        period=period,
        heading=heading,
        annex_ref=L.annex_ref.format(issuer=issuer[-1]),
        generated=L.generated.format(at=fmt.moment(report.generated_at)),
        title=f"{heading} - {subject} - {L.week} {report.week}",
    )
