"""Text that came from hosts, made safe to put in any report format.

The store keeps host output exactly as it came (SPEC §3: data, not trusted). Every
string of a finished report model goes through `clean` in one pass
(`reports.aggregate.build`), so no renderer can forget: characters XML 1.0 cannot hold
(they make python-docx and openpyxl refuse the whole document) are dropped, and so are
the bidirectional overrides that can make `invoice<RLO>fdp.exe` read as `invoiceexe.pdf`
to an auditor. Markup is not touched here:
escaping belongs to each format (HTML, Markdown) and formula neutralising to the
spreadsheet ones (`formula_safe`).

Line breaks are kept in the model (the JSON document has a host's error output whole);
`one_line` takes them out of every value a laid-out document shows, so that no value can
open a line, a paragraph or a section of a letter.
"""

from __future__ import annotations

import re
from typing import Any

_UNSAFE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff\u202a-\u202e\u2066-\u2069]"
)
_BREAKS = re.compile(r"[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+")
"""Every character Python, Word, browsers or Pango may break a line at (Unicode's BK/NL)."""
# A spreadsheet evaluates a cell typed like this; so may Excel or LibreOffice opening a CSV.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def clean(text: object) -> str:
    return _UNSAFE.sub("", str(text))


def one_line(text: str) -> str:
    """`text` with each run of line and paragraph breaks made one space."""
    return _BREAKS.sub(" ", text)


def clean_json(value: Any) -> Any:
    """`clean` on every string of a JSON-like value (keys too), the structure untouched."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(key): clean_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clean_json(item) for item in value]
    return value


def formula_safe(text: str) -> str:
    """Quote a text cell that a spreadsheet would read as a formula (`=cmd|' /C calc'!A0`)."""
    return "'" + text if text.lstrip(" ").startswith(_FORMULA_START) else text
