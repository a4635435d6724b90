"""Inventories: raquet YAML, pyinfra Python and Ansible INI/YAML, all read into one `Inventory`.

Provinces already keep their machines in pyinfra or Ansible inventories, so raquet reads
those as they are; whatever the format, the result is the same validated `Inventory`
and every mistake is a `Problem` with file, line and field. Nothing is returned from an
invalid file, so nothing is ever swept from one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml.reader import Reader

from raquet.errors import InputError, Problem
from raquet.inventory.ansible import GROUP_KEYS, load_ansible_ini, load_ansible_yaml, looks_like_ini
from raquet.inventory.common import MAX_ENTRIES, UNGROUPED, with_resolved_paths
from raquet.inventory.pyinfra_py import load_pyinfra
from raquet.inventory.raquet_yaml import InventoryFile, load_raquet_plain, load_raquet_yaml
from raquet.inventory.summary import (
    describe,
    describe_hosts,
    describe_segments,
    summary_table,
    uses_segments,
)
from raquet.models import Inventory
from raquet.yamlfile import MAX_DEPTH, MAX_DIGITS, load_yaml, read_input

__all__ = [
    "MAX_ENTRIES",
    "UNGROUPED",
    "describe",
    "describe_hosts",
    "describe_segments",
    "load_inventory",
    "summary_table",
    "uses_segments",
]


def load_inventory(path: Path) -> Inventory:
    """Read and validate the inventory at `path`, whatever its format; raise `InputError` if bad.

    The format follows the file name: `.py` is a pyinfra inventory, `.ini` (or a file
    without extension holding `[group]` sections or `host key=value` lines) is an Ansible
    INI inventory, and `.yml`/`.yaml` is a raquet inventory, or an Ansible YAML one when
    its top level is `all:` or Ansible groups.

    In `ssh_key`, `known_hosts` and `winrm_ca_bundle`, `~` is expanded, and a relative
    path is taken from the inventory file's directory when the file exists there, and
    from the current directory otherwise. That way an inventory can ship its own
    `known_hosts` next to it and still accept paths written relative to a project root
    (such as `inventory/known_hosts`, the way sysadmins run raquet from that root).
    """
    suffix = path.suffix.lower()
    if suffix == ".py":
        inventory = load_pyinfra(path)
    elif suffix == ".ini" or (not suffix and looks_like_ini(path)):
        inventory = load_ansible_ini(path)
    elif suffix in (".yml", ".yaml", ""):
        inventory = _load_yaml_inventory(path)
    else:
        expected = "expected .yml/.yaml (raquet or Ansible), .py (pyinfra) or .ini (Ansible)"
        raise InputError([Problem(str(path), None, "", f"unknown inventory format: {expected}")])
    return with_resolved_paths(inventory, path.absolute().parent)


def _load_yaml_inventory(path: Path) -> Inventory:
    plain = _json_document(path)
    if plain is not None and not _is_ansible_yaml(plain):
        inventory = load_raquet_plain(path, plain)
        if inventory is not None:
            return inventory
    data = load_yaml(path)
    if _is_ansible_yaml(data):
        return load_ansible_yaml(path, data)
    return load_raquet_yaml(path, data)


def _json_document(path: Path) -> Any:
    """A YAML file that is a JSON document (as inventories generated from an asset database
    often are), read by the C JSON parser: ruamel's pure-Python one took about 1 ms a host.
    The values are the ones ruamel would read (JSON is YAML 1.2's flow style); None when
    the text is not JSON or holds what ruamel refuses or reports (a repeated key, a
    character YAML does not allow, nesting past MAX_DEPTH, a number past MAX_DIGITS), so
    that it is read again by ruamel, which says where."""
    text = read_input(path)
    if not text.lstrip(" \t\n").startswith("{") or Reader.NON_PRINTABLE.search(text):
        return None
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError):
        return None
    return data if _within_limits(data, 1) else None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("a repeated key")
    return found


def _within_limits(value: Any, depth: int) -> bool:
    if isinstance(value, dict | list):
        if depth > MAX_DEPTH:
            return False
        items = value.values() if isinstance(value, dict) else value
        return all(_within_limits(item, depth + 1) for item in items)
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() < MAX_DIGITS * 3  # 3 bits a digit: fewer digits than that
    return isinstance(value, str | float | bool) or value is None


def _is_ansible_yaml(data: Any) -> bool:
    """Ansible's YAML has `all:` or groups of hosts/children/vars at the top, and no raquet key."""
    if not isinstance(data, Mapping) or not data or set(data) & set(InventoryFile.model_fields):
        return False
    return "all" in data or all(
        isinstance(group, Mapping) and group and set(group) <= GROUP_KEYS for group in data.values()
    )
