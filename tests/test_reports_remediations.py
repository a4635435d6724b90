"""Remediations in the reports: counted by outcome at the week's end, listed per unit, and
counted as cleaning in the campaign form; a store never remediated is read, not changed.

The store is `tests.fixtures.reports.remediated` (its docstring lists every remediation).
"""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from docx import Document as open_docx
from openpyxl import load_workbook
from sqlalchemy import inspect, text

from raquet.store import Store
from reports.aggregate import build
from reports.collect import Selection, collect
from reports.command import write_report
from reports.document import layout
from reports.formats import Format
from reports.formatting import Lang
from reports.labels import labels
from reports.model import RemediationCounts, Report
from reports.weeks import IsoWeek
from tests.conftest import raquet_cli
from tests.fixtures.reports import province, remediated
from tests.fixtures.reports.page import Page
from tests.fixtures.reports.province import ICT, REPORT_TIME, W22_MONDAY
from tests.fixtures.reports.stores import fixed_fixture  # noqa: F401 (fixture `fixed`)

W21, W22 = IsoWeek(year=2021, week=21), IsoWeek(year=2021, week=22)
Fixed = tuple[Store, dict[str, str]]
PROVINCE_W22 = RemediationCounts(fixed=3, failed=1, unverified=1, undone=2)
VAN_LANG_W22 = RemediationCounts(fixed=1, failed=1, unverified=1, undone=2)
When = tuple[int, int, int]  # (day, hour, minute) in Hà Nội, late May or early June 2021
# Van-lang's W22 in time order: host, check, status, outcome, error, done at, undone at.
VAN_LANG_ROWS: list[tuple[str, str, str, str, str, When, When | None]] = [
    ("vl-02", "connections", "undone", "fixed", "", (29, 0, 20), (31, 8, 0)),
    ("vl-01", "connections", "undone", "fixed", "", (1, 10, 20), (2, 9, 0)),
    ("vl-22", "av", "failed", "failed", remediated.AV_ERROR, (6, 0, 20), None),
    ("vl-23", "av", "unverified", "unverified", remediated.UNVERIFIED, (6, 1, 20), None),
    ("vl-05", "infections", "fixed", "fixed", "", (6, 19, 20), None),
]
AV_VI, AV_NONE_VI = "Phòng, chống mã độc", "Chưa cài đặt phần mềm phòng, chống mã độc"
AV_ERROR_CELL = " ".join(remediated.AV_ERROR.splitlines())  # on one line in a table
LINE = {
    "vi": "Biện pháp khắc phục trong tuần: {} đã khắc phục, {} thất bại, {} chưa xác minh, "
    "{} đã hoàn tác.",
    "en": "Remediations this week: {} fixed, {} failed, {} unverified, {} undone.",
}
STATUSES = {
    "vi": ["Đã hoàn tác", "Đã hoàn tác", "Thất bại", "Chưa xác minh", "Đã khắc phục"],
    "en": ["Undone", "Undone", "Failed", "Unverified", "Fixed"],
}


def _at(when: When | None) -> datetime | None:
    if when is None:
        return None
    day, hour, minute = when
    return datetime(2021, 5 if day > 20 else 6, day, hour, minute, tzinfo=ICT)


def _line(lang: Lang, counts: RemediationCounts) -> str:
    return LINE[lang].format(counts.fixed, counts.failed, counts.unverified, counts.undone)


def report(store: Store, lang: Lang = "vi", **selection: object) -> Report:
    chosen = Selection.model_validate(selection)
    return build(collect(store, chosen, REPORT_TIME), chosen.unit, lang, REPORT_TIME)


def render(store: Store, format: Format, output: Path, lang: Lang, **selection: object) -> Path:
    chosen = Selection.model_validate(selection)
    return write_report(store, chosen, format, output, lang, None, REPORT_TIME)[0]


def test_letter_counts_the_weeks_remediations_by_outcome(fixed: Fixed) -> None:
    letter = report(fixed[0], week=W22)
    rows = {u.unit: u for u in letter.units}
    assert letter.totals.remediations == PROVINCE_W22  # vl-24 planned, vl-06 in W21: left out
    assert rows["van-lang"].remediations == VAN_LANG_W22
    assert rows["trang-dinh"].remediations == RemediationCounts(fixed=1)  # ended Monday 00:10
    assert rows["so-tttt"].remediations == RemediationCounts(fixed=1)
    assert letter.remediations == []  # the list is the unit reports'


def test_a_verification_sweep_does_not_stand_for_its_unit(fixed: Fixed) -> None:
    """vl-05 alone, swept again after its remediation, is not van-lang's week."""
    store, ids = fixed
    rows = {u.unit: u for u in report(store, week=W22).units}
    assert (rows["van-lang"].in_scope, rows["van-lang"].sweep_id) == (30, ids["2021-W22"])


def test_cleaned_adds_fixed_infections_each_host_once(fixed: Fixed) -> None:
    store, ids = fixed
    letter = report(store, week=W22)
    rows = {u.unit: u for u in letter.units}
    assert [rows[u].cleaned for u in ("trang-dinh", "van-lang", "so-tttt")] == [10, 1, 4]
    assert letter.totals.cleaned == 15  # 13 by re-sweep, + vl-05 and st-01; td-05 once
    cleaned = {c.host: c for c in letter.cleaned}
    assert len(cleaned) == 15 and "vl-06" not in cleaned  # fixed on Sunday 23:30 of W21
    vl05 = cleaned["vl-05"]
    spread = province.spread([f"vl-{i:02d}" for i in range(1, 21)], 1500, ["X"], W22_MONDAY)
    assert (vl05.remediation_id, vl05.sweep_id) == ("rem-vl05", ids["verify"])
    assert vl05.verified_at == _at((6, 19, 20))
    assert vl05.last_infected == max(d.detected_at for d in spread["vl-05"])
    td05 = cleaned["td-05"]  # clean by the W22 sweep and by its remediation
    assert (td05.sweep_id, td05.remediation_id) == (ids["2021-W22"], "rem-td05")
    assert cleaned["st-01"].sweep_id is None  # no verification sweep recorded for it
    assert {h.host for h in letter.infected_hosts if h.cleaned} >= {"vl-05", "st-01"}


def test_unit_report_lists_remediations_done(fixed: Fixed) -> None:
    store, ids = fixed
    unit = report(store, week=W22, unit="van-lang")
    assert unit.unit is not None and unit.unit.remediations == VAN_LANG_W22
    assert unit.totals.remediations == VAN_LANG_W22
    assert [
        (r.host, r.check, r.status, r.outcome, r.error, r.done_at, r.undone_at)
        for r in unit.remediations
    ] == [(h, c, s, o, e, _at(done), _at(undone)) for h, c, s, o, e, done, undone in VAN_LANG_ROWS]
    assert [r.undone_by for r in unit.remediations] == ["tran.thi.b"] * 2 + [None] * 3
    assert {r.operator for r in unit.remediations} == {"nguyen.van.a"}
    assert unit.remediations[-1].verify_sweep_id == ids["verify"]
    assert [c.host for c in unit.cleaned] == ["vl-05"]


def test_an_undo_after_the_week_is_not_shown_in_it(fixed: Fixed) -> None:
    """vl-02's block was fixed in W21 and undone in W22: W21 shows it fixed."""
    unit = report(fixed[0], week=W21, unit="van-lang")
    assert [(r.host, r.status, r.undone_at) for r in unit.remediations] == [
        ("vl-02", "fixed", None),
        ("vl-06", "fixed", None),
    ]
    assert unit.totals.remediations == RemediationCounts(fixed=2)
    assert [(c.host, c.sweep_id, c.remediation_id) for c in unit.cleaned] == [
        ("vl-06", None, "rem-vl06")
    ]


def test_a_selected_sweep_reads_only_its_hosts_remediations(fixed: Fixed) -> None:
    store, ids = fixed
    letter = report(store, sweep=ids["verify"])
    assert letter.week == str(W22)
    assert letter.totals.remediations == RemediationCounts(fixed=1)
    assert [(c.host, c.sweep_id, c.remediation_id) for c in letter.cleaned] == [
        ("vl-05", ids["verify"], "rem-vl05")
    ]


def test_json_carries_the_remediations(fixed: Fixed, tmp_path: Path) -> None:
    store, ids = fixed
    path = render(store, Format.json, tmp_path / "u.json", "vi", week=W22, unit="van-lang")
    unit = json.loads(path.read_text(encoding="utf-8"))
    assert unit["totals"]["remediations"] == VAN_LANG_W22.model_dump()
    assert [(r["host"], r["status"], r["outcome"], r["error"]) for r in unit["remediations"]] == [
        (h, s, o, e) for h, _, s, o, e, _, _ in VAN_LANG_ROWS
    ]
    first = unit["remediations"][0]
    assert (first["done_at"], first["undone_at"], first["undone_by"]) == (
        "2021-05-28T17:20:00Z",
        "2021-05-31T01:00:00Z",
        "tran.thi.b",
    )
    assert unit["remediations"][-1]["verify_sweep_id"] == ids["verify"]
    path = render(store, Format.json, tmp_path / "p.json", "en", week=W22)
    letter = json.loads(path.read_text(encoding="utf-8"))
    assert letter["totals"]["remediations"] == PROVINCE_W22.model_dump()
    assert letter["totals"]["cleaned"] == 15
    assert {u["unit"]: u["cleaned"] for u in letter["units"]} == {
        "trang-dinh": 10,
        "van-lang": 1,
        "so-tttt": 4,
    }


VI_ROWS = [  # vl-22 and vl-23 name the sweep that judged them: their finding in Vietnamese
    "1 vl-02 Kết nối độc hại connection to a listed address Đã hoàn tác nguyen.van.a "
    "29/05/2021 00:20 31/05/2021 08:00",
    "2 vl-01 Kết nối độc hại connection to a listed address Đã hoàn tác nguyen.van.a "
    "01/06/2021 10:20 02/06/2021 09:00",
    f"3 vl-22 Phòng, chống mã độc Chưa cài đặt phần mềm phòng, chống mã độc Thất bại "
    f"{AV_ERROR_CELL} nguyen.van.a 06/06/2021 00:20",
    f"4 vl-23 Phòng, chống mã độc Chưa cài đặt phần mềm phòng, chống mã độc Chưa xác minh "
    f"{remediated.UNVERIFIED} nguyen.van.a 06/06/2021 01:20",
    "5 vl-05 Lây nhiễm mã độc 75 detections Đã khắc phục nguyen.van.a 06/06/2021 19:20",
]


def test_html_unit_report_in_vietnamese_and_english(fixed: Fixed, tmp_path: Path) -> None:
    store, ids = fixed
    vi = render(store, Format.html, tmp_path / "vi.html", "vi", week=W22, unit="van-lang")
    words = Page(vi.read_text(encoding="utf-8")).words
    table = words[words.index("Biện pháp khắc phục đã thực hiện STT Tên máy Kiểm tra") :]
    table = table[: table.index("Máy đã xử lý và xác minh sạch")]
    for row in VI_ROWS:
        assert row in table
    assert table.rstrip().endswith(f"19:20 {ids['verify'][:12]}")
    assert _line("vi", VAN_LANG_W22) in words
    en = render(store, Format.html, tmp_path / "en.html", "en", week=W22, unit="van-lang")
    words = Page(en.read_text(encoding="utf-8")).words
    assert "Remediations done No. Host Check Finding Result Error Operator Done at" in words
    assert (
        "1 vl-02 Malicious connections connection to a listed address Undone nguyen.van.a" in words
    )
    assert f"3 vl-22 Antivirus No antivirus is installed Failed {AV_ERROR_CELL}" in words
    assert "4 vl-23 Antivirus No antivirus is installed Unverified" in words
    assert "5 vl-05 Infections 75 detections Fixed nguyen.van.a" in words
    assert _line("en", VAN_LANG_W22) in words
    assert "Đã khắc phục" not in words


@pytest.mark.parametrize(
    ("lang", "last_row", "campaign"),
    [
        ("vi", "Số loại mã độc 32 66 \u221251,52%", "Số máy đã xử lý, làm sạch mã độc 15"),
        ("en", "Malware types 32 66 \u221251.52%", "Machines cleaned 15"),
    ],
)
def test_html_letter_has_the_count_line_and_the_cleaned_campaign(
    fixed: Fixed, tmp_path: Path, lang: Lang, last_row: str, campaign: str
) -> None:
    page = render(fixed[0], Format.html, tmp_path / f"{lang}.html", lang, week=W22)
    words = Page(page.read_text(encoding="utf-8")).words
    assert f"{last_row} {_line(lang, PROVINCE_W22)}" in words  # under the summary table
    assert campaign in words


def test_xlsx_remediations_sheet_and_campaign_form(fixed: Fixed, tmp_path: Path) -> None:
    store, _ = fixed
    path = render(store, Format.xlsx, tmp_path / "u.xlsx", "vi", week=W22, unit="van-lang")
    sheet = load_workbook(path)["Biện pháp khắc phục đã thực"]  # cut at a word (31 characters)
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=3)]
    assert [r[:6] for r in rows] == [
        [1, "vl-02", "Kết nối độc hại", "connection to a listed address", "Đã hoàn tác", None],
        [2, "vl-01", "Kết nối độc hại", "connection to a listed address", "Đã hoàn tác", None],
        [3, "vl-22", AV_VI, AV_NONE_VI, "Thất bại", AV_ERROR_CELL],
        [4, "vl-23", AV_VI, AV_NONE_VI, "Chưa xác minh", remediated.UNVERIFIED],
        [5, "vl-05", "Lây nhiễm mã độc", "75 detections", "Đã khắc phục", None],
    ]
    assert (rows[0][7], rows[0][9]) == (datetime(2021, 5, 29, 0, 20), datetime(2021, 5, 31, 8))
    assert sheet.cell(3, 8).number_format == "dd/mm/yyyy hh:mm"
    book = load_workbook(render(store, Format.xlsx, tmp_path / "p.xlsx", "vi", week=W22))
    summary = [c.value for row in book["Tổng hợp"].iter_rows() for c in row if c.value]
    assert summary[-1] == _line("vi", PROVINCE_W22)
    form = [[c.value for c in row] for row in book["Thống kê kết quả chiến dịch"].iter_rows()]
    figures = {r[1]: r[2] for r in form if isinstance(r[0], int)}
    assert figures["Số máy đã xử lý, làm sạch mã độc"] == 15
    by_unit = [
        [c.value for c in row] for row in book["Thống kê chiến dịch theo đơn vị"].iter_rows()
    ]
    assert [(r[1], r[7]) for r in by_unit[2:]] == [
        ("Huyện Tràng Định", 10),
        ("Huyện Văn Lãng", 1),
        ("Sở Thông tin và Truyền thông", 4),
        ("Tổng cộng", 15),
    ]


@pytest.mark.parametrize(("lang", "done_at"), [("vi", "Thực hiện lúc"), ("en", "Done at")])
def test_docx_remediations_table(fixed: Fixed, tmp_path: Path, lang: Lang, done_at: str) -> None:
    path = render(fixed[0], Format.docx, tmp_path / "u.docx", lang, week=W22, unit="van-lang")
    doc = open_docx(str(path))
    table = next(t for t in doc.tables if [c.text for c in t.rows[0].cells][7:8] == [done_at])
    cells = [[c.text for c in row.cells] for row in table.rows[1:]]
    check = labels(lang).check
    assert [(r[1], r[2], r[4]) for r in cells] == [
        (row[0], check(row[1]), status)
        for row, status in zip(VAN_LANG_ROWS, STATUSES[lang], strict=True)
    ]
    assert cells[2][5] == AV_ERROR_CELL
    assert (cells[0][7], cells[0][9]) == ("29/05/2021 00:20", "31/05/2021 08:00")
    assert _line(lang, VAN_LANG_W22) in [p.text for p in doc.paragraphs]


def test_csv_remediations_file(fixed: Fixed, tmp_path: Path) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    render(fixed[0], Format.csv, folder, "en", week=W22, unit="van-lang")
    with (folder / "remediations.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:6] == ["No.", "Host", "Check", "Finding", "Result", "Error"]
    assert [(r[1], r[4], r[7]) for r in rows[1:]] == [
        ("vl-02", "Undone", "2021-05-29T00:20:00+07:00"),
        ("vl-01", "Undone", "2021-06-01T10:20:00+07:00"),
        ("vl-22", "Failed", "2021-06-06T00:20:00+07:00"),
        ("vl-23", "Unverified", "2021-06-06T01:20:00+07:00"),
        ("vl-05", "Fixed", "2021-06-06T19:20:00+07:00"),
    ]
    assert rows[3][5] == AV_ERROR_CELL


@pytest.mark.parametrize(
    ("lang", "rule"),
    [
        ("vi", 'hoặc máy có biện pháp khắc phục lây nhiễm được ghi nhận "Đã khắc phục" trong tuần'),
        ("en", 'or machines whose infection remediation was recorded "Fixed" this week'),
    ],
)
def test_notes_state_the_cleaning_rule(fixed: Fixed, lang: Lang, rule: str) -> None:
    notes = " ".join(p.text for p in layout(report(fixed[0], lang, week=W22), None).prose.notes)
    assert rule in notes


def _state(path: Path) -> tuple[str, int]:
    """The database file's hash and the size of its write-ahead log (any write grows it)."""
    wal = path.with_name(path.name + "-wal")
    return hashlib.sha256(path.read_bytes()).hexdigest(), wal.stat().st_size if wal.exists() else 0


def test_a_store_never_remediated_renders_and_is_not_changed(tmp_path: Path) -> None:
    path = tmp_path / "never.db"
    at = W22_MONDAY + timedelta(hours=8)
    hosts = [("h1", "u"), ("h2", "u")]
    found = province.spread(["h1"], 3, ["X"], W22_MONDAY)
    with Store(f"sqlite:///{path}") as store:
        results = [province.result(h, u, at, found.get(h)) for h, u in hosts]
        province.sweep(store, at, hosts, results, found)
        with store.engine.begin() as connection:  # as written before remediation existed
            connection.execute(text("DROP TABLE remediations"))
        store.engine.dispose()  # checkpoints the write-ahead log into the file
        before = _state(path)
        unit = report(store, week=W22, unit="u")
        assert unit.remediations == [] and unit.totals.remediations == RemediationCounts()
        for format in Format:
            if format is not Format.pdf:  # the HTML's, and slow
                render(store, format, tmp_path / f"r.{format.value}", "vi", week=W22, unit="u")
        assert not inspect(store.engine).has_table("remediations")
        assert _state(path) == before
    words = Page((tmp_path / "r.html").read_text(encoding="utf-8")).words
    assert "Biện pháp khắc phục đã thực hiện STT Tên máy" in words
    assert _line("vi", RemediationCounts()) in words
    # The command as run, in a process that has not loaded the remediation log before
    # opening the store (a loaded log's table is created by any Store that opens).
    done = raquet_cli(
        "report", "--week", "2021-W22", "-f", "json", "-o", tmp_path / "cli.json", "--db", store.url
    )
    assert done.returncode == 0, done.stderr
    letter = json.loads((tmp_path / "cli.json").read_text(encoding="utf-8"))
    assert letter["totals"]["remediations"] == RemediationCounts().model_dump()
    assert _state(path) == before
