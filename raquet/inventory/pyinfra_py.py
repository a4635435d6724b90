"""pyinfra Python inventories: the file is run as pyinfra runs it, each group is a unit."""

from __future__ import annotations

import ast
import difflib
import re
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from raquet.errors import InputError, Problem
from raquet.inventory.common import (
    CONNECTION_DATA_KEYS,
    HOST_KEYS,
    MAX_ENTRIES,
    SECRET_HINTS,
    UNGROUPED,
    UNIT_NAME_KEYS,
    Draft,
    Listed,
    Meta,
    Sourced,
    data_secrets,
    inventory_from_drafts,
    make_draft,
    mapped,
    segment_alias,
    unit_display_name,
    unknown_keys,
)
from raquet.models import Inventory
from raquet.yamlfile import (
    Loc,
    dotted,
    read_input,
    validation_problems,
)

_PYINFRA_RENAMES = {
    "ssh_hostname": "address",
    "ssh_known_hosts_file": "known_hosts",
    "_sudo": "sudo",
}
_KEY = re.compile(r"^(ssh_|winrm_|_)")
"""pyinfra's connection data (`ssh_*`, `winrm_*`) and operation arguments (`_sudo`)."""
_KNOWN_KEYS = frozenset({*_PYINFRA_RENAMES, *HOST_KEYS, *SECRET_HINTS, *CONNECTION_DATA_KEYS})


def load_pyinfra(path: Path) -> Inventory:
    """Run the file as pyinfra does: each module-level list or (list, data) tuple is a group.

    The file is code, as trusted as a pyinfra deploy: raquet executes it. Data from
    `group_data/` directories is not read; put it in the group's data instead.
    """
    file = str(path)
    source = read_input(path)
    namespace = _run_python(file, source)
    lines = _assignment_lines(source, file)
    problems: list[Problem] = []
    groups: dict[str, tuple[Sequence[Any], Any]] = {}
    for name, value in namespace.items():
        parts = _group_parts(name, value)
        if parts is not None:
            groups[name] = parts
    listed = _pyinfra_hosts(file, groups, lines, problems)
    if "all" in groups:
        problems += _missing_from_all(file, listed)
    group_data = _pyinfra_group_data(file, groups, lines, problems)
    problems += _unknown_keys(file, source, group_data, listed)
    for data in [*group_data.values(), *(host.data for host in listed.values())]:
        problems += segment_alias(file, data)
    names = {group: unit_display_name(data, group) for group, data in group_data.items()}
    for data in group_data.values():
        for key in UNIT_NAME_KEYS:
            data.pop(key, None)
    drafts = [_pyinfra_draft(host, lines, group_data, names) for host in listed.values()]
    problems += _unknown_connectors(file, drafts)
    meta = _pyinfra_meta(file, namespace, lines, problems)
    return inventory_from_drafts(path, drafts, problems, meta)


def _run_python(file: str, source: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__file__": file}
    try:
        exec(compile(source, file, "exec"), namespace)
    except SyntaxError as err:
        raise InputError(
            [Problem(file, err.lineno, "", f"Python syntax error: {err.msg}")]
        ) from None
    except (Exception, SystemExit) as err:  # an inventory that calls exit() swept nothing either
        frames = [f.lineno for f in traceback.extract_tb(err.__traceback__) if f.filename == file]
        message = f"running the inventory failed: {type(err).__name__}: {_described(err)}"
        raise InputError([Problem(file, frames[-1] if frames else None, "", message)]) from None
    return namespace


def _described(err: BaseException) -> str:
    """An exception's message, cut short; one whose `str()` itself fails has none."""
    try:
        text = str(err)
    except Exception:
        return ""
    return text if len(text) <= 200 else text[:200] + "…"


def _assignment_lines(source: str, file: str) -> dict[str, tuple[int, list[int]]]:
    """Each module-level name's line, and the line of each of its host entries when written out.

    The file has already run, so it parses; entries built by code only have the group's line.
    """
    lines: dict[str, tuple[int, list[int]]] = {}
    for node in ast.parse(source, file).body:
        value: ast.expr | None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                lines[target.id] = (node.lineno, _entry_lines(value))
    return lines


def _entry_lines(value: ast.expr | None) -> list[int]:
    entries = value
    if isinstance(value, ast.Tuple) and value.elts and isinstance(value.elts[0], ast.List):
        entries = value.elts[0]  # ([hosts], {data})
    if not isinstance(entries, ast.List | ast.Tuple):
        return []
    if any(isinstance(elt, ast.Starred) for elt in entries.elts):
        return []
    return [elt.lineno for elt in entries.elts]


def _group_parts(name: str, value: Any) -> tuple[Sequence[Any], Any] | None:
    """pyinfra's rule for what is a group: `[entries]` or `([entries], {data})`, entries being
    `"host"` or `("host", {data})`; other module-level values are ignored, as pyinfra does."""
    if name.startswith("_"):
        return None
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], list | tuple):
        entries, data = value
    elif isinstance(value, list):
        entries, data = value, {}
    else:
        return None
    if not all(isinstance(entry, str | tuple) for entry in entries):
        return None
    return entries, data


def _pyinfra_hosts(
    file: str,
    groups: dict[str, tuple[Sequence[Any], Any]],
    lines: dict[str, tuple[int, list[int]]],
    problems: list[Problem],
) -> dict[str, Listed]:
    """Every host once, with the groups that list it and its own data merged in group order."""
    listed: dict[str, Listed] = {}
    total = sum(len(entries) for entries, _data in groups.values())
    if total > MAX_ENTRIES:
        largest = max(groups, key=lambda group: len(groups[group][0]))
        message = f"the groups list {total:,} hosts: more than {MAX_ENTRIES:,} host entries"
        problems.append(Problem(file, lines.get(largest, (None, []))[0], largest, message))
        return listed
    for group, (entries, _data) in groups.items():
        group_line, entry_lines = lines.get(group, (None, []))
        for i, entry in enumerate(entries):
            line = entry_lines[i] if len(entry_lines) == len(entries) else group_line
            label = f"{group}[{i}]"
            if isinstance(entry, tuple):
                if (
                    len(entry) != 2
                    or not isinstance(entry[0], str)
                    or not isinstance(entry[1], dict)
                ):
                    problems.append(
                        Problem(file, line, label, 'expected "host" or ("host", {data})')
                    )
                    continue
                name, data = entry
            else:
                name, data = entry, {}
            problems += data_secrets(file, line, label, data)
            host = listed.setdefault(name, Listed(Sourced(name, line, label)))
            host.groups.append(group)
            host.data.update({k: Sourced(v, line, f"{label}.{k}") for k, v in data.items()})
    return listed


def _missing_from_all(file: str, listed: dict[str, Listed]) -> list[Problem]:
    """A file that defines `all` lists every host there; pyinfra ignores any host it leaves out."""
    message = "not in the `all` group, so pyinfra would not see it; add it to `all`"
    return [
        Problem(file, host.name.line, host.name.field, message)
        for host in listed.values()
        if "all" not in host.groups
    ]


def _pyinfra_group_data(
    file: str,
    groups: dict[str, tuple[Sequence[Any], Any]],
    lines: dict[str, tuple[int, list[int]]],
    problems: list[Problem],
) -> dict[str, dict[str, Sourced]]:
    group_data = {}
    for group, (_entries, data) in groups.items():
        line = lines.get(group, (None, []))[0]
        if not isinstance(data, dict):
            problems.append(Problem(file, line, group, "expected a group as ([hosts], {data})"))
            continue
        problems += data_secrets(file, line, group, data)
        group_data[group] = {k: Sourced(v, line, f"{group}.{k}") for k, v in data.items()}
    return group_data


def _pyinfra_draft(
    host: Listed,
    lines: dict[str, tuple[int, list[int]]],
    group_data: dict[str, dict[str, Sourced]],
    names: dict[str, str],
) -> Draft:
    """pyinfra's precedence: host data over group data (later groups win) over `all` data;
    the unit is named by its group's `raquet_unit_name` or `unit_name`, if it has one."""
    merged: dict[str, Sourced] = dict(group_data.get("all", {}))
    for group in host.groups:
        if group != "all":
            merged.update(group_data.get(group, {}))
    merged.update(host.data)
    name, implied = _pyinfra_identity(host.name)
    values = {**implied, **mapped(merged, _PYINFRA_RENAMES)}
    unit = next((g for g in host.groups if g != "all"), None)
    if unit is None:
        return make_draft(name, UNGROUPED, host.name, values)
    line = lines.get(unit, (None, []))[0]
    draft = make_draft(name, unit, Sourced(unit, line, unit), values)
    if draft.unit_name == unit:
        draft.unit_name = names.get(unit, unit)
    return draft


def _unknown_keys(
    file: str, source: str, group_data: dict[str, dict[str, Sourced]], listed: dict[str, Listed]
) -> list[Problem]:
    """Connection keys raquet does not know, each at the line that writes it when the source
    has it literally (a host's data may span lines, or be built by code: then its entry's)."""
    key_lines = _key_lines(source, file)
    items = [item for data in group_data.values() for item in data.values()]
    items += [item for host in listed.values() for item in host.data.values()]
    return unknown_keys(file, [_at_key(item, key_lines) for item in items], _KEY, _KNOWN_KEYS)


def _key_lines(source: str, file: str) -> dict[str, list[int]]:
    """Every line where a dict key is written: `{"ssh_port": 22}` or `dict(ssh_port=22)`."""
    found: dict[str, list[int]] = {}
    for node in ast.walk(ast.parse(source, file)):
        if isinstance(node, ast.Dict):
            for key in node.keys:
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    found.setdefault(key.value, []).append(key.lineno)
        elif isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg is not None:
                    found.setdefault(keyword.arg, []).append(keyword.value.lineno)
    return {key: sorted(lines) for key, lines in found.items()}


def _at_key(item: Sourced, key_lines: dict[str, list[int]]) -> Sourced:
    """`item` placed at the first line writing its key at or after the line it was read at."""
    lines = key_lines.get(item.field.rsplit(".", 1)[-1], [])
    after = [line for line in lines if line >= (item.line or 0)]
    line = after[0] if after else lines[0] if lines else item.line
    return Sourced(item.value, line, item.field)


def _unknown_connectors(file: str, drafts: list[Draft]) -> list[Problem]:
    """`@dockr/web` or `connector: vagrant` would reach nothing: only the execution connectors
    installed here can run a check (an inventory connector like @terraform lists hosts)."""
    from pyinfra.api.connectors import get_execution_connectors

    installed = sorted(get_execution_connectors())
    problems = []
    for draft in drafts:
        connector = draft.values.get("connector")
        if connector is None or connector.value in installed:
            continue
        close = difflib.get_close_matches(str(connector.value), installed, n=1)
        hint = f"; did you mean @{close[0]}?" if close else ""
        supported = ", ".join(f"@{name}" for name in installed)
        message = f"raquet cannot sweep over the @{connector.value} connector{hint} (supported: {supported})"
        problems.append(Problem(file, connector.line, connector.field, message))
    return problems


def _pyinfra_identity(listed: Sourced) -> tuple[Sourced, dict[str, Sourced]]:
    """The raquet name of a pyinfra entry and what the entry itself implies.

    The address defaults to the name, as `ssh_hostname` does in pyinfra; `@local` or
    `@docker/web` select a connector, and as raquet host names cannot start with `@`,
    such a host is named after what follows the connector (`local`, `web`).
    """
    entry = str(listed.value)
    if not entry.startswith("@"):
        return listed, {"address": listed}
    connector, _, target = entry[1:].partition("/")
    name = Sourced(target or connector, listed.line, listed.field)
    address = Sourced(target or "localhost", listed.line, listed.field)
    return name, {"address": address, "connector": Sourced(connector, listed.line, listed.field)}


def _pyinfra_meta(
    file: str,
    namespace: dict[str, Any],
    lines: dict[str, tuple[int, list[int]]],
    problems: list[Problem],
) -> Meta:
    """Module-level `province`, `timezone` and `issuer` strings (pyinfra itself ignores them);
    an issuer of several lines is a tuple of strings (a list would be a group of hosts)."""
    given = {k: namespace[k] for k in Meta.model_fields if isinstance(namespace.get(k), str)}
    if isinstance(namespace.get("issuer"), tuple):
        given["issuer"] = list(namespace["issuer"])
    try:
        return Meta.model_validate(given)
    except ValidationError as err:

        def locate(loc: Loc) -> tuple[int | None, str]:
            return lines.get(str(loc[0]), (None, []))[0], dotted(loc)

        problems += validation_problems(file, err, locate)
        return Meta()
