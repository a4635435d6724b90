"""The dates feeds carry (first and last seen, expiry), in the shapes people and tools write."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo

from raquet.feeds.values import show

_DAY_FIRST = ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y")
_CLOCK = ("", " %H:%M", " %H:%M:%S")


def parse_time(value: object, zone: tzinfo, *, end_of_day: bool = False) -> datetime | None:
    """A feed's date or time as an aware datetime; naive ones are read in `zone`.

    Accepts ISO 8601, day-first dates as Vietnamese documents write them (08/06/2021,
    with an optional clock time), epoch seconds (MISP) and spreadsheet date cells. A
    bare date is the start of that day, or with `end_of_day` (an expiry) the end of it:
    "valid until 31/12/2021" still applies on the 31st.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return _day(value, zone, end_of_day)
    text = str(value).strip()
    if text.isdigit() and 9 <= len(text) <= 11:
        return datetime.fromtimestamp(int(text), tz=zone)
    try:
        if len(text) == 10 and text[4] == "-":
            return _day(date.fromisoformat(text), zone, end_of_day)
        return parse_time(datetime.fromisoformat(text), zone)
    except ValueError:
        pass
    for day in _DAY_FIRST:
        for clock in _CLOCK:
            try:
                found = datetime.strptime(text, day + clock)
            except ValueError:
                continue
            if not clock:
                return _day(found.date(), zone, end_of_day)
            return found.replace(tzinfo=zone)
    raise ValueError(f"{show(text)} is not a date (expected ISO 8601 or dd/mm/yyyy)")


def _day(day: date, zone: tzinfo, end_of_day: bool) -> datetime:
    start = datetime.combine(day, time(), tzinfo=zone)
    return start + timedelta(days=1) if end_of_day else start
