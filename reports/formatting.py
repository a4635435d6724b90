"""How numbers, percentages and dates are written in each report language.

Vietnamese writes 4.505 and 59,70% and dates dd/mm/yyyy; English 4,505 and 59.70%.
Done by hand rather than through a locale database so that a report reads the same on
every jump host, whatever locales it has installed.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from reports.change import Change

Lang = Literal["vi", "en"]
MINUS = "\u2212"
_SWAP = str.maketrans(",.", ".,")


class Ident(int):
    """A number that names something (a process id): a spreadsheet keeps it a number, but
    people read it without thousands separators (pid 12345, not 12.345)."""


class Formatter:
    """Formats for one language; datetimes are shown in the province's zone."""

    def __init__(self, lang: Lang, zone: ZoneInfo) -> None:
        self.lang = lang
        self.zone = zone

    def _local(self, text: str) -> str:
        return text.translate(_SWAP) if self.lang == "vi" else text

    def number(self, value: int) -> str:
        return self._local(f"{value:,}")

    def percent(self, value: Decimal) -> str:
        """Two decimals and the sign written as official letters write it: 52,17%."""
        return self._local(f"{abs(value):,.2f}") + "%"

    def decimal(self, value: float | int | None) -> str:
        """A measure such as a number of days: 38,6 or 7 (at most two decimals, no trailing 0)."""
        if value is None:
            return ""
        text = f"{round(float(value), 2):,.2f}".rstrip("0").rstrip(".")
        return self._local(text)

    def change(self, change: Change) -> str:
        """Signed change for tables: +59,70%, \u221251,52%, 0,00%, mới (or a dash: both 0)."""
        if change.percent is None:
            if change.direction == "new":
                return "mới" if self.lang == "vi" else "new"
            return "—"
        sign = {"up": "+", "down": MINUS}.get(change.direction, "")
        return sign + self.percent(change.percent)

    def day(self, value: date | datetime) -> str:
        if isinstance(value, datetime):
            value = value.astimezone(self.zone).date()
        return value.strftime("%d/%m/%Y")

    def moment(self, value: datetime | None) -> str:
        if value is None:
            return ""
        return value.astimezone(self.zone).strftime("%d/%m/%Y %H:%M")

    def cell(self, value: object) -> str:
        """A table cell as people read it, whatever its type."""
        if value is None:
            return ""
        if isinstance(value, Ident):
            return str(int(value))
        if isinstance(value, int):
            return self.number(value)
        if isinstance(value, Change):
            return self.change(value)
        if isinstance(value, datetime):
            return self.moment(value)
        if isinstance(value, date):
            return self.day(value)
        return str(value)

    def month(self, value: date) -> str:
        """Month as Decree 30 writes it in a letter's date: 01 and 02 padded, 3 to 12 not."""
        return f"{value.month:02d}" if value.month < 3 else str(value.month)
