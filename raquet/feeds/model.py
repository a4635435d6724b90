"""The shapes a feed takes once read: indicators, and what could not be read."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationInfo, field_validator

from raquet.errors import Problem
from raquet.feeds.values import Kind, canonical

FeedFormat = Literal["txt", "csv", "stix", "misp", "xlsx"]


class Indicator(BaseModel):
    """One malicious IP, CIDR, domain or URL, with where it came from and how long it holds.

    The value is always canonical (see `raquet.feeds.values`) whoever builds the model, so
    the store and the matcher can compare plain strings.
    """

    model_config = ConfigDict(frozen=True)

    kind: Kind
    value: str
    reference: str | None = None
    first_seen: AwareDatetime | None = None
    last_seen: AwareDatetime | None = None
    expires: AwareDatetime | None = None
    comment: str | None = None

    @field_validator("value")
    @classmethod
    def _canonical_value(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind")
        # Without a valid kind there is nothing to canonicalise by; pydantic reports the kind.
        return value if kind is None else canonical(kind, value)


class ParsedFeed(BaseModel):
    """A feed file read as far as it could be: its indicators, and each entry it skipped.

    `ignored` counts entries that are well formed but not network indicators (file
    hashes, YARA rules, MISP attributes not meant for detection): not problems, but worth
    telling a user who wonders why a large feed gave few indicators.
    """

    format: FeedFormat
    indicators: list[Indicator]
    problems: list[Problem]
    ignored: int = 0
