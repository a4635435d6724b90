"""Inventories: raquet YAML, pyinfra Python and Ansible INI/YAML, all read into one `Inventory`.

Provinces already keep their machines in pyinfra or Ansible inventories, so raquet reads
those as they are; whatever the format, the result is the same validated `Inventory`
and every mistake is a `Problem` with file, line and field. Nothing is returned from an
invalid file, so nothing is ever swept from one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from raquet.errors import InputError, Problem
from raquet.inventory.ansible import GROUP_KEYS, load_ansible_ini, load_ansible_yaml, looks_like_ini
from raquet.inventory.common import MAX_ENTRIES, UNGROUPED, with_resolved_paths
from raquet.inventory.pyinfra_py import load_pyinfra
from raquet.inventory.raquet_yaml import InventoryFile, load_raquet_yaml
from raquet.inventory.summary import (
    describe,
    describe_hosts,
    describe_segments,
    summary_table,
    uses_segments,
)
from raquet.models import Inventory
from raquet.yamlfile import load_yaml

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
    data = load_yaml(path)
    if _is_ansible_yaml(data):
        return load_ansible_yaml(path, data)
    return load_raquet_yaml(path, data)


def _is_ansible_yaml(data: Any) -> bool:
    """Ansible's YAML has `all:` or groups of hosts/children/vars at the top, and no raquet key."""
    if not isinstance(data, Mapping) or not data or set(data) & set(InventoryFile.model_fields):
        return False
    return "all" in data or all(
        isinstance(group, Mapping) and group and set(group) <= GROUP_KEYS for group in data.values()
    )
