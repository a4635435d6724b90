"""The raquet YAML inventory (SPEC §1): province settings, defaults and units of hosts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from raquet.errors import InputError, Problem
from raquet.inventory.common import (
    SECRET_HINTS,
    Meta,
    input_error,
    raise_if,
    secret_paths,
    warn_shared_addresses,
)
from raquet.models import HostSettings, Inventory, Segment, Unit
from raquet.yamlfile import (
    Loc,
    dotted,
    line_of,
    to_plain,
    yaml_problems,
)


class UnitEntry(Unit):
    """A unit as written: it may name the segment its hosts are reached from, which each
    of its hosts takes unless it names its own (the loaded `Unit` has no segment: hosts do)."""

    segment: Segment | None = None


class InventoryFile(Meta):
    """The raquet YAML inventory (SPEC §1) as written, before hosts know their unit."""

    defaults: HostSettings = Field(default_factory=HostSettings)
    units: list[UnitEntry] = Field(min_length=1)


def load_raquet_yaml(path: Path, data: Any) -> Inventory:
    file = str(path)
    if not isinstance(data, Mapping):
        expected = "expected a mapping with province, defaults and units"
        raise InputError([Problem(file, line_of(data, ()), "", expected)])
    problems = [
        Problem(file, line_of(data, loc), dotted(loc), hint) for loc, hint in secret_paths(data)
    ]
    problems += _listing_problems(file, data)
    plain = _with_defaults(_without_secrets(to_plain(data)))
    try:
        doc = InventoryFile.model_validate(plain)
    except ValidationError as err:
        found = yaml_problems(file, data, err, InventoryFile)
        raise input_error(problems + found) from None
    raise_if(problems)
    placed = []
    for i, unit in enumerate(doc.units):
        for j, host in enumerate(unit.hosts):
            host.unit = unit.id
            loc = ("units", i, "hosts", j, "address")
            placed.append((host, line_of(data, loc), dotted(loc)))
    warn_shared_addresses(file, placed)
    units = [Unit(id=unit.id, name=unit.name, hosts=unit.hosts) for unit in doc.units]
    return Inventory(source=path, units=units, **doc.fields())


def load_raquet_plain(path: Path, data: Any) -> Inventory | None:
    """The inventory from plain data (what a fast parser read, without line numbers) when
    nothing in it is to be reported, as `load_raquet_yaml` would return it; None when
    anything is (an error, or a warning such as a shared address), so that the caller
    reads the file with line numbers and `load_raquet_yaml` says where."""
    if not isinstance(data, Mapping) or next(secret_paths(data), None) is not None:
        return None
    if _listing_problems(str(path), data):
        return None
    try:
        doc = InventoryFile.model_validate(_with_defaults(_without_secrets(data)))
    except ValidationError:
        return None
    places = [(h.address.lower(), h.ssh_port, h.winrm_port) for u in doc.units for h in u.hosts]
    if len(set(places)) != len(places):
        return None
    for unit in doc.units:
        for host in unit.hosts:
            host.unit = unit.id
    units = [Unit(id=unit.id, name=unit.name, hosts=unit.hosts) for unit in doc.units]
    return Inventory(source=path, units=units, **doc.fields())


def _without_secrets(node: Any) -> Any:
    """Drop password keys (already reported) so they are not reported again as unknown keys."""
    if isinstance(node, dict):
        return {k: _without_secrets(v) for k, v in node.items() if k not in SECRET_HINTS}
    if isinstance(node, list):
        return [_without_secrets(item) for item in node]
    return node


def _with_defaults(plain: Any) -> Any:
    """Give each host the settings it does not set itself: its unit's `segment`, else the
    `defaults`.

    The merge is shallow: a host's `tags` or `data` replaces the default's whole. Invalid
    defaults (or an invalid unit segment) are left out; they are reported once, at their
    own line, not under every host.
    """
    if not isinstance(plain, dict):
        return plain
    defaults = plain.get("defaults") or {}
    if not _valid_settings(defaults):
        defaults = {}
    for unit in _items(plain.get("units")):
        hosts = unit.get("hosts")
        inherited = dict(defaults)
        if "segment" in unit and _valid_settings({"segment": unit["segment"]}):
            inherited["segment"] = unit["segment"]
        if isinstance(hosts, list) and inherited:
            unit["hosts"] = [{**inherited, **h} if isinstance(h, dict) else h for h in hosts]
    return plain


def _valid_settings(settings: Any) -> bool:
    try:
        HostSettings.model_validate(settings)
    except ValidationError:
        return False
    return True


def _items(node: Any) -> list[Any]:
    """The mappings in a list of mappings; anything else in it is pydantic's to report."""
    return [item for item in node if isinstance(item, Mapping)] if isinstance(node, list) else []


def _listing_problems(file: str, data: Mapping[str, Any]) -> list[Problem]:
    """What pydantic cannot see in one host at a time: repeated ids and names, misplaced `unit`."""
    unit_ids: list[tuple[Loc, Any]] = []
    host_names: list[tuple[Loc, Any]] = []
    problems = []
    units = data.get("units")
    for i, unit in enumerate(units if isinstance(units, list) else []):
        if not isinstance(unit, Mapping):
            continue
        unit_ids.append((("units", i, "id"), unit.get("id")))
        hosts = unit.get("hosts")
        for j, host in enumerate(hosts if isinstance(hosts, list) else []):
            if not isinstance(host, Mapping):
                continue
            host_names.append((("units", i, "hosts", j, "name"), host.get("name")))
            if "unit" in host:
                loc = ("units", i, "hosts", j, "unit")
                message = "a host belongs to the unit it is listed under; remove 'unit'"
                problems.append(Problem(file, line_of(data, loc), dotted(loc), message))
    problems += _duplicates(file, data, unit_ids, "unit id")
    problems += _duplicates(file, data, host_names, "host name")
    return problems


def _duplicates(file: str, data: Any, entries: list[tuple[Loc, Any]], what: str) -> list[Problem]:
    """Each repeat of a value, at its own line, naming the line it repeats."""
    first: dict[str, int | None] = {}
    problems = []
    for loc, value in entries:
        if not isinstance(value, str):
            continue
        line = line_of(data, loc)
        if value in first:
            message = f"duplicate {what} '{value}' (lines {first[value]} and {line})"
            problems.append(Problem(file, line, dotted(loc), message))
        else:
            first[value] = line
    return problems
