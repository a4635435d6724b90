"""Self-contained HTML: one file, inline CSS and SVG, no script, nothing fetched.

A Content-Security-Policy in the page forbids scripts and remote loads, as a second
wall behind the template's autoescaping.
"""

from __future__ import annotations

from pathlib import Path

from markupsafe import Markup

from reports import chart
from reports.document import Document


def charts(doc: Document) -> dict[str, Markup | None]:
    """Each chart of the report as inline SVG by key; `units` is None in a unit's report
    (templates written for an earlier raquet name both keys)."""
    drawn = chart.report_charts(doc.report, doc.labels)
    return {"units": None} | {c.key: chart.svg(c, doc.fmt.number) for c in drawn}


def render(doc: Document) -> str:
    template = doc.env.get_template("report.html.j2")
    return template.render(report=doc.report, doc=doc, charts=charts(doc))


def write(doc: Document, output: Path) -> list[Path]:
    output.write_text(render(doc), encoding="utf-8")
    return [output]
