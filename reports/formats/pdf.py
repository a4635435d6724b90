"""PDF from the very HTML of the HTML report (WeasyPrint), so both always agree.

The URL fetcher refuses everything: the HTML needs nothing from outside, and a report
must never make a network request because of what a host wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

from reports.document import Document
from reports.formats.html import render


def _refuse(url: str, *args: object, **kwargs: object) -> NoReturn:
    raise ValueError(f"report PDFs fetch nothing (asked for {url[:80]!r})")


def write(doc: Document, output: Path) -> list[Path]:
    from weasyprint import HTML  # heavy import (Pango), only when a PDF is asked for

    HTML(string=render(doc), url_fetcher=_refuse).write_pdf(output)
    return [output]
