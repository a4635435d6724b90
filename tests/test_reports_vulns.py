"""Weaknesses (`vulns`) in the reports: a unit's machines and top CVEs, the letter's sentence
(machines with critical weaknesses this week against last, the most widespread component),
the campaign form's line; read back from JSON, XLSX, DOCX, HTML and CSV of a real store
(tests/fixtures/reports/weak.py has the figures)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docx import Document as open_docx
from openpyxl import load_workbook

from raquet.store import Store
from reports.collect import Selection
from reports.command import write_report
from reports.formats import Format
from reports.formatting import Lang
from reports.weeks import IsoWeek
from tests.fixtures.reports import weak
from tests.fixtures.reports.page import Page
from tests.fixtures.reports.province import REPORT_TIME
from tests.fixtures.reports.stores import lang_son_fixture  # noqa: F401 (fixture `lang_son`)
from tests.pg import pg_server, pg_url  # noqa: F401 (fixtures, requested by name)

W21, W22 = IsoWeek(year=2021, week=21), IsoWeek(year=2021, week=22)
SENTENCE = {
    "vi": "+ Số lượng máy có lỗ hổng nghiêm trọng tuần này là: 4 máy (trong số 7/11 máy đã "
    "được kiểm tra điểm yếu trình duyệt, hệ điều hành) so với tuần trước là 2 máy, tăng "
    "100,00% so với tuần trước; thành phần có lỗ hổng phổ biến nhất là: openssl (trên 4 máy).",
    "en": "+ Machines with critical weaknesses this week: 4 (of the 7 of 11 machines checked "
    "for browser and operating system weaknesses), against 2 last week, up 100.00% on last "
    "week; the vulnerable component on most machines: openssl (on 4 machines).",
}
NOT_CHECKED = {
    "vi": "+ Điểm yếu trình duyệt, hệ điều hành tuần này chưa được kiểm tra: chưa có máy nào "
    "được đối chiếu với dữ liệu lỗ hổng (chưa nhập dữ liệu lỗ hổng hoặc lượt rà quét không "
    "gồm kiểm tra lỗ hổng).",
    "en": "+ Browser and operating system weaknesses were not checked this week: no machine "
    "was compared with vulnerability data (none was imported, or the sweeps did not run the "
    "vulns check).",
}
CAMPAIGN = {
    "vi": (
        "Số máy đã kiểm tra điểm yếu trình duyệt, hệ điều hành",
        "Trong đó: số máy có lỗ hổng từ ngưỡng của chính sách trở lên",
    ),
    "en": (
        "Machines checked for browser and operating system weaknesses",
        "Of them: machines with weaknesses at or above the policy threshold",
    ),
}
# van-lang's weak machines, as its report's table lists them (most critical first)
VAN_LANG_HOSTS = [
    ["vl-02", weak.DEBIAN, 1, 0, "openssl"],
    ["vl-01", weak.DEBIAN, 0, 2, "curl, openssl"],
    ["vl-04", weak.DEBIAN, 0, 2, "curl, openssl"],
]
VAN_LANG_CVES = [
    ["CVE-2024-0001", "openssl", 1, "3.0.13-1~deb12u1"],
    ["CVE-2024-0003", "curl", 2, "7.74.0-1.3+deb11u11, 7.88.1-10+deb12u5"],
    ["CVE-2024-0005", "openssl", 2, "1.1.1w-0+deb11u2, 3.0.13-1~deb12u1"],
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path = tmp_path_factory.mktemp("weak") / "raquet.db"
    with Store(f"sqlite:///{path}") as opened:
        weak.build(opened)
        yield opened


def render(store: Store, format: Format, output: Path, lang: Lang, **selection: Any) -> list[Path]:
    return write_report(
        store, Selection.model_validate(selection), format, output, lang, None, REPORT_TIME
    )


def report_json(store: Store, tmp_path: Path, lang: Lang = "vi", **selection: Any) -> Any:
    (path,) = render(store, Format.json, tmp_path / "report.json", lang, **selection)
    return json.loads(path.read_text(encoding="utf-8"))


def sheet_rows(path: Path, title: str) -> list[list[Any]]:
    return [[c.value for c in row] for row in load_workbook(path)[title].iter_rows()]


def docx_tables(path: Path) -> dict[str, list[list[str]]]:
    """Each table of the DOCX by its first heading cell row, as text."""
    found = {}
    for table in open_docx(str(path)).tables:
        rows = [[cell.text for cell in row.cells] for row in table.rows]
        found[" | ".join(rows[0])] = rows[1:]
    return found


def test_letter_counts_machines_once_from_each_units_latest_sweep(
    store: Store, tmp_path: Path
) -> None:
    doc = report_json(store, tmp_path, week=W22)
    v = doc["vulns"]
    assert (v["in_scope"], v["checked"]["current"], v["checked"]["previous"]) == (11, 7, 4)
    assert (v["critical"]["current"], v["critical"]["previous"]) == (4, 2)
    assert (v["critical"]["percent"], v["critical"]["direction"]) == (100.0, "up")
    assert v["failing"] == 6
    # openssl on td-01, vl-01, vl-02, vl-04; curl on three; the early sweep's nginx (td-03,
    # td-04) is not this week's result
    assert (v["top_components"], v["top_component_machines"]) == (["openssl"], 4)
    units = {u["unit"]: u for u in doc["units"]}
    assert [
        (units[u]["vulns_checked"], units[u]["vulns_failing"], units[u]["vulns_critical"])
        for u in ("trang-dinh", "van-lang", "so-tttt")
    ] == [(3, 2, 2), (3, 3, 1), (1, 1, 1)]
    assert doc["vulns_hosts"] == [] and doc["top_cves"] == []  # a letter names no machine


def test_unit_report_json_lists_weak_machines_top_cves_and_the_unchecked(
    store: Store, tmp_path: Path
) -> None:
    doc = report_json(store, tmp_path, "en", week=W22, unit="trang-dinh")
    assert [
        (h["host"], h["os"], h["status"], h["critical"], h["high"], h["components"])
        for h in doc["vulns_hosts"]
    ] == [
        ("td-01", weak.DEBIAN, "fail", 2, 1, ["openssl", "curl"]),
        ("td-02", weak.DEBIAN, "fail", 1, 0, ["chromium"]),
    ]
    assert [(c["cve"], c["severity"], c["cvss"], c["machines"]) for c in doc["top_cves"]] == [
        ("CVE-2024-0001", "critical", 9.8, 1),
        ("CVE-2024-0004", "critical", 9.6, 1),
        ("CVE-2024-0002", "critical", 9.1, 1),
        ("CVE-2024-0003", "high", 7.5, 1),
        ("CVE-2024-0007", "medium", 5.5, 1),  # td-03's, below the threshold: it passed
    ]
    assert [(u["kind"], u["reason"], u["hosts"]) for u in doc["vulns_unchecked"]] == [
        (
            "not_covered",
            "the vulnerability data imported does not cover Debian GNU/Linux 13 (trixie)",
            ["td-04"],
        ),
        ("not_swept", "the machine was not swept", ["td-05"]),
    ]
    v = doc["vulns"]  # the unit's own figures: td-01, td-02 critical both weeks
    assert (v["in_scope"], v["checked"]["current"], v["critical"]["current"]) == (5, 3, 2)
    assert (v["critical"]["previous"], v["critical"]["direction"]) == (2, "same")
    windows = report_json(store, tmp_path, week=W22, unit="so-tttt")
    assert [(c["cve"], c["component"], c["fixed"], c["kb"]) for c in windows["top_cves"]] == [
        ("CVE-2024-0006", weak.WINDOWS_COMPONENT, ["19045.3996"], ["KB5034441"])
    ]
    assert [(u["kind"], u["hosts"]) for u in windows["vulns_unchecked"]] == [
        ("not_run", ["st-01"])  # swept without the check: not checked, not clean
    ]


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_letters_sentence_in_html_and_docx(store: Store, tmp_path: Path, lang: Lang) -> None:
    (html,) = render(store, Format.html, tmp_path / "letter.html", lang, week=W22)
    assert SENTENCE[lang] in Page(html.read_text(encoding="utf-8")).words
    (docx,) = render(store, Format.docx, tmp_path / "letter.docx", lang, week=W22)
    paragraphs = [p.text for p in open_docx(str(docx)).paragraphs]
    assert SENTENCE[lang] in paragraphs
    strong = next(p for p in open_docx(str(docx)).paragraphs if p.text == SENTENCE[lang])
    assert [r.text for r in strong.runs if r.bold] == [
        "4",
        "2",
        "100,00%" if lang == "vi" else "100.00%",
        "openssl",
    ]


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_campaign_form_line_in_xlsx_and_csv(store: Store, tmp_path: Path, lang: Lang) -> None:
    (xlsx,) = render(store, Format.xlsx, tmp_path / "letter.xlsx", lang, week=W22)
    title = "Thống kê kết quả chiến dịch" if lang == "vi" else "Campaign statistics"
    figures = {r[1]: r[2] for r in sheet_rows(xlsx, title) if isinstance(r[0], int)}
    checked, failing = CAMPAIGN[lang]
    assert (figures[checked], figures[failing]) == (7, 6)
    by_unit = "Thống kê chiến dịch theo đơn vị" if lang == "vi" else "Campaign statistics by unit"
    assert [r[1:6] for r in sheet_rows(xlsx, by_unit)[2:]] == [
        [weak.UNITS["trang-dinh"], 5, 4, 3, 2],
        [weak.UNITS["van-lang"], 4, 4, 3, 3],
        [weak.UNITS["so-tttt"], 2, 2, 1, 1],
        ["Tổng cộng" if lang == "vi" else "Total", 11, 10, 7, 6],
    ]
    folder = tmp_path / "csv"
    folder.mkdir()
    files = render(store, Format.csv, folder, lang, week=W22)
    campaign = next(p for p in files if p.name == "campaign.csv")
    with campaign.open(encoding="utf-8-sig", newline="") as handle:
        rows = {row[1]: row[2] for row in csv.reader(handle)}
    assert (rows[checked], rows[failing]) == ("7", "6")


def test_unit_tables_in_xlsx_docx_and_html(store: Store, tmp_path: Path) -> None:
    (xlsx,) = render(store, Format.xlsx, tmp_path / "vl.xlsx", "vi", week=W22, unit="van-lang")
    hosts = sheet_rows(xlsx, "Máy có lỗ hổng mức cao trở lên")
    assert hosts[1] == [
        "STT",
        "Tên máy",
        "Hệ điều hành",
        "Nghiêm trọng",
        "Cao",
        "Thành phần có lỗ hổng nặng nhất",
        "Trạng thái",
    ]
    assert [r[1:6] for r in hosts[2:5]] == VAN_LANG_HOSTS
    assert [r[6] for r in hosts[2:5]] == ["được miễn trừ", "không đạt", "không đạt"]
    assert hosts[-1][0] == (
        "Đã kiểm tra điểm yếu 3/4 máy: 1 máy có lỗ hổng nghiêm trọng, 2 máy có lỗ hổng mức cao "
        "(không có lỗ hổng nghiêm trọng); 1 máy chưa được kiểm tra."
    )
    cves = sheet_rows(xlsx, "Lỗ hổng phổ biến nhất")
    assert [[r[1], r[4], r[5], r[6]] for r in cves[2:]] == VAN_LANG_CVES
    assert [(r[2], r[3]) for r in cves[2:]] == [
        ("nghiêm trọng", "9,8"),
        ("cao", "7,5"),
        ("cao", "7,4"),
    ]
    unchecked = sheet_rows(xlsx, "Máy chưa được kiểm tra điểm yếu")
    assert unchecked[2][1:] == [
        "Không thực hiện được kiểm tra lỗ hổng: máy không có cơ sở dữ liệu gói phần mềm (dpkg, rpm)",
        1,
        "vl-03",
    ]

    (docx,) = render(store, Format.docx, tmp_path / "vl.docx", "en", week=W22, unit="van-lang")
    tables = docx_tables(docx)
    hosts_en = tables["No. | Host | Operating system | Critical | High | Worst components | Status"]
    assert [r[1:6] for r in hosts_en] == [[str(c) for c in row] for row in VAN_LANG_HOSTS]
    cves_en = tables["No. | CVE | Severity | CVSS | Component | Machines affected | Fixed in"]
    assert [[r[1], r[4], r[5], r[6]] for r in cves_en] == [
        [str(c) for c in row] for row in VAN_LANG_CVES
    ]

    (html,) = render(store, Format.html, tmp_path / "vl.html", "vi", week=W22, unit="van-lang")
    words = Page(html.read_text(encoding="utf-8")).words
    assert "1 vl-02 Debian GNU/Linux 12 (bookworm) 1 0 openssl được miễn trừ" in words
    assert "1 CVE-2024-0001 nghiêm trọng 9,8 openssl 1 3.0.13-1~deb12u1" in words


def test_not_checked_is_said_never_zero(
    store: Store, lang_son: tuple[Store, dict[str, str]], tmp_path: Path
) -> None:
    for lang in ("vi", "en"):
        (html,) = render(lang_son[0], Format.html, tmp_path / f"ls.{lang}.html", lang, week=W22)
        words = Page(html.read_text(encoding="utf-8")).words
        assert NOT_CHECKED[lang] in words
        assert "lỗ hổng nghiêm trọng tuần này là" not in words
        assert "Machines with critical weaknesses this week" not in words
    (xlsx,) = render(lang_son[0], Format.xlsx, tmp_path / "ls.xlsx", "vi", week=W22)
    form = [r for r in sheet_rows(xlsx, "Thống kê kết quả chiến dịch") if isinstance(r[0], int)]
    checked = next(r for r in form if r[1] == CAMPAIGN["vi"][0])
    assert checked[2:] == [
        0,
        "chưa kiểm tra: chưa nhập dữ liệu lỗ hổng hoặc lượt rà quét không gồm kiểm tra lỗ hổng",
    ]
    # W21 is checked, W20 (its week before) was swept without the check: nothing to compare
    doc = report_json(store, tmp_path, "vi", week=W21)
    assert (doc["vulns"]["checked"], doc["vulns"]["critical"]["current"]) == (
        {**doc["vulns"]["checked"], "current": 4, "previous": 0},
        2,
    )
    (html,) = render(store, Format.html, tmp_path / "w21.html", "vi", week=W21)
    assert (
        "+ Số lượng máy có lỗ hổng nghiêm trọng tuần này là: 2 máy (trong số 4/6 máy đã được "
        "kiểm tra điểm yếu trình duyệt, hệ điều hành), tuần trước chưa kiểm tra điểm yếu nên "
        "chưa có số liệu so sánh; thành phần có lỗ hổng phổ biến nhất là: chromium, curl, "
        "openssl (mỗi thành phần trên 1 máy)."
    ) in Page(html.read_text(encoding="utf-8")).words


def test_postgresql_counts_the_same(pg_url: str, store: Store, tmp_path: Path) -> None:  # noqa: F811
    """The figures are taken out of the evidence by the database: PostgreSQL's JSON
    functions must give SQLite's numbers."""
    with Store(pg_url) as pg:
        weak.build(pg)
        for unit in (None, "van-lang"):
            on_pg = report_json(pg, tmp_path, week=W22, unit=unit)
            on_sqlite = report_json(store, tmp_path, week=W22, unit=unit)
            for key in ("vulns", "vulns_hosts", "top_cves", "vulns_unchecked"):
                assert on_pg[key] == on_sqlite[key], key
            assert [u["vulns_checked"] for u in on_pg["units"]] == [
                u["vulns_checked"] for u in on_sqlite["units"]
            ]
