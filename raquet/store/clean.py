"""Values made storable without being interpreted: text, JSON evidence, times."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_jsonable_python

# Defence in depth for SPEC §8: callers must not pass secrets in sweep options, but if one
# slips through under an obvious name it is not written to a shared database.
_SECRET_KEY = re.compile(r"password|passwd|secret|token|credential|api_?key|private_key", re.I)


def clean_text(text: str) -> str:
    """Drop what no backend can hold: NUL (PostgreSQL) and lone surrogates (not UTF-8).

    Lone surrogates are what `surrogateescape` makes of non-UTF-8 host output; they are
    kept visible as `\\udcXX`. Markup, escapes and any other character stay as they came.
    """
    text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def clean_json(value: Any) -> Any:
    """Make evidence storable as JSON without interpreting it; never fails on odd values.

    NaN and infinities have no JSON form and become null; bytes and objects the JSON
    encoder does not know become text.
    """
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(key)): clean_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [clean_json(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, bytes | bytearray):
        return clean_text(bytes(value).decode("utf-8", "backslashreplace"))
    return clean_json(to_jsonable_python(value, fallback=str))


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "***" if _SECRET_KEY.search(k) else _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(item) for item in value]
    return value


def as_utc(value: datetime) -> datetime:
    """Refuse naive times: a bare clock time has no zone, and guessing shifts reports by hours."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} given to the store; add a tzinfo")
    return value.astimezone(UTC)


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def _clean_optional(text: str | None) -> str | None:
    return None if text is None else clean_text(text)
