"""What every feed parser shares: turning raw entries into indicators or into problems."""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from pathlib import Path

from raquet.errors import InputError, Problem
from raquet.feeds.dates import parse_time
from raquet.feeds.limits import MAX_CELL
from raquet.feeds.model import FeedFormat, Indicator, ParsedFeed
from raquet.feeds.values import Expect, Kind, classify

Dates = dict[str, datetime | None]


class Collector:
    """Gathers one feed's indicators and problems while a parser walks the file.

    A value listed twice (a MISP event naming an IP in two objects, a table repeating a
    row) is kept once, with what its first mention said.
    """

    def __init__(self, path: Path, zone: tzinfo) -> None:
        self.file = str(path)
        self.zone = zone
        self.problems: list[Problem] = []
        self.ignored = 0
        self._found: dict[tuple[Kind, str], Indicator] = {}

    def problem(self, line: int | None, field: str, message: str) -> None:
        self.problems.append(Problem(self.file, line, field, message))

    def ignore(self) -> None:
        """Count an entry that is fine but not an IP, CIDR, domain or URL."""
        self.ignored += 1

    def dates(self, line: int | None, **cells: tuple[str, object]) -> Dates | None:
        """first_seen/last_seen/expires from (field, raw value) pairs; None once one is bad.

        An entry with an unreadable date is skipped whole: dropping only an expiry would
        keep the indicator alive forever.
        """
        parsed: Dates = {}
        for name, (field, raw) in cells.items():
            try:
                parsed[name] = parse_time(raw, self.zone, end_of_day=name == "expires")
            except ValueError as err:
                self.problem(line, field, str(err))
                return None
        return parsed

    def add(
        self,
        value: str,
        *,
        line: int | None,
        field: str,
        expect: Expect | None = None,
        reference: str | None = None,
        comment: str | None = None,
        dates: Dates | None = None,
    ) -> None:
        """Add the indicators one raw value stands for, or report why it stands for none."""
        if max(len(value), len(reference or ""), len(comment or "")) > MAX_CELL:
            self.problem(line, field, f"longer than {MAX_CELL:,} characters")
            return
        try:
            found = classify(value, expect)
        except ValueError as err:
            self.problem(line, field, str(err))
            return
        reference, comment = _text(reference), _text(comment)
        for position, (kind, text) in enumerate(found):
            if (kind, text) in self._found:
                continue
            note = comment if position == 0 else _joined(f"host of URL {found[0][1]}", comment)
            self._found[kind, text] = Indicator(
                kind=kind, value=text, reference=reference, comment=note, **(dates or {})
            )

    def result(self, fmt: FeedFormat) -> ParsedFeed:
        """The feed as read; a feed that yields no indicator at all is an input error."""
        if not self._found:
            ignored = f" ({self.ignored} entries of other kinds ignored)" if self.ignored else ""
            message = f"no IP, CIDR, domain or URL indicator found{ignored}"
            raise InputError([*self.problems, Problem(self.file, None, "", message)])
        return ParsedFeed(
            format=fmt,
            indicators=list(self._found.values()),
            problems=self.problems,
            ignored=self.ignored,
        )


_CONTROLS = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]+"
)


def _text(value: str | None) -> str | None:
    """A reference or comment on one line, without control characters: a NUL from a JSON
    feed would make PostgreSQL refuse the whole import, and bidirectional overrides would
    disguise the text wherever it is shown."""
    value = _CONTROLS.sub(" ", value or "").strip()
    return value or None


def _joined(first: str, second: str | None) -> str:
    return f"{first}; {second}" if second else first
