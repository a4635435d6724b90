"""JSON: the whole report model; counts as numbers, percentages as exact decimal strings
("59.70"), times as ISO 8601 with their offset."""

from __future__ import annotations

from pathlib import Path

from reports.document import Document


def write(doc: Document, output: Path) -> list[Path]:
    output.write_text(doc.report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return [output]
