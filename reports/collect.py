"""What a report reads from the store, and the rules that pick it.

Host figures (scope, swept, compliant, findings) come from each unit's **latest sweep
started in the week** (`--week`), or from the one sweep asked for (`--sweep`): a unit
swept on Monday and again on Thursday is reported as Thursday found it. Infection
figures come from the store's detection record, each detection counted once in the ISO
week of its own `detected_at`, whichever sweep found it.

A remediation's verification sweep (`raquet remediate --apply`) re-sweeps a few hosts for
a few checks, so it never stands for a unit's week while a full sweep of the unit exists.

Remediations come from the remediation log: those done (finished, or started if the log
has no end) or undone in the week, each done in the week of its own time, as they stood
at the week's end; with `--sweep`, only those of the sweep's hosts. One still `planned`
never ran to an outcome and is left out. A store that was never remediated has no
remediations table and gives none; it is not created, since a report only reads.

Reading a sweep's findings (their evidence) is the dominant cost of a report, so the
store decides compliance in SQL and a letter reads only the failing `connections`
findings (`Store.sweep_digest`); sweeps are read newest first and reading stops as soon
as every unit the inventory names has its latest sweep. Detections are read as rows for
the reported week and the one before (the figures and the cleaning rule), and only
counted for the older weeks of the trend (`Store.detection_counts`).

Weakness figures (`vulns`) come from the same sweep per unit as the host figures, and last
week's from each unit's latest sweep of the week before by the same rule (while a week is
in progress, from sweeps started before the same point of the week before); both are read
in numbers, not evidence (`reports.vulnreads`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import inspect

from raquet.models import VERIFICATION_PURPOSE
from raquet.store import HostDigest, Store, StoredDetection, SweepInfo, SweepNotFound
from reports.model import RemediationDone
from reports.vulnreads import VulnReads, sweep_units, vuln_hosts, widest_components
from reports.weeks import IsoWeek

if TYPE_CHECKING:
    from raquet.remediation_log import RemediationRecord

DEFAULT_ZONE = "Asia/Ho_Chi_Minh"
TREND_WEEKS = 8
T = TypeVar("T")


class UsageError(Exception):
    """The selection names no sweep, unit or week the store can answer for (exit code 2)."""


class Selection(BaseModel):
    """What the user asked for: one sweep or one week (default: the last complete week), one
    unit or all."""

    sweep: str | None = None
    week: IsoWeek | None = None
    unit: str | None = None


class UnitSweep(BaseModel):
    """One unit's part of the sweep read for it: its planned hosts and their results."""

    sweep: SweepInfo
    planned: list[str]
    hosts: list[HostDigest]


class Collected(BaseModel):
    """Everything the aggregation needs, already restricted to the selection."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    zone: ZoneInfo
    week: IsoWeek
    until: datetime = Field(description="the week's end, or now while it is still in progress")
    province: str
    issuer: str
    unit_names: dict[str, str]
    sweep_id: str | None
    period_sweeps: list[SweepInfo]
    current: dict[str, UnitSweep]
    detections: list[StoredDetection] = Field(
        description="dated in this week or the one before, or recorded by one of their sweeps"
    )
    trend_counts: list[tuple[int, int]] = Field(
        description="(detections, infected hosts) of each older week of the trend, oldest first"
    )
    remediations: list[RemediationDone]
    vulns: VulnReads = Field(
        description="the `vulns` findings of the units' sweeps, and of last week's sweeps"
    )


def _zone(info: SweepInfo) -> ZoneInfo:
    """The province's zone as the sweep's inventory gave it (sweeps from before it was
    recorded fall back to Vietnam's)."""
    name = str(info.options.get("timezone") or DEFAULT_ZONE)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"sweep {info.id} names an unknown time zone {name!r}") from None


def _unit_names(sweeps: list[SweepInfo]) -> dict[str, str]:
    """Display names from the inventories the sweeps ran with; the newest sweep wins."""
    names: dict[str, str] = {}
    for info in reversed(sweeps):
        units = info.options.get("units")
        if isinstance(units, dict):
            names.update({str(k): str(v) for k, v in units.items()})
    return names


def _read_units(store: Store, info: SweepInfo, wanted: str | None) -> dict[str, UnitSweep]:
    """The sweep's units: a unit's report reads its hosts' findings whole, a letter only
    the failing connections."""
    hosts = store.sweep_digest(info.id, wanted, None if wanted else ["connections"])
    planned: dict[str, list[str]] = {}
    for host in hosts:
        planned.setdefault(host.unit, []).append(host.name)
    for name, unit in store.pending_hosts(info.id):
        planned.setdefault(unit, []).append(name)
    by_unit: dict[str, list[HostDigest]] = {}
    for host in hosts:
        by_unit.setdefault(host.unit, []).append(host)
    return {
        unit: UnitSweep(sweep=info, planned=sorted(names), hosts=by_unit.get(unit, []))
        for unit, names in planned.items()
        if wanted is None or unit == wanted
    }


def _verification(info: SweepInfo) -> bool:
    return info.options.get("purpose") == VERIFICATION_PURPOSE


def _first_per_unit(
    week_sweeps: list[SweepInfo], wanted: str | None, read: Callable[[SweepInfo], dict[str, T]]
) -> dict[str, T]:
    """Each unit's latest sweep of the week (as `read` gives its units), reading as few
    sweeps as possible; a verification sweep only for a unit that no other sweep of the
    week covered."""
    candidates = sorted(week_sweeps, key=_verification)  # stable: newest first within each
    expected = {wanted} if wanted else set(_unit_names(candidates[:1]))
    current: dict[str, T] = {}
    for info in candidates:
        for unit, part in read(info).items():
            current.setdefault(unit, part)
        if expected and expected <= current.keys():
            break
    return current


def _latest_per_unit(
    store: Store, week_sweeps: list[SweepInfo], wanted: str | None
) -> dict[str, UnitSweep]:
    return _first_per_unit(week_sweeps, wanted, lambda info: _read_units(store, info, wanted))


def _previous_per_unit(
    store: Store, last_week: list[SweepInfo], wanted: str | None
) -> dict[str, str]:
    """Each unit's sweep of the week before, by the same rule, without reading results."""
    units = sweep_units(store, [info.id for info in last_week])
    return _first_per_unit(
        last_week,
        wanted,
        lambda info: {
            u: info.id for u in sorted(units.get(info.id, ())) if wanted is None or u == wanted
        },
    )


def _vulns(
    store: Store,
    current: dict[str, UnitSweep],
    last_week: list[SweepInfo],
    wanted: str | None,
) -> VulnReads:
    """The `vulns` figures of the units' sweeps of the week and of the week before."""
    now = {unit: part.sweep.id for unit, part in current.items()}
    before = _previous_per_unit(store, last_week, wanted)
    return VulnReads(
        hosts=vuln_hosts(store, now),
        previous=vuln_hosts(store, before),
        components=widest_components(store, now),
    )


def _selected_sweep(store: Store, ref: str) -> SweepInfo:
    try:
        return store.sweep_info(store.resolve_sweep(ref))
    except SweepNotFound as exc:
        raise UsageError(str(exc)) from None


def _as_of(record: RemediationRecord, end: datetime) -> RemediationDone | None:
    """A remediation as it stood at `end` (undone only if taken back before), or None if
    it is still planned: it never ran to an outcome."""
    if record.status == "planned":
        return None
    undone = record.undone_at is not None and record.undone_at < end
    return RemediationDone(
        id=record.id,
        unit=record.unit,
        host=record.host,
        check=record.check,
        finding=record.finding,
        status="undone" if undone else record.status,
        outcome=record.status,
        error=record.error or "",
        operator=record.operator,
        done_at=record.finished_at or record.started_at,
        verify_sweep_id=record.verify_sweep_id,
        undone_at=record.undone_at if undone else None,
        undone_by=record.undone_by if undone else None,
    )


def _judged(store: Store, done: RemediationDone, sweep_id: str) -> RemediationDone:
    """The remediation with the finding it remediated (from the sweep that judged it), so
    a unit's report can name it in its own language."""
    found = store.latest_findings([done.host], [done.check], sweep_id=sweep_id)[done.host]
    return done.model_copy(update={"judged": found[0][1]}) if found else done


def _remediations(
    store: Store, since: datetime, until: datetime, unit: str | None
) -> list[RemediationDone]:
    """The log's remediations done or undone in [since, until), oldest first; none, and
    nothing written, when the store has no remediations table.

    The log is imported only here, once the store is open: importing it adds its table to
    the schema that opening a Store creates, and RemediationLog creates it too.
    """
    from raquet.remediation_log import RemediationLog, RemediationRow

    if not inspect(store.engine).has_table(RemediationRow.__tablename__):
        return []
    records = RemediationLog(store).between(since, until, unit)
    done = [(r, d) for r in records if (d := _as_of(r, until)) is not None]
    if unit is None:  # a letter counts them; a unit's report names them
        return [d for _, d in done]
    return [_judged(store, d, r.sweep_id) for r, d in done]


def _of_hosts(
    remediations: list[RemediationDone], current: dict[str, UnitSweep]
) -> list[RemediationDone]:
    """Only the remediations of hosts the selected sweep planned."""
    hosts = {(unit, name) for unit, part in current.items() for name in part.planned}
    return [r for r in remediations if (r.unit, r.host) in hosts]


def collect(store: Store, selection: Selection, now: datetime) -> Collected:
    """Reads the sweeps and detections a report of `selection` shows; `now` picks the default week."""
    if selection.sweep and selection.week:
        raise UsageError("give --sweep or --week, not both")
    chosen = _selected_sweep(store, selection.sweep) if selection.sweep else None
    newest = store.history(unit=selection.unit, limit=1)
    if chosen is None and not newest:
        anything = store.history(limit=1)
        if selection.unit and anything:
            known = ", ".join(sorted(_unit_names(anything))) or "none named"
            raise UsageError(f"no sweep ever included unit {selection.unit!r}; units: {known}")
        raise UsageError(f"no sweep recorded yet in {store.url}")
    zone = _zone(chosen or newest[0])
    week = (
        IsoWeek.containing(chosen.started_at, zone)
        if chosen
        else selection.week or IsoWeek.containing(now, zone).shifted(-1)
    )
    period = store.sweeps_between(week.shifted(-1).start(zone), week.end(zone), selection.unit)
    if chosen is not None:
        current = _read_units(store, chosen, selection.unit)
        if selection.unit and not current:
            raise UsageError(f"sweep {chosen.id} did not include unit {selection.unit!r}")
        week_sweeps = [chosen]
    else:
        week_sweeps = [info for info in period if info.started_at >= week.start(zone)]
        if not week_sweeps:
            latest = IsoWeek.containing(newest[0].started_at, zone)
            scope = f" of unit {selection.unit!r}" if selection.unit else ""
            raise UsageError(
                f"no sweep{scope} started in week {week} ({zone.key}); "
                f"the latest one is in week {latest}: try --week {latest}"
            )
        current = _latest_per_unit(store, week_sweeps, selection.unit)
    older = [week.shifted(offset).start(zone) for offset in range(1 - TREND_WEEKS, 0)]
    detections = store.detections_for_report(
        since=older[-1],
        until=week.end(zone),
        unit=selection.unit,
        sweeps=[info.id for info in period],
        back_to=older[0],
    )
    trend_counts = store.detection_counts(older, selection.unit)
    remediations = _remediations(store, week.start(zone), week.end(zone), selection.unit)
    if chosen is not None:
        remediations = _of_hosts(remediations, current)
    newest_read = week_sweeps[0]
    until = min(week.end(zone), max(now, week.start(zone)))
    last_start = week.shifted(-1).start(zone)
    compared_until = last_start + (until - week.start(zone))  # like for like while in progress
    last_week = [info for info in period if last_start <= info.started_at < compared_until]
    return Collected(
        zone=zone,
        week=week,
        until=until,
        province=newest_read.province,
        issuer=str(newest_read.options.get("issuer") or ""),
        unit_names=_unit_names([*week_sweeps, *period]),
        sweep_id=chosen.id if chosen else None,
        period_sweeps=period,
        current=current,
        detections=detections,
        trend_counts=trend_counts,
        remediations=remediations,
        vulns=_vulns(store, current, last_week, selection.unit),
    )
