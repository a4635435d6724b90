"""`parse_feed`: read a feed file of any supported format into indicators and problems.

With `fmt="auto"` the format comes from the file: a zip container is a workbook, JSON is
a STIX bundle or a MISP event by its shape, `.csv`/`.tsv` and `.txt` say what they are,
and any other text is a CSV table when a header row names its columns, else a list.
"""

from __future__ import annotations

import codecs
import re
from datetime import tzinfo
from pathlib import Path
from typing import Literal, NoReturn
from zoneinfo import ZoneInfo

from raquet.errors import InputError, Problem
from raquet.feeds.collect import Collector
from raquet.feeds.csvfile import looks_like_csv, parse_csv
from raquet.feeds.jsonfile import load_json
from raquet.feeds.limits import MAX_BYTES, MAX_ENTRIES
from raquet.feeds.misp import is_misp, parse_misp
from raquet.feeds.model import FeedFormat, ParsedFeed
from raquet.feeds.text import parse_text

FormatChoice = Literal["auto", "txt", "csv", "stix", "misp", "xlsx"]
DEFAULT_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
_JSON_START = re.compile(r"\s*(?:\{|\[\s*[{\]])")
_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0"  # the pre-2007 binary .xls
_BY_SUFFIX: dict[str, FeedFormat] = {
    ".txt": "txt",
    ".list": "txt",
    ".lst": "txt",
    ".csv": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
}


def parse_feed(
    path: Path, fmt: FormatChoice = "auto", *, zone: tzinfo = DEFAULT_ZONE
) -> ParsedFeed:
    """Every indicator `path` holds, and a problem (file, line, field) for each entry skipped.

    Dates written without a zone are read in `zone` (the provinces' own by default).
    Raises `InputError` when the file cannot be read as `fmt` or yields no indicator.
    """
    raw = _read(path)
    out = Collector(path, zone)
    if _starts(raw, _OLE):
        _fail(path, "a binary .xls workbook: save it as .xlsx (Excel Workbook) and import that")
    if fmt == "xlsx" or (fmt == "auto" and _starts(raw, _ZIP)):
        from raquet.feeds.xlsxfile import parse_xlsx  # openpyxl: only when a workbook comes

        parse_xlsx(raw, out)
        return out.result("xlsx")
    text = _decode(path, raw)
    if fmt in ("stix", "misp") or (fmt == "auto" and _is_json(path, text)):
        data = load_json(path, text)
        from raquet.feeds.stix import is_bundle, parse_stix  # the STIX grammar: only for JSON

        if fmt == "auto":
            fmt = "stix" if is_bundle(data) else "misp" if is_misp(data) else _not_a_feed(path)
        (parse_stix if fmt == "stix" else parse_misp)(data, out)
        return out.result(fmt)
    if fmt == "auto":
        fmt = _BY_SUFFIX.get(path.suffix.lower()) or ("csv" if looks_like_csv(text) else "txt")
    _count_lines(path, text)
    (parse_csv if fmt == "csv" else parse_text)(text, out)
    return out.result("csv" if fmt == "csv" else "txt")


def _read(path: Path) -> bytes:
    """The file's bytes; nothing past `MAX_BYTES` is read, and a longer file is refused."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as err:
        _fail(path, f"cannot read: {err.strerror}")
    if len(raw) > MAX_BYTES:
        line = None if _starts(raw, _ZIP) else raw[:MAX_BYTES].count(b"\n") + 1
        message = f"the file goes on past {MAX_BYTES >> 20} MiB: split the feed"
        raise InputError([Problem(str(path), line, "", message)])
    return raw


def _count_lines(path: Path, text: str) -> None:
    """A list or table of more than `MAX_ENTRIES` lines is refused before any is read."""
    if text.count("\n", 0, len(text) - 1) >= MAX_ENTRIES:
        message = f"more than {MAX_ENTRIES:,} lines: split the feed"
        raise InputError([Problem(str(path), MAX_ENTRIES + 1, "", message)])


def _decode(path: Path, raw: bytes) -> str:
    """UTF-8 (with or without Excel's BOM) or BOM-marked UTF-16, the encodings tools write."""
    try:
        if _starts(raw, codecs.BOM_UTF16_LE) or _starts(raw, codecs.BOM_UTF16_BE):
            return raw.decode("utf-16")
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        problem = Problem(str(path), line, "", "expected UTF-8 text (save CSV as 'CSV UTF-8')")
        raise InputError([problem]) from None


def _is_json(path: Path, text: str) -> bool:
    return path.suffix.lower() == ".json" or _JSON_START.match(text) is not None


def _not_a_feed(path: Path) -> NoReturn:
    _fail(path, "JSON that is neither a STIX 2.1 bundle nor a MISP event export")


def _starts(raw: bytes, magic: bytes) -> bool:
    return raw[: len(magic)] == magic


def _fail(path: Path, message: str) -> NoReturn:
    raise InputError([Problem(str(path), None, "", message)])
