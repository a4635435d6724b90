"""Every format re-opened with its own library (or parser) and its contents asserted."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from docx import Document as open_docx
from docx.enum.section import WD_ORIENT
from openpyxl import load_workbook

from raquet.store import Store
from reports.aggregate import build
from reports.collect import Selection, collect
from reports.command import write_report
from reports.document import Document, layout
from reports.formats import Format, write
from reports.formatting import Lang
from reports.weeks import IsoWeek
from tests.fixtures.reports import hostile
from tests.fixtures.reports.page import Page
from tests.fixtures.reports.province import REPORT_TIME
from tests.fixtures.reports.stores import evil_fixture, lang_son_fixture  # noqa: F401 (fixtures)

W22 = IsoWeek(year=2021, week=22)
SEED_VI = [
    "Số lượt phát hiện mã độc tuần này là: 4.505 lượt lây nhiễm so với tuần trước là 2.821 "
    "lượt lây nhiễm, tăng 59,70% so với tuần trước.",
    "Số lượng máy bị lây nhiễm tuần này là: 57 máy so với tuần trước là 45 máy, "
    "tăng 26,67% so với tuần trước.",
    "Số lượng loại mã độc lây nhiễm tuần này là: 32 loại so với tuần trước là 66 loại, "
    "giảm 51,52% so với tuần trước.",
    "Đơn vị phát hiện lây nhiễm nhiều nhất là: Huyện Tràng Định (2.500 lượt).",
]
SEED_EN = [
    "Malware detections this week: 4,505, against 2,821 last week, up 59.70% on last week.",
    "Infected machines this week: 57, against 45 last week, up 26.67% on last week.",
    "Malware types this week: 32, against 66 last week, down 51.52% on last week.",
    "Unit with most detections: Huyện Tràng Định (2,500 detections).",
]


def render(
    store: Store, format: Format, output: Path, lang: Lang = "vi", **selection: object
) -> list[Path]:
    chosen = Selection.model_validate(selection)
    return write_report(store, chosen, format, output, lang, None, REPORT_TIME)


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reports")


@pytest.fixture(scope="module")
def letters(lang_son: tuple[Store, dict[str, str]]) -> dict[str, Document]:
    """The W22 letter laid out once per language; tests write it in their format."""
    data = collect(lang_son[0], Selection(week=W22), REPORT_TIME)
    return {lang: layout(build(data, None, lang, REPORT_TIME), None) for lang in ("vi", "en")}


@pytest.fixture(scope="module")
def letter_vi(letters: dict[str, Document], out: Path) -> Page:
    (path,) = write(Format.html, letters["vi"], out / "letter.vi.html")
    return Page(path.read_text(encoding="utf-8"))


def test_html_letter_in_vietnamese_has_the_decree_layout_and_seed_figures(letter_vi: Page) -> None:
    words = letter_vi.words
    for expected in [
        "UBND TỈNH LẠNG SƠN SỞ THÔNG TIN VÀ TRUYỀN THÔNG",
        "Số: /",
        "V/v tình hình lây nhiễm mã độc trong các máy chủ, máy trạm",
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM Độc lập - Tự do - Hạnh phúc",
        "Lạng Sơn, ngày tháng 6 năm 2021",
        "Kính gửi: - Huyện Tràng Định; - Huyện Văn Lãng; - Sở Thông tin và Truyền thông.",
        "Tình trạng lây nhiễm mã độc từ ngày 31/05/2021 đến ngày 06/06/2021:",
        "đã rà quét 87/90 máy thuộc phạm vi, trong đó 24 máy đạt yêu cầu tuân thủ",
        "Số máy đã xử lý, làm sạch mã độc (rà quét lại không còn phát hiện, hoặc đã khắc phục "
        "và xác minh): 13 máy",
        "theo khuyến nghị tại báo cáo chi tiết./.",
        "Nơi nhận: - Như trên; - Lãnh đạo cơ quan; - Lưu: VT.",
        "Phụ lục BÁO CÁO CHI TIẾT TÌNH HÌNH LÂY NHIỄM MÃ ĐỘC",
        "Số lượt phát hiện mã độc 4.505 2.821 +59,70%",
        "Số loại mã độc 32 66 \u221251,52%",
        "1 Huyện Tràng Định 40 40 0 10 30 2.500 1.000 +150,00% 32 W32.Family00 (79)",
        "Tổng cộng 90 87 3 24 57 4.505 2.821 +59,70% 32",
        "Tổng số máy thuộc phạm vi chiến dịch (đã nhận thông tin) 90",
        "Tổng số máy đã rà quét 87",
        "Số máy đã xử lý, làm sạch mã độc 13",
        "2021-W22 31/05/2021 4.505 57",
    ]:
        assert expected in words
    for expected in SEED_VI:
        assert expected in words
    tags = [tag for tag, _ in letter_vi.tags]
    assert tags.count("svg") == 2  # weeks and units
    bars = [a for t, a in letter_vi.tags if t == "rect" and dict(a).get("height") != "10"]
    assert len(bars) == 2 + 8 + 3  # two backgrounds, 8 weeks, 3 units with detections
    for label in [  # every chart has its title, both axis labels and a legend
        "Số lượt phát hiện mã độc theo tuần",
        "Tuần (ngày thứ Hai đầu tuần)",
        "Lượt phát hiện",
        "Các tuần trước",
        "Tuần báo cáo",
        "Đơn vị có nhiều lượt phát hiện nhất",
        "Lượt phát hiện trong tuần",
        "Lượt phát hiện của đơn vị",
    ]:
        assert label in words
    highlighted = [dict(attrs).get("class") for tag, attrs in letter_vi.tags if tag == "tr"]
    assert highlighted.count("top") == 1


def test_html_is_self_contained(letter_vi: Page) -> None:
    tags = {tag for tag, _ in letter_vi.tags}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed", "a", "base"}
    for _, attrs in letter_vi.tags:
        for name, value in attrs:
            assert name not in ("src", "href", "srcset", "action")
            assert not name.startswith("on")
            assert "url(" not in (value or "")
    csp = next(dict(a)["content"] for t, a in letter_vi.tags if dict(a).get("http-equiv"))
    assert csp is not None and "default-src 'none'" in csp


def test_html_letter_in_english(letters: dict[str, Document], out: Path) -> None:
    (path,) = write(Format.html, letters["en"], out / "letter.en.html")
    words = Page(path.read_text(encoding="utf-8")).words
    for expected in SEED_EN:
        assert expected in words
    assert "SOCIALIST REPUBLIC OF VIETNAM Independence - Freedom - Happiness" in words
    assert "Malware detections 4,505 2,821 +59.70%" in words
    assert "Total 90 87 3 24 57 4,505 2,821 +59.70% 32" in words
    assert "lây nhiễm" not in words


def test_markdown_letter(letters: dict[str, Document], out: Path) -> None:
    (path,) = write(Format.md, letters["vi"], out / "letter.md")
    text = path.read_text(encoding="utf-8")
    assert (  # the letter's own "+" is text, not a Markdown list
        "\\+ Số lượt phát hiện mã độc tuần này là: **4.505** lượt lây nhiễm so với tuần trước là "
        "**2.821** lượt lây nhiễm, tăng **59,70%** so với tuần trước." in text
    )
    assert "giảm **51,52%**" in text
    assert "| 1 | Huyện Tràng Định | 40 | 40 | 0 | 10 | 30 | 2.500 | 1.000 | +150,00% |" in text
    assert "| Tổng cộng | 90 | 87 | 3 | 24 | 57 | 4.505 | 2.821 | +59,70% | 32 |  |" in text


def test_json_carries_everything(letters: dict[str, Document], out: Path) -> None:
    (path,) = write(Format.json, letters["vi"], out / "letter.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["metrics"]["detections"] == {
        "current": 4505,
        "previous": 2821,
        "percent": 59.7,
        "percent_text": "59.70",
        "direction": "up",
    }
    assert data["metrics"]["malware"]["percent"] == -51.52
    assert data["top_units"] == ["Huyện Tràng Định"]
    assert [u["unit"] for u in data["units"]] == ["trang-dinh", "van-lang", "so-tttt"]
    assert data["totals"] == {
        "in_scope": 90,
        "swept": 87,
        "not_swept": 3,
        "compliant": 24,
        "cleaned": 13,
        "remediations": {"fixed": 0, "failed": 0, "unverified": 0, "undone": 0},
    }
    assert len(data["infected_hosts"]) == 57 and len(data["cleaned"]) == 13
    assert data["generated_at"] == "2021-06-07T09:00:00+07:00"
    assert data["units"][0]["detections"]["percent"] == 150
    assert data["connection_counts"] == {
        "live": 1,
        "hosts_entries": 0,
        "dns_names": 0,
        "machines": 1,
    }


def test_csv_one_file_per_table_in_a_directory_or_by_base_name(
    letters: dict[str, Document], out: Path
) -> None:
    folder = out / "csv"
    folder.mkdir()
    written = write(Format.csv, letters["vi"], folder)
    names = [p.name for p in written]
    assert names == [
        "summary.csv",
        "units.csv",
        "malware.csv",
        "infected_hosts.csv",
        "connections.csv",
        "trend.csv",
        "campaign.csv",
        "campaign_units.csv",
    ]
    assert (folder / "units.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8
    with (folder / "units.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:3] == ["STT", "Đơn vị", "Số máy quản lý"]
    assert rows[1][:10] == [
        "1",
        "Huyện Tràng Định",
        "40",
        "40",
        "0",
        "10",
        "30",
        "2500",
        "1000",
        "150.00",
    ]
    assert rows[-1][1:11] == [
        "Tổng cộng",
        "90",
        "87",
        "3",
        "24",
        "57",
        "4505",
        "2821",
        "59.70",
        "32",
    ]
    based = write(Format.csv, letters["en"], out / "week22.csv")
    assert based[0] == out / "week22-summary.csv"
    with based[0].open(encoding="utf-8-sig", newline="") as handle:
        assert list(csv.reader(handle))[3] == ["Malware types", "32", "66", "-51.52"]


def test_xlsx_tables_with_numbers_and_the_campaign_form(
    letters: dict[str, Document], out: Path
) -> None:
    (path,) = write(Format.xlsx, letters["vi"], out / "letter.xlsx")
    book = load_workbook(path)
    assert book.sheetnames == [
        "Tổng hợp",
        "Biểu đồ theo tuần",
        "Biểu đồ theo đơn vị",
        "Bảng 1 - Tổng hợp theo đơn vị",
        "Bảng 2 - Mã độc phát hiện",
        "Bảng 3 - Máy bị lây nhiễm",
        "Bảng 4 - Kết nối đến địa chỉ",
        "Diễn biến theo tuần",
        "Thống kê kết quả chiến dịch",
        "Thống kê chiến dịch theo đơn vị",
    ]
    units = book["Bảng 1 - Tổng hợp theo đơn vị"]
    assert [c.value for c in units[3]][:9] == [1, "Huyện Tràng Định", 40, 40, 0, 10, 30, 2500, 1000]
    change = units.cell(3, 10)
    assert (change.value, change.number_format) == (150, '+0.00" %";-0.00" %";0.00" %"')
    assert units.cell(3, 2).font.b and not units.cell(4, 2).font.b  # the top unit stands out
    assert [c.value for c in units[6]][1:8] == ["Tổng cộng", 90, 87, 3, 24, 57, 4505]
    summary = book["Tổng hợp"]
    assert summary.cell(5, 4).value == -51.52
    form = book["Thống kê kết quả chiến dịch"]
    cells = [[c.value for c in row] for row in form.iter_rows()]
    assert ["- Tên cơ quan/đơn vị:", "UBND TỈNH LẠNG SƠN - SỞ THÔNG TIN VÀ TRUYỀN THÔNG"] in [
        r[:2] for r in cells
    ]
    assert [r[0] for r in cells if r[0] == "2. Thông tin số liệu"] == ["2. Thông tin số liệu"]
    figures = {r[1]: r[2] for r in cells if isinstance(r[0], int)}
    assert figures == {
        "Tổng số máy thuộc phạm vi chiến dịch (đã nhận thông tin)": 90,
        "Tổng số máy đã rà quét": 87,
        "Số máy đã kiểm tra điểm yếu trình duyệt, hệ điều hành": 0,  # sweeps without `vulns`
        "Trong đó: số máy có lỗ hổng từ ngưỡng của chính sách trở lên": 0,
        "Số máy phát hiện lây nhiễm mã độc": 57,
        "Số máy đã xử lý, làm sạch mã độc": 13,
    }
    infected = book["Bảng 3 - Máy bị lây nhiễm"]
    assert infected.cell(3, 6).number_format == "dd/mm/yyyy hh:mm"
    assert infected.page_setup.orientation == "landscape" and infected.print_title_rows == "$2:$2"
    assert infected.sheet_properties.pageSetUpPr.fitToPage and infected.page_setup.fitToWidth == 1
    assert infected.cell(3, 2).border.left.style == "thin"
    assert all(len(name) <= 31 for name in book.sheetnames)
    assert len({name.lower() for name in book.sheetnames}) == len(book.sheetnames)
    trend = book["Biểu đồ theo tuần"]
    (native,) = trend._charts  # a chart Excel draws from the sheet's own cells
    assert native.title.tx.rich.p[0].r[0].t == "Số lượt phát hiện mã độc theo tuần"
    assert [trend.cell(row, 2).value for row in range(3, 11)][-3:] == [1234, 2821, 4505]
    connections = book["Bảng 4 - Kết nối đến địa chỉ"]
    assert connections.cell(3, 6).value == 812  # a pid is a number


def test_docx_is_an_editable_decree_30_letter(letters: dict[str, Document], out: Path) -> None:
    (path,) = write(Format.docx, letters["vi"], out / "letter.docx")
    doc = open_docx(str(path))
    letter, annex = doc.sections
    mm = [
        round(length.mm)
        for length in (
            letter.page_width,
            letter.page_height,
            letter.top_margin,
            letter.bottom_margin,
            letter.left_margin,
            letter.right_margin,
        )
        if length is not None
    ]
    assert mm == [210, 297, 20, 20, 30, 15]
    assert letter.different_first_page_header_footer
    assert 'w:instr="PAGE"' in letter.header._element.xml
    assert annex.orientation == WD_ORIENT.LANDSCAPE
    normal = doc.styles["Normal"]
    assert normal.font.name == "Times New Roman"
    head = doc.tables[0].rows[0].cells
    left = [p.text for p in head[0].paragraphs if p.text]
    right = [p.text for p in head[1].paragraphs if p.text]
    assert left[:3] == ["UBND TỈNH LẠNG SƠN", "SỞ THÔNG TIN VÀ TRUYỀN THÔNG", "Số:        /"]
    assert left[3].startswith("V/v tình hình lây nhiễm mã độc")
    assert head[0].paragraphs[1].runs[0].bold and not head[0].paragraphs[0].runs[0].bold
    assert right == [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "Lạng Sơn, ngày      tháng 6 năm 2021",
    ]
    assert head[1].paragraphs[-1].runs[0].italic
    body = [p.text for p in doc.paragraphs]
    assert "Kính gửi:\t- Huyện Tràng Định;" in body  # beside its list, at one tab stop
    assert "- Sở Thông tin và Truyền thông." in body
    for sentence in SEED_VI:
        assert any(sentence in p for p in body)
    seed = next(p for p in doc.paragraphs if "4.505" in p.text)
    assert [r.text for r in seed.runs if r.bold] == ["4.505", "2.821", "59,70%"]
    close = doc.tables[1].rows[0].cells
    assert [p.text for p in close[0].paragraphs if p.text][:2] == ["Nơi nhận:", "- Như trên;"]
    assert next(p.text for p in close[1].paragraphs if p.text) == "KT. THỦ TRƯỞNG CƠ QUAN"
    units = next(t for t in doc.tables if t.rows[0].cells[1].text == "Đơn vị")
    assert [c.text for c in units.rows[1].cells][:10] == [
        "1",
        "Huyện Tràng Định",
        "40",
        "40",
        "0",
        "10",
        "30",
        "2.500",
        "1.000",
        "+150,00%",
    ]
    assert 'w:tblHeader w:val="true"' in units.rows[0]._tr.xml  # header repeats on each page


def test_docx_in_english(letters: dict[str, Document], out: Path) -> None:
    (path,) = write(Format.docx, letters["en"], out / "letter.en.docx")
    text = "\n".join(p.text for p in open_docx(str(path)).paragraphs)
    for sentence in SEED_EN:
        assert sentence in text


def test_unit_report_in_every_format(lang_son: tuple[Store, dict[str, str]], out: Path) -> None:
    store = lang_son[0]
    (html,) = render(store, Format.html, out / "unit.html", week=W22, unit="so-tttt")
    words = Page(html.read_text(encoding="utf-8")).words
    assert "BÁO CÁO CHI TIẾT KẾT QUẢ RÀ QUÉT TUÂN THỦ VÀ LÂY NHIỄM MÃ ĐỘC" in words
    assert "Kính gửi: Sở Thông tin và Truyền thông." in words
    assert (
        "st-08 Kết nối độc hại không đạt nghiêm trọng 1 kết nối đang hoạt động đến địa chỉ độc hại "
        "Tiến trình svchost32.exe (PID 812) kết nối đến 203.0.113.66:443 (chỉ báo 203.0.113.66; "
        "danh sách ncsc-botnet). Cần làm: chặn địa chỉ trên tường lửa" in words
    )
    assert "Phụ lục bằng chứng của các lỗi tuân thủ" in words
    assert (
        "st-19 không kết nối được máy không phản hồi trong thời gian cho phép timed out after 30 s"
        in words
    )
    assert "1 st-16 " in words and "Máy đã xử lý và xác minh sạch" in words
    csvs = render(store, Format.csv, out / "unit", week=W22, unit="so-tttt")
    assert [p.name for p in csvs] == [
        f"unit-{key}.csv"
        for key in [
            "summary",
            "units",
            "malware",
            "infected_hosts",
            "connections",
            "findings",
            "vulns_hosts",
            "top_cves",
            "vulns_unchecked",
            "waivers",
            "detections",
            "remediations",
            "cleaned",
            "unswept",
            "trend",
            "campaign",
            "evidence",
        ]
    ]
    with (out / "unit-detections.csv").open(encoding="utf-8-sig", newline="") as handle:
        assert len(list(csv.reader(handle))) == 1 + 505
    (xlsx,) = render(store, Format.xlsx, out / "unit.xlsx", week=W22, unit="so-tttt")
    assert "Lỗi tuân thủ theo máy" in load_workbook(xlsx).sheetnames
    (docx,) = render(store, Format.docx, out / "unit.docx", week=W22, unit="so-tttt")
    assert any("st-08" in c.text for t in open_docx(str(docx)).tables for c in t.columns[1].cells)


@pytest.fixture(scope="module")
def hostile_files(evil: tuple[Store, str], out: Path) -> Iterator[dict[Format, list[Path]]]:
    store, _ = evil
    folder = out / "evil"
    folder.mkdir()
    files = {
        format: render(store, format, folder / f"evil.{format.value}", week=W22, unit=hostile.UNIT)
        for format in Format
    }
    files[Format.html] += render(store, Format.html, folder / "evil-letter.html", week=W22)
    yield files


def test_hostile_text_is_inert_in_html(hostile_files: dict[Format, list[Path]]) -> None:
    for path in hostile_files[Format.html]:
        page = Page(path.read_text(encoding="utf-8"))
        allowed = {"html", "head", "meta", "title", "style", "body", "article", "section"}
        allowed |= {"table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td", "div", "p"}
        allowed |= {"span", "strong", "wbr", "hr", "h1", "h2", "svg", "rect", "text", "line"}
        assert {tag for tag, _ in page.tags} <= allowed
        assert not [name for _, attrs in page.tags for name, _ in attrs if name.startswith("on")]
        assert hostile.SCRIPT in page.words and hostile.UNIT_NAME in page.words
    unit = Page(hostile_files[Format.html][0].read_text(encoding="utf-8")).words
    for shown in hostile.SHOWN.values():
        assert " ".join(shown.split()) in unit
    assert hostile.TEMPLATE in unit  # shown as text, never rendered as a template
    assert f"Thất bại {hostile.ERROR_SHOWN} {hostile.AT_FORMULA}" in unit  # the remediation


def test_hostile_text_is_inert_in_markdown(hostile_files: dict[Format, list[Path]]) -> None:
    (path,) = hostile_files[Format.md]
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"(?<!\\)<", text)  # no tag can open
    assert not re.search(r"(?<!\\)\]\(", text)  # no link can open
    assert r"\<script\>alert(1)\</script\>" in text
    blocks = re.findall(r"(?:^\|.*\n)+", text, re.MULTILINE)
    # every table of the unit report but the empty ones: weaknesses, top CVEs, waivers, cleaned
    assert len(blocks) == 13
    for block in blocks:  # a cell can never add a column
        widths = {len(re.findall(r"(?<!\\)\|", line)) for line in block.splitlines()}
        assert len(widths) == 1, block


def test_hostile_text_cannot_become_a_formula(hostile_files: dict[Format, list[Path]]) -> None:
    (xlsx,) = hostile_files[Format.xlsx]
    book = load_workbook(xlsx)
    texts = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    texts.append(cell.value)
                    assert cell.quotePrefix, (sheet.title, cell.coordinate)
    assert hostile.FORMULA in texts and hostile.HYPERLINK in texts
    assert hostile.ERROR_SHOWN in texts and hostile.AT_FORMULA in texts  # the remediation
    assert not any("\x1b" in t or "\x07" in t or "\u202e" in t for t in texts)
    cells = []
    for path in hostile_files[Format.csv]:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            cells += [cell for row in csv.reader(handle) for cell in row]
    assert "'" + hostile.FORMULA in cells and "'" + hostile.AT_FORMULA in cells
    assert "'" + hostile.HYPERLINK in cells
    assert "'" + hostile.ERROR_SHOWN in cells and "'" + hostile.AT_FORMULA in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "@") or (c[:1] == "-" and c[1:2] != "")]


def test_hostile_text_keeps_docx_and_pdf_valid(hostile_files: dict[Format, list[Path]]) -> None:
    (path,) = hostile_files[Format.docx]
    doc = open_docx(str(path))
    text = "\n".join(
        [p.text for p in doc.paragraphs]
        + [c.text for t in doc.tables for row in t.rows for c in row.cells]
    )
    for shown in [*hostile.SHOWN.values(), hostile.ERROR_SHOWN]:
        assert shown in text
    assert "\x1b" not in text and "\u202e" not in text
    (pdf,) = hostile_files[Format.pdf]
    assert pdf.read_bytes().startswith(b"%PDF-")
    data = json.loads(hostile_files[Format.json][0].read_text(encoding="utf-8"))
    assert data["connections"][0]["process"] == hostile.FORMULA
    assert data["detections"][3]["path"] == "C:\\" + hostile.SHOWN[hostile.CONTROL]
    assert data["remediations"][0]["error"] == hostile.ERROR.replace("\u202e", "")


def test_user_templates_override_the_shipped_ones(
    lang_son: tuple[Store, dict[str, str]], out: Path, tmp_path: Path
) -> None:
    shipped = Path(__file__).parents[1] / "reports" / "templates" / "text.vi.j2"
    custom = shipped.read_text(encoding="utf-8").replace(
        "theo khuyến nghị tại báo cáo chi tiết", "theo khuyến nghị của Sở tại báo cáo chi tiết"
    )
    (tmp_path / "text.vi.j2").write_text(custom, encoding="utf-8")
    (tmp_path / "style.css.j2").write_text("body { color: #123456; }", encoding="utf-8")
    chosen = Selection(week=W22)
    (path,) = write_report(
        lang_son[0], chosen, Format.html, out / "custom.html", "vi", tmp_path, REPORT_TIME
    )
    page = path.read_text(encoding="utf-8")
    words = Page(page).words
    assert "theo khuyến nghị của Sở tại báo cáo chi tiết./." in words
    assert "#123456" in page and "@page" not in page  # the user's stylesheet replaced ours
    assert SEED_VI[0] in words  # everything else still from the shipped templates
