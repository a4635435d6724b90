"""The figures of a report, computed from what `collect` read.

Counting rules (printed in every report's notes, keep them in step):
- detections: each stored detection once, in the ISO week (province zone) of its own
  `detected_at`; infected machines: distinct hosts with at least one; malware types:
  distinct names as the antivirus reported them (vendors name one family differently).
- hosts in scope: the planned hosts of the unit's sweep; compliant: swept and no check
  failed or errored (`HostResult.compliant`).
- cleaned (campaign form "số máy đã xử lý"): each host once, if either
  - its `infections` check passes in its unit's sweep of the week, and it was infected
    earlier in the period (this ISO week and the one before): a detection dated in the
    period, or recorded by a sweep of the period, before that passing sweep; or
  - an `infections` remediation of the host was recorded `fixed` in the week (the
    re-sweep after it passed) and was not undone by the week's end.
- remediations: those of the remediation log done (finished, or started if the log has
  no end) or undone in the week, counted by how they stand at the week's end: fixed,
  failed, unverified, or undone once taken back. A remediation still `planned` never
  ran to an outcome (raquet stopped, or nothing was applied) and is not counted.
- weaknesses (`vulns`): see `reports.weaknesses`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Container, Iterable
from datetime import datetime
from pathlib import Path

from raquet.store import StoredDetection
from reports import weaknesses
from reports.change import Change
from reports.collect import TREND_WEEKS, Collected, UnitSweep
from reports.connections import counts as connection_counts
from reports.connections import rows_of as connection_rows
from reports.explain import Explainer
from reports.formatting import Formatter, Lang
from reports.labels import labels
from reports.model import (
    CleanedHost,
    ConnectionRow,
    DetectionRow,
    FailingFinding,
    InfectedHost,
    MalwareRow,
    Metrics,
    RemediationCounts,
    RemediationDone,
    Report,
    SweepRef,
    Totals,
    UnitRow,
    UnsweptHost,
    WaiverRow,
    WeekPoint,
)
from reports.text import clean_json
from reports.weeks import IsoWeek

HostKey = tuple[str, str]  # (unit, host)


def _weeks(data: Collected) -> list[IsoWeek]:
    """The weeks of the trend, oldest first; the last one is the reported week."""
    return [data.week.shifted(offset - TREND_WEEKS + 1) for offset in range(TREND_WEEKS)]


def _this_and_last(data: Collected) -> tuple[list[StoredDetection], list[StoredDetection]]:
    """The reported week's detections (up to `until`) and the week before's."""
    start, last_start = data.week.start(data.zone), data.week.shifted(-1).start(data.zone)
    this = [d for d in data.detections if start <= d.detected_at < data.until]
    last = [d for d in data.detections if last_start <= d.detected_at < start]
    return this, last


def _like_for_like(data: Collected, last: list[StoredDetection]) -> list[StoredDetection]:
    """Last week's detections over as much of it as this week has had: a week still in
    progress is compared with the same days (and hours) of the week before."""
    elapsed = data.until - data.week.start(data.zone)
    cutoff = data.week.shifted(-1).start(data.zone) + elapsed
    return [d for d in last if d.detected_at < cutoff]


def _complete(data: Collected) -> bool:
    return data.until >= data.week.end(data.zone)


def _hosts(detections: Iterable[StoredDetection]) -> set[HostKey]:
    return {(d.unit, d.host) for d in detections}


def _metrics(this: list[StoredDetection], last: list[StoredDetection]) -> Metrics:
    return Metrics(
        detections=Change(current=len(this), previous=len(last)),
        infected=Change(current=len(_hosts(this)), previous=len(_hosts(last))),
        malware=Change(current=len({d.name for d in this}), previous=len({d.name for d in last})),
    )


def _ranked(counts: Counter[str]) -> list[tuple[str, int]]:
    """Most first, ties by name, so the same data always gives the same order."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _counts(rows: Iterable[RemediationDone]) -> RemediationCounts:
    return RemediationCounts.model_validate(dict(Counter(r.status for r in rows)))


def _cleaned(data: Collected) -> dict[HostKey, CleanedHost]:
    """Hosts verified clean this week by a sweep or a fixed remediation (module docstring)."""
    swept = _cleaned_by_sweep(data)
    cleaned = dict(swept)
    seen: dict[HostKey, list[datetime]] = defaultdict(list)
    for d in data.detections:
        seen[(d.unit, d.host)].append(d.detected_at)
    for r in data.remediations:  # in time order: a host's latest fix is the one shown
        if r.check != "infections" or r.status != "fixed":
            continue
        key = (r.unit, r.host)
        if key in swept:
            cleaned[key] = swept[key].model_copy(update={"remediation_id": r.id})
            continue
        cleaned[key] = CleanedHost(
            unit=r.unit,
            host=r.host,
            last_infected=max((at for at in seen[key] if at < r.done_at), default=None),
            verified_at=r.done_at,
            sweep_id=r.verify_sweep_id,
            remediation_id=r.id,
        )
    return dict(sorted(cleaned.items()))


def _cleaned_by_sweep(data: Collected) -> dict[HostKey, CleanedHost]:
    """Hosts verified clean by this week's sweep after an infection in the period."""
    period_start = data.week.shifted(-1).start(data.zone)
    period_sweeps = {info.id for info in data.period_sweeps}
    infected_at: dict[HostKey, list[datetime]] = defaultdict(list)
    for d in data.detections:
        if d.detected_at >= period_start or d.first_sweep_id in period_sweeps:
            infected_at[(d.unit, d.host)].append(d.detected_at)
    cleaned = {}
    for unit, part in data.current.items():
        for host in part.hosts:
            verified = host.started_at or part.sweep.started_at
            passing = host.infections_pass
            before = [seen for seen in infected_at[(unit, host.name)] if seen < verified]
            if host.status == "swept" and passing and before:
                cleaned[(unit, host.name)] = CleanedHost(
                    unit=unit,
                    host=host.name,
                    last_infected=max(before),
                    verified_at=verified,
                    sweep_id=part.sweep.id,
                )
    return cleaned


def _unit_row(
    unit: str,
    name: str,
    part: UnitSweep | None,
    this: list[StoredDetection],
    last: list[StoredDetection],
    cleaned: int,
    remediations: RemediationCounts,
    vulns: tuple[int, int, int],
) -> UnitRow:
    top = _ranked(Counter(d.name for d in this))[:1]
    hosts = part.hosts if part else []
    swept = sum(1 for h in hosts if h.status == "swept")
    planned = len(part.planned) if part else 0
    return UnitRow(
        unit=unit,
        name=name,
        sweep_id=part.sweep.id if part else None,
        in_scope=planned,
        swept=swept,
        not_swept=planned - swept,
        compliant=sum(1 for h in hosts if h.compliant),
        infected=len(_hosts(this)),
        detections=Change(current=len(this), previous=len(last)),
        malware=len({d.name for d in this}),
        top_malware=top[0][0] if top else None,
        top_malware_count=top[0][1] if top else 0,
        cleaned=cleaned,
        remediations=remediations,
        vulns_checked=vulns[0],
        vulns_failing=vulns[1],
        vulns_critical=vulns[2],
    )


def _infected_hosts(
    this: list[StoredDetection], names: dict[str, str], cleaned: Container[HostKey]
) -> list[InfectedHost]:
    grouped: dict[HostKey, list[StoredDetection]] = defaultdict(list)
    for d in this:
        grouped[(d.unit, d.host)].append(d)
    rows = [
        InfectedHost(
            unit=unit,
            unit_name=names.get(unit, unit),
            host=host,
            detections=len(found),
            malware=[n for n, _ in _ranked(Counter(d.name for d in found))],
            first_seen=min(d.detected_at for d in found),
            last_seen=max(d.detected_at for d in found),
            cleaned=(unit, host) in cleaned,
        )
        for (unit, host), found in grouped.items()
    ]
    return sorted(rows, key=lambda r: (-r.detections, r.unit, r.host))


def _malware(this: list[StoredDetection]) -> list[MalwareRow]:
    hosts: dict[str, set[HostKey]] = defaultdict(set)
    for d in this:
        hosts[d.name].add((d.unit, d.host))
    return [
        MalwareRow(
            name=name,
            detections=count,
            hosts=len(hosts[name]),
            units=len({unit for unit, _ in hosts[name]}),
        )
        for name, count in _ranked(Counter(d.name for d in this))
    ]


def _connections(current: dict[str, UnitSweep]) -> list[ConnectionRow]:
    return [
        row
        for unit, part in sorted(current.items())
        for host in part.hosts
        for row in connection_rows(unit, host.name, host.findings)
    ]


def _signature_days(part: UnitSweep) -> float | None:
    """The signature age limit the unit's sweep judged by (its stored policy)."""
    policy = part.sweep.options.get("policy_document")
    av = policy.get("av") if isinstance(policy, dict) else None
    limit = av.get("max_signature_age_days") if isinstance(av, dict) else None
    return float(limit) if isinstance(limit, int | float) else None


def _failing(part: UnitSweep, explainer: Explainer) -> list[FailingFinding]:
    """What the unit must act on: failed checks and checks that could not judge (`error`),
    among them a host whose output was tampered with (the sweep's critical error finding
    with `evidence.tampered`), each explained in the report's language."""
    limit = _signature_days(part)
    rows = []
    for host in part.hosts:
        for f in host.findings:
            if f.status not in ("fail", "error"):
                continue
            explained = explainer.explain(f, limit)
            rows.append(
                FailingFinding(
                    unit=host.unit,
                    host=host.name,
                    check=f.check,
                    status=f.status,
                    severity=f.severity,
                    title=explained["title"],
                    detail=explained["detail"],
                    check_title=f.title,
                    evidence=f.evidence,
                )
            )
    return rows


def _waivers(part: UnitSweep) -> list[WaiverRow]:
    """The waivers that applied in the unit's sweep (`evidence.waivers` of waived findings),
    then those that lapsed (`evidence.waiver_expired` of findings failing again)."""
    rows = []
    for host in part.hosts:
        for f in host.findings:
            for key, expired in (("waivers", False), ("waiver_expired", True)):
                for w in f.evidence.get(key) or []:
                    if isinstance(w, dict):
                        rows.append(
                            WaiverRow(
                                host=host.name,
                                check=f.check,
                                item=str(w.get("item") or ""),
                                reason=str(w.get("reason", "")),
                                approved_by=str(w.get("approved_by", "")),
                                expires=str(w.get("expires", "")),
                                expired=expired,
                            )
                        )
    return rows


def _ordered(data: Collected, unit_ids: list[str]) -> list[str]:
    """Units in the order the inventory (or the report settings) names them, then any other
    unit met in the week by id: a letter's recipients stay in one order week to week."""
    named = list(data.unit_names)
    return named + [uid for uid in unit_ids if uid not in data.unit_names]


def _unswept(unit: str, part: UnitSweep, explainer: Explainer) -> list[UnsweptHost]:
    results = {h.name: h for h in part.hosts}
    rows = []
    for name in part.planned:
        host = results.get(name)
        if host is None or host.status != "swept":
            status = host.status if host else "pending"
            error = (host.error or "") if host else ""
            rows.append(
                UnsweptHost(
                    unit=unit,
                    host=name,
                    status=status,
                    reason=explainer.unswept(status, error),
                    error=error,
                )
            )
    return rows


def build(
    data: Collected, unit: str | None, lang: Lang, now: datetime, templates: Path | None = None
) -> Report:
    """The province letter of `data`, or the report of one unit of it.

    Computed on the store's text as it is, then every string of the result goes through
    `reports.text.clean` in one pass: no field can be forgotten.
    """
    complete = _complete(data)
    this, whole_last = _this_and_last(data)
    last = whole_last if complete else _like_for_like(data, whole_last)
    cleaned = _cleaned(data)
    done_by_unit: dict[str, list[RemediationDone]] = defaultdict(list)
    for r in data.remediations:
        done_by_unit[r.unit].append(r)
    this_by_unit: dict[str, list[StoredDetection]] = defaultdict(list)
    last_by_unit: dict[str, list[StoredDetection]] = defaultdict(list)
    for d in this:
        this_by_unit[d.unit].append(d)
    for d in last:
        last_by_unit[d.unit].append(d)
    unit_ids = sorted(set(data.current) | set(this_by_unit) | set(last_by_unit) | set(done_by_unit))
    vulns_by_unit = weaknesses.by_unit(data.vulns)
    units = [
        _unit_row(
            uid,
            data.unit_names.get(uid, uid),
            data.current.get(uid),
            this_by_unit[uid],
            last_by_unit[uid],
            sum(1 for u, _ in cleaned if u == uid),
            _counts(done_by_unit[uid]),
            vulns_by_unit.get(uid, (0, 0, 0)),
        )
        for uid in unit_ids
    ]
    most = max((u.detections.current for u in units), default=0)
    by_sweep: dict[str, list[str]] = defaultdict(list)
    for uid, part in data.current.items():
        by_sweep[part.sweep.id].append(uid)
    sweeps = {part.sweep.id: part.sweep for part in data.current.values()}
    connections = _connections(data.current)
    report = Report(
        kind="province" if unit is None else "unit",
        lang=lang,
        province=data.province,
        issuer=[line.strip() for line in data.issuer.splitlines() if line.strip()],
        timezone=data.zone.key,
        week=str(data.week),
        period_start=data.week.monday,
        period_end=data.week.sunday if complete else data.until.astimezone(data.zone).date(),
        complete=complete,
        until=None if complete else data.until.astimezone(data.zone),
        compared_until=None
        if complete
        else (
            data.week.shifted(-1).start(data.zone) + (data.until - data.week.start(data.zone))
        ).astimezone(data.zone),
        generated_at=now.astimezone(data.zone),
        sweep_id=data.sweep_id,
        sweeps=[
            SweepRef(
                id=s.id, started_at=s.started_at, status=s.status, units=sorted(by_sweep[s.id])
            )
            for s in sorted(sweeps.values(), key=lambda s: s.started_at, reverse=True)
        ],
        metrics=_metrics(this, last),
        top_units=[u.name for u in units if most and u.detections.current == most],
        top_units_detections=most,
        unit_order=[data.unit_names.get(uid, uid) for uid in _ordered(data, unit_ids)],
        units=sorted(units, key=lambda u: (-u.detections.current, u.name)),
        totals=Totals(
            in_scope=sum(u.in_scope for u in units),
            swept=sum(u.swept for u in units),
            not_swept=sum(u.not_swept for u in units),
            compliant=sum(u.compliant for u in units),
            cleaned=len(cleaned),
            remediations=_counts(data.remediations),
        ),
        malware=_malware(this),
        trend=[
            WeekPoint(week=str(week), monday=week.monday, detections=n, infected=hosts)
            for week, (n, hosts) in zip(
                _weeks(data),
                [
                    *data.trend_counts,
                    (len(whole_last), len(_hosts(whole_last))),
                    (len(this), len(_hosts(this))),
                ],
                strict=True,
            )
        ],
        infected_hosts=_infected_hosts(this, data.unit_names, cleaned),
        connections=connections,
        connection_counts=connection_counts(connections),
        cleaned=list(cleaned.values()),
        vulns=weaknesses.counts(data.vulns, sum(u.in_scope for u in units)),
    )
    if unit is not None:
        part = data.current[unit]
        report.unit = next(row for row in units if row.unit == unit)
        report.detections = [
            DetectionRow.model_validate(d, from_attributes=True)
            for d in sorted(this, key=lambda d: (d.detected_at, d.host, d.name))
        ]
        explainer = Explainer(templates, Formatter(lang, data.zone), labels(lang))
        report.failing = _failing(part, explainer)
        report.waivers = _waivers(part)
        report.unswept = _unswept(unit, part, explainer)
        report.vulns_hosts = weaknesses.hosts(part, data.vulns.hosts)
        report.top_cves = weaknesses.top_cves(part, data.vulns.hosts)
        report.vulns_unchecked = weaknesses.unchecked(
            part, data.vulns.hosts, explainer, labels(lang)
        )
        report.remediations = [
            r.model_copy(update={"finding_title": explainer.explain(r.judged)["title"]})
            if r.judged is not None and r.judged.status in ("fail", "error")
            else r
            for r in data.remediations
        ]
    return Report.model_validate(clean_json(report.model_dump()))
