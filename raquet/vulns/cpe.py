"""CPE 2.3 formatted strings (`cpe:2.3:a:google:chrome:124.0.6367.91:*:*:*:*:*:*:*`).

Eleven attributes after `cpe:2.3:`, separated by colons; a colon inside a value is written
`\\:` (and any other special character backslash-escaped too), so the string is split on
unescaped colons only. Values are kept as written, escapes removed; `*` is ANY and `-` NA.
"""

from __future__ import annotations

from typing import NamedTuple


class Cpe(NamedTuple):
    part: str
    vendor: str
    product: str
    version: str
    update: str
    edition: str
    language: str
    sw_edition: str
    target_sw: str
    target_hw: str
    other: str


def parse_cpe23(text: str) -> Cpe:
    """The attributes of a CPE 2.3 formatted string; ValueError when it is not one."""
    if not isinstance(text, str) or not text.startswith("cpe:2.3:") or len(text) > 1024:
        raise ValueError("not a CPE 2.3 name (cpe:2.3:part:vendor:product:version:...)")
    values: list[str] = text[8:].split(":") if "\\" not in text else _unescaped(text[8:])
    if len(values) != 11 or values[0] not in ("a", "o", "h") or not values[1] or not values[2]:
        raise ValueError("not a CPE 2.3 name (cpe:2.3:part:vendor:product:version:...)")
    if values[1] in ("*", "-") or values[2] in ("*", "-"):
        raise ValueError("a CPE without a vendor and product")
    return Cpe(*values)


def _unescaped(text: str) -> list[str]:
    """The colon-separated values of `text`, a backslash escaping the character after it."""
    values: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":":
            values.append("".join(current))
            current = []
        else:
            current.append(char)
    values.append("".join(current))
    return values
