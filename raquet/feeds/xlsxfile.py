"""Spreadsheets (XLSX) as provinces receive them attached to letters.

Every sheet with a header row is read; a workbook where no sheet has one is read from
its first sheet's first column. Problems name the sheet and column (`IOC!B`) and the row.

A workbook is a zip of XML parts, so before openpyxl opens it the parts' declared sizes are
checked (zipfile never inflates a part past its declared size): a zip bomb is refused
unopened. Sheets are then streamed (`read_only`), at most `MAX_COLUMNS` cells a row and
`MAX_ENTRIES` rows in all, however many rows and columns a sheet claims. XML entity bombs
are refused by the XML parsers openpyxl uses: defusedxml when it is installed (openpyxl's
own advice), else expat's amplification limit, and lxml without entity resolution.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import openpyxl
from openpyxl.utils import get_column_letter

from raquet.errors import InputError, Problem
from raquet.feeds.collect import Collector
from raquet.feeds.limits import (
    MAX_COLUMNS,
    MAX_ENTRIES,
    MAX_XLSX_PARTS,
    MAX_XLSX_RATIO,
    MAX_XLSX_UNCOMPRESSED,
    XLSX_RATIO_FROM,
)
from raquet.feeds.table import FIRST_COLUMN, Row, Where, locate_header, read_rows

_EXCEL_ROWS = 1_048_576


class _SheetError(Exception):
    """A sheet that cannot be read to its end, at the row where reading stopped."""

    def __init__(self, where: str, row: int, message: str) -> None:
        super().__init__(message)
        self.where, self.row = where, row


def _unreadable(error: BaseException) -> str:
    """What openpyxl's readers said, short: it raises whatever its XML and zip readers raise
    (bad XML, a bad part, an entity bomb refused by expat or defusedxml), sometimes wrapped
    in a ValueError of its own; the first cause is the one that names the fault."""
    while error.__cause__ is not None:
        error = error.__cause__
    message = str(error).split("\n", 1)[0][:200]
    return f"not a readable XLSX workbook: {type(error).__name__}: {message}"


class _Budget:
    """Rows left to read in the whole workbook, blank ones included: a sheet may claim a
    row 1,048,576 and openpyxl pads up to it."""

    def __init__(self) -> None:
        self.left = MAX_ENTRIES


def parse_xlsx(data: bytes, out: Collector) -> None:
    _check_parts(data, out.file)
    try:
        # From memory, not the path: openpyxl refuses a path whose name does not end in .xlsx.
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as err:  # see _unreadable
        raise InputError([Problem(out.file, None, "", _unreadable(err))]) from None
    try:
        _read_sheets(workbook, out)
    except _SheetError as err:
        problem = Problem(out.file, err.row, err.where, str(err))
        raise InputError([*out.problems, problem]) from None
    finally:
        workbook.close()


def _check_parts(data: bytes, file: str) -> None:
    """Refuse a workbook whose parts would inflate past the limits, before inflating any."""
    try:
        parts = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as err:
        raise InputError(
            [Problem(file, None, "", f"not a readable XLSX workbook: {err}")]
        ) from None
    problem = _parts_problem(parts)
    if problem is not None:
        raise InputError([Problem(file, None, problem[0], problem[1])])


def _parts_problem(parts: list[zipfile.ZipInfo]) -> tuple[str, str] | None:
    """(part, what is wrong) for the first part past a limit, or None."""
    if len(parts) > MAX_XLSX_PARTS:
        return "", f"{len(parts):,} parts in the workbook; at most {MAX_XLSX_PARTS:,}"
    total = 0
    for part in parts:
        total += part.file_size
        if total > MAX_XLSX_UNCOMPRESSED:
            limit = MAX_XLSX_UNCOMPRESSED >> 20
            return part.filename, f"the workbook inflates to more than {limit} MiB (a zip bomb?)"
        ratio = part.file_size / max(part.compress_size, 1)
        if part.file_size > XLSX_RATIO_FROM and ratio > MAX_XLSX_RATIO:
            return part.filename, (
                f"compressed {ratio:,.0f} times (spreadsheets: 10 to 30; at most "
                f"{MAX_XLSX_RATIO}): a zip bomb?"
            )
    return None


def _read_sheets(workbook: Any, out: Collector) -> None:
    budget = _Budget()
    with_header = 0
    for sheet in workbook.worksheets:
        layout, rows = locate_header(_rows(sheet, budget))
        if layout is not None:
            read_rows(layout, rows, out, _where(sheet.title))
            with_header += 1
    if not with_header and workbook.worksheets:
        first = workbook.worksheets[0]
        read_rows(FIRST_COLUMN, _rows(first, budget), out, _where(first.title))


def _rows(sheet: Any, budget: _Budget) -> Iterator[Row]:
    """The sheet's rows with their numbers, each at most MAX_COLUMNS wide; an error openpyxl
    raises while streaming, or the workbook's row budget running out, stops at that row."""
    cells = sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS, max_row=_EXCEL_ROWS)
    number = 0
    while True:
        try:
            row = next(cells)
        except StopIteration:
            return
        except Exception as err:  # see _unreadable
            raise _SheetError(sheet.title, number + 1, _unreadable(err)) from None
        number += 1
        budget.left -= 1
        if budget.left < 0:
            message = f"more than {MAX_ENTRIES:,} rows in the workbook: split the feed"
            raise _SheetError(sheet.title, number, message)
        if row.count(None) < len(row):  # rows openpyxl pads with are skipped at C speed
            yield number, row


def _where(sheet: str) -> Where:
    def where(index: int, header: str) -> str:
        cell = f"{sheet}!{get_column_letter(index + 1)}"
        return f"{cell} ({header})" if header else cell

    return where
