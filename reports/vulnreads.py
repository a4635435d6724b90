"""What a report reads of the `vulns` findings, decided in SQL.

A `vulns` finding's evidence lists up to 50 vulnerabilities with their components,
versions and fixes; a letter for thousands of hosts needs only a few numbers of each, so
they are taken out of the evidence by the database (`json_extract` on SQLite, `->>` on
PostgreSQL) and the most widespread component is counted there too (`json_each`,
`json_array_elements_text`). Only a unit's report reads its hosts' evidence whole, for
the components and CVEs it names (`reports.weaknesses`).

The selection is given as each unit's sweep (`unit -> sweep id`), the sweep a report's
other host figures come from, so that every machine is counted once, from the same sweep.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_, false, func, or_, select, true, union
from sqlalchemy.engine import Connection
from sqlalchemy.sql.selectable import TableValuedAlias

from raquet.store import Store
from raquet.store.schema import FindingRow, HostResultRow, PlannedHostRow

JUDGED = ("pass", "fail", "waived")
"""A `vulns` finding that compared the host with vulnerability data (a waived one failed,
and an approver accepted it). `not_applicable` (no data covers the host) and `error`
judged nothing: such a host was not checked for weaknesses, which is not clean."""


class VulnHostRow(BaseModel):
    """One swept or unswept host of the selection and its `vulns` finding, in numbers;
    `status` is None when the host has no `vulns` finding (not swept, or a sweep
    without the check)."""

    unit: str
    host: str
    status: str | None
    os: str = ""
    critical: int = 0
    high: int = 0
    failing: int = 0
    """Vulnerabilities at or above the sweep's policy threshold (`vulns.fail_on`)."""

    @property
    def judged(self) -> bool:
        return self.status in JUDGED


class VulnReads(BaseModel):
    """What a report reads of the `vulns` findings: this week's hosts (each unit's sweep of
    the week), last week's, and the components on most failing machines this week."""

    hosts: list[VulnHostRow]
    previous: list[VulnHostRow]
    components: tuple[list[str], int]


def _of(parts: Mapping[str, str]) -> ColumnElement[bool]:
    """Host results of each unit's own sweep."""
    by_sweep: dict[str, list[str]] = {}
    for unit, sweep_id in parts.items():
        by_sweep.setdefault(sweep_id, []).append(unit)
    if not by_sweep:
        return false()
    return or_(
        *(
            and_(HostResultRow.sweep_id == sweep_id, HostResultRow.unit.in_(sorted(units)))
            for sweep_id, units in sorted(by_sweep.items())
        )
    )


def vuln_hosts(store: Store, parts: Mapping[str, str]) -> list[VulnHostRow]:
    """Every host result of `parts` with its `vulns` figures, by unit then host."""
    evidence = FindingRow.evidence
    query = (
        select(
            HostResultRow.unit,
            HostResultRow.host,
            FindingRow.status,
            evidence["os"].as_string(),
            evidence[("by_severity", "critical")].as_integer(),
            evidence[("by_severity", "high")].as_integer(),
            evidence["failing"].as_integer(),
        )
        .select_from(HostResultRow)
        .outerjoin(
            FindingRow,
            and_(FindingRow.host_result_id == HostResultRow.id, FindingRow.check == "vulns"),
        )
        .where(_of(parts))
        .order_by(HostResultRow.unit, HostResultRow.host, FindingRow.id)
    )
    rows: dict[tuple[str, str], VulnHostRow] = {}
    with store.engine.connect() as connection:
        for unit, host, status, os_label, critical, high, failing in connection.execute(query):
            rows.setdefault(
                (unit, host),
                VulnHostRow(
                    unit=unit,
                    host=host,
                    status=status,
                    os=os_label or "",
                    critical=critical or 0,
                    high=high or 0,
                    failing=failing or 0,
                ),
            )
    return list(rows.values())


def _components(connection: Connection) -> TableValuedAlias:
    """Each failing component of a finding as a row of its own: a table function over the
    finding's evidence (PostgreSQL's function calls in FROM see the tables before them)."""
    if connection.dialect.name == "postgresql":
        listed = func.json_array_elements_text(FindingRow.evidence["failing_components"])
    else:
        listed = func.json_each(FindingRow.evidence, "$.failing_components")
    return listed.table_valued("value")


def widest_components(store: Store, parts: Mapping[str, str]) -> tuple[list[str], int]:
    """The component(s) on most machines with failing weaknesses (ties by name) and that
    number of machines; ([], 0) when no machine has any."""
    with store.engine.connect() as connection:
        listed = _components(connection)
        component = listed.c.value
        counted = (
            select(
                component.label("component"),
                func.count(func.distinct(FindingRow.host_result_id)).label("machines"),
            )
            .select_from(FindingRow)
            .join(HostResultRow, FindingRow.host_result_id == HostResultRow.id)
            .join(listed, true())
            .where(_of(parts), FindingRow.check == "vulns", FindingRow.status.in_(JUDGED))
            .group_by(component)
            .cte("counted")
        )
        most = select(func.max(counted.c.machines)).scalar_subquery()
        query = (
            select(counted.c.component, counted.c.machines)
            .where(counted.c.machines == most)
            .order_by(counted.c.component)
        )
        found = connection.execute(query).all()
    return [str(name) for name, _ in found], int(found[0][1]) if found else 0


def sweep_units(store: Store, sweep_ids: list[str]) -> dict[str, set[str]]:
    """The units each sweep planned or recorded a host of, without reading its results."""
    if not sweep_ids:
        return {}
    planned = select(PlannedHostRow.sweep_id, PlannedHostRow.unit).where(
        PlannedHostRow.sweep_id.in_(sweep_ids)
    )
    recorded = select(HostResultRow.sweep_id, HostResultRow.unit).where(
        HostResultRow.sweep_id.in_(sweep_ids)
    )
    units: dict[str, set[str]] = {}
    with store.engine.connect() as connection:
        for sweep_id, unit in connection.execute(union(planned, recorded)):
            units.setdefault(sweep_id, set()).add(unit)
    return units
