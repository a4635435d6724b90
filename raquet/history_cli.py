"""`raquet show`, `raquet diff`, `raquet prune`: the stored history asked the questions a
sysadmin asks of it (what did that sweep find, how has this host fared, what changed
between Monday and Thursday, and make room without breaking the reports).

Sweeps are named by their full id everywhere, and accept what `Store.resolve_sweep`
accepts (a unique prefix of 4+ characters, or `latest`). `--json -` writes the same
facts as a JSON document on stdout, for scripts. The store (SQLAlchemy) and tabulate are
imported by the commands, not with this module, which `raquet.cli` imports for every
command.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from pydantic import BaseModel

from raquet.console import DbOpt, JsonOpt, write_json
from raquet.models import Finding, HostResult
from reports.weeks import IsoWeek

if TYPE_CHECKING:
    from raquet.store import Store, SweepInfo

EXIT_USAGE = 2
DEFAULT_ZONE = "Asia/Ho_Chi_Minh"
_BAD = ("fail", "error")


Change = Literal["new", "fixed", "persisting", "regressed", "not rechecked"]
CHANGES: tuple[Change, ...] = ("new", "fixed", "persisting", "regressed", "not rechecked")


class CheckChange(BaseModel):
    """One host and check whose verdict matters in a diff: failing in either sweep."""

    host: str
    unit: str
    check: str
    change: Change
    before: str | None
    after: str | None
    title_before: str | None = None
    title_after: str | None = None


def _usage(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(EXIT_USAGE)


def _resolve(store: Store, ref: str) -> str:
    from raquet.store import SweepNotFound

    try:
        return store.resolve_sweep(ref)
    except SweepNotFound as exc:
        raise _usage(str(exc)) from None


def _zone(info: SweepInfo) -> ZoneInfo:
    try:
        return ZoneInfo(str(info.options.get("timezone") or DEFAULT_ZONE))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def _when(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %z") if moment else "-"


def _emit_json(target: Path | None, document: Any) -> None:
    if target is not None:
        write_json(target, document)


def _human(target: Path | None) -> bool:
    """Tables go to stdout unless the JSON document does; then they are left out."""
    return target is None or str(target) != "-"


def _verdict(finding: Finding) -> str:
    return f"{finding.status:<14} {finding.check:<12} {finding.title}"


def show(
    ref: Annotated[
        str, typer.Argument(help="A sweep (id, unique prefix, 'latest') or a host name.")
    ],
    limit: Annotated[int, typer.Option(min=1, help="Sweeps shown for a host.")] = 10,
    json_file: JsonOpt = None,
    db: DbOpt = None,
) -> None:
    """Show one sweep (per unit and host, every finding) or one host over its last sweeps."""
    from raquet.store import Store

    with Store(db) as store:
        exact_sweep = ref.lower() == "latest" or _is_sweep(store, ref)
        if not exact_sweep and store.known_host(ref):
            _show_host(store, ref, limit, json_file)
            return
        _show_sweep(store, _resolve(store, ref), json_file)


def _is_sweep(store: Store, ref: str) -> bool:
    from raquet.store import SweepNotFound

    try:
        return store.resolve_sweep(ref) == ref
    except SweepNotFound:
        return False


def _show_sweep(store: Store, sweep_id: str, json_file: Path | None) -> None:
    info = store.sweep_info(sweep_id)
    result = store.sweep_result(sweep_id)
    pending = store.pending_hosts(sweep_id)
    zone = _zone(info)
    units = info.options.get("units")
    names: dict[str, Any] = units if isinstance(units, dict) else {}
    _emit_json(
        json_file,
        {
            "sweep": info.model_dump(mode="json"),
            "hosts": [h.model_dump(mode="json") for h in result.hosts],
            "not_recorded": [{"host": h, "unit": u} for h, u in pending],
        },
    )
    if not _human(json_file):
        return
    print(
        f"sweep {info.id} ({info.status}), started {_when(info.started_at, zone)}, "
        f"finished {_when(info.finished_at, zone)}\n"
        f"inventory {info.inventory}; checks {', '.join(info.checks)}\n"
        f"{info.planned} hosts planned, {info.swept} swept, "
        f"{info.unreachable + info.error} not swept, {info.compliant} compliant"
    )
    by_unit: dict[str, list[HostResult]] = {}
    for host in result.hosts:
        by_unit.setdefault(host.unit, []).append(host)
    for unit, hosts in by_unit.items():
        label = names.get(unit)
        print(f"\nunit {unit}" + (f" ({label})" if label and label != unit else ""))
        for host in hosts:
            state = "compliant" if host.compliant else host.status
            print(f"  {host.name} [{state}]" + (f": {host.error}" if host.error else ""))
            for finding in host.findings:
                print(f"    {_verdict(finding)}")
    if pending:
        print("\nplanned, no result stored (sweep unfinished):")
        for name, unit_id in pending:
            print(f"  {name} ({unit_id})")


def _show_host(store: Store, host: str, limit: int, json_file: Path | None) -> None:
    from tabulate import tabulate

    history = store.host_history(host, limit)
    _emit_json(
        json_file,
        {
            "host": host,
            "sweeps": [
                {"sweep": info.model_dump(mode="json"), "result": result.model_dump(mode="json")}
                for info, result in history
            ],
        },
    )
    if not _human(json_file):
        return
    if not history:
        print(f"host {host}: planned by a sweep, but no result stored yet")
        return
    checks = sorted({f.check for _, result in history for f in result.findings})
    rows = []
    for info, result in history:
        by_check = {f.check: f.status for f in result.findings}
        rows.append(
            [
                info.id,
                _when(info.started_at, _zone(info)),
                result.status,
                *(by_check.get(check, "-") for check in checks),
            ]
        )
    print(f"host {host} (unit {history[0][1].unit}), newest first")
    print(tabulate(rows, headers=["sweep", "started", "status", *checks]))
    newest = history[0][1]
    if newest.error:
        print(f"\nlatest: {newest.status}: {newest.error}")
    failing = [f for f in newest.findings if f.status in _BAD]
    if failing:
        print("\nlatest failing findings:")
        for finding in failing:
            print(f"  {_verdict(finding)}")


def compare(before: list[HostResult], after: list[HostResult]) -> list[CheckChange]:
    """Every host and check failing in either sweep, and how it changed from `before` to `after`.

    A check that failed before and has no verdict after (the host was not reached, or the
    check not run) is `not rechecked`, never `fixed`: only a verdict clears a finding.
    """
    old = {h.name: h for h in before}
    new = {h.name: h for h in after}
    changes: list[CheckChange] = []
    for name in sorted(old.keys() | new.keys()):
        a, b = old.get(name), new.get(name)
        fa = {f.check: f for f in a.findings} if a else {}
        fb = {f.check: f for f in b.findings} if b else {}
        unit = b.unit if b else a.unit if a else ""
        for check in sorted(fa.keys() | fb.keys()):
            x, y = fa.get(check), fb.get(check)
            change = _change(x.status if x else None, y.status if y else None)
            if change is None:
                continue
            changes.append(
                CheckChange(
                    host=name,
                    unit=unit,
                    check=check,
                    change=change,
                    before=x.status if x else None,
                    after=y.status if y else None,
                    title_before=x.title if x else None,
                    title_after=y.title if y else None,
                )
            )
    return changes


def _change(before: str | None, after: str | None) -> Change | None:
    was_bad, is_bad = before in _BAD, after in _BAD
    if was_bad and is_bad:
        return "persisting"
    if was_bad:
        return "not rechecked" if after is None else "fixed"
    if is_bad:
        return "new" if before is None else "regressed"
    return None


def _reach(before: list[HostResult], after: list[HostResult]) -> list[dict[str, Any]]:
    """Hosts whose reachability differs: swept in one sweep, not in the other."""
    old = {h.name: h for h in before}
    rows = []
    for host in after:
        was = old.get(host.name)
        if was is not None and (was.status == "swept") != (host.status == "swept"):
            rows.append(
                {
                    "host": host.name,
                    "before": was.status,
                    "after": host.status,
                    "reason": host.error or was.error,
                }
            )
    return rows


def diff(
    sweep_a: Annotated[str, typer.Argument(help="The earlier sweep (id, prefix, 'latest').")],
    sweep_b: Annotated[str, typer.Argument(help="The later sweep.")],
    json_file: JsonOpt = None,
    db: DbOpt = None,
) -> None:
    """What changed per host and check between two sweeps: new, fixed, persisting, regressed."""
    from tabulate import tabulate

    from raquet.store import Store

    with Store(db) as store:
        id_a, id_b = _resolve(store, sweep_a), _resolve(store, sweep_b)
        before, after = store.sweep_result(id_a), store.sweep_result(id_b)
    changes = compare(before.hosts, after.hosts)
    reach = _reach(before.hosts, after.hosts)
    counts = {kind: sum(c.change == kind for c in changes) for kind in CHANGES}
    _emit_json(
        json_file,
        {
            "before": id_a,
            "after": id_b,
            "counts": counts,
            "changes": [c.model_dump(mode="json") for c in changes],
            "reachability": reach,
        },
    )
    if not _human(json_file):
        return
    print(f"from sweep {id_a}\n  to sweep {id_b}")
    print(", ".join(f"{n} {kind}" for kind, n in counts.items()))
    if changes:
        rows = [
            [
                c.change,
                c.host,
                c.check,
                c.before or "-",
                c.after or "-",
                c.title_after or c.title_before,
            ]
            for c in sorted(changes, key=lambda c: (CHANGES.index(c.change), c.host, c.check))
        ]
        print(tabulate(rows, headers=["change", "host", "check", "before", "after", "finding"]))
    for row in reach:
        print(
            f"{row['host']}: {row['before']} -> {row['after']}"
            + (f" ({row['reason']})" if row["reason"] else "")
        )


def prune(
    before: Annotated[
        datetime, typer.Option("--before", formats=["%Y-%m-%d"], help="Date (YYYY-MM-DD).")
    ],
    db: DbOpt = None,
) -> None:
    """Delete the host results of sweeps older than the week before DATE's week.

    A weekly report compares its week with the one before, so the week before DATE's
    week is kept too; detections, their first-seen sweeps and pending-update first-seen
    dates are never deleted, so kept weeks report exactly as before.
    """
    from raquet.store import Store

    with Store(db) as store:
        newest = store.history(limit=1)
        zone = _zone(newest[0]) if newest else ZoneInfo(DEFAULT_ZONE)
        cutoff = _cutoff(before.date(), zone)
        done = store.prune(cutoff)
    print(
        f"pruned sweeps started before {_when(cutoff, zone)} ({zone.key}): "
        f"{done.host_results} host results and {done.findings} findings of {done.sweeps} sweeps; "
        f"{done.sweeps_deleted} sweeps deleted, "
        f"{done.sweeps - done.sweeps_deleted} kept (detections or remediations name them)"
    )


def _cutoff(day: date, zone: ZoneInfo) -> datetime:
    """Local midnight of the Monday a week before `day`'s ISO week, as UTC."""
    week = IsoWeek.containing(datetime.combine(day, datetime.min.time(), zone), zone)
    return week.shifted(-1).start(zone).astimezone(UTC)
