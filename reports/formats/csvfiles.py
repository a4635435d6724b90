"""CSV, one file per table, for spreadsheets and scripts.

`-o` is a directory (existing, or written with a trailing slash): files are
`DIR/<table>.csv`. Anything else is a base name: `-o out/week23` or `-o out/week23.csv`
writes `out/week23-<table>.csv`. Table keys are English and stable (`summary`, `units`,
`malware`, …); headings are in the report's language. Values are for machines: counts
as plain integers, percentages with a dot ("59.70", or "new"/"mới"), times ISO 8601.
UTF-8 with a byte-order mark so that Excel reads Vietnamese correctly; a text cell a
spreadsheet would run as a formula is quoted with a leading apostrophe. A table's note
(a line for people) is left out: its figures are in the JSON.
"""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path

from reports.change import Change
from reports.document import Document
from reports.tables import Cell
from reports.text import formula_safe


def _value(cell: Cell, doc: Document) -> str:
    if cell is None:
        return ""
    if isinstance(cell, Change):
        if cell.percent is None:
            return doc.fmt.change(cell) if cell.direction == "new" else ""
        return str(cell.percent)
    if isinstance(cell, datetime):
        return cell.astimezone(doc.fmt.zone).isoformat()
    if isinstance(cell, date | int):
        return str(cell.isoformat() if isinstance(cell, date) else cell)
    return formula_safe(cell)


def targets(output: Path, keys: list[str]) -> dict[str, Path]:
    """Where each table goes for `-o output` (see the module docstring)."""
    if output.is_dir() or str(output).endswith(("/", "\\")):
        output.mkdir(parents=True, exist_ok=True)
        return {key: output / f"{key}.csv" for key in keys}
    base = output.with_suffix("") if output.suffix.lower() == ".csv" else output
    return {key: base.with_name(f"{base.name}-{key}.csv") for key in keys}


def write(doc: Document, output: Path) -> list[Path]:
    paths = targets(output, [t.key for t in doc.tables])
    for table in doc.tables:
        with paths[table.key].open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(table.columns)
            for row in [*table.rows, *([table.total] if table.total else [])]:
                writer.writerow([_value(cell, doc) for cell in row])
    return list(paths.values())
