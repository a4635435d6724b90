"""Inventories: raquet YAML, pyinfra Python and Ansible INI/YAML, all read into one `Inventory`.

Provinces already keep their machines in pyinfra or Ansible inventories, so raquet reads
those as they are; whatever the format, the result is the same validated `Inventory`
and every mistake is a `Problem` with file, line and field. Nothing is returned from an
invalid file, so nothing is ever swept from one.
"""

from __future__ import annotations

import ast
import difflib
import math
import re
import shlex
import traceback
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from tabulate import tabulate

from raquet.errors import InputError, Problem
from raquet.models import MAX_NAME, Host, HostSettings, Inventory, Text, Unit, check_text
from raquet.yamlfile import (
    Loc,
    dotted,
    line_of,
    load_yaml,
    read_input,
    to_plain,
    validation_problems,
    yaml_problems,
)

UNGROUPED = "ungrouped"
"""The unit of a pyinfra or Ansible host that no group but `all` lists."""
MAX_ENTRIES = 200_000
"""Host entries one pyinfra or Ansible inventory may list (a host listed by two groups
counts twice): Ansible ranges and code make millions in a line, and no province needs them.
A raquet YAML inventory is bounded by its size (`raquet.yamlfile.MAX_BYTES`)."""

_PATH_FIELDS = ("ssh_key", "known_hosts", "winrm_ca_bundle")
_HOST_KEYS = frozenset(Host.model_fields) - {"name", "data"}
_SECRET = "secrets never live in the inventory file: "
_USE_ENV = _SECRET + "set {} to the name of an environment variable holding it"
_SECRET_HINTS = {
    **dict.fromkeys(
        ("password", "ansible_password"),
        _USE_ENV.format("ssh_password_env (winrm_password_env on Windows)"),
    ),
    **dict.fromkeys(
        ("ssh_password", "ansible_ssh_pass", "ansible_ssh_password"),
        _USE_ENV.format("ssh_password_env"),
    ),
    **dict.fromkeys(
        ("winrm_password", "ansible_winrm_pass", "ansible_winrm_password"),
        _USE_ENV.format("winrm_password_env"),
    ),
    **dict.fromkeys(
        ("sudo_password", "_sudo_password", "ansible_become_pass", "ansible_become_password"),
        _SECRET + "raquet takes no sudo password; let the sweep account use sudo without one",
    ),
}


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
        inventory = _load_pyinfra(path)
    elif suffix == ".ini" or (not suffix and _looks_like_ini(path)):
        inventory = _load_ansible_ini(path)
    elif suffix in (".yml", ".yaml", ""):
        inventory = _load_yaml_inventory(path)
    else:
        expected = "expected .yml/.yaml (raquet or Ansible), .py (pyinfra) or .ini (Ansible)"
        raise InputError([Problem(str(path), None, "", f"unknown inventory format: {expected}")])
    return _with_resolved_paths(inventory, path.absolute().parent)


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


# --- shared by every format ------------------------------------------------------------


class _Meta(BaseModel):
    """Province-wide settings an inventory may carry besides its units.

    `issuer` is one line, or a list of lines from the parent authority down (`[UBND TỈNH
    LẠNG SƠN, SỞ THÔNG TIN VÀ TRUYỀN THÔNG]`), as the letter's heading prints them.
    """

    model_config = ConfigDict(extra="forbid")

    province: Text = Field(default="", max_length=MAX_NAME)
    timezone: str = Inventory.model_fields["timezone"].default
    issuer: str = ""

    @field_validator("issuer", mode="before")
    @classmethod
    def _issuer_lines(cls, value: Any) -> Any:
        """A list of lines is joined here, so that no line break comes from a value itself."""
        lines = value if isinstance(value, list) else [value]
        if not all(isinstance(line, str) for line in lines):
            return value  # pydantic says what was expected
        for number, line in enumerate(lines, 1):
            where = f"line {number}: " if len(lines) > 1 else ""
            if len(line) > MAX_NAME:
                raise ValueError(f"{where}longer than {MAX_NAME} characters")
            try:
                check_text(line)
            except ValueError as err:
                raise ValueError(f"{where}{err}") from None
        return "\n".join(lines)

    def fields(self) -> dict[str, str]:
        """The settings as `Inventory` takes them (a subclass's other fields left out)."""
        return self.model_dump(include=set(_Meta.model_fields))

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone such as Asia/Ho_Chi_Minh") from None
        return value


def _input_error(problems: list[Problem]) -> InputError:
    """Every problem once, in file order, so the user can fix them top to bottom."""
    unique = list(dict.fromkeys(problems))
    return InputError(sorted(unique, key=lambda p: (p.file, p.line or 0)))


def _raise_if(problems: list[Problem]) -> None:
    if problems:
        raise _input_error(problems)


def _secret_paths(node: Any, loc: Loc = ()) -> Iterator[tuple[Loc, str]]:
    """Where a password sits in `node`, however deep, with the hint to give about it."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            hint = _SECRET_HINTS.get(str(key))
            if hint:
                yield (*loc, key), hint
            else:
                yield from _secret_paths(value, (*loc, key))
    elif isinstance(node, list | tuple):
        for index, item in enumerate(node):
            yield from _secret_paths(item, (*loc, index))


def _resolve_path(value: str, base: Path) -> str:
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    beside = base / path
    return str(beside if beside.exists() else Path.cwd() / path)


def _with_resolved_paths(inventory: Inventory, base: Path) -> Inventory:
    """Fix file paths at load time, so a sweep started from any directory finds the same files."""

    def resolved(host: Host) -> Host:
        paths = {name: getattr(host, name) for name in _PATH_FIELDS if getattr(host, name)}
        return host.model_copy(update={k: _resolve_path(v, base) for k, v in paths.items()})

    units = [
        u.model_copy(update={"hosts": [resolved(h) for h in u.hosts]}) for u in inventory.units
    ]
    return inventory.model_copy(update={"units": units})


# --- raquet YAML -------------------------------------------------------------------------


class _InventoryFile(_Meta):
    """The raquet YAML inventory (SPEC §1) as written, before hosts know their unit."""

    defaults: HostSettings = Field(default_factory=HostSettings)
    units: list[Unit] = Field(min_length=1)


_ANSIBLE_GROUP_KEYS = frozenset({"hosts", "children", "vars"})


def _load_yaml_inventory(path: Path) -> Inventory:
    data = load_yaml(path)
    if _is_ansible_yaml(data):
        return _load_ansible_yaml(path, data)
    return _load_raquet_yaml(path, data)


def _is_ansible_yaml(data: Any) -> bool:
    """Ansible's YAML has `all:` or groups of hosts/children/vars at the top, and no raquet key."""
    if not isinstance(data, Mapping) or not data or set(data) & set(_InventoryFile.model_fields):
        return False
    return "all" in data or all(
        isinstance(group, Mapping) and group and set(group) <= _ANSIBLE_GROUP_KEYS
        for group in data.values()
    )


def _load_raquet_yaml(path: Path, data: Any) -> Inventory:
    file = str(path)
    if not isinstance(data, Mapping):
        expected = "expected a mapping with province, defaults and units"
        raise InputError([Problem(file, line_of(data, ()), "", expected)])
    problems = [
        Problem(file, line_of(data, loc), dotted(loc), hint) for loc, hint in _secret_paths(data)
    ]
    problems += _listing_problems(file, data)
    plain = _with_defaults(_without_secrets(to_plain(data)))
    try:
        doc = _InventoryFile.model_validate(plain)
    except ValidationError as err:
        found = yaml_problems(file, data, err, _InventoryFile)
        raise _input_error(problems + found) from None
    _raise_if(problems)
    for unit in doc.units:
        for host in unit.hosts:
            host.unit = unit.id
    return Inventory(source=path, units=doc.units, **doc.fields())


def _without_secrets(node: Any) -> Any:
    """Drop password keys (already reported) so they are not reported again as unknown keys."""
    if isinstance(node, dict):
        return {k: _without_secrets(v) for k, v in node.items() if k not in _SECRET_HINTS}
    if isinstance(node, list):
        return [_without_secrets(item) for item in node]
    return node


def _with_defaults(plain: Any) -> Any:
    """Give each host the `defaults` it does not set itself.

    The merge is shallow: a host's `tags` or `data` replaces the default's whole. Invalid
    defaults are left out; they are reported once, at their own line, not under every host.
    """
    if not isinstance(plain, dict):
        return plain
    defaults = plain.get("defaults") or {}
    try:
        HostSettings.model_validate(defaults)
    except ValidationError:
        return plain
    for unit in _items(plain.get("units")):
        hosts = unit.get("hosts")
        if isinstance(hosts, list):
            unit["hosts"] = [{**defaults, **h} if isinstance(h, dict) else h for h in hosts]
    return plain


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


# --- pyinfra and Ansible: hosts gathered from groups -----------------------------------


@dataclass(frozen=True)
class _Sourced:
    """A value and where the user wrote it, so that an error about it can point there."""

    value: Any
    line: int | None
    field: str


@dataclass
class _Draft:
    """One host read from a pyinfra or Ansible inventory, with raquet field names, unvalidated."""

    name: _Sourced
    unit: _Sourced
    unit_name: str
    values: dict[str, _Sourced]

    def locate(self, loc: Loc) -> tuple[int | None, str]:
        """Point a `Host` validation error at the line and key the value came from."""
        item = self.name if loc[:1] == ("name",) else self.values.get(str(loc[0]))
        if item is None:
            return self.name.line, f"{self.name.field}.{loc[0]}"
        rest = dotted(loc[1:])
        return item.line, f"{item.field}{'.' if rest and rest[0] != '[' else ''}{rest}"

    def locate_unit(self, _loc: Loc) -> tuple[int | None, str]:
        """A bad unit id is the fault of the group name or `unit` key it came from."""
        return self.unit.line, self.unit.field


def _slug(name: str) -> str:
    """Group names become unit ids typed on the command line: ASCII, lower case, no spaces."""
    latin = name.replace("đ", "d").replace("Đ", "D")
    ascii_name = unicodedata.normalize("NFKD", latin).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9._-]+", "-", ascii_name.lower()).strip("-._")


def _draft(name: _Sourced, group: str, group_at: _Sourced, values: dict[str, _Sourced]) -> _Draft:
    """A host goes to its group's unit unless it names its own with a `unit` key."""
    unit = values.pop("unit", None)
    if unit is None:
        return _Draft(name, _Sourced(_slug(group), group_at.line, group_at.field), group, values)
    return _Draft(name, unit, str(unit.value), values)


def _mapped(sourced: Mapping[str, _Sourced], renames: Mapping[str, str]) -> dict[str, _Sourced]:
    """Translate another tool's keys to raquet's; keys raquet has no use for go to `data`.

    When several keys set one field, the later rename wins and raquet's own key wins over all.
    Passwords are dropped here: they were reported where they were read.
    """
    fields = {target: sourced[key] for key, target in renames.items() if key in sourced}
    fields.update({key: item for key, item in sourced.items() if key in _HOST_KEYS})
    rest = {
        key: item
        for key, item in sourced.items()
        if key not in renames and key not in _HOST_KEYS and key not in _SECRET_HINTS
    }
    if rest:
        first = next(iter(rest.values()))
        fields["data"] = _Sourced({k: v.value for k, v in rest.items()}, first.line, first.field)
    return fields


def _inventory_from_drafts(
    path: Path, drafts: list[_Draft], problems: list[Problem], meta: _Meta
) -> Inventory:
    """Validate every host and unit the same way whichever format they were read from."""
    file = str(path)
    units: dict[str, Unit] = {}
    for draft in drafts:
        unit_id = draft.unit.value
        if not isinstance(unit_id, str) or unit_id not in units:
            try:
                units[unit_id] = Unit.model_validate({"id": unit_id, "name": draft.unit_name})
            except ValidationError as err:
                problems += validation_problems(file, err, draft.locate_unit)
                continue
        values = {key: item.value for key, item in draft.values.items()}
        try:
            host = Host.model_validate({**values, "name": draft.name.value, "unit": unit_id})
        except ValidationError as err:
            problems += validation_problems(file, err, draft.locate)
            continue
        units[unit_id].hosts.append(host)
    if not drafts and not problems:
        problems.append(Problem(file, None, "", "no hosts found in any group"))
    _raise_if(problems)
    return Inventory(source=path, units=list(units.values()), **meta.fields())


# --- pyinfra Python inventory ------------------------------------------------------------

_PYINFRA_RENAMES = {
    "ssh_hostname": "address",
    "ssh_known_hosts_file": "known_hosts",
    "_sudo": "sudo",
}


@dataclass
class _Listed:
    """A host as listed by one or more groups of a pyinfra or Ansible inventory."""

    name: _Sourced
    groups: list[str] = field(default_factory=list)
    data: dict[str, _Sourced] = field(default_factory=dict)


def _load_pyinfra(path: Path) -> Inventory:
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
    drafts = [_pyinfra_draft(host, lines, group_data) for host in listed.values()]
    meta = _pyinfra_meta(file, namespace, lines, problems)
    return _inventory_from_drafts(path, drafts, problems, meta)


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
) -> dict[str, _Listed]:
    """Every host once, with the groups that list it and its own data merged in group order."""
    listed: dict[str, _Listed] = {}
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
            problems += _data_secrets(file, line, label, data)
            host = listed.setdefault(name, _Listed(_Sourced(name, line, label)))
            host.groups.append(group)
            host.data.update({k: _Sourced(v, line, f"{label}.{k}") for k, v in data.items()})
    return listed


def _missing_from_all(file: str, listed: dict[str, _Listed]) -> list[Problem]:
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
) -> dict[str, dict[str, _Sourced]]:
    group_data = {}
    for group, (_entries, data) in groups.items():
        line = lines.get(group, (None, []))[0]
        if not isinstance(data, dict):
            problems.append(Problem(file, line, group, "expected a group as ([hosts], {data})"))
            continue
        problems += _data_secrets(file, line, group, data)
        group_data[group] = {k: _Sourced(v, line, f"{group}.{k}") for k, v in data.items()}
    return group_data


def _data_secrets(file: str, line: int | None, label: str, data: Any) -> list[Problem]:
    return [
        Problem(file, line, f"{label}.{dotted(loc)}", hint) for loc, hint in _secret_paths(data)
    ]


def _pyinfra_draft(
    host: _Listed,
    lines: dict[str, tuple[int, list[int]]],
    group_data: dict[str, dict[str, _Sourced]],
) -> _Draft:
    """pyinfra's precedence: host data over group data (later groups win) over `all` data."""
    merged: dict[str, _Sourced] = dict(group_data.get("all", {}))
    for group in host.groups:
        if group != "all":
            merged.update(group_data.get(group, {}))
    merged.update(host.data)
    name, implied = _pyinfra_identity(host.name)
    values = {**implied, **_mapped(merged, _PYINFRA_RENAMES)}
    unit = next((g for g in host.groups if g != "all"), None)
    if unit is None:
        return _draft(name, UNGROUPED, host.name, values)
    line = lines.get(unit, (None, []))[0]
    return _draft(name, unit, _Sourced(unit, line, unit), values)


def _pyinfra_identity(listed: _Sourced) -> tuple[_Sourced, dict[str, _Sourced]]:
    """The raquet name of a pyinfra entry and what the entry itself implies.

    The address defaults to the name, as `ssh_hostname` does in pyinfra; `@local` or
    `@docker/web` select a connector, and as raquet host names cannot start with `@`,
    such a host is named after what follows the connector (`local`, `web`).
    """
    entry = str(listed.value)
    if not entry.startswith("@"):
        return listed, {"address": listed}
    connector, _, target = entry[1:].partition("/")
    name = _Sourced(target or connector, listed.line, listed.field)
    address = _Sourced(target or "localhost", listed.line, listed.field)
    return name, {"address": address, "connector": _Sourced(connector, listed.line, listed.field)}


def _pyinfra_meta(
    file: str,
    namespace: dict[str, Any],
    lines: dict[str, tuple[int, list[int]]],
    problems: list[Problem],
) -> _Meta:
    """Module-level `province`, `timezone` and `issuer` strings (pyinfra itself ignores them);
    an issuer of several lines is a tuple of strings (a list would be a group of hosts)."""
    given = {k: namespace[k] for k in _Meta.model_fields if isinstance(namespace.get(k), str)}
    if isinstance(namespace.get("issuer"), tuple):
        given["issuer"] = list(namespace["issuer"])
    try:
        return _Meta.model_validate(given)
    except ValidationError as err:

        def locate(loc: Loc) -> tuple[int | None, str]:
            return lines.get(str(loc[0]), (None, []))[0], dotted(loc)

        problems += validation_problems(file, err, locate)
        return _Meta()


# --- Ansible INI and YAML ----------------------------------------------------------------

_ANSIBLE_COMMON = {
    "ansible_ssh_host": "address",
    "ansible_host": "address",
    "ansible_become": "sudo",
}
_ANSIBLE_SSH = {
    **_ANSIBLE_COMMON,
    "ansible_ssh_port": "ssh_port",
    "ansible_port": "ssh_port",
    "ansible_ssh_user": "ssh_user",
    "ansible_user": "ssh_user",
    "ansible_private_key_file": "ssh_key",
    "ansible_ssh_private_key_file": "ssh_key",
}
_ANSIBLE_WINRM = {
    **_ANSIBLE_COMMON,
    "ansible_port": "winrm_port",
    "ansible_winrm_port": "winrm_port",
    "ansible_user": "winrm_user",
    "ansible_winrm_user": "winrm_user",
    "ansible_winrm_transport": "winrm_transport",
    "ansible_winrm_scheme": "winrm_scheme",
    "ansible_winrm_ca_trust_path": "winrm_ca_bundle",
}
_SSH_CONNECTIONS = frozenset({"ssh", "paramiko", "smart"})
_SECTION = re.compile(r"^\[([^\]]+)\]\s*$")
_HOST_WITH_VARS = re.compile(r"^[^\s:#;=]+(?::\d+)?\s+[A-Za-z_]\w*=")
_RANGE = re.compile(r"\[([0-9]{1,9}|[A-Za-z]):([0-9]{1,9}|[A-Za-z])(?::([0-9]{1,9}))?\]")


@dataclass
class _Group:
    at: _Sourced
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    vars: dict[str, _Sourced] = field(default_factory=dict)


@dataclass
class _Ansible:
    """Groups and hosts as read from either Ansible format, before variables are resolved."""

    groups: dict[str, _Group] = field(default_factory=dict)
    hosts: dict[str, _Listed] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    entries: int = 0
    """Hosts listed so far, a host listed by two groups twice (bounded by MAX_ENTRIES)."""

    def room(self) -> int:
        return MAX_ENTRIES - self.entries

    def group(self, name: str, line: int | None, label: str) -> _Group:
        return self.groups.setdefault(name, _Group(_Sourced(name, line, label)))

    def add_host(
        self, file: str, group: _Group, name: _Sourced, host_vars: dict[str, _Sourced]
    ) -> None:
        self.entries += 1
        if name.value in group.hosts:
            first = self.hosts[name.value].name.line
            message = (
                f"host '{name.value}' is listed twice in {group.at.value} (first at line {first})"
            )
            self.problems.append(Problem(file, name.line, name.field, message))
            return
        group.hosts.append(name.value)
        host = self.hosts.setdefault(name.value, _Listed(name))
        host.groups.append(str(group.at.value))
        host.data.update(host_vars)


def _looks_like_ini(path: Path) -> bool:
    try:
        text = read_input(path)
    except InputError:
        return False  # load_yaml will say why
    return any(_SECTION.match(line) or _HOST_WITH_VARS.match(line) for line in text.split("\n"))


def _load_ansible_ini(path: Path) -> Inventory:
    """Ansible's INI inventory: `[group]` host lines, `[group:vars]` and `[group:children]`."""
    file = str(path)
    found = _Ansible()
    section, heading, kind = found.group(UNGROUPED, None, UNGROUPED), UNGROUPED, "hosts"
    # Lines end at "\n" only, as for Ansible and editors: str.splitlines() would also end one
    # at U+2028 or \x1c, hiding that character from the check of names and shifting lines.
    for number, raw in enumerate(read_input(path).split("\n"), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        header = _SECTION.match(line)
        if header:
            heading = f"[{header[1]}]"
            name, _, kind = header[1].partition(":")
            kind = kind or "hosts"
            section = found.group(name, number, heading)
            if kind not in ("hosts", "vars", "children"):
                message = f"expected [{name}], [{name}:vars] or [{name}:children]"
                found.problems.append(Problem(file, number, heading, message))
        elif kind == "hosts":
            _ini_hosts(file, found, section, line, number)
        elif kind == "vars":
            _ini_var(file, found, section, heading, line, number)
        elif kind == "children":
            found.group(line, number, line)
            section.children.append(line)
    return _ansible_inventory(path, found)


def _ini_hosts(file: str, found: _Ansible, group: _Group, line: str, number: int) -> None:
    try:
        pattern, *assignments = shlex.split(line, comments=True)
    except ValueError as err:
        found.problems.append(Problem(file, number, "", f"cannot split the line: {err}"))
        return
    pattern, port = _split_port(pattern)
    host_vars = {} if port is None else {"ansible_port": _Sourced(port, number, pattern)}
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        if not sep:
            message = f"expected key=value after the host; got '{assignment}'"
            found.problems.append(Problem(file, number, pattern, message))
            continue
        host_vars[key] = _Sourced(_ini_value(text), number, f"{pattern}.{key}")
        found.problems += _data_secrets(file, number, pattern, {key: host_vars[key].value})
    try:
        names = _expand(pattern, found.room())
    except ValueError as err:
        found.problems.append(Problem(file, number, pattern, str(err)))
        return
    for name in names:
        found.add_host(file, group, _Sourced(name, number, name), host_vars)


def _ini_var(
    file: str, found: _Ansible, group: _Group, heading: str, line: str, number: int
) -> None:
    key, sep, text = (part.strip() for part in line.partition("="))
    if not sep:
        found.problems.append(Problem(file, number, heading, f"expected key=value; got '{line}'"))
        return
    group.vars[key] = _Sourced(_ini_value(text), number, f"{heading}.{key}")
    found.problems += _data_secrets(file, number, heading, {key: text})


def _ini_value(text: str) -> Any:
    """Ansible reads INI values as Python literals when they are one (`22`, `True`, `['a']`)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def _split_port(pattern: str) -> tuple[str, int | None]:
    """`host:2222` sets the port; colons inside `[1:9]` ranges and in IPv6 addresses do not."""
    head, sep, port = pattern.rpartition(":")
    if sep and port.isdigit() and ":" not in _RANGE.sub("", head):
        return head, int(port)
    return pattern, None


def _expand(pattern: str, room: int) -> list[str]:
    """Ansible host ranges: `web[01:03]` is web01, web02, web03; `[a:c]` and `[1:9:2]` too.

    A pattern naming more than `room` hosts is refused before any name is made, so that
    `h[0:99999999]` costs no more than `h1`.
    """
    count = math.prod(len(_span(match)) for match in _RANGE.finditer(pattern))
    if count > room:
        raise ValueError(
            f"this range names {count:,} hosts: more than {MAX_ENTRIES:,} host entries "
            "in one inventory"
        )
    return _expanded(pattern)


def _span(match: re.Match[str]) -> range:
    """The numbers (or character codes) a range like `[01:20]` or `[a:f]` stands for."""
    start, end, step = match[1], match[2], int(match[3] or 1)
    if start.isdigit() != end.isdigit() or step < 1:
        raise ValueError(f"expected a range like [01:20], [a:f] or [1:9:2]; got '{match[0]}'")
    if start.isdigit():
        return range(int(start), int(end) + 1, step)
    return range(ord(start), ord(end) + 1, step)


def _expanded(pattern: str) -> list[str]:
    """The names a pattern stands for, once `_expand` has counted them."""
    match = _RANGE.search(pattern)
    if match is None:
        return [pattern]
    numeric = match[1].isdigit()
    items = [f"{n:0{len(match[1])}d}" if numeric else chr(n) for n in _span(match)]
    head = pattern[: match.start()]
    return [head + item + rest for item in items for rest in _expanded(pattern[match.end() :])]


def _load_ansible_yaml(path: Path, data: Mapping[str, Any]) -> Inventory:
    """Ansible's YAML inventory: nested groups, each with `hosts`, `vars` and `children`."""
    found = _Ansible()
    file = str(path)
    found.problems += [
        Problem(file, line_of(data, loc), dotted(loc), hint) for loc, hint in _secret_paths(data)
    ]
    for name, node in data.items():
        _yaml_group(file, data, found, str(name), node, (name,))
    return _ansible_inventory(path, found)


def _yaml_group(file: str, root: Any, found: _Ansible, name: str, node: Any, loc: Loc) -> _Group:
    group = found.group(name, line_of(root, loc), dotted(loc))
    if node is None:
        return group
    if not isinstance(node, Mapping):
        found.problems.append(
            Problem(
                file, line_of(root, loc), dotted(loc), "expected a group: hosts, vars, children"
            )
        )
        return group
    for key in node:
        if key not in _ANSIBLE_GROUP_KEYS:
            where = (*loc, key)
            message = f"unknown key '{key}'; a group holds hosts, vars and children"
            found.problems.append(Problem(file, line_of(root, where), dotted(where), message))
    for pattern, host_vars in _yaml_mapping(file, root, found, node, (*loc, "hosts")):
        _yaml_host(file, root, found, group, str(pattern), host_vars, (*loc, "hosts", pattern))
    for key, value in _yaml_mapping(file, root, found, node, (*loc, "vars")):
        where = (*loc, "vars", key)
        group.vars[str(key)] = _Sourced(to_plain(value), line_of(root, where), dotted(where))
    for child, child_node in _yaml_mapping(file, root, found, node, (*loc, "children")):
        _yaml_group(file, root, found, str(child), child_node, (*loc, "children", child))
        group.children.append(str(child))
    return group


def _yaml_mapping(
    file: str, root: Any, found: _Ansible, node: Mapping[str, Any], loc: Loc
) -> Iterator[tuple[Any, Any]]:
    """The entries of `node[loc[-1]]`, which must be a mapping if it is there at all."""
    value = node.get(str(loc[-1]))
    if value is None:
        return
    if not isinstance(value, Mapping):
        found.problems.append(
            Problem(file, line_of(root, loc), dotted(loc), "expected a mapping of names")
        )
        return
    yield from value.items()


def _yaml_host(
    file: str, root: Any, found: _Ansible, group: _Group, pattern: str, node: Any, loc: Loc
) -> None:
    line = line_of(root, loc)
    if node is not None and not isinstance(node, Mapping):
        found.problems.append(
            Problem(file, line, dotted(loc), "expected a mapping of host variables")
        )
        return
    host_vars = {
        str(key): _Sourced(to_plain(value), line_of(root, (*loc, key)), dotted((*loc, key)))
        for key, value in (node or {}).items()
    }
    try:
        names = _expand(pattern, found.room())
    except ValueError as err:
        found.problems.append(Problem(file, line, dotted(loc), str(err)))
        return
    for name in names:
        found.add_host(file, group, _Sourced(name, line, dotted(loc)), host_vars)


_CONNECTIONS = frozenset({*_SSH_CONNECTIONS, "winrm", "local"})
_CONNECTION_KEY = re.compile(r"^(ansible|ssh|winrm)_")
_KNOWN_CONNECTION_KEYS = frozenset(
    {*_ANSIBLE_SSH, *_ANSIBLE_WINRM, "ansible_connection", *_HOST_KEYS, *_SECRET_HINTS}
)
_UNIT_NAME_KEYS = ("raquet_unit_name", "unit_name")
"""Group variables that give a unit its display name: letters are addressed to it."""


def _unknown_connection_keys(file: str, variables: Iterable[_Sourced]) -> list[Problem]:
    """A connection variable raquet does not know is a typo until shown otherwise: an
    `ansible_prot` silently left to `data` sweeps port 22 and fails for a reason nobody
    sees. Other variables are the user's own data and stay in `data`."""
    problems = []
    for item in variables:
        key = item.field.rsplit(".", 1)[-1]
        if not _CONNECTION_KEY.match(key) or key in _KNOWN_CONNECTION_KEYS:
            continue
        close = difflib.get_close_matches(key, sorted(_KNOWN_CONNECTION_KEYS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        problems.append(
            Problem(file, item.line, item.field, f"unknown connection variable '{key}'{hint}")
        )
    return problems


def _unsupported_connection(file: str, merged: dict[str, _Sourced]) -> list[Problem]:
    connection = merged.get("ansible_connection")
    if connection is None or connection.value in _CONNECTIONS:
        return []
    message = (
        f"raquet cannot sweep over ansible_connection={connection.value}; "
        f"supported: {', '.join(sorted(_CONNECTIONS))}"
    )
    return [Problem(file, connection.line, connection.field, message)]


def _unit_name(found: _Ansible, unit: str) -> str:
    group = found.groups.get(unit)
    for key in _UNIT_NAME_KEYS:
        if group is not None and key in group.vars:
            return str(group.vars[key].value)
    return unit


def _ansible_inventory(path: Path, found: _Ansible) -> Inventory:
    """Resolve each host's variables as Ansible does, then validate like any other format."""
    parents: dict[str, list[str]] = {}
    for name, group in found.groups.items():
        for child in group.children:
            parents.setdefault(child, []).append(name)
    depths = _depths(list(found.groups), parents)
    file = str(path)
    names = {group: _unit_name(found, group) for group in found.groups}
    for group in found.groups.values():
        found.problems += _unknown_connection_keys(file, group.vars.values())
        for key in _UNIT_NAME_KEYS:
            group.vars.pop(key, None)
    for host in found.hosts.values():
        found.problems += _unknown_connection_keys(file, host.data.values())
    drafts = []
    for host in found.hosts.values():
        merged: dict[str, _Sourced] = {}
        for name in _precedence(host.groups, parents, depths):
            merged.update(found.groups[name].vars if name in found.groups else {})
        merged.update(host.data)
        found.problems += _unsupported_connection(file, merged)
        values = {"address": host.name, **_ansible_fields(merged)}
        unit = next((g for g in host.groups if g != "all"), UNGROUPED)
        at = found.groups[unit].at if unit in found.groups else host.name
        draft = _draft(host.name, unit, at, values)
        if draft.unit_name == unit:
            draft.unit_name = names.get(unit, unit)
        drafts.append(draft)
    return _inventory_from_drafts(path, drafts, found.problems, _Meta())


def _precedence(
    direct: list[str], parents: dict[str, list[str]], depths: dict[str, int]
) -> list[str]:
    """All groups of a host, least specific first: Ansible orders them by depth, then name."""
    member: set[str] = {"all"}
    pending = list(direct)
    while pending:
        group = pending.pop()
        if group not in member:
            member.add(group)
            pending.extend(_parents(group, parents))
    return sorted(member, key=lambda g: (depths.get(g, 1), g))


def _parents(group: str, parents: dict[str, list[str]]) -> list[str]:
    return parents.get(group) or ([] if group == "all" else ["all"])


def _depths(groups: list[str], parents: dict[str, list[str]]) -> dict[str, int]:
    """Each group's depth (`all` is 1, its children 2...), each computed once and without
    recursion, so a chain of thousands of `children` or a lattice of them costs only its
    edges. A parent still being computed (a cycle, which Ansible refuses) counts as 0."""
    depths: dict[str, int] = {}
    for root in groups:
        stack, active = [root], set()
        while stack:
            group = stack[-1]
            if group in depths:
                stack.pop()
                continue
            active.add(group)
            todo = [p for p in _parents(group, parents) if p not in depths and p not in active]
            if todo:
                stack.extend(todo)
                continue
            depths[group] = 1 + max((depths.get(p, 0) for p in _parents(group, parents)), default=0)
            active.discard(group)
            stack.pop()
    return depths


def _ansible_fields(merged: dict[str, _Sourced]) -> dict[str, _Sourced]:
    """`ansible_connection` decides the OS and which keys mean what (`ansible_port` is WinRM's
    port on a Windows host); any other connection is taken as a pyinfra connector name."""
    connection = merged.get("ansible_connection")
    windows = connection is not None and connection.value == "winrm"
    implied = {}
    if windows and connection is not None:
        implied["os"] = _Sourced("windows", connection.line, connection.field)
    elif connection is not None and connection.value not in _SSH_CONNECTIONS:
        implied["connector"] = connection
    return {**implied, **_mapped(merged, _ANSIBLE_WINRM if windows else _ANSIBLE_SSH)}
