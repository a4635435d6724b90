"""Week-over-week change, with the one rounding rule every report uses.

The rule (SPEC §6): the change is (this week - last week) / last week * 100, computed in
decimal arithmetic and rounded to two decimals half up (away from zero on a tie), so
4.505 vs 2.821 is +59,70 % and 32 vs 66 is -51,52 % (seed 000 printed -51.51 %: it
truncated that one, its other figures are rounded). When last week was zero there is no
percentage: the change is "new" (mới) if something appeared, "same" if both are zero.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field, field_serializer

Direction = Literal["up", "down", "same", "new"]
_CENT = Decimal("0.01")


def percent_change(current: int, previous: int) -> Decimal | None:
    """The rounded percentage, or None when last week was zero (no base to compare with)."""
    if previous == 0:
        return None
    return (Decimal(current - previous) * 100 / Decimal(previous)).quantize(_CENT, ROUND_HALF_UP)


class Change(BaseModel):
    """A figure this week next to the same figure last week."""

    model_config = ConfigDict(frozen=True)

    current: int
    previous: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def percent(self) -> Decimal | None:
        return percent_change(self.current, self.previous)

    @field_serializer("percent", when_used="json")
    def _percent_number(self, value: Decimal | None) -> float | None:
        """JSON carries the percentage as a number (59.7); `percent_text` has it as rounded."""
        return None if value is None else float(value)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def percent_text(self) -> str | None:
        """The rounded percentage as text, two decimals ("59.70"), for machines to show."""
        value = self.percent
        return None if value is None else f"{value:.2f}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def direction(self) -> Direction:
        if self.current == self.previous:
            return "same"
        if self.previous == 0:
            return "new"
        return "up" if self.current > self.previous else "down"
