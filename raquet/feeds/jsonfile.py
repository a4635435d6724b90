"""JSON feeds (MISP, STIX) read with their nesting and numbers bounded.

Python's json module recurses once per level and converts integers of any length, so a
file of `[[[[…` or of a 5,000-digit number ends in a RecursionError or a ValueError that
names nothing. The nesting is measured on the text first (strings set aside: JSON strings
hold no raw line break, so lines still count right), and numbers are read through a hook
that refuses long ones; both become a `Problem` at the line where they are.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NoReturn

from raquet.errors import InputError, Problem
from raquet.feeds.limits import MAX_DIGITS, MAX_JSON_DEPTH

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")
_LONG_NUMBER = re.compile(rf"-?\d{{{MAX_DIGITS + 1},}}")


class _LongNumber(ValueError):
    pass


def load_json(path: Path, text: str) -> Any:
    """The document in `text`, or an `InputError` with the line of what is wrong."""
    structure = _STRING.sub('""', text)
    deep = _too_deep(structure)
    if deep is not None:
        _fail(path, deep, f"nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        return json.loads(text, parse_int=_integer)
    except json.JSONDecodeError as err:
        _fail(path, err.lineno, f"invalid JSON: {err.msg}")
    except _LongNumber:
        found = _LONG_NUMBER.search(structure)
        line = structure[: found.start()].count("\n") + 1 if found else None
        _fail(path, line, f"a number of more than {MAX_DIGITS} digits")


def _too_deep(structure: str) -> int | None:
    """The line where `structure` (strings emptied) first nests past MAX_JSON_DEPTH."""
    depth = 0
    for bracket in _BRACKET.finditer(structure):
        depth += 1 if bracket[0] in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            return structure[: bracket.start()].count("\n") + 1
    return None


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise _LongNumber(text[:20])
    return int(text)


def _fail(path: Path, line: int | None, message: str) -> NoReturn:
    raise InputError([Problem(str(path), line, "", message)])
