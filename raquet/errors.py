"""Errors about bad input that a user must be able to act on: file, line, field, what was expected."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input file."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        """`file:line: field: message` on one line: a line break, tab or bidirectional override
        in a hostile file's key or value is shown escaped, so it cannot forge another problem
        on the terminal or in a log."""
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        message = _LIBRARY_PREFIX.sub("", self.message)
        parts = (where, self.field, message) if self.field else (where, message)
        return ": ".join(printable(part) for part in parts)


_LIBRARY_PREFIX = re.compile(r"^(?:Value error|Assertion failed), ")
"""pydantic's wording for an error a validator raised: noise to a user, who needs only the reason."""


MAX_TEXT = 512


def clean(text: str, limit: int = MAX_TEXT) -> str:
    """Host output is untrusted: drop control characters and bound the length before it is kept."""
    kept = text if text.isprintable() else "".join(ch for ch in text if ch.isprintable())
    return kept if len(kept) <= limit else kept[: limit - 1] + "…"


def printable(text: str) -> str:
    """`text` with every control or formatting character shown escaped (`\\n`, `\\u202e`)."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


class InputError(Exception):
    """Bad inventory, policy, feed or command-line input; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
