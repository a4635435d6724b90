"""Ansible INI and YAML inventories: groups, children and variables resolved as Ansible
resolves them, then validated like any other format."""

from __future__ import annotations

import ast
import math
import re
import shlex
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raquet.errors import InputError, Problem
from raquet.inventory.common import (
    CONNECTION_DATA_KEYS,
    HOST_KEYS,
    MAX_ENTRIES,
    SECRET_HINTS,
    UNGROUPED,
    UNIT_NAME_KEYS,
    Listed,
    Meta,
    Sourced,
    data_secrets,
    inventory_from_drafts,
    make_draft,
    mapped,
    secret_paths,
    segment_alias,
    unit_display_name,
    unknown_keys,
)
from raquet.models import Inventory
from raquet.yamlfile import (
    Loc,
    dotted,
    line_of,
    read_input,
    to_plain,
)

GROUP_KEYS = frozenset({"hosts", "children", "vars"})


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
    at: Sourced
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    vars: dict[str, Sourced] = field(default_factory=dict)


@dataclass
class _Ansible:
    """Groups and hosts as read from either Ansible format, before variables are resolved."""

    groups: dict[str, _Group] = field(default_factory=dict)
    hosts: dict[str, Listed] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    entries: int = 0
    """Hosts listed so far, a host listed by two groups twice (bounded by MAX_ENTRIES)."""

    def room(self) -> int:
        return MAX_ENTRIES - self.entries

    def group(self, name: str, line: int | None, label: str) -> _Group:
        return self.groups.setdefault(name, _Group(Sourced(name, line, label)))

    def add_host(
        self, file: str, group: _Group, name: Sourced, host_vars: dict[str, Sourced]
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
        host = self.hosts.setdefault(name.value, Listed(name))
        host.groups.append(str(group.at.value))
        host.data.update(host_vars)


def looks_like_ini(path: Path) -> bool:
    try:
        text = read_input(path)
    except InputError:
        return False  # load_yaml will say why
    return any(_SECTION.match(line) or _HOST_WITH_VARS.match(line) for line in text.split("\n"))


def load_ansible_ini(path: Path) -> Inventory:
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
    host_vars = {} if port is None else {"ansible_port": Sourced(port, number, pattern)}
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        if not sep:
            message = f"expected key=value after the host; got '{assignment}'"
            found.problems.append(Problem(file, number, pattern, message))
            continue
        host_vars[key] = Sourced(_ini_value(text), number, f"{pattern}.{key}")
        found.problems += data_secrets(file, number, pattern, {key: host_vars[key].value})
    try:
        names = _expand(pattern, found.room())
    except ValueError as err:
        found.problems.append(Problem(file, number, pattern, str(err)))
        return
    for name in names:
        found.add_host(file, group, Sourced(name, number, name), host_vars)


def _ini_var(
    file: str, found: _Ansible, group: _Group, heading: str, line: str, number: int
) -> None:
    key, sep, text = (part.strip() for part in line.partition("="))
    if not sep:
        found.problems.append(Problem(file, number, heading, f"expected key=value; got '{line}'"))
        return
    group.vars[key] = Sourced(_ini_value(text), number, f"{heading}.{key}")
    found.problems += data_secrets(file, number, heading, {key: text})


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


def load_ansible_yaml(path: Path, data: Mapping[str, Any]) -> Inventory:
    """Ansible's YAML inventory: nested groups, each with `hosts`, `vars` and `children`."""
    found = _Ansible()
    file = str(path)
    found.problems += [
        Problem(file, line_of(data, loc), dotted(loc), hint) for loc, hint in secret_paths(data)
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
        if key not in GROUP_KEYS:
            where = (*loc, key)
            message = f"unknown key '{key}'; a group holds hosts, vars and children"
            found.problems.append(Problem(file, line_of(root, where), dotted(where), message))
    for pattern, host_vars in _yaml_mapping(file, root, found, node, (*loc, "hosts")):
        _yaml_host(file, root, found, group, str(pattern), host_vars, (*loc, "hosts", pattern))
    for key, value in _yaml_mapping(file, root, found, node, (*loc, "vars")):
        where = (*loc, "vars", key)
        group.vars[str(key)] = Sourced(to_plain(value), line_of(root, where), dotted(where))
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
        str(key): Sourced(to_plain(value), line_of(root, (*loc, key)), dotted((*loc, key)))
        for key, value in (node or {}).items()
    }
    try:
        names = _expand(pattern, found.room())
    except ValueError as err:
        found.problems.append(Problem(file, line, dotted(loc), str(err)))
        return
    for name in names:
        found.add_host(file, group, Sourced(name, line, dotted(loc)), host_vars)


_CONNECTIONS = frozenset({*_SSH_CONNECTIONS, "winrm", "local"})
_CONNECTION_KEY = re.compile(r"^(ansible|ssh|winrm)_")
_KNOWN_CONNECTION_KEYS = frozenset(
    {
        *_ANSIBLE_SSH,
        *_ANSIBLE_WINRM,
        "ansible_connection",
        *HOST_KEYS,
        *SECRET_HINTS,
        *CONNECTION_DATA_KEYS,
    }
)


def _unknown_keys(file: str, variables: Iterable[Sourced]) -> list[Problem]:
    return unknown_keys(file, variables, _CONNECTION_KEY, _KNOWN_CONNECTION_KEYS)


def _unsupported_connection(file: str, merged: dict[str, Sourced]) -> list[Problem]:
    connection = merged.get("ansible_connection")
    if connection is None or connection.value in _CONNECTIONS:
        return []
    message = (
        f"raquet cannot sweep over ansible_connection={connection.value}; "
        f"supported: {', '.join(sorted(_CONNECTIONS))}"
    )
    return [Problem(file, connection.line, connection.field, message)]


def _ansible_inventory(path: Path, found: _Ansible) -> Inventory:
    """Resolve each host's variables as Ansible does, then validate like any other format."""
    parents: dict[str, list[str]] = {}
    for name, group in found.groups.items():
        for child in group.children:
            parents.setdefault(child, []).append(name)
    depths = _depths(list(found.groups), parents)
    file = str(path)
    names = {name: unit_display_name(group.vars, name) for name, group in found.groups.items()}
    for group in found.groups.values():
        found.problems += _unknown_keys(file, group.vars.values())
        for key in UNIT_NAME_KEYS:
            group.vars.pop(key, None)
    for host in found.hosts.values():
        found.problems += _unknown_keys(file, host.data.values())
    for variables in [
        *(g.vars for g in found.groups.values()),
        *(h.data for h in found.hosts.values()),
    ]:
        found.problems += segment_alias(file, variables)
    drafts = []
    for host in found.hosts.values():
        merged: dict[str, Sourced] = {}
        for name in _precedence(host.groups, parents, depths):
            merged.update(found.groups[name].vars if name in found.groups else {})
        merged.update(host.data)
        found.problems += _unsupported_connection(file, merged)
        values = {"address": host.name, **_ansible_fields(merged)}
        unit = next((g for g in host.groups if g != "all"), UNGROUPED)
        at = found.groups[unit].at if unit in found.groups else host.name
        draft = make_draft(host.name, unit, at, values)
        if draft.unit_name == unit:
            draft.unit_name = names.get(unit, unit)
        drafts.append(draft)
    return inventory_from_drafts(path, drafts, found.problems, Meta())


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


def _ansible_fields(merged: dict[str, Sourced]) -> dict[str, Sourced]:
    """`ansible_connection` decides the OS and which keys mean what (`ansible_port` is WinRM's
    port on a Windows host); any other connection is taken as a pyinfra connector name."""
    connection = merged.get("ansible_connection")
    windows = connection is not None and connection.value == "winrm"
    implied = {}
    if windows and connection is not None:
        implied["os"] = Sourced("windows", connection.line, connection.field)
    elif connection is not None and connection.value not in _SSH_CONNECTIONS:
        implied["connector"] = connection
    return {**implied, **mapped(merged, _ANSIBLE_WINRM if windows else _ANSIBLE_SSH)}
