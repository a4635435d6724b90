"""The reports of a real sweep of the lab fleet, through the real commands, in every format.

A fleet of real Debian hosts holds live connections and hosts-file lines pointing at
listed addresses, an out-of-date ClamAV, a stopped clamd, a banned package and a ClamAV
detection; the feeds are imported as a province would (the same list twice, the second
time without --name, and an overlapping list). `raquet sweep` sweeps it, `raquet report`
writes the letter and a unit's report in every format; the PDF and the DOCX (through
LibreOffice) are looked at as PNG pages, the HTML in Chromium.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from selenium import webdriver

from reports.formats import Format
from reports.weeks import IsoWeek
from tests.conftest import raquet_cli
from tests.fixtures.reports.page import Page
from tests.lab import scenario
from tests.lab.fleet import Fleet
from tests.test_reports_browser import browser  # noqa: F401 (fixture `browser`)
from tests.test_reports_findings import ENGLISH, PRODUCTS, REPR
from tests.test_reports_pages import _blank_edges, _docx_pdf, _pages, _text

pytestmark = pytest.mark.lab

FEED = Path(__file__).parent / "lab" / "feeds" / "lab.txt"
SCENARIO = scenario.Scenario.model_validate(
    {
        "province": "Lạng Sơn",
        "units": [
            {
                "id": "so-yte",
                "name": "Sở Y tế",
                "hosts": [
                    {
                        "name": "yt-ws-01",
                        "role": "workstation",
                        "timezone": "Asia/Ho_Chi_Minh",
                        "db_age_days": 40,
                        "packages": ["xmrig"],
                        "connections": [
                            {"address": "198.51.100.66", "port": 443, "process": "kdevtmpfsi"},
                            {"address": "100.64.77.9", "port": 8443, "process": "svchost32"},
                        ],
                        "hosts_entries": ["198.51.100.66 update.bad-domain.example"],
                        "detections": [
                            {
                                "days_ago": 0.01,
                                "path": "/home/nv/setup.exe",
                                "name": "Win.Trojan.Agent-1",
                            }
                        ],
                    },
                    {
                        "name": "yt-ws-02",
                        "role": "workstation",
                        "hosts_entries": [
                            "10.9.9.9 cdn.c2-panel.example",
                            "198.51.100.66 c2-panel.example www.c2-panel.example",
                        ],
                    },
                    {"name": "yt-srv-03"},
                ],
            },
            {
                "id": "trang-dinh",
                "name": "Huyện Tràng Định",
                "hosts": [
                    {
                        "name": "td-ws-11",
                        "role": "workstation",
                        "connections": [
                            {"address": "2001:db8:bad::7", "port": 443, "process": "svchost32"}
                        ],
                    },
                    {"name": "td-ws-12", "clamav": "stopped"},
                ],
            },
        ],
    }
)
PLANTED_SOCKETS = sum(len(h.connections) for _, h in SCENARIO.hosts())
PLANTED_ENTRIES = sum(len(h.hosts_entries) for _, h in SCENARIO.hosts())
PLANTED_MACHINES = sum(1 for _, h in SCENARIO.hosts() if h.connections or h.hosts_entries)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with Fleet(SCENARIO, tmp_path_factory.mktemp("lab-reports")) as running:
        yield running


@pytest.fixture(scope="module")
def swept(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("lab-reports-out")
    db = f"sqlite:///{out}/s.db"
    overlap = out / "overlap.txt"
    overlap.write_text("198.51.100.0/24\ncdn.c2-panel.example\n2001:db8:bad::/64\n")
    copy = out / "lab.txt"
    copy.write_text(FEED.read_text())
    for args in ([copy, "--name", "lab-c2"], [copy], [overlap]):
        imported = raquet_cli("feeds", "import", *args, "--db", db)
        assert imported.returncode == 0, imported.stderr
    proc = raquet_cli("sweep", "-i", fleet.inventory_path, "--db", db)
    assert proc.returncode == 1, proc.stderr  # non-compliant, every host swept
    week = IsoWeek.containing(datetime.now(UTC), ZoneInfo("Asia/Ho_Chi_Minh"))
    files: dict[tuple[str, str], list[Path]] = {}
    for unit in (None, "so-yte"):
        for fmt in Format:
            name = "letter" if unit is None else unit
            target = out / (f"{name}-csv/" if fmt is Format.csv else f"{name}.{fmt.value}")
            args = ["--week", str(week), "-f", fmt.value, "-o", target, "--db", db]
            report = raquet_cli("report", *args, *(["--unit", unit] if unit else []))
            assert report.returncode == 0, report.stderr
            files[name, fmt.value] = [
                Path(line.removeprefix("wrote "))
                for line in report.stderr.split("\n")
                if line.startswith("wrote ")
            ]
    return {"db": db, "out": out, "week": week, "files": files}


def _json(swept: dict[str, Any], name: str) -> dict[str, Any]:
    (path,) = swept["files"][name, "json"]
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


def test_letter_counts_the_planted_sockets_and_entries_whatever_the_feeds(
    swept: dict[str, Any],
) -> None:
    data = _json(swept, "letter")
    assert data["connection_counts"] == {
        "live": PLANTED_SOCKETS,
        "hosts_entries": PLANTED_ENTRIES,
        "dns_names": 0,
        "machines": PLANTED_MACHINES,
    }
    live = next(c for c in data["connections"] if c["remote"] == "198.51.100.66:443")
    assert live["process"] == "kdevtmpfsi" and set(live["feeds"]) == {"lab", "lab-c2", "overlap"}
    assert not data["complete"] and data["until"]  # this week, asked for: incomplete
    (md,) = swept["files"]["letter", "md"]
    text = md.read_text("utf-8")
    assert f"Số kết nối đang hoạt động đến địa chỉ độc hại: **{PLANTED_SOCKETS}**" in text
    assert "Tuần chưa kết thúc: số liệu tính đến" in text
    assert isinstance(data["metrics"]["detections"]["current"], int)


def test_without_week_the_letter_is_of_the_last_complete_week(swept: dict[str, Any]) -> None:
    proc = raquet_cli("report", "-f", "json", "-o", swept["out"] / "d.json", "--db", swept["db"])
    last = swept["week"].shifted(-1)
    assert proc.returncode == 2  # the fleet was swept this week only
    assert f"no sweep started in week {last}" in proc.stderr
    assert f"try --week {swept['week']}" in proc.stderr


def test_the_unit_report_is_vietnamese_through_and_through(swept: dict[str, Any]) -> None:
    failing = _json(swept, "so-yte")["failing"]
    checks = {(f["host"], f["check"]) for f in failing}
    assert {("yt-ws-01", c) for c in ("av", "software", "connections", "infections")} <= checks
    assert ("yt-ws-02", "connections") in checks
    for f in failing:
        for text in (f["title"], f["detail"]):
            assert not REPR.search(text), (f["host"], text)
            assert not ENGLISH.search(PRODUCTS.sub("", text)), (f["host"], text)
    titles = {(f["host"], f["check"]): f["title"] for f in failing}
    assert re.fullmatch(
        r"Cơ sở dữ liệu chữ ký ClamAV đã cũ 4\d(,\d)? ngày \(giới hạn 7 ngày\)",
        titles["yt-ws-01", "av"],
    )
    assert titles["yt-ws-01", "connections"] == (
        "2 kết nối đang hoạt động đến địa chỉ độc hại; 1 dòng tệp hosts trỏ đến địa chỉ độc hại"
    )
    assert titles["yt-ws-02", "connections"] == "2 dòng tệp hosts trỏ đến địa chỉ độc hại"


@pytest.mark.parametrize("fmt", ["pdf", "docx"])
def test_printed_pages(swept: dict[str, Any], fmt: str, tmp_path: Path) -> None:
    """The letter and the unit's report, printed: the signature's page holds body text, no
    page prints into the paper's edge."""
    for name in ("letter", "so-yte"):
        (path,) = swept["files"][name, fmt]
        pdf = path if fmt == "pdf" else _docx_pdf(path, tmp_path / name)
        pages = _pages(pdf, tmp_path)
        assert len(pages) >= 3, (name, fmt)
        signed = next(
            i for i in range(1, len(pages) + 1) if "(Họ và tên người ký)" in _text(pdf, i)
        )
        page = _text(pdf, signed)
        assert "Nơi nhận:" in page and "./." in page, (name, fmt, page)
        assert all(_blank_edges(p) for p in pages), (name, fmt)


def test_html_in_chromium_and_the_spreadsheet(
    swept: dict[str, Any],
    browser: webdriver.Chrome,  # noqa: F811
) -> None:
    for name in ("letter", "so-yte"):
        (html,) = swept["files"][name, "html"]
        browser.get(html.as_uri())
        assert browser.execute_script("return document.scripts.length") == 0
        width = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert width <= 0, name
        words = Page(html.read_text("utf-8")).words  # the whole page, evidence annex too
        words = re.sub(r"\[[0-9a-f:]+\]:\d+", "", words)  # an IPv6 endpoint is data, not a repr
        found = REPR.search(words)
        assert found is None, words[max(found.start() - 80, 0) : found.end() + 40]
        (xlsx,) = swept["files"][name, "xlsx"]
        book = load_workbook(xlsx)
        assert book["Biểu đồ theo tuần"]._charts
        connections = book["Bảng 4 - Kết nối đến địa chỉ"]
        pids = [row[5].value for row in connections.iter_rows(min_row=3)]
        shown = [p for p in pids if p not in ("", None)]
        assert shown and all(isinstance(p, int) for p in shown), pids
