"""The model every inventory format reads into, and what all of them share: where each
value was written (`Sourced`), hosts as read before validation (`Draft`), one validation
for every format, secrets refused wherever they appear, paths resolved at load time."""

from __future__ import annotations

import difflib
import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from raquet.errors import InputError, Problem
from raquet.models import MAX_NAME, Host, Inventory, Text, Unit, check_text
from raquet.yamlfile import (
    Loc,
    dotted,
    validation_problems,
)

log = logging.getLogger(__name__)

UNGROUPED = "ungrouped"
"""The unit of a pyinfra or Ansible host that no group but `all` lists."""
MAX_ENTRIES = 200_000
"""Host entries one pyinfra or Ansible inventory may list (a host listed by two groups
counts twice): Ansible ranges and code make millions in a line, and no province needs them.
A raquet YAML inventory is bounded by its size (`raquet.yamlfile.MAX_BYTES`)."""

_PATH_FIELDS = ("ssh_key", "known_hosts", "winrm_ca_bundle")
HOST_KEYS = frozenset(Host.model_fields) - {"name", "data"}
CONNECTION_DATA_KEYS = frozenset(
    {"winrm_cert_pem", "winrm_cert_key_pem", "winrm_server_cert_validation"}
)
"""Connection settings that stay in a host's `data`, where `raquet.targets` reads them: known
keys, not typos, in every format."""
_SECRET = "secrets never live in the inventory file: "
_USE_ENV = _SECRET + "set {} to the name of an environment variable holding it"
SECRET_HINTS = {
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


class Meta(BaseModel):
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
        return self.model_dump(include=set(Meta.model_fields))

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone such as Asia/Ho_Chi_Minh") from None
        return value


def input_error(problems: list[Problem]) -> InputError:
    """Every problem once, in file order, so the user can fix them top to bottom."""
    unique = list(dict.fromkeys(problems))
    return InputError(sorted(unique, key=lambda p: (p.file, p.line or 0)))


def raise_if(problems: list[Problem]) -> None:
    if problems:
        raise input_error(problems)


def secret_paths(node: Any, loc: Loc = ()) -> Iterator[tuple[Loc, str]]:
    """Where a password sits in `node`, however deep, with the hint to give about it."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            hint = SECRET_HINTS.get(str(key))
            if hint:
                yield (*loc, key), hint
            else:
                yield from secret_paths(value, (*loc, key))
    elif isinstance(node, list | tuple):
        for index, item in enumerate(node):
            yield from secret_paths(item, (*loc, index))


def _resolve_path(value: str, base: Path) -> str:
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    beside = base / path
    return str(beside if beside.exists() else Path.cwd() / path)


def with_resolved_paths(inventory: Inventory, base: Path) -> Inventory:
    """Fix file paths at load time, so a sweep started from any directory finds the same files."""

    def resolved(host: Host) -> Host:
        paths = {name: getattr(host, name) for name in _PATH_FIELDS if getattr(host, name)}
        return host.model_copy(update={k: _resolve_path(v, base) for k, v in paths.items()})

    units = [
        u.model_copy(update={"hosts": [resolved(h) for h in u.hosts]}) for u in inventory.units
    ]
    return inventory.model_copy(update={"units": units})


@dataclass(frozen=True)
class Sourced:
    """A value and where the user wrote it, so that an error about it can point there."""

    value: Any
    line: int | None
    field: str


@dataclass
class Draft:
    """One host read from a pyinfra or Ansible inventory, with raquet field names, unvalidated."""

    name: Sourced
    unit: Sourced
    unit_name: str
    values: dict[str, Sourced]

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


def slug(name: str) -> str:
    """Group names become unit ids typed on the command line: ASCII, lower case, no spaces."""
    latin = name.replace("đ", "d").replace("Đ", "D")
    ascii_name = unicodedata.normalize("NFKD", latin).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9._-]+", "-", ascii_name.lower()).strip("-._")


def make_draft(name: Sourced, group: str, group_at: Sourced, values: dict[str, Sourced]) -> Draft:
    """A host goes to its group's unit unless it names its own with a `unit` key."""
    unit = values.pop("unit", None)
    if unit is None:
        return Draft(name, Sourced(slug(group), group_at.line, group_at.field), group, values)
    return Draft(name, unit, str(unit.value), values)


def mapped(sourced: Mapping[str, Sourced], renames: Mapping[str, str]) -> dict[str, Sourced]:
    """Translate another tool's keys to raquet's; keys raquet has no use for go to `data`.

    When several keys set one field, the later rename wins and raquet's own key wins over all.
    Passwords are dropped here: they were reported where they were read.
    """
    fields = {target: sourced[key] for key, target in renames.items() if key in sourced}
    fields.update({key: item for key, item in sourced.items() if key in HOST_KEYS})
    rest = {
        key: item
        for key, item in sourced.items()
        if key not in renames and key not in HOST_KEYS and key not in SECRET_HINTS
    }
    if rest:
        first = next(iter(rest.values()))
        fields["data"] = Sourced({k: v.value for k, v in rest.items()}, first.line, first.field)
    return fields


def inventory_from_drafts(
    path: Path, drafts: list[Draft], problems: list[Problem], meta: Meta
) -> Inventory:
    """Validate every host and unit the same way whichever format they were read from."""
    file = str(path)
    units: dict[str, Unit] = {}
    placed: list[tuple[Host, int | None, str]] = []
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
        address = draft.values.get("address", draft.name)
        placed.append((host, address.line, address.field))
    if not drafts and not problems:
        problems.append(Problem(file, None, "", "no hosts found in any group"))
    raise_if(problems)
    warn_shared_addresses(file, placed)
    return Inventory(source=path, units=list(units.values()), **meta.fields())


@dataclass
class Listed:
    """A host as listed by one or more groups of a pyinfra or Ansible inventory."""

    name: Sourced
    groups: list[str] = field(default_factory=list)
    data: dict[str, Sourced] = field(default_factory=dict)


def data_secrets(file: str, line: int | None, label: str, data: Any) -> list[Problem]:
    return [Problem(file, line, f"{label}.{dotted(loc)}", hint) for loc, hint in secret_paths(data)]


UNIT_NAME_KEYS = ("raquet_unit_name", "unit_name")
"""Group variables (Ansible) or group data (pyinfra) that give a unit its display name:
letters are addressed to it, and a group name like `trang_dinh` is no addressee."""


SEGMENT_ALIAS = "raquet_segment"
"""`segment` as a host or group variable (Ansible) or host or group data (pyinfra) may also
be spelled `raquet_segment`, like `raquet_unit_name`: playbooks that share the inventory
may have a `segment` variable of their own."""
RAQUET_KEYS = frozenset({*UNIT_NAME_KEYS, SEGMENT_ALIAS})
"""The `raquet_` keys raquet reads from pyinfra data and Ansible variables: any other
`raquet_` key is a typo."""


def segment_alias(file: str, variables: dict[str, Sourced]) -> list[Problem]:
    """Read `raquet_segment` as `segment` at the level that writes it (one host's data, one
    group's variables), before the levels are merged: host over group over `all` then
    holds whichever spelling each level uses. Both at one level must agree."""
    alias = variables.pop(SEGMENT_ALIAS, None)
    if alias is None:
        return []
    own = variables.setdefault("segment", alias)
    if own.value == alias.value:
        return []
    message = f"{alias.value!r} here, but 'segment' (line {own.line}) says {own.value!r}; keep one"
    return [Problem(file, alias.line, alias.field, message)]


def unit_display_name(group_vars: Mapping[str, Sourced], default: str) -> str:
    for key in UNIT_NAME_KEYS:
        if key in group_vars:
            return str(group_vars[key].value)
    return default


def unknown_keys(
    file: str, variables: Iterable[Sourced], prefix: re.Pattern[str], known: Iterable[str]
) -> list[Problem]:
    """A connection key raquet does not know is a typo until shown otherwise: an
    `ansible_prot` or `ssh_prot` silently left to `data` sweeps port 22 and fails for a
    reason nobody sees; so is a `raquet_` key (`raquet_segmnet`). Keys without a connection
    `prefix` or `raquet_` are the user's own data."""
    choices = sorted({*known, *RAQUET_KEYS})
    problems = []
    for item in variables:
        key = item.field.rsplit(".", 1)[-1]
        ours = key.startswith("raquet_")
        if not (ours or prefix.match(key)) or key in choices:
            continue
        close = difflib.get_close_matches(key, choices, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        kind = "raquet" if ours else "connection"
        problems.append(
            Problem(file, item.line, item.field, f"unknown {kind} variable '{key}'{hint}")
        )
    return problems


def warn_shared_addresses(file: str, hosts: Iterable[tuple[Host, int | None, str]]) -> None:
    """Two hosts at one address and port are one machine swept twice, or a copied line whose
    address was not changed: a warning, not an error, because a machine may well carry two
    names. Hosts behind one NAT address on different ports are different machines."""
    first: dict[tuple[str, int | None, int | None], tuple[str, int | None]] = {}
    for host, line, where in hosts:
        key = (host.address.lower(), host.ssh_port, host.winrm_port)
        if key not in first:
            first[key] = (host.name, line)
            continue
        other, other_line = first[key]
        at = f" (line {other_line})" if other_line is not None else ""
        message = f"hosts '{other}'{at} and '{host.name}' share the address {host.address}"
        log.warning("%s", Problem(file, line, where, message))
