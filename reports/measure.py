"""How wide a line of the letter is in Times New Roman, to size the header's columns.

Decree 30 lays the issuing body's two lines out on one line each, centred over their
column; a long name ("SỞ THÔNG TIN VÀ TRUYỀN THÔNG") must not wrap mid-name. Word and
LibreOffice need the column widths given, so the widths come from the text itself,
measured with Liberation Serif (metrically identical to Times New Roman, installed by
`fonts-liberation2`), or estimated when that font is missing.
"""

from __future__ import annotations

from functools import cache

from PIL import ImageFont

MM_PER_POINT = 25.4 / 72
_FILES = {False: "LiberationSerif-Regular.ttf", True: "LiberationSerif-Bold.ttf"}
_SIZE = 100  # measured at 100 pt, scaled


@cache
def _font(bold: bool) -> ImageFont.FreeTypeFont | None:
    try:
        return ImageFont.truetype(_FILES[bold], _SIZE)
    except OSError:
        return None


def width_mm(text: str, size_pt: float, bold: bool = False) -> float:
    """The printed width of `text` at `size_pt` points."""
    font = _font(bold)
    points = font.getlength(text) / _SIZE * size_pt if font else len(text) * 0.66 * size_pt
    return points * MM_PER_POINT
