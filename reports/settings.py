"""The letter's own settings: who issues it, its ký hiệu and place, who signs, to whom it
goes and in what order, the legal basis and the contact paragraph (SPEC §6).

They belong to the Sở, not to raquet's templates: a province writes them once in a YAML
file (`raquet report --settings FILE`, or `RAQUET_REPORT_SETTINGS`; see
`inventory/reports.example.yml`) and keeps the shipped wording of everything else. The
file is validated like an inventory, every error with its file, line and field.

Names changed in 2025 (Sở TT&TT merged into Sở KH&CN on 01/03/2025; districts abolished
and communes merged on 01/07/2025), and a letter about an old week must say what the body
was called then. So the issuer, the ký hiệu and the names of units may each be given as a
list of dated entries (`from` / `until`, both inclusive, either left open): the entry in
force on the last day of the reported week is used.

Without a settings file a letter still renders: the issuer from the inventory, the
units' names from the sweep, and blanks for the clerk and the signer.
"""

from __future__ import annotations

import os
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ENV = "RAQUET_REPORT_SETTINGS"
Line = Annotated[str, Field(min_length=1, max_length=300, pattern=r"^[^\n\r\t\x00-\x1f]*$")]
Paragraph = Annotated[
    str, Field(min_length=1, max_length=4000, pattern=r"^[^\x00-\x08\x0b-\x1f]*$")
]


class Dated(BaseModel):
    """When an entry holds: from `from` to `until`, both days included; open when left out."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: date | None = Field(None, alias="from")
    until: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Dated:
        if self.from_ and self.until and self.until < self.from_:
            raise ValueError("`until` is before `from`")
        return self

    def holds(self, day: date) -> bool:
        return (self.from_ is None or self.from_ <= day) and (
            self.until is None or day <= self.until
        )


class Issuer(Dated):
    """The two lines at the top left: the parent body (UBND TỈNH …) and the issuing Sở."""

    parent: Line
    body: Line


class Reference(Dated):
    """The ký hiệu after the number, e.g. `/SKHCN-CNTT` (the clerk writes the number)."""

    code: Line


class UnitName(Dated):
    name: Line


T = TypeVar("T", bound=Dated)


def _no_overlap(entries: list[T]) -> list[T]:
    """Dated entries of one setting may not both hold on the same day."""
    ordered = sorted(entries, key=lambda e: e.from_ or date.min)
    for before, after in pairwise(ordered):
        if before.until is None or after.from_ is None or after.from_ <= before.until:
            raise ValueError("two entries hold on the same day: give each a `from` and `until`")
    return entries


def _at(entries: list[T], day: date) -> T | None:
    return next((e for e in entries if e.holds(day)), None)


class Signer(BaseModel):
    """The signature block: authority (KT. GIÁM ĐỐC), title (PHÓ GIÁM ĐỐC), name."""

    model_config = ConfigDict(extra="forbid")

    authority: Line | None = None
    title: Line | None = None
    name: Line | None = None


class Wording(BaseModel):
    """What a letter says in one language besides raquet's own wording."""

    model_config = ConfigDict(extra="forbid")

    signer: Signer = Field(default_factory=Signer)
    recipients: list[Line] = Field(
        default_factory=list, description="Kính gửi, in this order; default: every unit"
    )
    cc: list[Line] = Field(default_factory=list, description="Nơi nhận")
    legal_basis: Paragraph | None = Field(None, description="the letter's first sentence")
    contact: Paragraph | None = Field(None, description="the paragraph before Nơi nhận")


class ReportSettings(Wording):
    """The whole settings file; `en` overrides the wording for `--lang en`."""

    issuer: list[Issuer] = Field(default_factory=list)
    reference: list[Reference] = Field(default_factory=list)
    place: Line | None = Field(None, description="before the date; default: the province")
    units: dict[str, list[UnitName]] = Field(
        default_factory=dict, description="unit id -> its names over time"
    )
    en: Wording | None = None

    @model_validator(mode="before")
    @classmethod
    def _lists(cls, data: object) -> object:
        """A setting that never changed may be written as one mapping (or, for a unit, one
        name) instead of a list of dated entries."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key in ("issuer", "reference"):
            if isinstance(data.get(key), dict | str):
                value = data[key]
                data[key] = [{"code": value} if isinstance(value, str) else value]
        units = data.get("units")
        if isinstance(units, dict):
            data["units"] = {
                uid: [{"name": v}] if isinstance(v, str) else v for uid, v in units.items()
            }
        return data

    _issuer_dated = field_validator("issuer", "reference")(_no_overlap)

    @field_validator("units")
    @classmethod
    def _units_dated(cls, units: dict[str, list[UnitName]]) -> dict[str, list[UnitName]]:
        for names in units.values():
            _no_overlap(names)
        return units

    def wording(self, lang: str) -> Wording:
        """The wording of `lang`: English takes what `en` gives and the rest as written."""
        if lang != "en" or self.en is None:
            return self
        given = self.en.model_dump(exclude_unset=True)
        return Wording.model_validate(
            {**self.model_dump(include=set(Wording.model_fields)), **given}
        )

    def issuer_at(self, day: date) -> list[str] | None:
        found = _at(self.issuer, day)
        return [found.parent, found.body] if found else None

    def reference_at(self, day: date) -> str | None:
        found = _at(self.reference, day)
        return found.code if found else None

    def unit_names_at(self, day: date) -> dict[str, str]:
        return {
            uid: found.name
            for uid, names in self.units.items()
            if (found := _at(names, day)) is not None
        }


def load_settings(path: Path | None) -> ReportSettings:
    """The settings at `path`, else at `$RAQUET_REPORT_SETTINGS`, else none (the defaults);
    raises raquet.errors.InputError naming file, line and field."""
    chosen = path or (Path(os.environ[ENV]) if os.environ.get(ENV) else None)
    if chosen is None:
        return ReportSettings()
    from raquet.yamlfile import load_model

    return load_model(chosen, ReportSettings)
