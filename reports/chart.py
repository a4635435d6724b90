"""The report's charts: one description, drawn as inline SVG (HTML, PDF), as a PNG of that
same SVG (DOCX) and as a native chart over the sheet's own cells (XLSX).

Each chart has a title, both axis labels and a legend, so a printed page explains itself.
The SVG has no script and needs no font or image from outside; labels are escaped by
`Markup.format` (a unit name is inventory data and stays text).
"""

from __future__ import annotations

from collections.abc import Callable
from math import floor, log10

from markupsafe import Markup
from pydantic import BaseModel

from reports.labels import Labels
from reports.model import Report

WIDTH = 680
BAR, NOW = "#7a8ca3", "#1f3b63"  # attributes, not CSS: WeasyPrint styles SVG by attribute
FONT = "Times New Roman, Liberation Serif, serif"
_SVG = Markup(
    '<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {w} {h}" width="{w}" '
    'height="{h}" role="img" aria-label="{title}" font-family="{font}" font-size="11">'
    '<title>{title}</title><rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>'
    '<text x="{cx}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{title}</text>'
    "{body}</svg>"
)


class Chart(BaseModel):
    """A bar chart of one series; `stressed` is the bar drawn darker (the reported week)."""

    key: str
    title: str
    x_label: str
    y_label: str
    series: str
    stressed_label: str | None = None
    points: list[tuple[str, int]]
    stressed: int | None = None
    horizontal: bool = False


def _ticks(top: int) -> list[int]:
    """Round values from 0 to at least `top`, at most about five of them (1, 2 or 5 times a power of ten)."""
    if top <= 0:
        return [0, 1]
    raw = top / 4
    magnitude = 10 ** floor(log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(int(step), 1)
    return list(range(0, top + step, step))


def _legend(chart: Chart, x: float, y: float) -> Markup:
    items = [(BAR, chart.series)]
    if chart.stressed is not None and chart.stressed_label:
        items.append((NOW, chart.stressed_label))
    body = Markup("")
    for fill, label in items:
        body += Markup(
            '<rect fill="{fill}" x="{x}" y="{y}" width="10" height="10"/>'
            '<text x="{tx}" y="{ty}">{label}</text>'
        ).format(fill=fill, x=x, y=y, tx=x + 14, ty=y + 9, label=label)
        x += 30 + 6 * len(label)
    return body


def svg(chart: Chart, number: Callable[[int], str]) -> Markup:
    """The chart as an SVG element (columns, or rows when `horizontal`)."""
    return _rows(chart, number) if chart.horizontal else _columns(chart, number)


def _columns(chart: Chart, number: Callable[[int], str]) -> Markup:
    left, top_y, area = 64, 34, 170
    width = WIDTH - left - 16
    ticks = _ticks(max((v for _, v in chart.points), default=0))
    scale = area / (ticks[-1] or 1)
    slot = width / max(len(chart.points), 1)
    body = Markup("")
    for tick in ticks:
        y = round(top_y + area - tick * scale, 1)
        body += Markup(
            '<line x1="{l}" y1="{y}" x2="{r}" y2="{y}" stroke="#d0d0d0" stroke-width="0.6"/>'
            '<text x="{tx}" y="{ty}" text-anchor="end">{label}</text>'
        ).format(l=left, r=left + width, y=y, tx=left - 4, ty=y + 4, label=number(tick))
    for index, (label, value) in enumerate(chart.points):
        height = round(value * scale, 1)
        x = round(left + index * slot + slot * 0.15, 1)
        y = round(top_y + area - height, 1)
        fill = NOW if index == chart.stressed else BAR
        cx = round(left + index * slot + slot / 2, 1)
        body += Markup(
            '<rect fill="{fill}" x="{x}" y="{y}" width="{w}" height="{h}"/>'
            '<text x="{cx}" y="{vy}" text-anchor="middle">{value}</text>'
            '<text x="{cx}" y="{ly}" text-anchor="middle">{label}</text>'
        ).format(
            fill=fill,
            x=x,
            y=y,
            w=round(slot * 0.7, 1),
            h=height,
            cx=cx,
            vy=y - 3,
            value=number(value),
            ly=top_y + area + 14,
            label=label,
        )
    base = top_y + area
    body += Markup(
        '<line x1="{l}" y1="{b}" x2="{r}" y2="{b}" stroke="#000" stroke-width="0.8"/>'
        '<line x1="{l}" y1="{t}" x2="{l}" y2="{b}" stroke="#000" stroke-width="0.8"/>'
        '<text x="{cx}" y="{xy}" text-anchor="middle" font-style="italic">{x_label}</text>'
        '<text x="0" y="0" transform="translate(14 {my}) rotate(-90)" text-anchor="middle" '
        'font-style="italic">{y_label}</text>'
    ).format(
        l=left,
        r=left + width,
        b=base,
        t=top_y,
        cx=round(left + width / 2, 1),
        xy=base + 30,
        my=round(top_y + area / 2, 1),
        x_label=chart.x_label,
        y_label=chart.y_label,
    )
    body += _legend(chart, left, base + 40)
    return _SVG.format(w=WIDTH, h=base + 58, title=chart.title, font=FONT, cx=WIDTH / 2, body=body)


def _rows(chart: Chart, number: Callable[[int], str]) -> Markup:
    label_width, row, top_y = 230, 22, 30
    width = WIDTH - label_width - 70
    top = max((v for _, v in chart.points), default=0) or 1
    body = Markup("")
    for index, (label, value) in enumerate(chart.points):
        y = top_y + index * row
        shown = label if len(label) <= 34 else label[:33] + "…"
        length = round(width * value / top, 1)
        body += Markup(
            '<text x="{lx}" y="{ty}" text-anchor="end">{label}</text>'
            '<rect fill="{fill}" x="{x}" y="{y}" width="{w}" height="{h}"/>'
            '<text x="{vx}" y="{ty}">{value}</text>'
        ).format(
            lx=label_width - 6,
            ty=y + 15,
            label=shown,
            fill=NOW if index == chart.stressed else BAR,
            x=label_width,
            y=y + 3,
            w=length,
            h=row - 6,
            vx=round(label_width + length + 4, 1),
            value=number(value),
        )
    base = top_y + max(len(chart.points), 1) * row
    body += Markup(
        '<line x1="{l}" y1="{t}" x2="{l}" y2="{b}" stroke="#000" stroke-width="0.8"/>'
        '<line x1="{l}" y1="{b}" x2="{r}" y2="{b}" stroke="#000" stroke-width="0.8"/>'
        '<text x="{cx}" y="{xy}" text-anchor="middle" font-style="italic">{x_label}</text>'
        '<text x="{lx}" y="{t2}" text-anchor="end" font-style="italic">{y_label}</text>'
    ).format(
        l=label_width,
        r=label_width + width,
        t=top_y,
        b=base,
        cx=round(label_width + width / 2, 1),
        xy=base + 16,
        lx=label_width - 6,
        t2=top_y - 4,
        x_label=chart.x_label,
        y_label=chart.y_label,
    )
    body += _legend(chart, label_width, base + 26)
    return _SVG.format(w=WIDTH, h=base + 44, title=chart.title, font=FONT, cx=WIDTH / 2, body=body)


TOP_UNITS_CHARTED = 10


def report_charts(report: Report, L: Labels) -> list[Chart]:
    """The weeks' detections (this week stressed) and, in a letter, the units with most."""
    charts = [
        Chart(
            key="trend",
            title=L.chart_trend,
            x_label=L.chart_trend_x,
            y_label=L.chart_trend_y,
            series=L.chart_trend_series,
            stressed_label=L.chart_trend_stressed,
            points=[(p.monday.strftime("%d/%m"), p.detections) for p in report.trend],
            stressed=len(report.trend) - 1 if report.trend else None,
        )
    ]
    ranked = [(u.name, u.detections.current) for u in report.units if u.detections.current]
    if report.unit is None and ranked:
        charts.append(
            Chart(
                key="units",
                title=L.chart_units,
                x_label=L.chart_units_x,
                y_label=L.chart_units_y,
                series=L.chart_units_series,
                points=ranked[:TOP_UNITS_CHARTED],
                horizontal=True,
            )
        )
    return charts


def png(chart: Chart, number: Callable[[int], str], scale: float = 2.0) -> bytes:
    """The SVG drawing as PNG (for Word), rendered by CairoSVG at `scale`."""
    import cairosvg  # only DOCX needs it

    data: bytes = cairosvg.svg2png(
        bytestring=str(svg(chart, number)).encode("utf-8"), scale=scale, unsafe=False
    )
    return data
