"""The letter as it is printed and signed: PDF and DOCX pages as pictures, the HTML in
Chromium, and the letter's own settings through the real command.

The DOCX is turned into pages by LibreOffice (`soffice --headless --convert-to pdf`), the
PDFs into PNG pages by poppler's pdftoppm; assertions are on those pages: how many, that
the signature's page also holds the body's last paragraph, that nothing runs into the
paper's edge, that the issuer's lines and "Kính gửi:" sit where the decree puts them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from selenium import webdriver

from raquet.store import Store
from reports.collect import Selection
from reports.command import write_report
from reports.formats import Format
from reports.settings import load_settings
from reports.weeks import IsoWeek
from tests.conftest import ROOT, raquet_cli
from tests.fixtures.reports import province
from tests.fixtures.reports.province import ICT, REPORT_TIME
from tests.fixtures.reports.stores import lang_son_fixture  # noqa: F401 (fixture `lang_son`)
from tests.test_reports_browser import browser  # noqa: F401 (fixture `browser`)

W22 = IsoWeek(year=2021, week=22)
SETTINGS = ROOT / "inventory" / "reports.example.yml"
DPI = 50
EDGE_MM = 4  # nothing printed this close to the paper's edge


def _require(*programs: str) -> None:
    missing = [p for p in programs if not shutil.which(p)]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed (tests/run.sh installs them)")


def _text(pdf: Path, page: int | None = None) -> str:
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return subprocess.run(
        ["pdftotext", "-layout", *pages, str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


def _pages(pdf: Path, folder: Path) -> list[Path]:
    prefix = folder / pdf.stem
    subprocess.run(["pdftoppm", "-r", str(DPI), "-png", str(pdf), str(prefix)], check=True)
    return sorted(folder.glob(f"{pdf.stem}-*.png"))


def _docx_pdf(docx: Path, folder: Path) -> Path:
    _require("soffice")
    subprocess.run(
        ["soffice", "--headless", f"-env:UserInstallation=file://{folder}/lo-profile",
         "--convert-to", "pdf", "--outdir", str(folder), str(docx)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return folder / f"{docx.stem}.pdf"


def _blank_edges(page: Path) -> bool:
    """No ink within EDGE_MM of the left and right edges of the paper."""
    with Image.open(page) as image:
        grey = image.convert("L")
        edge = round(EDGE_MM / 25.4 * DPI)
        width, height = grey.size
        for box in ((0, 0, edge, height), (width - edge, 0, width, height)):
            if grey.crop(box).getextrema()[0] < 200:
                return False
    return True


@pytest.fixture(scope="module")
def printed(
    lang_son: tuple[Store, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Path]]:
    """The W22 letter with the example settings, as PDF and as LibreOffice's PDF of the DOCX."""
    _require("pdftoppm", "pdftotext", "pdffonts", "pdfinfo")
    folder = tmp_path_factory.mktemp("printed")
    settings = load_settings(SETTINGS)
    files = {}
    for fmt in (Format.pdf, Format.docx, Format.html):
        (files[fmt.value],) = write_report(
            lang_son[0],
            Selection(week=W22),
            fmt,
            folder / f"letter.{fmt.value}",
            "vi",
            None,
            REPORT_TIME,
            settings,
        )
    word = folder / "word"
    word.mkdir()
    files["docx.pdf"] = _docx_pdf(files["docx"], word)
    yield files


@pytest.mark.parametrize("made_by", ["pdf", "docx.pdf"])
def test_pages_hold_the_signature_with_the_body_and_nothing_overflows(
    printed: dict[str, Path], made_by: str, tmp_path: Path
) -> None:
    pdf = printed[made_by]
    pages = _pages(pdf, tmp_path)
    assert len(pages) >= 3  # the letter (two pages), then the annex
    signed = [i for i in range(1, len(pages) + 1) if "Nguyễn Văn A" in _text(pdf, i)]
    assert signed, "no page holds the signer's name"
    page = _text(pdf, signed[0])
    assert "Nơi nhận:" in page and "KT. GIÁM ĐỐC" in page and "PHÓ GIÁM ĐỐC" in page
    assert "0359045017./." in page  # the body's last paragraph (contact) on the same page
    first = _text(pdf, 1)
    assert re.search(r"^ *UBND TỈNH LẠNG SƠN +CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM *$", first, re.M)
    assert re.search(
        r"^ *SỞ THÔNG TIN VÀ TRUYỀN THÔNG +Độc lập - Tự do - Hạnh phúc *$", first, re.M
    )
    assert "Số:" in first and "/STTTT-CNTT" in first  # the ký hiệu of 2021, from the settings
    assert re.search(r"Kính gửi: +- Văn phòng UBND tỉnh;", first)  # beside its list
    for number, png in enumerate(pages, 1):
        assert _blank_edges(png), f"page {number} of {made_by} prints into the paper's edge"
    with Image.open(pages[0]) as portrait, Image.open(pages[-1]) as landscape:
        assert portrait.height > portrait.width and landscape.width > landscape.height


def test_the_pdf_embeds_a_times_new_roman_metric_font(printed: dict[str, Path]) -> None:
    fonts = subprocess.run(
        ["pdffonts", str(printed["pdf"])], capture_output=True, text=True, check=True
    ).stdout
    serif = [line for line in fonts.splitlines() if "Liberation-Serif" in line]
    assert serif and all(" yes " in line for line in serif)  # embedded (subsets)


def test_the_html_letter_fits_its_page_in_chromium(
    browser: webdriver.Chrome,  # noqa: F811
    printed: dict[str, Path],
) -> None:
    browser.set_window_size(1280, 1600)
    browser.get(printed["html"].as_uri())
    overflow = browser.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    lines = browser.execute_script(
        "return [...document.querySelectorAll('.issuer-parent, .issuer-body, .motto-1')]"
        ".map(e => Math.round(e.getBoundingClientRect().height / parseFloat("
        "getComputedStyle(e).lineHeight || 20)))"
    )
    assert lines and all(n <= 1 for n in lines), lines  # no issuer line wraps
    kept = browser.execute_script(
        "const k = document.querySelector('.keep'); return k && !!k.querySelector('.sign')"
        " && k.querySelector('.body p').textContent.trim().endsWith('./.')"
    )
    assert kept  # the last paragraph and the signature are printed as one block


def test_a_character_the_serif_lacks_falls_back_to_a_font_that_has_it(tmp_path: Path) -> None:
    at = datetime(2021, 6, 2, 9, 0, tzinfo=ICT)
    name = "\uff35\uff4e\uff49\uff54 \uff26\uff55\uff4c\uff4c"  # fullwidth forms, as a hostile name may use
    with Store(f"sqlite:///{tmp_path / 'r.db'}") as store:
        options = {**province.OPTIONS, "units": {"fw": name}}
        hosts = [("fw-01", "fw")]
        province.sweep(store, at, hosts, [province.result("fw-01", "fw", at)], {}, options)
        (pdf,) = write_report(
            store, Selection(week=W22), Format.pdf, tmp_path / "fw.pdf", "vi", None, REPORT_TIME
        )
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True)
    assert "WenQuanYi" in fonts.stdout, fonts.stdout
    assert name in " ".join(_text(pdf).split())


def _report(
    *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return raquet_cli("report", *args, env=env)


def test_settings_errors_name_file_line_and_field(
    lang_son: tuple[Store, dict[str, str]], tmp_path: Path
) -> None:
    bad = tmp_path / "reports.yml"
    bad.write_text(
        "signer:\n  authority: KT. GIÁM ĐỐC\n  titel: PHÓ GIÁM ĐỐC\n"
        "issuer:\n  - parent: UBND\n    body: SỞ A\n  - parent: UBND\n    body: SỞ B\n"
    )
    proc = _report(
        "--week", "2021-W22", "-f", "html", "-o", tmp_path / "r.html",
        "--settings", bad, "--db", lang_son[0].url,
    )  # fmt: skip
    assert proc.returncode == 2
    assert f"{bad}:3: signer.titel: unknown key 'titel' (did you mean 'title'?)" in proc.stderr
    assert f"{bad}:4: issuer: two entries hold on the same day" in proc.stderr
    assert not (tmp_path / "r.html").exists()


def test_settings_from_the_environment_and_dated_names(
    lang_son: tuple[Store, dict[str, str]], tmp_path: Path
) -> None:
    env = {"RAQUET_REPORT_SETTINGS": str(SETTINGS), "PATH": "/usr/bin:/bin"}
    old = tmp_path / "2021.md"
    proc = _report("--week", "2021-W22", "-f", "md", "-o", old, "--db", lang_son[0].url, env=env)
    assert proc.returncode == 0, proc.stderr
    text = old.read_text("utf-8")
    assert "SỞ THÔNG TIN VÀ TRUYỀN THÔNG" in text and "Huyện Tràng Định" in text
    assert "\\- Văn phòng UBND tỉnh;" in text and "KT. GIÁM ĐỐC" in text
    new_week = datetime(2026, 1, 7, 9, 0, tzinfo=ICT)  # after the 2025 mergers
    db = f"sqlite:///{tmp_path / 'new.db'}"
    with Store(db) as store:
        hosts = [("td-01", "trang-dinh")]
        province.sweep(
            store, new_week, hosts, [province.result("td-01", "trang-dinh", new_week)], {}
        )
    new = tmp_path / "2026.json"
    proc = _report("--week", "2026-W02", "-f", "md", "-o", new, "--db", db, env=env)
    assert proc.returncode == 0, proc.stderr
    text = new.read_text("utf-8")
    assert "SỞ KHOA HỌC VÀ CÔNG NGHỆ" in text and "SỞ THÔNG TIN" not in text
    assert "/SKHCN-CNTT" in text and "UBND xã Tràng Định" in text


def test_the_inventory_order_of_units_is_the_letters_order(
    lang_son: tuple[Store, dict[str, str]], tmp_path: Path
) -> None:
    """W21's detections put Văn Lãng first; Kính gửi keeps the inventory's order."""
    out = tmp_path / "w21.json"
    proc = _report("--week", "2021-W21", "-f", "json", "-o", out, "--db", lang_son[0].url)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text("utf-8"))
    assert data["units"][0]["unit"] == "van-lang"
    assert data["unit_order"] == list(province.UNITS.values())


def test_a_template_that_drops_the_body_is_an_error(
    lang_son: tuple[Store, dict[str, str]], tmp_path: Path
) -> None:
    shipped = (ROOT / "reports" / "templates" / "text.vi.j2").read_text("utf-8")
    (tmp_path / "text.vi.j2").write_text(shipped.replace("[body]", "[bodyy]"), encoding="utf-8")
    out = tmp_path / "r.html"
    proc = _report(
        "--week", "2021-W22", "-f", "html", "-o", out,
        "--templates", tmp_path, "--db", lang_son[0].url,
    )  # fmt: skip
    assert proc.returncode == 2
    assert f"{tmp_path / 'text.vi.j2'}: the letter has no body" in proc.stderr
    assert not out.exists()


def test_a_week_in_progress_says_so_on_the_page(
    lang_son: tuple[Store, dict[str, str]], tmp_path: Path
) -> None:
    wednesday = datetime(2021, 6, 2, 12, 0, tzinfo=ICT)
    (page,) = write_report(
        lang_son[0], Selection(week=W22), Format.md, tmp_path / "w.md", "vi", None, wednesday
    )
    text = page.read_text("utf-8")
    assert (
        "(Tuần chưa kết thúc: số liệu tính đến 02/06/2021 12:00; số liệu tuần trước tính trong "
        "cùng khoảng thời gian của tuần trước, đến 26/05/2021 12:00.)"
    ) in text
    assert "từ ngày 31/05/2021 đến ngày 02/06/2021" in text  # never a day still to come
    assert wednesday - timedelta(weeks=1) < REPORT_TIME
