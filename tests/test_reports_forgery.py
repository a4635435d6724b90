"""Names cannot forge documents: a unit name built to add a recipient, a signer, a subject,
a paragraph and links to the letter, rendered through the store in every format.

Each report of the forged store (`tests/fixtures/reports/forged.py`) must have exactly the
structure of the same store with honest names (same paragraphs, recipients, signature,
table rows, Markdown blocks), show the forged text only inside the name, and hold no link.
The host whose output was tampered with is among what the unit must act on, titled so in
Vietnamese and English, in every format.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from docx import Document as open_docx
from docx.shared import Mm
from markdown_it import MarkdownIt
from openpyxl import load_workbook

from raquet.store import Store
from reports.collect import Selection
from reports.command import write_report
from reports.formats import Format
from reports.formatting import Lang
from reports.labels import labels
from reports.text import clean
from reports.weeks import IsoWeek
from tests.fixtures.reports import forged
from tests.fixtures.reports.page import Letter, Page
from tests.fixtures.reports.province import REPORT_TIME
from tests.fixtures.reports.stores import forger_fixture, plain_fixture  # noqa: F401 (fixtures)

W22 = IsoWeek(year=2021, week=22)


def shown(text: str) -> str:
    """Text as a reader sees it in a laid-out document: every break and blank run a space."""
    return " ".join(clean(text).split())


NAME = shown(forged.UNIT_NAME)
SIGNATURE = {
    "vi": ["KT. THỦ TRƯỞNG CƠ QUAN", "(CHỨC VỤ NGƯỜI KÝ)", "(Họ và tên người ký)"],
    "en": ["FOR THE HEAD OF AGENCY", "(TITLE OF SIGNER)", "(Name of signer)"],
}
CC = {
    "vi": ["- Như trên;", "- Lãnh đạo cơ quan;", "- Lưu: VT."],
    "en": ["- As above;", "- Management;", "- Archive."],
}
LANGS: list[Lang] = ["vi", "en"]
Rendered = dict[tuple[str, str, Format], list[Path]]


def _render(store: Store, folder: Path) -> Rendered:
    """The unit report in every format and language, and the province letter."""
    folder.mkdir()
    files: Rendered = {}
    for lang in LANGS:
        for fmt in Format:
            for kind, unit in (("unit", forged.UNIT), ("letter", None)):
                chosen = Selection(week=W22, unit=unit)
                out = folder / f"{kind}.{lang}.{fmt.value}"
                files[kind, lang, fmt] = write_report(
                    store, chosen, fmt, out, lang, None, REPORT_TIME
                )
    return files


@pytest.fixture(scope="module")
def reports(
    forger: tuple[Store, str], plain: tuple[Store, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Rendered, Rendered]]:
    """(forged reports, the same reports of honest names)."""
    folder = tmp_path_factory.mktemp("forgery")
    yield _render(forger[0], folder / "forged"), _render(plain[0], folder / "plain")


CASES = [(kind, lang) for kind in ("unit", "letter") for lang in LANGS]


def _alone(text: str) -> list[str]:
    """Forgeries found at the start of a line or a cell of `text`: where one that escaped
    the name would be."""
    starts = [line.strip().lstrip("*-+#> \\") for line in text.splitlines()]
    return [f for f in forged.FORGERIES for line in starts if line.startswith(f)]


# --- HTML and PDF ------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "lang"), CASES)
def test_html_letter_has_only_its_own_recipient_signer_subject_and_paragraphs(
    reports: tuple[Rendered, Rendered], kind: str, lang: Lang
) -> None:
    forged_files, plain_files = reports
    (path,) = forged_files[kind, lang, Format.html]
    (plain,) = plain_files[kind, lang, Format.html]
    letter, honest = Letter(path.read_text("utf-8")), Letter(plain.read_text("utf-8"))
    assert {k: len(v) for k, v in letter.parts.items()} == {
        k: len(v) for k, v in honest.parts.items()
    }
    recipient = shown(f"{forged.UNIT_NAME}." if kind == "unit" else f"- {forged.UNIT_NAME}.")
    assert letter.parts["recipients"] == [recipient]
    assert letter.parts["sign"] == SIGNATURE[lang] and letter.parts["cc"] == CC[lang]
    (subject,) = letter.parts["subject"]
    assert subject.startswith(("V/v ", "Re: "))
    if kind == "unit":
        assert NAME in subject
    page = Page(path.read_text("utf-8"))
    plain_page = Page(plain.read_text("utf-8"))
    assert [t for t, _ in page.tags if t != "wbr"] == [t for t, _ in plain_page.tags if t != "wbr"]
    assert "a" not in {tag for tag, _ in page.tags}  # no link, whatever the name holds


@pytest.mark.parametrize(("kind", "lang"), CASES)
def test_pdf_has_no_link_and_shows_the_name_as_text(
    reports: tuple[Rendered, Rendered], kind: str, lang: Lang
) -> None:
    (path,) = reports[0][kind, lang, Format.pdf]
    data = path.read_bytes()
    assert data.startswith(b"%PDF-") and b"/URI" not in data and b"/Link" not in data
    assert "[signature]" in _pdf_text(path)  # the forgery shows, as text


def _pdf_text(path: Path) -> str:
    command = ["pdftotext", "-enc", "UTF-8", "-raw", str(path), "-"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


# --- DOCX --------------------------------------------------------------------------------


def _docx(path: Path) -> dict[str, Any]:
    doc = open_docx(str(path))
    body = [p.text for p in doc.paragraphs if p.paragraph_format.first_line_indent == Mm(10)]
    sign = [p.text for p in doc.tables[1].rows[0].cells[1].paragraphs if p.text]
    cc = [p.text for p in doc.tables[1].rows[0].cells[0].paragraphs if p.text][1:]  # "Nơi nhận:"
    rows = [len(t.rows) for t in doc.tables]
    return {"paragraphs": len(doc.paragraphs), "body": body, "sign": sign, "cc": cc, "rows": rows}


@pytest.mark.parametrize(("kind", "lang"), CASES)
def test_docx_letter_has_only_its_own_recipient_signer_and_paragraphs(
    reports: tuple[Rendered, Rendered], kind: str, lang: Lang
) -> None:
    (path,) = reports[0][kind, lang, Format.docx]
    (plain,) = reports[1][kind, lang, Format.docx]
    found, honest = _docx(path), _docx(plain)
    assert {k: len(v) if isinstance(v, list) else v for k, v in found.items()} == {
        k: len(v) if isinstance(v, list) else v for k, v in honest.items()
    }
    assert found["sign"][:-1] == [line.upper() for line in SIGNATURE[lang][:-1]]
    assert found["sign"][-1] == SIGNATURE[lang][-1] and found["cc"] == CC[lang]
    doc = open_docx(str(path))
    texts = [p.text for p in doc.paragraphs] + [
        c.text for t in doc.tables for row in t.rows for c in row.cells
    ]
    assert not _alone("\n".join(texts))
    if kind == "unit":
        kinh_gui = labels(lang).kinh_gui
        assert [shown(t) for t in texts if t.startswith(kinh_gui)] == [
            shown(f"{kinh_gui} {forged.UNIT_NAME}.")
        ]
    with zipfile.ZipFile(path) as package:
        document = package.read("word/document.xml").decode()
    assert "<w:br/>" not in document and "w:hyperlink" not in document
    assert "HYPERLINK" not in document


# --- Markdown ----------------------------------------------------------------------------

# GFM's extended autolinks (https://github.github.com/gfm/#autolinks-extension-): a scheme
# with "://", "www." after a boundary, an e-mail address; none may be left unescaped.
AUTOLINKS = [
    re.compile(r"(?<![\\\w])(?:https?|ftp)://", re.I),
    re.compile(r"(?:^|[\s*_~(])www\.", re.M),
    re.compile(r"[\w.+-]+@[\w-]+\.[\w]"),
    re.compile(r"(?<!\\)<(?:https?|ftp|mailto):", re.I),
]


def _blocks(text: str) -> list[str]:
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    return [t.type for t in tokens if t.block]


@pytest.mark.parametrize(("kind", "lang"), CASES)
def test_markdown_has_the_honest_structure_and_no_link(
    reports: tuple[Rendered, Rendered], kind: str, lang: Lang
) -> None:
    (path,) = reports[0][kind, lang, Format.md]
    (plain,) = reports[1][kind, lang, Format.md]
    text = path.read_text("utf-8")
    assert _blocks(text) == _blocks(plain.read_text("utf-8"))
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    inline = [child for t in tokens for child in (t.children or [])]
    assert not [t.type for t in inline if t.type in ("link_open", "image", "html_inline")]
    assert not [t for t in tokens if t.type == "html_block"]
    assert not [pattern.pattern for pattern in AUTOLINKS if pattern.search(text)]
    assert not _alone(text)
    assert "\\[signature\\]" in text  # shown, escaped


# --- XLSX, CSV, JSON ---------------------------------------------------------------------


def _sheets(path: Path) -> dict[str, list[list[object]]]:
    book = load_workbook(path)
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.hyperlink is None and cell.data_type != "f", cell.coordinate
    return {s.title: [[c.value for c in row] for row in s.iter_rows()] for s in book.worksheets}


def _cells(rows: Sequence[Sequence[object]]) -> list[str]:
    return [str(value) for row in rows for value in row if value is not None]


@pytest.mark.parametrize(("kind", "lang"), CASES)
def test_spreadsheet_and_csv_keep_the_name_in_its_own_cells(
    reports: tuple[Rendered, Rendered], kind: str, lang: Lang
) -> None:
    (xlsx,) = reports[0][kind, lang, Format.xlsx]
    (plain_xlsx,) = reports[1][kind, lang, Format.xlsx]
    sheets, honest = _sheets(xlsx), _sheets(plain_xlsx)
    assert {k: len(v) for k, v in sheets.items()} == {k: len(v) for k, v in honest.items()}
    csvs, honest_csvs = (
        _csv_tables(reports[0][kind, lang, Format.csv]),
        _csv_tables(reports[1][kind, lang, Format.csv]),
    )
    assert {k: len(v) for k, v in csvs.items()} == {k: len(v) for k, v in honest_csvs.items()}
    tables: list[Sequence[Sequence[object]]] = [*sheets.values(), *csvs.values()]
    for cell in [cell for rows in tables for cell in _cells(rows)]:
        for forgery in forged.FORGERIES:
            assert forgery not in cell or "Huyện A" in cell.split(forgery)[0], cell


def _csv_tables(paths: list[Path]) -> dict[str, list[list[str]]]:
    return {
        p.name: list(csv.reader(io.StringIO(p.read_text("utf-8-sig"), newline=""))) for p in paths
    }


@pytest.mark.parametrize("lang", LANGS)
def test_json_has_the_forged_name_only_where_a_name_goes(
    reports: tuple[Rendered, Rendered], lang: Lang
) -> None:
    (path,) = reports[0]["unit", lang, Format.json]
    (plain,) = reports[1]["unit", lang, Format.json]
    data, honest = json.loads(path.read_text("utf-8")), json.loads(plain.read_text("utf-8"))

    def shape(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items()}
        if isinstance(value, list):
            return [shape(v) for v in value]
        return type(value).__name__

    assert shape(data) == shape(honest)
    assert data["unit"]["name"] == clean(forged.UNIT_NAME) and data["province"] == forged.PROVINCE


# --- a host whose output was tampered with -----------------------------------------------


def _finding_rows(path: Path, fmt: Format) -> list[list[str]]:
    """The rows of the findings table ("failing checks by host"), as text cells."""
    if fmt is Format.csv:
        return [[str(c) for c in row] for row in _csv_tables([path])[path.name][1:]]
    if fmt is Format.xlsx:
        title = {"Lỗi tuân thủ theo máy", "Failing checks by host"}
        sheet = next(s for s in load_workbook(path).worksheets if s.title in title)
        return [[str(c) for c in row] for row in sheet.iter_rows(min_row=3, values_only=True)]
    if fmt is Format.docx:
        tables = open_docx(str(path)).tables
        return [[c.text for c in row.cells] for t in tables for row in t.rows]
    if fmt is Format.md:
        lines = path.read_text("utf-8").splitlines()
        return [
            [c.strip() for c in line.strip("|").split(" | ")]
            for line in lines
            if line.startswith("|")
        ]
    text = _pdf_text(path) if fmt is Format.pdf else Page(path.read_text("utf-8")).words
    return [[" ".join(text.split())]]


TAMPERED = {
    "vi": "Kết quả rà quét trả về từ máy đã bị can thiệp, giả mạo",
    "en": "The host's output was tampered with",
}


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("fmt", [f for f in Format if f is not Format.json])
def test_a_tampered_host_is_among_what_the_unit_must_act_on(
    reports: tuple[Rendered, Rendered], lang: Lang, fmt: Format
) -> None:
    L = labels(lang)
    paths = reports[0]["unit", lang, fmt]
    if fmt is Format.csv:
        paths = [p for p in paths if p.name.endswith("-findings.csv")]
    (path,) = paths
    wanted = [forged.HOST, L.check("av"), L.status("error"), L.severity("critical"), TAMPERED[lang]]
    rows = _finding_rows(path, fmt)
    if fmt in (Format.pdf, Format.html):
        assert " ".join(wanted) in rows[0][0]
    else:
        shown = [[c.replace("\\", "") for c in row] for row in rows]
        assert any(row[1:6] == wanted for row in shown), rows


@pytest.mark.parametrize("lang", LANGS)
def test_a_tampered_host_in_json_is_a_critical_error_with_its_reason(
    reports: tuple[Rendered, Rendered], lang: Lang
) -> None:
    (path,) = reports[0]["unit", lang, Format.json]
    failing = json.loads(path.read_text("utf-8"))["failing"]
    tampered = [f for f in failing if f["evidence"].get("tampered") is True]
    assert tampered == [
        {
            "unit": forged.UNIT,
            "host": forged.HOST,
            "check": "av",
            "status": "error",
            "severity": "critical",
            "title": TAMPERED[lang],
            "detail": tampered[0]["detail"],
            "check_title": tampered[0]["check_title"],
            "evidence": {"tampered": True, "reason": forged.TAMPERED_REASON},
        }
    ]
    assert tampered[0]["detail"].endswith(
        "rà quét lại." if lang == "vi" else "sweep it again."
    )  # what to do, in the report's language
