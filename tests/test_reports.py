"""Report figures: golden numbers from a store with seed 000's week, rounding, weeks, selection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from raquet.models import Detection
from raquet.store import Store, StoredDetection
from reports.aggregate import build
from reports.change import Change, percent_change
from reports.collect import Selection, UsageError, collect
from reports.formatting import Formatter
from reports.model import Report
from reports.weeks import IsoWeek
from tests.fixtures.reports import province
from tests.fixtures.reports.province import ICT, PLANNED, REPORT_TIME, W22_MONDAY
from tests.fixtures.reports.stores import lang_son_fixture  # noqa: F401 (fixture `lang_son`)

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
W22 = IsoWeek(year=2021, week=22)


def letter(store: Store, **selection: object) -> Report:
    chosen = Selection.model_validate(selection)
    return build(collect(store, chosen, REPORT_TIME), chosen.unit, "vi", REPORT_TIME)


@pytest.mark.parametrize(
    ("current", "previous", "expected"),
    [
        (4505, 2821, "59.70"),  # seed 000: 59.6952... -> 59.70
        (57, 45, "26.67"),  # 26.666... -> 26.67
        (32, 66, "-51.52"),  # -51.5151... -> -51.52 (the seed's -51.51 truncated)
        (801, 800, "0.13"),  # exactly 0.125: half up, not to even (0.12) and not float noise
        (799, 800, "-0.13"),  # exactly -0.125: half away from zero
        (3, 8, "-62.50"),
        (10, 10, "0.00"),
    ],
)
def test_percent_change_rounds_half_up_to_two_decimals(
    current: int, previous: int, expected: str
) -> None:
    assert percent_change(current, previous) == Decimal(expected)
    assert str(percent_change(current, previous)) == expected


def test_zero_last_week_is_new_not_a_division() -> None:
    assert percent_change(5, 0) is None
    assert Change(current=5, previous=0).direction == "new"
    assert Change(current=0, previous=0).direction == "same"
    vi, en = Formatter("vi", HCM), Formatter("en", HCM)
    assert vi.change(Change(current=5, previous=0)) == "mới"
    assert en.change(Change(current=5, previous=0)) == "new"
    assert vi.change(Change(current=0, previous=0)) == "—"


def test_numbers_and_dates_in_vietnamese_and_english() -> None:
    vi, en = Formatter("vi", HCM), Formatter("en", HCM)
    up, down = Change(current=4505, previous=2821), Change(current=32, previous=66)
    assert (vi.number(4505), vi.change(up), vi.change(down)) == (
        "4.505",
        "+59,70%",
        "\u221251,52%",
    )
    assert (en.number(4505), en.change(up), en.change(down)) == (
        "4,505",
        "+59.70%",
        "\u221251.52%",
    )
    assert vi.number(1234567) == "1.234.567"
    assert vi.percent(Decimal("1234.5")) == "1.234,50%"
    sunday_night_utc = datetime(2021, 6, 6, 23, 30, tzinfo=UTC)  # Monday 06:30 in Hà Nội
    assert vi.day(sunday_night_utc) == "07/06/2021"
    assert vi.moment(sunday_night_utc) == "07/06/2021 06:30"
    assert [vi.month(datetime(2021, m, 1).date()) for m in (1, 2, 6, 12)] == ["01", "02", "6", "12"]


def test_iso_weeks_are_cut_at_local_midnight() -> None:
    assert IsoWeek.parse("2021-W22") == IsoWeek.parse("2021w22") == W22
    assert W22.start(HCM) == datetime(2021, 5, 30, 17, 0, tzinfo=UTC)
    assert W22.end(HCM) == datetime(2021, 6, 6, 17, 0, tzinfo=UTC)
    assert IsoWeek.containing(datetime(2021, 6, 6, 16, 59, tzinfo=UTC), HCM) == W22
    assert IsoWeek.containing(datetime(2021, 6, 6, 17, 0, tzinfo=UTC), HCM) == W22.shifted(1)
    assert str(IsoWeek.parse("2020-W53").shifted(1)) == "2021-W01"
    for bad in ("2021-22", "2021-W54", "2021-W53", "W22"):
        with pytest.raises(ValueError):
            IsoWeek.parse(bad)


def test_province_letter_reproduces_seed_000(lang_son: tuple[Store, dict[str, str]]) -> None:
    store, _ = lang_son
    report = letter(store, week=W22)
    m = report.metrics
    assert (m.detections.current, m.detections.previous, m.detections.percent) == (
        4505,
        2821,
        Decimal("59.70"),
    )
    assert (m.infected.current, m.infected.previous, m.infected.percent) == (
        57,
        45,
        Decimal("26.67"),
    )
    assert (m.malware.current, m.malware.previous, m.malware.percent) == (
        32,
        66,
        Decimal("-51.52"),
    )
    assert report.top_units == ["Huyện Tràng Định"]
    assert report.top_units_detections == 2500
    assert (report.period_start.isoformat(), report.period_end.isoformat()) == (
        "2021-05-31",
        "2021-06-06",
    )
    assert report.issuer == ["UBND TỈNH LẠNG SƠN", "SỞ THÔNG TIN VÀ TRUYỀN THÔNG"]
    assert report.province == "Lạng Sơn"


def test_province_letter_units_scope_and_campaign(lang_son: tuple[Store, dict[str, str]]) -> None:
    store, ids = lang_son
    report = letter(store, week=W22)
    rows = {u.unit: u for u in report.units}
    assert [u.unit for u in report.units] == ["trang-dinh", "van-lang", "so-tttt"]  # by detections
    td, vl, st = rows["trang-dinh"], rows["van-lang"], rows["so-tttt"]
    assert (td.in_scope, td.swept, td.not_swept, td.compliant, td.infected) == (40, 40, 0, 10, 30)
    assert (vl.in_scope, vl.swept, vl.not_swept, vl.compliant, vl.infected) == (30, 29, 1, 4, 20)
    assert (st.in_scope, st.swept, st.not_swept, st.compliant, st.infected) == (20, 18, 2, 10, 7)
    assert (td.detections.current, td.detections.previous, str(td.detections.percent)) == (
        2500,
        1000,
        "150.00",
    )
    assert vl.detections.direction == "same"
    assert (td.malware, td.top_malware) == (32, "W32.Family00")
    assert (td.cleaned, vl.cleaned, st.cleaned) == (10, 0, 3)
    t = report.totals
    assert (t.in_scope, t.swept, t.not_swept, t.compliant, t.cleaned) == (90, 87, 3, 24, 13)
    assert {(c.unit, c.host) for c in report.cleaned} == {
        *(("trang-dinh", f"td-{i:02d}") for i in range(1, 11)),
        *(("so-tttt", f"st-{i}") for i in (16, 17, 18)),
    }
    assert all(c.sweep_id == ids["2021-W22"] for c in report.cleaned)
    assert [(p.week, p.detections, p.infected) for p in report.trend[-3:]] == [
        ("2021-W20", 1234, 1),
        ("2021-W21", 2821, 45),
        ("2021-W22", 4505, 57),
    ]
    assert [p.detections for p in report.trend[:-3]] == [0] * 5
    assert report.malware[0].name == "W32.Family00"
    assert sum(m.detections for m in report.malware) == 4505
    assert len(report.infected_hosts) == 57
    assert [(c.unit, c.host, c.indicators, c.feeds) for c in report.connections] == [
        ("so-tttt", "st-08", ["203.0.113.66"], ["ncsc-botnet"])
    ]
    counts = report.connection_counts
    assert (counts.live, counts.hosts_entries, counts.machines) == (1, 0, 1)
    assert [s.id for s in report.sweeps] == [ids["2021-W22"]]


def test_unit_report_has_findings_infections_and_unswept(
    lang_son: tuple[Store, dict[str, str]],
) -> None:
    store, _ = lang_son
    report = letter(store, week=W22, unit="so-tttt")
    assert report.kind == "unit"
    assert report.unit is not None
    assert (report.unit.name, report.unit.in_scope, report.unit.compliant) == (
        "Sở Thông tin và Truyền thông",
        20,
        10,
    )
    assert (report.metrics.detections.current, report.metrics.detections.previous) == (505, 321)
    assert (report.metrics.infected.current, report.metrics.infected.previous) == (7, 5)
    assert len(report.detections) == 505
    first = report.detections[0]
    assert (first.host, first.path, first.source, first.action) == (
        "st-01",
        "C:\\Users\\can-bo\\AppData\\Local\\Temp\\0.exe",
        "bkav",
        "quarantined",
    )
    assert first.detected_at == W22_MONDAY
    failing = {(f.host, f.check) for f in report.failing}
    assert failing == {
        *((f"st-{i:02d}", "infections") for i in range(1, 8)),
        ("st-08", "connections"),
    }
    match = next(f for f in report.failing if f.check == "connections")
    assert match.evidence["matches"][0]["process"] == "svchost32.exe"
    assert [(h.host, h.status, h.error) for h in report.unswept] == [
        ("st-19", "unreachable", "timed out after 30 s"),
        ("st-20", "unreachable", "timed out after 30 s"),
    ]
    assert [c.host for c in report.cleaned] == ["st-16", "st-17", "st-18"]
    assert {u.unit for u in report.units} == {"so-tttt"}


def test_sweep_selection_reads_that_sweep_and_its_week(
    lang_son: tuple[Store, dict[str, str]],
) -> None:
    store, ids = lang_son
    report = letter(store, sweep=ids["2021-W20"][:8])
    assert (report.week, report.sweep_id) == ("2021-W20", ids["2021-W20"])
    assert [u.unit for u in report.units] == ["trang-dinh"]
    assert report.metrics.detections.current == 1234
    assert report.metrics.detections.direction == "new"
    assert report.totals.in_scope == 40


def test_default_week_is_the_last_complete_one_in_the_province_zone(
    lang_son: tuple[Store, dict[str, str]],
) -> None:
    store, _ = lang_son
    monday_night = datetime(2021, 6, 6, 17, 0, tzinfo=UTC)  # Monday 00:00 in Hà Nội: W23 begins
    data = collect(store, Selection(), monday_night)
    assert (data.week, data.until) == (W22, W22.end(HCM))
    report = build(data, None, "vi", monday_night)
    assert report.complete and report.period_end.isoformat() == "2021-06-06"
    sunday_evening = monday_night - timedelta(hours=1)  # 23:00 on Sunday: W22 is not over
    assert collect(store, Selection(), sunday_evening).week == W22.shifted(-1)
    weeks_later = monday_night + timedelta(weeks=3)
    with pytest.raises(UsageError, match=r"no sweep started in week 2021-W25 .*--week 2021-W22"):
        collect(store, Selection(), weeks_later)


def test_a_week_in_progress_is_incomplete_and_compared_like_for_like(
    lang_son: tuple[Store, dict[str, str]],
) -> None:
    """Asked for on its Wednesday at noon, W22 shows its first two and a half days against
    the same two and a half days of W21, and says so."""
    store, _ = lang_son
    wednesday_noon = datetime(2021, 6, 2, 12, 0, tzinfo=ICT)
    report = build(collect(store, Selection(week=W22), wednesday_noon), None, "vi", wednesday_noon)
    assert not report.complete
    assert report.until == wednesday_noon and report.period_end.isoformat() == "2021-06-02"
    assert report.compared_until == wednesday_noon - timedelta(weeks=1)
    this = [d for d in province_detections(store) if W22_MONDAY <= d.detected_at < wednesday_noon]
    before = W22_MONDAY - timedelta(weeks=1)
    last = [
        d
        for d in province_detections(store)
        if before <= d.detected_at < wednesday_noon - timedelta(weeks=1)
    ]
    assert 0 < len(this) < 4505 and 0 < len(last) < 2821
    assert (report.metrics.detections.current, report.metrics.detections.previous) == (
        len(this),
        len(last),
    )


def province_detections(store: Store) -> list[StoredDetection]:
    return store.detections(since=W22_MONDAY - timedelta(weeks=2))


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ({"sweep": "nope-not-a-sweep"}, "no sweep 'nope-not-a-sweep'"),
        ({"sweep": "ab"}, "too short"),
        ({"week": IsoWeek(year=2021, week=10)}, "no sweep started in week 2021-W10"),
        ({"week": W22, "unit": "bac-son"}, "no sweep ever included unit 'bac-son'"),
        ({"week": W22, "sweep": "latest"}, "not both"),
    ],
)
def test_bad_selections_are_usage_errors(
    lang_son: tuple[Store, dict[str, str]], selection: dict[str, object], message: str
) -> None:
    store, _ = lang_son
    with pytest.raises(UsageError, match=message):
        collect(store, Selection.model_validate(selection), REPORT_TIME)


def test_each_unit_is_read_from_its_own_latest_sweep_of_the_week(tmp_path: Path) -> None:
    """A Thursday re-sweep of one unit replaces only that unit's Monday figures."""
    monday = W22_MONDAY + timedelta(hours=8)
    found = province.spread(["td-01"], 3, ["X"], W22_MONDAY)
    with Store(f"sqlite:///{tmp_path / 'r.db'}") as store:
        everything = [province.result(h, u, monday, found.get(h)) for h, u in PLANNED]
        province.sweep(store, monday, PLANNED, everything, found)
        thursday = monday + timedelta(days=3)
        td = [(h, u) for h, u in PLANNED if u == "trang-dinh"]
        province.sweep(store, thursday, td, [province.result(h, u, thursday) for h, u in td], {})
        report = letter(store, week=W22)
    rows = {u.unit: u for u in report.units}
    assert (rows["trang-dinh"].compliant, rows["trang-dinh"].sweep_id) == (40, report.sweeps[0].id)
    assert rows["van-lang"].sweep_id == report.sweeps[1].id
    assert rows["trang-dinh"].infected == 1  # detections stay counted in their own week
    assert [c.host for c in report.cleaned] == ["td-01"]  # infected Monday, clean Thursday


def test_detections_count_in_the_week_of_their_local_time(tmp_path: Path) -> None:
    """Sunday 23:30 UTC is Monday morning in Hà Nội: the detection belongs to the next week."""
    late = Detection(
        name="X",
        path="/tmp/x",
        detected_at=datetime(2021, 5, 30, 17, 30, tzinfo=UTC),  # Mon 31/05 00:30 ICT
        source="clamav",
    )
    early = late.model_copy(update={"detected_at": late.detected_at - timedelta(hours=1)})
    at = W22_MONDAY + timedelta(hours=8)
    with Store(f"sqlite:///{tmp_path / 'r.db'}") as store:
        hosts = [("h1", "u")]
        results = [province.result("h1", "u", at, [early, late])]
        province.sweep(store, at, hosts, results, {"h1": [early, late, late]})
        report = letter(store, week=W22)
    assert (report.metrics.detections.current, report.metrics.detections.previous) == (1, 1)
    assert report.units[0].infected == 1


def test_generated_time_and_dates_are_local(lang_son: tuple[Store, dict[str, str]]) -> None:
    store, _ = lang_son
    report = letter(store, week=W22)
    assert report.generated_at.utcoffset() == timedelta(hours=7)
    assert report.generated_at == REPORT_TIME.astimezone(ICT)
    assert report.timezone == "Asia/Ho_Chi_Minh"
