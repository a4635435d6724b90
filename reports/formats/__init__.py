"""One module per output format; `write` picks it and returns the files it wrote."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from reports.document import Document


class Format(StrEnum):
    html = "html"
    pdf = "pdf"
    docx = "docx"
    xlsx = "xlsx"
    md = "md"
    csv = "csv"
    json = "json"


def write(format: Format, doc: Document, output: Path) -> list[Path]:
    """Writes `doc` as `format` to `output`; imports only that format's library."""
    writer: Callable[[Document, Path], list[Path]]
    if format is Format.html:
        from reports.formats.html import write as writer
    elif format is Format.pdf:
        from reports.formats.pdf import write as writer
    elif format is Format.docx:
        from reports.formats.word import write as writer
    elif format is Format.xlsx:
        from reports.formats.spreadsheet import write as writer
    elif format is Format.md:
        from reports.formats.markdown import write as writer
    elif format is Format.csv:
        from reports.formats.csvfiles import write as writer
    else:
        from reports.formats.jsondoc import write as writer
    return writer(doc, output)
