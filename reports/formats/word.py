"""DOCX: an editable draft of the letter in the layout of Decree 30/2020/NĐ-CP, Phụ lục I.

The clerk (văn thư) fills in the number and the day when the letter is registered, so
both are left blank; everything else is ordinary Word text and tables they can edit.
Page A4, margins top/bottom 20 mm, left 30 mm, right 15 mm, Times New Roman, page
numbers centred in the top margin from page 2. The annex of tables is a landscape
section, as the decree allows for table-heavy annexes.

python-docx makes a line break of every "\n" in a run's text, so every text goes in on one
line (`one_line`): a value cannot add a line to the letter.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from docx import Document as new_document
from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.section import Section
from docx.shared import Length, Mm, Pt
from docx.table import _Cell, _Row
from docx.text.paragraph import Paragraph as DocxParagraph

from reports import chart
from reports.change import Change
from reports.document import Document
from reports.measure import width_mm
from reports.prose import Paragraph
from reports.tables import Table
from reports.text import one_line

FONT = "Times New Roman"
# What may follow <w:pBdr> in <w:pPr> (ECMA-376 order; Word rejects elements out of order).
_AFTER_PBDR = (
    "w:shd",
    "w:tabs",
    "w:suppressAutoHyphens",
    "w:kinsoku",
    "w:wordWrap",
    "w:overflowPunct",
    "w:topLinePunct",
    "w:autoSpaceDE",
    "w:autoSpaceDN",
    "w:bidi",
    "w:adjustRightInd",
    "w:snapToGrid",
    "w:spacing",
    "w:ind",
    "w:contextualSpacing",
    "w:mirrorIndents",
    "w:suppressOverlap",
    "w:jc",
    "w:textDirection",
    "w:textAlignment",
    "w:textboxTightWrap",
    "w:outlineLvl",
    "w:divId",
    "w:cnfStyle",
    "w:rPr",
    "w:sectPr",
    "w:pPrChange",
)
CENTER, JUSTIFY, RIGHT = (
    WD_ALIGN_PARAGRAPH.CENTER,
    WD_ALIGN_PARAGRAPH.JUSTIFY,
    WD_ALIGN_PARAGRAPH.RIGHT,
)


def _base_style(docx: DocxDocument, lang: str) -> None:
    style = docx.styles["Normal"]
    style.font.name = FONT
    style.font.size = Pt(14)
    r_pr = style.element.get_or_add_rPr()
    fonts = r_pr.find(qn("w:rFonts"))
    assert fonts is not None  # set by font.name above
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attr), FONT)
    language = OxmlElement("w:lang")
    language.set(qn("w:val"), "vi-VN" if lang == "vi" else "en-GB")
    r_pr.append(language)
    style.paragraph_format.space_after = Pt(0)
    style.paragraph_format.space_before = Pt(0)


def _page(section: Section, landscape: bool = False) -> None:
    width, height = (Mm(297), Mm(210)) if landscape else (Mm(210), Mm(297))
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = width, height
    section.top_margin = section.bottom_margin = Mm(20)
    section.left_margin, section.right_margin = Mm(30), Mm(15)
    section.header_distance = Mm(10)


def _page_numbers(docx: DocxDocument) -> None:
    """PAGE field centred in the header; the first page has its own, empty header."""
    section = docx.sections[0]
    section.different_first_page_header_footer = True
    paragraph = section.header.paragraphs[0]
    paragraph.alignment = CENTER
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "2"
    run.append(text)
    field.append(run)
    paragraph._p.append(field)


def _para(
    container: DocxDocument | _Cell,
    text: str = "",
    *,
    size: float = 14,
    bold: bool = False,
    italic: bool = False,
    align: WD_ALIGN_PARAGRAPH | None = None,
) -> DocxParagraph:
    paragraph = container.add_paragraph()
    if align is not None:
        paragraph.alignment = align
    if text:
        run = paragraph.add_run(one_line(text))
        run.font.size, run.bold, run.italic = Pt(size), bold, italic
    else:  # a spacer or a rule: exactly `size` points high
        paragraph.paragraph_format.line_spacing = Pt(size)
    return paragraph


def _rule(paragraph: DocxParagraph, indent_mm: float) -> None:
    """A solid line under the paragraph, shortened by indents (the rules under the header)."""
    paragraph.paragraph_format.left_indent = Mm(indent_mm)
    paragraph.paragraph_format.right_indent = Mm(indent_mm)
    paragraph.paragraph_format.space_after = Pt(8)
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in {"w:val": "single", "w:sz": "6", "w:space": "1", "w:color": "000000"}.items():
        bottom.set(qn(key), value)
    borders.append(bottom)
    paragraph._p.get_or_add_pPr().insert_element_before(borders, *_AFTER_PBDR)


def _no_borders(table: object) -> None:
    tbl_pr = table._tbl.tblPr  # type: ignore[attr-defined]
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        element = OxmlElement(f"w:{edge}")
        element.set(qn("w:val"), "nil")
        borders.append(element)
    tbl_pr.insert_element_before(borders, "w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook")


def _two_columns(
    docx: DocxDocument, left_mm: float, right_mm: float, *, whole: bool = False
) -> tuple[_Cell, _Cell]:
    """A borderless 1x2 layout table with fixed widths (Word and LibreOffice both obey);
    `whole`: its row never splits across pages."""
    table = docx.add_table(rows=1, cols=2)
    if whole:
        _row_property(table.rows[0], "w:cantSplit")
    _no_borders(table)
    table.autofit = False
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    cells = table.rows[0].cells
    for column, cell, width in zip(table.columns, cells, (left_mm, right_mm), strict=True):
        column.width = cell.width = Mm(width)
        cell.paragraphs[0]._p.getparent().remove(cell.paragraphs[0]._p)  # callers add their own
    return cells[0], cells[1]


HEADER_PAD_MM = 6


def _header_widths(doc: Document) -> tuple[float, float]:
    """Columns as wide as their longest line (issuer lines at 13 pt, the motto at 12 pt
    bold); the issuer's never narrower than the decree's usual 65 mm."""
    issuer = max(
        (
            width_mm(line.upper(), 13, bold=i == len(doc.issuer) - 1)
            for i, line in enumerate(doc.issuer)
        ),
        default=0.0,
    )
    motto = width_mm(doc.labels.motto_1, 12, bold=True)
    return max(65.0, issuer + HEADER_PAD_MM), motto + HEADER_PAD_MM


def _header(docx: DocxDocument, doc: Document) -> None:
    L = doc.labels
    left, right = _two_columns(docx, *_header_widths(doc))
    for index, line in enumerate(doc.issuer):
        last = index == len(doc.issuer) - 1
        _para(left, line.upper(), size=13, bold=last, align=CENTER)
    _rule(_para(left, size=2, align=CENTER), 22)
    _para(left, f"{L.number}        {doc.reference}", size=13, align=CENTER)
    _para(left, doc.prose.subject, size=12, align=CENTER)
    _para(right, L.motto_1, size=12, bold=True, align=CENTER)
    _para(right, L.motto_2, size=13.5, bold=True, align=CENTER)
    _rule(_para(right, size=2, align=CENTER), 22)
    _para(right, size=6)
    _para(right, doc.date_line, size=13.5, italic=True, align=CENTER)


def _rich(docx: DocxDocument, source: Paragraph, size: float) -> DocxParagraph:
    """A justified paragraph of prose, its bold runs kept."""
    paragraph = docx.add_paragraph()
    paragraph.alignment = JUSTIFY
    for run in source.runs:
        added = paragraph.add_run(one_line(run.text))
        added.bold = run.bold
        added.font.size = Pt(size)
    return paragraph


RECIPIENTS_AT_MM = 45  # where the recipients' lines start, "Kính gửi:" before them


def _recipients(docx: DocxDocument, doc: Document) -> None:
    """ "Kính gửi:" beside its list as in the seed letter: one paragraph per recipient, all
    indented to the same tab stop, the first with "Kính gửi:" hanging before it."""
    label = doc.labels.kinh_gui
    recipients = doc.prose.recipients
    if len(recipients) == 1:
        _para(docx, f"{label} {recipients[0]}", align=CENTER)
        return
    hang = width_mm(label + " ", 14) + 2
    for index, line in enumerate(recipients):
        paragraph = _para(docx, f"{label}\t{line}" if index == 0 else line)
        form = paragraph.paragraph_format
        form.left_indent = Mm(RECIPIENTS_AT_MM)
        if index == 0:
            form.first_line_indent = -Mm(hang)
            form.tab_stops.add_tab_stop(Mm(RECIPIENTS_AT_MM))
        form.keep_with_next = index < len(recipients) - 1


def _body(docx: DocxDocument, doc: Document) -> None:
    _para(docx, size=8)
    _recipients(docx, doc)
    _para(docx, size=8)
    body = doc.prose.body
    for index, source in enumerate(body):
        paragraph = _rich(docx, source, 14)
        form = paragraph.paragraph_format
        form.first_line_indent = Mm(10)
        form.space_after = Pt(6)
        form.line_spacing = 1.15
        form.keep_with_next = index == len(body) - 1  # the signature never stands alone


def _closing(docx: DocxDocument, doc: Document) -> None:
    """Nơi nhận and the signature side by side, in one row that does not split, every
    paragraph kept with the next so Word and LibreOffice move the row with the body's
    last paragraph rather than leave it alone on a page."""
    left, right = _two_columns(docx, 80, 85, whole=True)
    _para(left, size=6)
    _para(left, doc.labels.noi_nhan, size=12, bold=True, italic=True)
    for line in doc.prose.cc:
        _para(left, line, size=11)
    _para(right, size=6)
    *titles, name = doc.prose.signature or [""]
    for line in titles:
        _para(right, line.upper(), size=14, bold=True, align=CENTER)
    for _ in range(4):
        _para(right)
    _para(right, name, size=14, bold=True, align=CENTER)
    for cell in (left, right):
        for paragraph in cell.paragraphs[:-1]:
            paragraph.paragraph_format.keep_with_next = True


def _cell_text(cell: _Cell, text: str, *, bold: bool, numeric: bool) -> None:
    paragraph = cell.paragraphs[0]
    if numeric:
        paragraph.alignment = RIGHT
    run = paragraph.add_run(one_line(text))
    run.font.size, run.bold = Pt(11), bold


def _row_property(row: _Row, name: str) -> None:
    """Sets a row flag: `w:tblHeader` (repeat on every page), `w:cantSplit` (keep whole)."""
    flag = OxmlElement(name)
    flag.set(qn("w:val"), "true")
    row._tr.get_or_add_trPr().append(flag)


ANNEX_WIDTH_MM = 297 - 30 - 15  # landscape A4 inside the margins


def _widths(headings: list[str], texts: list[list[str]]) -> list[Length]:
    """Column widths in proportion to their longest word of heading or text (capped)."""
    longest = [
        min(max(len(heading), *(len(row[i]) for row in texts[:200])), 40) + 4
        for i, heading in enumerate(headings)
    ]
    return [Mm(ANNEX_WIDTH_MM * n / sum(longest)) for n in longest]


def _data_table(docx: DocxDocument, table: Table, doc: Document) -> None:
    _para(docx, size=6)
    _para(docx, table.title, size=13, bold=True)
    if table.rows:
        _grid(docx, table, doc)
    else:
        _para(docx, doc.labels.none, size=11, italic=True)
    if table.note:
        _para(docx, table.note, size=11)


def _grid(docx: DocxDocument, table: Table, doc: Document) -> None:
    rows = [*table.rows, *([table.total] if table.total else [])]
    texts = [[doc.fmt.cell(value) for value in row] for row in rows]
    widths = _widths([max(c.split(), key=len, default="") for c in table.columns], texts)
    grid = docx.add_table(rows=1, cols=len(table.columns))
    grid.style = "Table Grid"
    grid.autofit = False
    for column, width in zip(grid.columns, widths, strict=True):
        column.width = width
    for cell, heading, width in zip(grid.rows[0].cells, table.columns, widths, strict=True):
        cell.width = width
        _cell_text(cell, heading, bold=True, numeric=False)
    _row_property(grid.rows[0], "w:tblHeader")
    for index, (values, line) in enumerate(zip(rows, texts, strict=True)):
        strong = index in table.highlight or index == len(table.rows)
        row = grid.add_row()
        _row_property(row, "w:cantSplit")
        cells = row.cells
        for cell, value, text, width in zip(cells, values, line, widths, strict=True):
            cell.width = width
            _cell_text(cell, text, bold=strong, numeric=isinstance(value, int | Change))


CHART_WIDTH_MM = 200


def _charts(docx: DocxDocument, doc: Document) -> None:
    """The report's charts as pictures of the HTML's own drawings (`reports.chart`)."""
    for drawn in chart.report_charts(doc.report, doc.labels):
        paragraph = docx.add_paragraph()
        paragraph.alignment = CENTER
        paragraph.add_run().add_picture(
            BytesIO(chart.png(drawn, doc.fmt.number)), width=Mm(CHART_WIDTH_MM)
        )


def _annex(docx: DocxDocument, doc: Document) -> None:
    section = docx.add_section(WD_SECTION.NEW_PAGE)
    section.different_first_page_header_footer = False  # numbered from its first page on
    _page(section, landscape=True)
    L, report = doc.labels, doc.report
    _para(docx, L.annex, bold=True, align=CENTER)
    _para(docx, doc.heading, bold=True, align=CENTER)
    unit = f" - {report.unit.name}" if report.unit else ""
    _para(docx, f"{L.week} {report.week}, {doc.period}{unit}", size=13, align=CENTER)
    _para(docx, doc.annex_ref, size=12, italic=True, align=CENTER)
    for table in doc.tables:
        _data_table(docx, table, doc)
        if table.key == "summary":
            _charts(docx, doc)
    _para(docx, size=6)
    _para(docx, L.notes, size=13, bold=True)
    for source in doc.prose.notes:
        _rich(docx, source, 11).paragraph_format.space_after = Pt(3)
    sweeps = ", ".join(f"{s.id} ({doc.fmt.moment(s.started_at)})" for s in report.sweeps)
    _para(docx, f"{L.sweeps}: {sweeps}. {doc.generated}", size=10)


PROPERTY_LIMIT = 255


def _property(text: str) -> str:
    """A document property on one line, cut to the 255 characters python-docx allows (a
    long unit name once made the whole DOCX fail)."""
    text = one_line(text)
    return text if len(text) <= PROPERTY_LIMIT else text[: PROPERTY_LIMIT - 1] + "…"


def write(doc: Document, output: Path) -> list[Path]:
    docx = new_document()
    _base_style(docx, doc.report.lang)
    _page(docx.sections[0])
    _page_numbers(docx)
    docx.core_properties.title = _property(doc.title)
    docx.core_properties.author = _property(" ".join(doc.issuer))
    docx.core_properties.comments = doc.generated
    _header(docx, doc)
    _body(docx, doc)
    _closing(docx, doc)
    _annex(docx, doc)
    docx.save(str(output))
    return [output]
