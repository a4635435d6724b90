"""The evidence appendix: every finding's evidence as key and value lines people can read.

A table cell gets the finding explained (`reports.explain`); whoever needs what it was
decided on finds it here whole, each value written as the report's language writes it
(yes/no, numbers, times), never as a Python repr. Nested evidence is flattened into
dotted keys (`defender.realtime`, `matches.2.indicator`, counted from 1); a long list shows its first
LIST_SHOWN items and says how many more the JSON document holds.
"""

from __future__ import annotations

from typing import Any

from reports.formatting import Formatter
from reports.labels import Labels

LIST_SHOWN = 25


def _scalar(value: object, fmt: Formatter, L: Labels) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return L.e_yes if value else L.e_no
    if isinstance(value, int):
        return fmt.number(value)
    if isinstance(value, float):
        return fmt.decimal(value)
    return str(value)


def lines(evidence: dict[str, Any], fmt: Formatter, L: Labels) -> list[tuple[str, str]]:
    """(key, value) pairs of `evidence`, flattened, values as text."""
    found: list[tuple[str, str]] = []

    def walk(key: str, value: object) -> None:
        if isinstance(value, dict):
            if not value:
                found.append((key, "—"))
            for name, item in value.items():
                walk(f"{key}.{name}" if key else str(name), item)
        elif isinstance(value, list):
            if all(not isinstance(item, dict | list) for item in value):
                shown = "; ".join(_scalar(item, fmt, L) for item in value[:LIST_SHOWN])
                found.append((key, _more(shown or "—", len(value), L, fmt)))
                return
            for index, item in enumerate(value[:LIST_SHOWN], 1):
                walk(f"{key}.{index}", item)
            if len(value) > LIST_SHOWN:
                found.append((key, L.e_more.format(count=fmt.number(len(value) - LIST_SHOWN))))
        else:
            found.append((key, _scalar(value, fmt, L)))

    walk("", evidence)
    return found


def _more(text: str, total: int, L: Labels, fmt: Formatter) -> str:
    if total <= LIST_SHOWN:
        return text
    return f"{text}; {L.e_more.format(count=fmt.number(total - LIST_SHOWN))}"
