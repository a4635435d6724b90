"""The HTML in real headless Chromium and the PDF as page images: what auditors actually see.

Needs Debian's `chromium`, `chromium-driver` and `poppler-utils`; missing, the tests fail
and say so (a skipped browser test would hide exactly the failures it exists for).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service

from raquet.store import Store
from reports.collect import Selection
from reports.command import write_report
from reports.formats import Format
from reports.weeks import IsoWeek
from tests.fixtures.reports import hostile
from tests.fixtures.reports.province import REPORT_TIME
from tests.fixtures.reports.stores import evil_fixture, lang_son_fixture  # noqa: F401 (fixtures)

W22 = IsoWeek(year=2021, week=22)
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def _require(*programs: str) -> None:
    missing = [p for p in programs if not shutil.which(p)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not installed: apt-get install chromium chromium-driver "
            "poppler-utils"
        )


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """Headless Chromium with a new empty profile and no background traffic of its own."""
    _require(CHROMIUM, CHROMEDRIVER)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [
        "--headless=new",
        "--no-sandbox",  # the suite runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-sync",
        "--disable-extensions",
        "--no-first-run",
        "--no-default-browser-check",
        "--metrics-recording-only",
        "--window-size=1280,1600",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _requests(driver: webdriver.Chrome, page: str) -> list[str]:
    """Every URL the page (not the browser's own start page) asked for, besides itself."""
    urls = []
    for entry in driver.get_log("performance"):
        message: dict[str, Any] = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent" and params.get("documentURL") == page:
            urls.append(params["request"]["url"])
        elif message["method"] == "Network.webSocketCreated":
            urls.append(params["url"])
    return [url for url in urls if url != page]


def _open(driver: webdriver.Chrome, path: Path) -> None:
    driver.get_log("performance")  # drop what came before this page
    driver.get_log("browser")
    driver.get(path.as_uri())


def _no_alert(driver: webdriver.Chrome) -> bool:
    try:
        driver.switch_to.alert  # noqa: B018 (the property raises when there is none)
    except NoAlertPresentException:
        return True
    return False


def test_letter_in_chromium_loads_nothing_and_logs_nothing(
    browser: webdriver.Chrome, lang_son: tuple[Store, dict[str, str]], tmp_path: Path
) -> None:
    (page,) = write_report(
        lang_son[0],
        Selection(week=W22),
        Format.html,
        tmp_path / "letter.html",
        "vi",
        None,
        REPORT_TIME,
    )
    _open(browser, page)
    assert browser.execute_script("return document.readyState") == "complete"
    assert browser.get_log("browser") == []  # no console error, warning or CSP report
    assert _requests(browser, page.as_uri()) == []
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    text = browser.find_element("tag name", "body").text
    assert "tăng 59,70% so với tuần trước" in text and "giảm 51,52% so với tuần trước" in text
    fonts = browser.execute_script("return getComputedStyle(document.body).fontFamily")
    assert fonts.startswith('"Times New Roman"')
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(height + 40, 12000))
    shot = tmp_path / "letter.png"
    assert browser.save_screenshot(str(shot))
    with Image.open(shot) as image:
        assert image.width == 1280 and image.height > 2000
        # Not a blank page: the text and tables make plenty of dark pixels.
        assert sum(image.convert("L").histogram()[:100]) > 20_000
    printed = tmp_path / "printed.pdf"
    printed.write_bytes(base64.b64decode(browser.print_page()))
    assert _pages(printed) >= 3  # the browser prints it too: letter, then the landscape annex


def test_hostile_report_runs_no_script_in_chromium(
    browser: webdriver.Chrome, evil: tuple[Store, str], tmp_path: Path
) -> None:
    for selection in (Selection(week=W22, unit=hostile.UNIT), Selection(week=W22)):
        (page,) = write_report(
            evil[0], selection, Format.html, tmp_path / "evil.html", "en", None, REPORT_TIME
        )
        _open(browser, page)
        assert _no_alert(browser)
        assert browser.execute_script("return document.scripts.length") == 0
        assert browser.execute_script("return document.querySelectorAll('img,iframe').length") == 0
        assert browser.get_log("browser") == []
        assert _requests(browser, page.as_uri()) == []
        assert hostile.SCRIPT in browser.find_element("tag name", "body").text


def _pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    return int(
        next(line.split()[-1] for line in info.stdout.splitlines() if line.startswith("Pages:"))
    )


def test_pdf_pages_as_images(lang_son: tuple[Store, dict[str, str]], tmp_path: Path) -> None:
    _require("pdftoppm", "pdfinfo", "pdftotext")
    (pdf,) = write_report(
        lang_son[0],
        Selection(week=W22),
        Format.pdf,
        tmp_path / "letter.pdf",
        "vi",
        None,
        REPORT_TIME,
    )
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == _pages(pdf) >= 3
    with Image.open(pages[0]) as first, Image.open(pages[-1]) as last:
        assert first.height > first.width  # the letter: A4 portrait
        assert last.width > last.height  # the annex: landscape, as the decree allows
    sizes = subprocess.run(
        ["pdfinfo", "-f", "1", "-l", "99", str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"Page +1 size: +595.276 x 841.89 pts \(A4\)", sizes)
    assert re.search(rf"Page +{len(pages)} size: +841.89 x 595.276 pts \(A4\)", sizes)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text
    assert "4.505" in text and "59,70%" in text and "51,52%" in text
    first_page = text.split("\f")[0]
    assert "\n2\n" not in first_page  # page numbers start on page 2 (Decree 30)
    assert text.split("\f")[1].strip().startswith("2")
