"""What `raquet inventory check` prints: one row per unit with its host counts."""

from __future__ import annotations

from tabulate import tabulate

from raquet.models import Host, Inventory


def describe(inventory: Inventory) -> list[dict[str, str | int]]:
    """One row per unit with its host counts: what `raquet inventory check` shows.

    Rows are dicts keyed by column heading, so `tabulate(rows, headers="keys")` prints them.
    """
    return [_counts(unit.id, unit.display_name, unit.hosts) for unit in inventory.units]


def summary_table(inventory: Inventory) -> str:
    """The units table with a total line, ready to print."""
    total = _counts("", "total", inventory.hosts())
    return tabulate([*describe(inventory), total], headers="keys")


def _counts(unit: str, name: str, hosts: list[Host]) -> dict[str, str | int]:
    return {
        "unit": unit,
        "name": name,
        "hosts": len(hosts),
        "linux": sum(host.os == "linux" for host in hosts),
        "windows": sum(host.os == "windows" for host in hosts),
        "servers": sum(host.role == "server" for host in hosts),
        "workstations": sum(host.role == "workstation" for host in hosts),
    }
