"""What `raquet inventory check` prints: one row per unit with its host counts, and where the
inventory uses network segments, one row per segment."""

from __future__ import annotations

from typing import Any

from raquet.models import DEFAULT_SEGMENT, Host, Inventory


def describe(inventory: Inventory) -> list[dict[str, str | int]]:
    """One row per unit with its host counts: what `raquet inventory check` shows.

    Rows are dicts keyed by column heading, so `tabulate(rows, headers="keys")` prints them.
    """
    return [_counts(unit.id, unit.display_name, unit.hosts) for unit in inventory.units]


def summary_table(inventory: Inventory) -> str:
    """The units table with a total line, ready to print."""
    total = _counts("", "total", inventory.hosts())
    from tabulate import tabulate  # 60 ms of start-up every command that loads an inventory paid

    return tabulate([*describe(inventory), total], headers="keys")


def uses_segments(inventory: Inventory) -> bool:
    """Whether any host is reached from a segment other than `default`: only then is the
    segments table worth printing (one row saying `default` repeats the total line)."""
    return any(host.segment != DEFAULT_SEGMENT for host in inventory.hosts())


def describe_segments(inventory: Inventory) -> list[dict[str, str | int]]:
    """One row per segment, in name order: how many units (a unit whose hosts sit in two
    segments counts in both) and hosts each segment's jump host reaches."""
    return [
        {
            "segment": segment,
            "units": len({host.unit for host in hosts}),
            "hosts": len(hosts),
            "linux": sum(host.os == "linux" for host in hosts),
            "windows": sum(host.os == "windows" for host in hosts),
        }
        for segment, hosts in inventory.segments().items()
    ]


def describe_hosts(inventory: Inventory) -> list[dict[str, Any]]:
    """Each host with its unit, address, OS, role and segment, for `--json`."""
    return [
        {
            "name": host.name,
            "unit": host.unit,
            "address": host.address,
            "os": host.os,
            "role": host.role,
            "segment": host.segment,
        }
        for host in inventory.hosts()
    ]


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
