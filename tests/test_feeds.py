"""Indicator feeds: every format read from fixture files as provinces receive them, exactly.

Each parser test asserts the whole list of indicators (kind, value, reference, dates,
comment) and every problem as the user sees it (`file:line: field: message`), so a
changed normalisation, a lost date or a silently dropped line fails here.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from raquet.errors import InputError
from raquet.feeds import Hit, Indicator, IndicatorSet, ParsedFeed, parse_feed
from raquet.feeds.dates import parse_time
from raquet.feeds.values import canonical, classify, refang

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
ICT = timezone(timedelta(hours=7))
CV = "CV 1234/CATTT-NCSC"


def _rows(parsed: ParsedFeed) -> list[tuple[Any, ...]]:
    return [
        (i.kind, i.value, i.reference, i.first_seen, i.last_seen, i.expires, i.comment)
        for i in parsed.indicators
    ]


def _problems(parsed: ParsedFeed, folder: Path = FEEDS) -> list[str]:
    return [str(p).replace(f"{folder}/", "") for p in parsed.problems]


def test_plain_list_with_comments_defanged_and_malformed_lines() -> None:
    parsed = parse_feed(FEEDS / "ncsc-list.txt")

    assert parsed.format == "txt"
    url = "http://157.245.66.9/bins/mirai.x86"
    assert [(i.kind, i.value, i.comment) for i in parsed.indicators] == [
        ("ip", "103.15.48.7", None),
        ("ip", "45.77.245.2", "C2 APT32"),
        ("cidr", "185.220.101.0/24", None),
        ("cidr", "2001:db8:dead::/48", None),
        ("ip", "198.51.100.23", None),
        ("domain", "update-windows.net", "giả mạo cập nhật"),
        ("domain", "cdn-vn.xyz", None),
        ("url", url, None),
        ("ip", "157.245.66.9", f"host of URL {url}"),
        ("url", "https://login-vncert.com/auth#dang-nhap", None),
        ("domain", "vps-8812.secure--login.com", None),
    ]
    assert all(i.reference is None and i.first_seen is None for i in parsed.indicators)
    assert _problems(parsed) == [
        "ncsc-list.txt:13: '300.1.1.1' is not a valid IPv4 address",
        "ncsc-list.txt:14: 'http://' is not a valid URL: it has no host",
        "ncsc-list.txt:15: '*' is not an IP address, CIDR, domain or URL: "
        "a wildcard may only be a leading '*.'",
    ]
    assert parsed.ignored == 0


def test_csv_with_types_references_and_day_first_dates() -> None:
    parsed = parse_feed(FEEDS / "campaign.csv")

    assert parsed.format == "csv"
    june8 = datetime(2021, 6, 8, tzinfo=ICT)
    assert _rows(parsed) == [
        ("ip", "45.77.245.2", CV, june8, None, datetime(2022, 1, 1, tzinfo=ICT), "C2, APT32"),
        ("domain", "login-vncert.com", CV, june8, None, None, "phishing"),
        (
            "url",
            "http://tai-lieu.vn/van%20ban.doc",
            CV,
            june8.replace(hour=9, minute=30),
            None,
            None,
            None,
        ),
        (
            "cidr",
            "192.0.2.0/24",
            "CV 1290/CATTT-NCSC",
            datetime(2021, 6, 9, 14, tzinfo=ICT),
            None,
            None,
            "botnet",
        ),
    ]
    assert _problems(parsed) == [
        "campaign.csv:5: indicator: 'evil.example.com' is not an IP address or CIDR",
        "campaign.csv:7: first_seen: '8 June 2021' is not a date (expected ISO 8601 or dd/mm/yyyy)",
        "campaign.csv:8: indicator: no value in this row",
    ]
    assert parsed.ignored == 1  # the md5 row


def test_csv_whose_header_is_commented_out_and_dates_in_utc() -> None:
    parsed = parse_feed(FEEDS / "urlhaus.csv", zone=UTC)

    first = datetime(2021, 6, 8, 9, 12, 44, tzinfo=UTC)
    online = datetime(2021, 6, 8, tzinfo=UTC)
    url = "http://182.117.28.4:53421/Mozi.m"
    assert _rows(parsed) == [
        ("url", url, None, first, online, None, None),
        ("ip", "182.117.28.4", None, first, online, None, f"host of URL {url}"),
        (
            "url",
            "https://drive-vn.top/file/hoa-don.exe",
            None,
            first.replace(minute=20, second=2),
            online,
            None,
            None,
        ),
    ]
    assert parsed.problems == []


def test_csv_sniffs_semicolons_and_reads_a_file_without_header(tmp_path: Path) -> None:
    semicolons = tmp_path / "excel.csv"
    semicolons.write_bytes("\ufeffGhi chú;Tên miền\nlừa đảo;evil[.]vn\n".encode())
    bare = tmp_path / "bare.csv"
    bare.write_text("1.2.3.4,anything\nnot an ip,x\n", encoding="utf-8")

    assert _rows(parse_feed(semicolons)) == [
        ("domain", "evil.vn", None, None, None, None, "lừa đảo")
    ]
    headless = parse_feed(bare)
    assert [(i.kind, i.value) for i in headless.indicators] == [("ip", "1.2.3.4")]
    assert _problems(headless, tmp_path) == [
        "bare.csv:2: column 1: 'not an ip' is not an IP address, CIDR, domain or URL"
    ]


def test_stix_bundle_patterns_parsed_by_the_grammar() -> None:
    parsed = parse_feed(FEEDS / "ncsc-bundle.json")

    assert parsed.format == "stix"
    june8 = datetime(2021, 6, 8, tzinfo=UTC)
    until = datetime(2021, 12, 31, 23, 59, 59, tzinfo=UTC)
    both = f"{CV}; https://vncert.vn/canh-bao/1234"
    update = "Giả mạo Windows Update"
    assert _rows(parsed) == [
        ("ip", "103.15.48.7", CV, june8, None, until, "APT32 C2"),
        ("domain", "update-windows.net", both, june8, None, None, update),
        ("url", "http://update-windows.net/kb5003637.exe", both, june8, None, None, update),
        ("ip", "45.77.245.2", None, june8, None, None, None),
        ("cidr", "2001:db8:dead::/48", None, june8, None, None, None),
        ("domain", "g00gle-vn.com", None, june8, None, None, "Typosquat"),
        ("domain", "gooogle.vn", None, june8, None, None, "Typosquat"),
    ]
    assert _problems(parsed) == [
        "ncsc-bundle.json: objects[8].pattern: not a valid STIX pattern: "
        "1:22: mismatched input '.3' expecting ']'",
        "ncsc-bundle.json: objects[9].pattern: '203.0.113.300' is not a valid IPv4 address",
        "ncsc-bundle.json: objects[11].valid_from: 'hôm qua' is not a date "
        "(expected ISO 8601 or dd/mm/yyyy)",
    ]
    assert parsed.ignored == 3  # a file hash, a YARA rule, a revoked indicator


def test_misp_event_attributes_and_objects() -> None:
    parsed = parse_feed(FEEDS / "misp-event.json")

    assert parsed.format == "misp"
    info = "CV 1234/CATTT-NCSC: Chiến dịch APT32 nhắm vào cơ quan nhà nước"
    changed = datetime.fromtimestamp(1623144000, UTC)
    assert _rows(parsed) == [
        ("ip", "103.15.48.7", info, None, changed, None, "C2"),
        (
            "domain",
            "update-windows.net",
            info,
            datetime(2021, 6, 1, tzinfo=UTC),
            datetime(2021, 6, 7, 12, tzinfo=UTC),
            None,
            None,
        ),
        ("url", "http://update-windows.net/kb5003637.exe", info, None, changed, None, None),
        ("ip", "45.77.245.2", info, None, changed, None, None),
        ("domain", "cdn-vn.xyz", info, None, changed, None, None),
        ("ip", "157.245.66.9", info, None, changed, None, None),
        ("domain", "tai-lieu.vn", info, None, changed, None, "Máy chủ phân phối"),
    ]
    assert _problems(parsed) == [
        "misp-event.json: Event.Attribute[7].value: '10.0.0.300' is not a valid IPv4 address",
        "misp-event.json: Event.Attribute[9].value: type ip-src|port needs 2 values "
        "separated by '|'",
        "misp-event.json: Event.Attribute[10].timestamp: 'sắp tới' is not a date "
        "(expected ISO 8601 or dd/mm/yyyy)",
    ]
    assert parsed.ignored == 4  # md5, to_ids false, deleted, text


def _letter_workbook(path: Path) -> Path:
    """A table as attached to a province's letter: title lines, Vietnamese headers, notes."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Danh sách"
    sheet.append(["DANH SÁCH ĐỊA CHỈ IP, TÊN MIỀN ĐỘC HẠI"])
    sheet.append([f"(Kèm theo Công văn số {CV} ngày 08/06/2021)"])
    sheet.append([])
    sheet.append(["STT", "Địa chỉ IP", "Tên miền", "Ngày phát hiện", "Ghi chú"])
    sheet.append([1, "103.15.48[.]7", "update-windows[.]net", datetime(2021, 6, 8), "Máy chủ C2"])
    sheet.append([2, None, "Bộcôngan-VN.com", "09/06/2021", None])
    sheet.append([3, "999.1.1.1", None, date(2021, 6, 10), "sai"])
    sheet.append([4, None, None, None, "chưa có"])
    notes = workbook.create_sheet("Hướng dẫn")
    notes.append(["Đề nghị các đơn vị rà soát và báo cáo trước ngày 15/06/2021."])
    urls = workbook.create_sheet("URL")
    urls.append(["Đường dẫn", "Nguồn", "Hết hạn"])
    urls.append(["hxxp://45.77.245[.]2/payload.ps1", "CV 1290/CATTT-NCSC", "31/12/2021"])
    workbook.save(path)
    return path


def test_xlsx_from_a_letter_with_vietnamese_headers(tmp_path: Path) -> None:
    parsed = parse_feed(_letter_workbook(tmp_path / "cv-1234.xlsx"))

    assert parsed.format == "xlsx"
    june8 = datetime(2021, 6, 8, tzinfo=ICT)
    url = "http://45.77.245.2/payload.ps1"
    expires = datetime(2022, 1, 1, tzinfo=ICT)
    assert _rows(parsed) == [
        ("ip", "103.15.48.7", None, june8, None, None, "Máy chủ C2"),
        ("domain", "update-windows.net", None, june8, None, None, "Máy chủ C2"),
        ("domain", "xn--bcngan-vn-h7a5925f.com", None, june8 + timedelta(1), None, None, None),
        ("url", url, "CV 1290/CATTT-NCSC", None, None, expires, None),
        ("ip", "45.77.245.2", "CV 1290/CATTT-NCSC", None, None, expires, f"host of URL {url}"),
    ]
    assert _problems(parsed, tmp_path) == [
        "cv-1234.xlsx:7: Danh sách!B (Địa chỉ IP): '999.1.1.1' is not a valid IPv4 address",
        "cv-1234.xlsx:8: Danh sách!B (Địa chỉ IP): no value in this row",
    ]


def test_format_is_detected_from_content_whatever_the_name(tmp_path: Path) -> None:
    cases = {
        "ncsc-list.txt": "txt",
        "campaign.csv": "csv",
        "ncsc-bundle.json": "stix",
        "misp-event.json": "misp",
    }
    for name, fmt in cases.items():
        renamed = tmp_path / f"{name}.ioc"
        renamed.write_bytes((FEEDS / name).read_bytes())
        detected = parse_feed(renamed)
        assert detected.format == fmt, name
        assert detected.indicators == parse_feed(FEEDS / name, fmt).indicators, name
    assert parse_feed(_letter_workbook(tmp_path / "letter.bin")).format == "xlsx"
    assert parse_feed(FEEDS / "campaign.csv", "txt").format == "txt"


@pytest.mark.parametrize(
    ("content", "fmt", "message"),
    [
        (b"# only comments\n\n", "auto", "feed: no IP, CIDR, domain or URL indicator found"),
        (
            b"300.1.1.1\n",
            "txt",
            "feed:1: '300.1.1.1' is not a valid IPv4 address\n"
            "feed: no IP, CIDR, domain or URL indicator found",
        ),
        (
            b'{"type": "bundle", "objects": []}',
            "auto",
            "feed: no IP, CIDR, domain or URL indicator found",
        ),
        (
            b'{"Event": {"Attribute": [{"type": "md5", "value": "x"}]}}',
            "auto",
            "feed: no IP, CIDR, domain or URL indicator found (1 entries of other kinds ignored)",
        ),
        (
            b'{"hello": "world"}',
            "auto",
            "feed: JSON that is neither a STIX 2.1 bundle nor a MISP event export",
        ),
        (b'{"type": "bundle",\n "objects": [}', "stix", "feed:2: invalid JSON: Expecting value"),
        (b"evil.com\n", "stix", "feed:1: invalid JSON: Expecting value"),
        (
            b'{"a": ' * 100_000 + b"1" + b"}" * 100_000,
            "auto",
            "feed:1: nested more than 64 levels deep",
        ),
        (b'{"Event": {}}', "stix", "feed: objects: not a STIX 2.1 bundle (no objects list)"),
        (
            b'{"type": "bundle", "objects": []}',
            "misp",
            "feed: Event: not a MISP event export (no Event)",
        ),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
            "auto",
            "feed: a binary .xls workbook: save it as .xlsx (Excel Workbook) and import that",
        ),
        (
            b"1.2.3.4\nTr\xe0 Linh\n",
            "auto",
            "feed:2: expected UTF-8 text (save CSV as 'CSV UTF-8')",
        ),
        (
            b"PK\x03\x04 not really a zip",
            "auto",
            "feed: not a readable XLSX workbook: File is not a zip file",
        ),
    ],
)
def test_unusable_feeds_are_input_errors(
    tmp_path: Path, content: bytes, fmt: Any, message: str
) -> None:
    feed = tmp_path / "feed"
    feed.write_bytes(content)

    with pytest.raises(InputError) as raised:
        parse_feed(feed, fmt)

    assert str(raised.value).replace(f"{tmp_path}/", "") == message


def test_a_csv_record_the_csv_module_cannot_read_is_an_input_error(tmp_path: Path) -> None:
    feed = tmp_path / "huge.csv"
    feed.write_text(f'ip,comment\n1.2.3.4,ok\n5.6.7.8,"{"x" * 200_000}"\n', encoding="utf-8")

    with pytest.raises(InputError) as raised:
        parse_feed(feed)

    assert str(raised.value) == (
        f"{feed}:3: not readable as CSV: field larger than field limit (131072)"
    )


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nowhere.txt: cannot read: No such file"):
        parse_feed(tmp_path / "nowhere.txt")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.2.3[.]4", [("ip", "1.2.3.4")]),
        ("1.2.3(.)4", [("ip", "1.2.3.4")]),
        ("example[.]com", [("domain", "example.com")]),
        ("example[dot]com", [("domain", "example.com")]),
        ("example [dot] com", [("domain", "example.com")]),
        ("hxxp://example[.]com/a", [("url", "http://example.com/a")]),
        ("HXXPS[:]//Example.com/A", [("url", "https://example.com/A")]),
        ("https[:]//1.2.3.4:8443/x", [("url", "https://1.2.3.4:8443/x"), ("ip", "1.2.3.4")]),
        ("Example.COM.", [("domain", "example.com")]),
        ("*.example.com", [("domain", "example.com")]),
        ("Bộ-Công-An.vn", [("domain", "xn--b-cng-an-63a1467e.vn")]),
        ("10.1.2.3/8", [("cidr", "10.0.0.0/8")]),
        ("10.1.2.3/32", [("ip", "10.1.2.3")]),
        ("2001:DB8::1", [("ip", "2001:db8::1")]),
        ("::ffff:192.0.2.1", [("ip", "192.0.2.1")]),
        ("::ffff:10.0.0.0/104", [("cidr", "10.0.0.0/8")]),
        ("1.2.3.4:443", [("ip", "1.2.3.4")]),
        ("[2001:db8::1]:443", [("ip", "2001:db8::1")]),
        ("evil.com:8080", [("domain", "evil.com")]),
        ("evil.com/gate.php", [("url", "evil.com/gate.php")]),
        ("http://[::ffff:1.2.3.4]/x", [("url", "http://1.2.3.4/x"), ("ip", "1.2.3.4")]),
        ("127.0.0.1", [("ip", "127.0.0.1")]),
        ("10.0.0.0/8", [("cidr", "10.0.0.0/8")]),
    ],
)
def test_values_are_refanged_and_canonical(raw: str, expected: list[tuple[str, str]]) -> None:
    assert classify(raw) == expected
    for kind, value in expected:
        assert Indicator(kind=kind, value=value).value == value


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty value"),
        ("300.1.1.1", "'300.1.1.1' is not a valid IPv4 address"),
        ("01.2.3.4", "'01.2.3.4' is not a valid IPv4 address"),
        ("1.2.3", "'1.2.3' is not a valid IPv4 address"),
        ("2001:db8::zz", "'2001:db8::zz' is not a valid IPv6 address"),
        ("fe80::1%eth0", "'fe80::1%eth0' is not a valid IPv6 address"),
        ("1.2.3.4/33", "'1.2.3.4/33' is not a valid CIDR network"),
        ("0.0.0.0/0", "'0.0.0.0/0' is wider than /8: it would match a large part of the Internet"),
        ("2000::/3", "'2000::/3' is wider than /16: it would match a large part of the Internet"),
        ("http://", "'http://' is not a valid URL: it has no host"),
        (
            "hxxp://evil.com:99999/",
            "'http://evil.com:99999/' is not a valid URL: Port out of range 0-65535",
        ),
        (
            "a.*.com",
            "'a.*.com' is not an IP address, CIDR, domain or URL: "
            "a wildcard may only be a leading '*.'",
        ),
        (
            "localhost",
            "'localhost' has a single label: a domain indicator matches every name "
            "under it, so it needs at least two",
        ),
        ("-bad.com", "'-bad.com' is not an IP address, CIDR, domain or URL"),
        ("two words", "'two words' is not an IP address, CIDR, domain or URL"),
        ("ctrl\x1b[31m.com", "'ctrl\\x1b[31m.com' is not an IP address, CIDR, domain or URL"),
        (
            "http://x.com/" + "a" * 3000,
            "'http://x.com/" + "a" * 67 + "…' is longer than 2048 characters",
        ),
    ],
)
def test_invalid_values_say_what_is_wrong(raw: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        classify(raw)
    assert str(raised.value) == message


def test_typed_sources_refuse_values_of_another_kind() -> None:
    assert classify("evil.com/x", "url") == [("url", "evil.com/x")]
    with pytest.raises(ValueError, match=r"^'evil\.com' is not an IP address or CIDR$"):
        classify("evil.com", "address")
    with pytest.raises(ValueError, match=r"^'1\.2\.3\.4' is not a domain name$"):
        classify("1.2.3.4", "domain")
    with pytest.raises(ValueError, match=r"^'1\.2\.3\.4/8' is not a domain name$"):
        classify("1.2.3.4/8", "domain")


def test_indicator_model_keeps_values_canonical() -> None:
    indicator = Indicator(
        kind="domain", value="Evil[.]COM.", first_seen=datetime(2021, 6, 8, tzinfo=ICT)
    )

    assert indicator.value == "evil.com"
    assert canonical("cidr", "10.1.2.3/32") == "10.1.2.3/32"
    assert refang("hxxps[:]//a[.]b") == "https://a.b"
    with pytest.raises(ValueError, match="not a valid IPv4 address"):
        Indicator(kind="ip", value="300.1.1.1")
    with pytest.raises(ValueError, match="timezone"):
        Indicator(kind="ip", value="1.2.3.4", expires=datetime(2021, 6, 8))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2021-06-08T01:02:03Z", datetime(2021, 6, 8, 1, 2, 3, tzinfo=UTC)),
        ("2021-06-08T01:02:03.123+00:00", datetime(2021, 6, 8, 1, 2, 3, 123000, tzinfo=UTC)),
        ("2021-06-08 08:30", datetime(2021, 6, 8, 8, 30, tzinfo=ICT)),
        ("2021-06-08", datetime(2021, 6, 8, tzinfo=ICT)),
        ("08/06/2021", datetime(2021, 6, 8, tzinfo=ICT)),
        ("8-6-2021 14:05:09", datetime(2021, 6, 8, 14, 5, 9, tzinfo=ICT)),
        ("08.06.2021", datetime(2021, 6, 8, tzinfo=ICT)),
        ("1623144000", datetime(2021, 6, 8, 9, 20, tzinfo=UTC)),
        (1623144000, datetime(2021, 6, 8, 9, 20, tzinfo=UTC)),
        (datetime(2021, 6, 8, 7), datetime(2021, 6, 8, 7, tzinfo=ICT)),
        (date(2021, 6, 8), datetime(2021, 6, 8, tzinfo=ICT)),
        ("  ", None),
        (None, None),
    ],
)
def test_dates_in_the_shapes_feeds_write_them(raw: object, expected: datetime | None) -> None:
    assert parse_time(raw, ICT) == expected


def test_a_bare_expiry_date_lasts_until_the_end_of_that_day() -> None:
    assert parse_time("31/12/2021", ICT, end_of_day=True) == datetime(2022, 1, 1, tzinfo=ICT)
    assert parse_time(date(2021, 12, 31), ICT, end_of_day=True) == datetime(2022, 1, 1, tzinfo=ICT)
    assert parse_time("31/12/2021 17:00", ICT, end_of_day=True) == datetime(
        2021, 12, 31, 17, tzinfo=ICT
    )
    for bad in ("32/01/2021", "2021-13-01", "mai", "06/08/21"):
        with pytest.raises(ValueError, match="is not a date"):
            parse_time(bad, ICT)


def _set(*indicators: tuple[str, str, str, str | None]) -> IndicatorSet:
    index = IndicatorSet()
    for kind, value, feed, reference in indicators:
        index.add(kind, value, feed, reference)  # type: ignore[arg-type]
    return index


def test_a_domain_matches_itself_and_its_subdomains_only() -> None:
    index = _set(
        ("domain", "evil.com", "ncsc", CV),
        ("domain", "cdn.evil.com", "misp", None),
        ("domain", "xn--bcngan-jxa6332d.vn", "ncsc", None),
    )

    assert index.match_domain("evil.com") == [
        Hit(kind="domain", indicator="evil.com", feed="ncsc", reference=CV)
    ]
    assert index.match_domain("A.CDN.Evil.Com.") == [
        Hit(kind="domain", indicator="cdn.evil.com", feed="misp"),
        Hit(kind="domain", indicator="evil.com", feed="ncsc", reference=CV),
    ]
    for name in ("notevil.com", "evil.com.vn", "com", "evil", "", ".", "a..com"):
        assert index.match_domain(name) == [], name
    assert [h.indicator for h in index.match_domain("mail.Bộcôngan.vn")] == [
        "xn--bcngan-jxa6332d.vn"
    ]
    assert index.match_domain("\udcff.evil.com") == []


def test_addresses_match_exact_ips_and_every_containing_cidr_v4_and_v6() -> None:
    index = _set(
        ("ip", "10.1.2.3", "ncsc", None),
        ("cidr", "10.1.0.0/16", "ncsc", "CV 1"),
        ("cidr", "10.0.0.0/8", "misp", None),
        ("cidr", "2001:db8::/32", "ncsc", None),
        ("ip", "2001:db8::1", "misp", None),
    )

    assert index.match_ip("10.1.2.3") == [
        Hit(kind="ip", indicator="10.1.2.3", feed="ncsc"),
        Hit(kind="cidr", indicator="10.1.0.0/16", feed="ncsc", reference="CV 1"),
        Hit(kind="cidr", indicator="10.0.0.0/8", feed="misp"),
    ]
    assert [h.indicator for h in index.match_ip("10.200.0.1")] == ["10.0.0.0/8"]
    assert index.match_ip("11.0.0.1") == []
    assert [h.indicator for h in index.match_ip("[2001:DB8::1]")] == [
        "2001:db8::1",
        "2001:db8::/32",
    ]
    assert [h.indicator for h in index.match_ip("2001:db8:ffff::9%eth0")] == ["2001:db8::/32"]
    assert index.match_ip("2001:db9::1") == []
    # The same host as an IPv4-mapped IPv6 address, as a dual-stack socket reports it.
    assert index.match_ip("::ffff:10.1.2.3") == index.match_ip("10.1.2.3")
    assert index.match_ip("::ffff:a01:203") == index.match_ip("10.1.2.3")
    for garbage in ("", "*", "10.1.2", "10.1.2.3.4", "evil.com", "0:0:0"):
        assert index.match_ip(garbage) == [], garbage


def test_the_same_indicator_in_two_feeds_is_two_hits_and_once_per_feed() -> None:
    index = _set(
        ("ip", "192.0.2.1", "ncsc", "CV 1"),
        ("ip", "192.0.2.1", "ncsc", "CV 1"),
        ("ip", "192.0.2.1", "misp", None),
        ("domain", "evil.com", "ncsc", "CV 1"),
        ("domain", "evil.com", "misp", None),
    )

    assert [(h.feed, h.reference) for h in index.match_ip("192.0.2.1")] == [
        ("ncsc", "CV 1"),
        ("misp", None),
    ]
    assert [h.feed for h in index.match_domain("x.evil.com")] == ["ncsc", "misp"]
    assert len(index) == 5


def test_index_refuses_values_that_are_not_canonical_addresses() -> None:
    index = IndicatorSet()
    with pytest.raises(ValueError):
        index.add("ip", "evil.com", "f")
    with pytest.raises(ValueError):
        index.add("cidr", "10.0.0.0/40", "f")


def test_references_and_comments_lose_their_control_characters(tmp_path: Path) -> None:
    feed = tmp_path / "event.json"
    attribute = {"type": "ip-dst", "value": "1.2.3.4", "comment": "C2\x00\u202e máy chủ\nmới"}
    feed.write_text(json.dumps({"Event": {"info": "CV\t12", "Attribute": [attribute]}}))

    (indicator,) = parse_feed(feed).indicators

    assert (indicator.reference, indicator.comment) == ("CV 12", "C2  máy chủ mới")
