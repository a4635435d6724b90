"""Spreadsheets (XLSX) as provinces receive them attached to letters.

Every sheet with a header row is read; a workbook where no sheet has one is read from
its first sheet's first column. Problems name the sheet and column (`IOC!B`) and the row.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import openpyxl
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from raquet.errors import InputError, Problem
from raquet.feeds.collect import Collector
from raquet.feeds.table import FIRST_COLUMN, Row, Where, locate_header, read_rows


def parse_xlsx(data: bytes, out: Collector) -> None:
    # From memory, not the path: openpyxl refuses a path whose name does not end in .xlsx.
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as err:
        problem = Problem(out.file, None, "", f"not a readable XLSX workbook: {err}")
        raise InputError([problem]) from None
    try:
        with_header = 0
        for sheet in workbook.worksheets:
            layout, rows = locate_header(_rows(sheet))
            if layout is not None:
                read_rows(layout, rows, out, _where(sheet.title))
                with_header += 1
        if not with_header and workbook.worksheets:
            first = workbook.worksheets[0]
            read_rows(FIRST_COLUMN, _rows(first), out, _where(first.title))
    finally:
        workbook.close()


def _rows(sheet: Any) -> Iterator[Row]:
    return enumerate(sheet.iter_rows(values_only=True), 1)


def _where(sheet: str) -> Where:
    def where(index: int, header: str) -> str:
        cell = f"{sheet}!{get_column_letter(index + 1)}"
        return f"{cell} ({header})" if header else cell

    return where
