"""CSV tables of indicators: delimiter sniffed (Excel in a Vietnamese locale writes `;`).

Lines starting with `#` are comments, as in the abuse.ch exports, whose header line is
itself commented out (`# id,dateadded,url,...`): it is still recognised as the header.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from raquet.errors import InputError, Problem
from raquet.feeds.collect import Collector
from raquet.feeds.table import FIRST_COLUMN, Row, locate_header, read_rows

_SNIFF_CHARS = 64 * 1024
_DIALECT_SAMPLE = 4 * 1024
"""What `csv.Sniffer` reads: its regexes take quadratic time (64 KiB of `,"` took 20 s)."""


class _Unreadable(Exception):
    """The csv module gave up on a record (a cell over its size limit, a broken quote)."""

    def __init__(self, line: int, error: csv.Error) -> None:
        super().__init__(str(error))
        self.line = line


def parse_csv(text: str, out: Collector) -> None:
    try:
        layout, rows = locate_header(csv_rows(text))
        data = (row for row in rows if not _commented(row))
        read_rows(
            layout or FIRST_COLUMN, data, out, lambda index, header: header or f"column {index + 1}"
        )
    except _Unreadable as err:
        problem = Problem(out.file, err.line, "", f"not readable as CSV: {err}")
        raise InputError([*out.problems, problem]) from None


def looks_like_csv(text: str) -> bool:
    """Whether a file of unknown type is a table: an uncommented header among its first lines.

    Commented lines do not count here: a plain list's "# IP, tên miền độc hại" is prose.
    """
    rows = (row for row in csv_rows(text[:_SNIFF_CHARS]) if not _commented(row))
    try:
        layout, _ = locate_header(rows)
    except _Unreadable:
        return False
    return layout is not None


def csv_rows(text: str) -> Iterator[Row]:
    """Rows with the line each starts on (a quoted cell may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text))
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise _Unreadable(start, err) from None
        yield start, cells
        start = reader.line_num + 1


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    sample = "\n".join(
        line for line in text[:_SNIFF_CHARS].splitlines() if not line.startswith("#")
    )[:_DIALECT_SAMPLE]
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:  # one column, or too little to tell
        return csv.excel


def _commented(row: Row) -> bool:
    cells = row[1]
    return bool(cells) and str(cells[0]).lstrip().startswith("#")
