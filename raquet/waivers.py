"""Waivers (as InSpec has them): a failing finding an approver has accepted, for a reason,
until a date. A waived finding is reported as `waived`: not failing, and not hidden.

A waiver names its hosts or its unit, one check and optionally one item of it (a banned
package or its rule, a pending package, an indicator); with an item, it waives the
finding only when every failing item of it is waived, so a second banned package on a
host is still a failure. A waiver stops applying the day after `expires`, by itself, and
the finding then says that its waiver expired. A check that could not run (`error`) is
never waived: nobody approved what nobody could see.

The file (`--waivers FILE`, or the settings file) is YAML, validated like inventories:
every mistake is named by file, line and field.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from raquet.models import Finding, Host, Text
from raquet.yamlfile import load_model


def _banned(evidence: dict[str, Any]) -> list[set[str]]:
    return [
        {str(b.get("name")), str(b.get("rule"))}
        for b in evidence.get("banned") or []
        if isinstance(b, dict)
    ]


def _pending(evidence: dict[str, Any]) -> list[set[str]]:
    names = [*(evidence.get("security_packages") or []), *(evidence.get("regular_packages") or [])]
    return [{str(name)} for name in names]


def _indicators(evidence: dict[str, Any]) -> list[set[str]]:
    return [
        {str(m.get("indicator")), str(m.get("remote"))}
        for m in evidence.get("matches") or []
        if isinstance(m, dict)
    ]


ITEMS: dict[str, Callable[[dict[str, Any]], list[set[str]]]] = {
    "software": _banned,
    "patches": _pending,
    "connections": _indicators,
}
"""Per check, the failing items of a finding, each as the names a waiver may call it by."""


class Waiver(BaseModel):
    """One accepted exception, with who approved it, why and until when."""

    model_config = ConfigDict(extra="forbid")

    hosts: list[str] = Field(default_factory=list)
    unit: str | None = None
    check: str
    item: Text | None = None
    reason: Text = Field(min_length=1)
    approved_by: Text = Field(min_length=1)
    expires: date

    @field_validator("check")
    @classmethod
    def _known_check(cls, value: str) -> str:
        from checks import registry  # the checks' own list, not a copy of it

        known = sorted(registry())
        if value not in known:
            raise ValueError(f"unknown check {value!r}; known: {', '.join(known)}")
        return value

    @model_validator(mode="after")
    def _scoped(self) -> Waiver:
        if not self.hosts and self.unit is None:
            raise ValueError("a waiver names its hosts (hosts: [...]) or its unit (unit: ID)")
        if self.item is not None and self.check not in ITEMS:
            raise ValueError(
                f"check {self.check!r} has no items to waive one by one; leave out `item`"
            )
        return self

    def covers(self, host: Host, check: str) -> bool:
        """Whether this waiver is about `check` on `host` (whatever its date)."""
        if check != self.check:
            return False
        return host.name in self.hosts or (self.unit is not None and host.unit == self.unit)

    def expired(self, today: date) -> bool:
        return today > self.expires


class WaiverFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    waivers: list[Waiver] = Field(default_factory=list)


def load_waivers(path: Path) -> list[Waiver]:
    """The waivers of a YAML file; InputError (file:line:field) on any mistake in it."""
    return load_model(path, WaiverFile).waivers


def apply(finding: Finding, host: Host, waivers: list[Waiver], today: date) -> Finding:
    """`finding` as judged with the waivers: `waived` when active waivers cover all of its
    failure; otherwise unchanged, with any expired waiver that would have covered it named
    in its evidence (`waiver_expired`), so the report can say it expired."""
    if finding.status != "fail":
        return finding
    relevant = [w for w in waivers if w.covers(host, finding.check)]
    if not relevant:
        return finding
    active = [w for w in relevant if not w.expired(today)]
    covering = _covering(finding, active)
    if covering:
        evidence = {**finding.evidence, "waivers": [_record(w) for w in covering]}
        return finding.model_copy(update={"status": "waived", "evidence": evidence})
    lapsed = _covering(finding, [w for w in relevant if w.expired(today)])
    if not lapsed:
        return finding
    evidence = {**finding.evidence, "waiver_expired": [_record(w) for w in lapsed]}
    title = f"{finding.title} (waiver expired {max(w.expires for w in lapsed).isoformat()})"
    return finding.model_copy(update={"evidence": evidence, "title": title})


def _covering(finding: Finding, waivers: list[Waiver]) -> list[Waiver]:
    """The waivers that together cover the whole failure, or none."""
    whole = [w for w in waivers if w.item is None]
    if whole:
        return whole
    items_of = ITEMS.get(finding.check)
    if items_of is None:
        return []
    items = items_of(finding.evidence)
    used = [w for w in waivers if any(w.item in names for names in items)]
    named = {w.item for w in used}
    if items and all(names & named for names in items):
        return used
    return []


def _record(waiver: Waiver) -> dict[str, Any]:
    return waiver.model_dump(mode="json", exclude_none=True)
