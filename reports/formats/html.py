"""Self-contained HTML: one file, inline CSS and SVG, no script, nothing fetched.

A Content-Security-Policy in the page forbids scripts and remote loads, as a second
wall behind the template's autoescaping.
"""

from __future__ import annotations

from pathlib import Path

from markupsafe import Markup

from reports import chart
from reports.document import Document

TOP_UNITS_CHARTED = 10


def charts(doc: Document) -> dict[str, Markup | None]:
    report, L, fmt = doc.report, doc.labels, doc.fmt
    trend = chart.columns(
        L.chart_trend,
        [(p.monday.strftime("%d/%m"), p.detections) for p in report.trend],
        fmt.number,
    )
    ranked = [(u.name, u.detections.current) for u in report.units if u.detections.current]
    units = None
    if report.unit is None and ranked:
        units = chart.bars(L.chart_units, ranked[:TOP_UNITS_CHARTED], fmt.number)
    return {"trend": trend, "units": units}


def render(doc: Document) -> str:
    template = doc.env.get_template("report.html.j2")
    return template.render(report=doc.report, doc=doc, charts=charts(doc))


def write(doc: Document, output: Path) -> list[Path]:
    output.write_text(render(doc), encoding="utf-8")
    return [output]
