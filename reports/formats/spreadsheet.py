"""XLSX: one sheet per table, numbers as numbers, the campaign form on its own sheet, and
the report's charts as native Excel charts over a sheet of their own data.

Text cells are written as strings with Excel's quote prefix, so `=cmd|' /C calc'!A0`
from a host stays text even when someone edits the cell; characters XML cannot hold
never reach here (`reports.text.clean`). Every sheet prints: A4, landscape when the table
is wide, fitted to the page width, its header row repeated on each page, cells bordered.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell.cell import Cell as XlCell
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from reports import chart
from reports.change import Change
from reports.document import Document
from reports.tables import Cell, Table

_BOLD = Font(bold=True)
_THIN = Side(style="thin", color="000000")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
WIDE = 6  # columns from which a sheet prints landscape
_HEAD = PatternFill("solid", fgColor="E8E8E8")
_PERCENT = '+0.00" %";-0.00" %";0.00" %"'
_FORBIDDEN = str.maketrans({c: " " for c in "[]:*?/\\"})


def _put(cell: XlCell, value: Cell, doc: Document) -> None:
    if isinstance(value, Change):
        if value.percent is None:
            _put(cell, doc.fmt.change(value), doc)
        else:
            cell.value = value.percent
            cell.number_format = _PERCENT
    elif isinstance(value, datetime):
        cell.value = value.astimezone(doc.fmt.zone).replace(tzinfo=None)
        cell.number_format = "dd/mm/yyyy hh:mm"
    elif isinstance(value, date):
        cell.value = value
        cell.number_format = "dd/mm/yyyy"
    elif isinstance(value, str):
        cell.value = value
        cell.data_type = "s"  # openpyxl would make a formula of a leading "="
        cell.quotePrefix = True
    else:
        cell.value = value


SHEET_TITLE = 31


def _shortened(title: str) -> str:
    """A title cut to SHEET_TITLE characters at a word's end, so no word is left maimed."""
    head = title[: SHEET_TITLE + 1]
    if len(title) <= SHEET_TITLE or " " not in head:
        return title[:SHEET_TITLE]
    return head.rsplit(" ", 1)[0].rstrip(" -") or title[:SHEET_TITLE]


def sheet_title(title: str, taken: set[str]) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\, unique in the workbook."""
    base = _shortened(title.translate(_FORBIDDEN).strip()) or "Sheet"
    name, n = base, 2
    while name.lower() in taken:
        name = f"{base[: SHEET_TITLE - len(str(n)) - 1]}~{n}"
        n += 1
    taken.add(name.lower())
    return name


def _title(sheet: Worksheet, text: str, doc: Document) -> None:
    _put(sheet["A1"], text, doc)
    sheet["A1"].font = Font(bold=True, size=13)


def _row(sheet: Worksheet, values: list[Cell], doc: Document, font: Font | None = None) -> int:
    """Appends one row under the title, every cell through `_put`; returns its number."""
    line = sheet.max_row + 1
    for column, value in enumerate(values, 1):
        cell = sheet.cell(line, column)
        _put(cell, value, doc)
        if font is not None:
            cell.font = font
    return line


def _print_setup(sheet: Worksheet, columns: int, header_row: int) -> None:
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = "landscape" if columns >= WIDE else "portrait"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = f"{header_row}:{header_row}"
    sheet.print_options.horizontalCentered = True


def _fill(sheet: Worksheet, table: Table, doc: Document) -> None:
    _title(sheet, table.title, doc)
    header = _row(sheet, list(table.columns), doc, _BOLD)
    for cell in sheet[header]:
        cell.fill = _HEAD
        cell.border = _BORDER
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for index, row in enumerate([*table.rows, *([table.total] if table.total else [])]):
        strong = index in table.highlight or index == len(table.rows)
        for cell in sheet[_row(sheet, row, doc, _BOLD if strong else None)]:
            cell.border = _BORDER
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    _print_setup(sheet, len(table.columns), header)
    if table.note:
        _put(sheet.cell(sheet.max_row + 2, 1), table.note, doc)  # under a blank row
    sheet.freeze_panes = "A3"
    for column, heading in enumerate(table.columns, 1):
        longest = max([len(heading), *(len(str(r[column - 1] or "")) for r in table.rows[:200])])
        sheet.column_dimensions[get_column_letter(column)].width = min(max(longest, 6) + 2, 60)


def _campaign_form(sheet: Worksheet, form: Table, doc: Document) -> None:
    """Seed 002's appendix: "1. Thông tin chung" then "2. Thông tin số liệu"."""
    L = doc.labels
    _title(sheet, L.t_campaign.upper(), doc)
    _row(sheet, [doc.period], doc)
    _row(sheet, [f"1. {L.f_general}"], doc, _BOLD)
    for label, answer in [
        (L.f_organisation, " - ".join(doc.issuer)),
        (L.f_phone, None),
        (L.f_assessment, None),
        (L.f_proposals, None),
    ]:
        _row(sheet, [f"- {label}:", answer], doc)
    _row(sheet, [f"2. {L.f_figures}"], doc, _BOLD)
    for cell in sheet[_row(sheet, list(form.columns), doc, _BOLD)]:
        cell.fill = _HEAD
    for row in form.rows:
        _row(sheet, row, doc)
    for letter, width in zip("ABCD", (24, 60, 12, 50), strict=True):
        sheet.column_dimensions[letter].width = width
    _print_setup(sheet, 4, 1)


def _chart_sheet(sheet: Worksheet, drawn: chart.Chart, doc: Document) -> None:
    """The chart's points as two columns, and a native bar chart over them: the figures
    stay editable and the chart follows them."""
    _title(sheet, drawn.title, doc)
    _row(sheet, [drawn.y_label if drawn.horizontal else drawn.x_label, drawn.series], doc, _BOLD)
    for label, value in drawn.points:
        _row(sheet, [label, value], doc)
    last = sheet.max_row
    bars = BarChart()
    bars.type = "bar" if drawn.horizontal else "col"
    bars.title = drawn.title
    bars.x_axis.title = drawn.y_label if drawn.horizontal else drawn.x_label
    bars.y_axis.title = drawn.x_label if drawn.horizontal else drawn.y_label
    bars.x_axis.delete = bars.y_axis.delete = False  # openpyxl 3.1 hides both axes by default
    bars.legend.position = "b"
    bars.add_data(Reference(sheet, min_col=2, min_row=2, max_row=last), titles_from_data=True)
    bars.set_categories(Reference(sheet, min_col=1, min_row=3, max_row=last))
    bars.width, bars.height = 24, 12
    sheet.add_chart(bars, "D2")
    sheet.column_dimensions["A"].width = 34
    sheet.column_dimensions["B"].width = 16
    _print_setup(sheet, WIDE, 2)


def write(doc: Document, output: Path) -> list[Path]:
    book = Workbook()
    book.remove(book.worksheets[0])
    taken: set[str] = set()
    for table in doc.tables:
        sheet = book.create_sheet(sheet_title(table.title, taken))
        if table.key == "campaign":
            _campaign_form(sheet, table, doc)
        else:
            _fill(sheet, table, doc)
        if table.key == "summary":
            for drawn in chart.report_charts(doc.report, doc.labels):
                title = doc.labels[f"sheet_{drawn.key}"]
                _chart_sheet(book.create_sheet(sheet_title(title, taken)), drawn, doc)
    book.save(output)
    return [output]
