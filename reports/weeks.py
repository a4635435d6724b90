"""ISO weeks in the province's time zone: the period every weekly figure is counted in.

A detection at 23:30 UTC on a Sunday is Monday morning in Hà Nội, so a week is always
cut at local midnight and only then turned into UTC bounds for the store.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)


class IsoWeek(BaseModel):
    """One ISO 8601 week (Monday to Sunday), written `2021-W23`."""

    model_config = ConfigDict(frozen=True)

    year: int
    week: int

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        """Reads `2021-W23` (or `2021W23`); a week the year does not have is an error."""
        match = _WEEK.match(text.strip())
        if not match:
            raise ValueError(f"{text!r} is not an ISO week: expected YYYY-Www, e.g. 2021-W23")
        year, week = int(match[1]), int(match[2])
        try:
            date.fromisocalendar(year, week, 1)
        except ValueError:
            raise ValueError(f"{year} has no ISO week {week}") from None
        return cls(year=year, week=week)

    @classmethod
    def containing(cls, moment: datetime, zone: ZoneInfo) -> IsoWeek:
        year, week, _ = moment.astimezone(zone).isocalendar()
        return cls(year=year, week=week)

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    def start(self, zone: ZoneInfo) -> datetime:
        """Local midnight starting the Monday, as aware UTC (the store's clock)."""
        return datetime.combine(self.monday, time(), zone).astimezone(UTC)

    def end(self, zone: ZoneInfo) -> datetime:
        """Exclusive: local midnight after the Sunday, as aware UTC."""
        return self.shifted(1).start(zone)

    def shifted(self, weeks: int) -> IsoWeek:
        year, week, _ = (self.monday + timedelta(weeks=weeks)).isocalendar()
        return IsoWeek(year=year, week=week)

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"
