"""Tables of indicators (CSV files, spreadsheets): find the header row, read the rows.

Provinces receive these tables attached to official letters, so a table may start with
title lines ("DANH SÁCH ĐỊA CHỈ IP ĐỘC HẠI", "Kèm theo Công văn số …") and name its
columns in Vietnamese ("STT", "Địa chỉ IP", "Tên miền", "Ghi chú"). Headers are compared
without case, diacritics or punctuation, so "Địa chỉ IP", "dia_chi_ip" and "ĐỊA CHỈ IP"
are one column. A table may have several value columns (an IP and a domain per row).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from raquet.feeds.collect import Collector
from raquet.feeds.values import Expect, show

Row = tuple[int, Sequence[object]]
"""A row's line (CSV) or row number (spreadsheet) and its cells."""
Where = Callable[[int, str], str]
"""Names a cell's column for a problem, from its index and header text."""
Role = Literal[
    "value",
    "address",
    "domain",
    "url",
    "type",
    "reference",
    "first_seen",
    "last_seen",
    "expires",
    "comment",
]

HEADER_SEARCH_ROWS = 20
_VALUE_ROLES: dict[Role, Expect | None] = {
    "value": None,
    "address": "address",
    "domain": "domain",
    "url": "url",
}
_HEADERS: dict[Role, tuple[str, ...]] = {
    "value": (
        "value",
        "values",
        "indicator",
        "indicators",
        "ioc",
        "iocs",
        "ioc value",
        "indicator value",
        "observable",
        "gia tri",
        "chi so",
        "dau hieu",
        "ip domain",
        "ip domain url",
        "ip ten mien",
        "dia chi ip ten mien",
        "ten mien dia chi ip",
        "ten mien ip",
    ),
    "address": (
        "ip",
        "ips",
        "ip address",
        "ipv4",
        "ipv6",
        "ip dst",
        "ip src",
        "dst ip",
        "src ip",
        "cidr",
        "subnet",
        "network",
        "dia chi ip",
        "dia chi ip doc hai",
        "dai ip",
    ),
    "domain": (
        "domain",
        "domains",
        "domain name",
        "hostname",
        "fqdn",
        "ten mien",
        "ten mien doc hai",
    ),
    "url": ("url", "urls", "uri", "link", "duong dan", "duong dan url", "dia chi url"),
    "type": ("type", "kind", "ioc type", "indicator type", "loai", "loai ioc", "phan loai"),
    "reference": (
        "reference",
        "references",
        "ref",
        "source",
        "nguon",
        "nguon tin",
        "tham chieu",
        "van ban",
        "so van ban",
        "so hieu",
        "cong van",
    ),
    "first_seen": (
        "first seen",
        "firstseen",
        "valid from",
        "date added",
        "dateadded",
        "ngay phat hien",
        "thoi gian phat hien",
    ),
    "last_seen": ("last seen", "lastseen", "last online", "lan cuoi", "lan cuoi phat hien"),
    "expires": ("expires", "expiry", "expiration", "valid until", "het han", "ngay het han"),
    "comment": ("comment", "comments", "note", "notes", "description", "ghi chu", "mo ta"),
}
_ROLES: dict[str, Role] = {name: role for role, names in _HEADERS.items() for name in names}
_LONGEST_HEADER = 2 * max(map(len, _ROLES))
"""Longer cells are never a heading, even written with diacritics and punctuation."""
_TYPES: dict[str, Expect] = {
    **dict.fromkeys(_HEADERS["address"] + ("ip address", "ipv4 addr", "ipv6 addr"), "address"),
    **dict.fromkeys(_HEADERS["domain"], "domain"),
    **dict.fromkeys(_HEADERS["url"], "url"),
}
_OTHER_TYPES = frozenset(
    {
        "md5",
        "sha1",
        "sha256",
        "sha512",
        "hash",
        "file hash",
        "filehash",
        "file",
        "filename",
        "file name",
        "email",
        "email src",
        "email address",
        "mutex",
        "registry",
        "regkey",
        "yara",
        "ja3",
        "ssdeep",
        "imphash",
        "tlsh",
        "user agent",
        "asn",
    }
)


@dataclass
class Layout:
    """Which column holds what, as found in a header row (or assumed when there is none)."""

    values: list[tuple[int, str, Expect | None]] = field(default_factory=list)
    columns: dict[Role, tuple[int, str]] = field(default_factory=dict)


def normalize_header(text: str) -> str:
    """'Địa chỉ IP' -> 'dia chi ip': no case, diacritics or punctuation."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(re.findall(r"[a-z0-9]+", plain))


def header_layout(cells: Sequence[object]) -> Layout | None:
    """The layout a row names, if it is a header row: one with at least one value column."""
    layout = Layout()
    for index, cell in enumerate(cells):
        header = str(cell).strip() if cell is not None else ""
        if len(header) > _LONGEST_HEADER:
            continue  # a value, not a heading; and normalising it would cost its length
        role = _ROLES.get(normalize_header(header.lstrip("#")))
        if role in _VALUE_ROLES:
            layout.values.append((index, header, _VALUE_ROLES[role]))
        elif role is not None:
            layout.columns.setdefault(role, (index, header))
    return layout if layout.values else None


def locate_header(rows: Iterator[Row]) -> tuple[Layout | None, Iterator[Row]]:
    """The header among the first rows and the rows after it, or no header and every row.

    Rows above a header are the letter's title lines and are dropped.
    """
    before: list[Row] = []
    for row in itertools.islice(rows, HEADER_SEARCH_ROWS):
        layout = header_layout(row[1])
        if layout is not None:
            return layout, rows
        before.append(row)
    return None, itertools.chain(before, rows)


FIRST_COLUMN = Layout(values=[(0, "", None)])
"""A table without a recognisable header: values in the first column, nothing else known."""


def read_rows(layout: Layout, rows: Iterator[Row], out: Collector, where: Where) -> None:
    """Every row's value cells -> indicators, with the row's reference, dates and comment."""
    for line, cells in rows:
        if all(_blank(cell) for cell in cells):
            continue
        expect: Expect | None = None
        if "type" in layout.columns:
            field, raw = _cell(layout, "type", cells, where)
            kind = normalize_header(_string(raw) or "")
            if kind in _OTHER_TYPES:
                out.ignore()
                continue
            if kind and kind not in _TYPES:
                out.problem(line, field, f"unknown type {show(_string(raw) or '')}")
                continue
            expect = _TYPES.get(kind)
        dated = [role for role in ("first_seen", "last_seen", "expires") if role in layout.columns]
        dates = out.dates(line, **{role: _cell(layout, role, cells, where) for role in dated})
        if dates is None:
            continue
        reference = _string(_cell(layout, "reference", cells, where)[1])
        comment = _string(_cell(layout, "comment", cells, where)[1])
        filled = [
            (index, header, column_expect)
            for index, header, column_expect in layout.values
            if index < len(cells) and not _blank(cells[index])
        ]
        if not filled:
            index, header, _ = layout.values[0]
            out.problem(line, where(index, header), "no value in this row")
        for index, header, column_expect in filled:
            out.add(
                _string(cells[index]) or "",
                line=line,
                field=where(index, header),
                expect=expect or column_expect,
                reference=reference,
                comment=comment,
                dates=dates,
            )


def _cell(layout: Layout, role: Role, cells: Sequence[object], where: Where) -> tuple[str, object]:
    """(field name, raw cell) of a row's column for `role`; a missing column or cell is None."""
    if role not in layout.columns:
        return "", None
    index, header = layout.columns[role]
    return where(index, header), cells[index] if index < len(cells) else None


def _blank(cell: object) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _string(cell: object) -> str | None:
    return None if _blank(cell) else str(cell).strip()
