"""Inline SVG bar charts: no script, no font or image to fetch, same drawing on screen and paper.

Labels are escaped by `Markup.format`; a unit name is inventory data and still treated
as text.
"""

from __future__ import annotations

from collections.abc import Callable

from markupsafe import Markup

WIDTH, BAR_AREA = 640, 160
BAR, NOW = "#7a8ca3", "#1f3b63"  # attributes, not CSS: WeasyPrint styles SVG by attribute
_SVG = Markup(
    '<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {w} {h}" '
    'role="img" aria-label="{title}" font-family="Times New Roman, Liberation Serif, serif" '
    'font-size="11"><title>{title}</title>{body}</svg>'
)


def columns(title: str, points: list[tuple[str, int]], number: Callable[[int], str]) -> Markup:
    """One column per point (e.g. per week), value above, label below; the last one stressed."""
    top = max((value for _, value in points), default=0) or 1
    slot = WIDTH / max(len(points), 1)
    body = Markup("")
    for index, (label, value) in enumerate(points):
        height = round(BAR_AREA * value / top, 1)
        x = round(index * slot + slot * 0.15, 1)
        y = 20 + BAR_AREA - height
        fill = NOW if index == len(points) - 1 else BAR
        body += Markup(
            '<rect fill="{fill}" x="{x}" y="{y}" width="{w}" height="{h}"/>'
            '<text x="{cx}" y="{ty}" text-anchor="middle">{value}</text>'
            '<text x="{cx}" y="{ly}" text-anchor="middle">{label}</text>'
        ).format(
            fill=fill,
            x=x,
            y=y,
            w=round(slot * 0.7, 1),
            h=height,
            cx=round(index * slot + slot / 2, 1),
            ty=y - 5,
            value=number(value),
            ly=20 + BAR_AREA + 18,
            label=label,
        )
    return _SVG.format(w=WIDTH, h=20 + BAR_AREA + 26, title=title, body=body)


def bars(title: str, points: list[tuple[str, int]], number: Callable[[int], str]) -> Markup:
    """Horizontal bars, one row per point (e.g. per unit), for long labels."""
    top = max((value for _, value in points), default=0) or 1
    label_width, row = 230, 22
    body = Markup("")
    for index, (label, value) in enumerate(points):
        y = index * row
        shown = label if len(label) <= 34 else label[:33] + "…"
        body += Markup(
            '<text x="{lx}" y="{ty}" text-anchor="end">{label}</text>'
            '<rect fill="{fill}" x="{x}" y="{y}" width="{w}" height="{h}"/>'
            '<text x="{vx}" y="{ty}">{value}</text>'
        ).format(
            lx=label_width - 6,
            ty=y + 15,
            label=shown,
            fill=BAR,
            x=label_width,
            y=y + 3,
            w=round((WIDTH - label_width - 60) * value / top, 1),
            h=row - 6,
            vx=round(label_width + (WIDTH - label_width - 60) * value / top + 4, 1),
            value=number(value),
        )
    return _SVG.format(w=WIDTH, h=max(len(points), 1) * row, title=title, body=body)
