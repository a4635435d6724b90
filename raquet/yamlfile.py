"""YAML input files whose every mistake is reported with its file, line and field.

Users edit inventories and policies by hand, so an error has to say where to look:
ruamel.yaml's round-trip loader keeps the line of every key and item, and pydantic
reports *which* value is wrong as a `loc` path; this module joins the two and turns
pydantic's wording into plain sentences about the YAML the user wrote.

A file is also refused, at the line and key where it happens, when only an attack needs
what it holds: more than `MAX_BYTES`, nesting deeper than `MAX_DEPTH` (ruamel's own
`max_depth`), aliases that expand past `MAX_EXPANDED` nodes (the "billion laughs"), an
alias inside its own anchor, or a number of more than `MAX_DIGITS` digits (Python refuses
to convert those past 4,300 digits, with a ValueError no YAML error would name).
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedBase, CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer, MaxDepthExceededError
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from raquet.errors import InputError, Problem
from raquet.models import _ENV_NAME, HOST_NAME, SLUG

Loc = tuple[int | str, ...]
Locate = Callable[[Loc], tuple[int | None, str]]
"""Maps a pydantic `loc` to (1-based line or None, field path as the user wrote it)."""

M = TypeVar("M", bound=BaseModel)

_PATTERNS = {
    SLUG: "a lowercase id of letters a-z, digits, '.', '_' or '-'",
    HOST_NAME: "a host name of letters, digits, '.', '_', '-', '@' or '/'",
    _ENV_NAME: "an environment variable name (letters, digits, '_')",
}


MAX_BYTES = 8 << 20
"""Inventories and policies larger than this are refused: 8 MiB is about 90,000 hosts, and
ruamel's round-trip loader takes about a minute and 800 MB of memory to read that much."""
MAX_DEPTH = 64
"""Deeper nesting is refused: an Ansible inventory of groups within groups is a fraction."""
MAX_EXPANDED = 1_000_000
"""Nodes that aliases may add in all, counting each alias as the whole node it names."""
MAX_DIGITS = 64
"""Longer numbers are refused; no setting needs more, and Python cannot convert 4,300."""
_INT_TAG = "tag:yaml.org,2002:int"


def read_input(path: Path) -> str:
    """The text of an input file; an unreadable or oversized one is an `InputError` like any
    other bad input, and nothing past `MAX_BYTES` is ever read."""
    file = str(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as err:
        raise InputError([Problem(file, None, "", f"cannot read: {err.strerror}")]) from None
    if len(raw) > MAX_BYTES:
        line = raw[:MAX_BYTES].count(b"\n") + 1
        message = f"the file goes on past {MAX_BYTES >> 20} MiB, more than any inventory or policy"
        raise InputError([Problem(file, line, "", message)])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise InputError([Problem(file, line, "", "expected UTF-8 text")]) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")  # as text mode reads it


class _Refused(MarkedYAMLError):
    """A YAML document refused by a bound, with the key path where the bound was crossed."""

    def __init__(self, message: str, mark: Any, path: list[int | str | None]) -> None:
        super().__init__(problem=message, problem_mark=mark)
        self.field = _path(path)


def _path(parts: list[int | str | None]) -> str:
    """The dotted path of the composer's stack (None: composing a mapping's key)."""
    return dotted(tuple(part for part in parts if part is not None))


class _BoundedComposer(Composer):
    """ruamel's composer, keeping the key path it is at and refusing aliases that expand
    past `MAX_EXPANDED` nodes, an alias inside its own anchor and over-long numbers."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.path: list[int | str | None] = []
        self._expanded = 0
        self._sizes: dict[int, int] = {}
        self._mark: Any = None

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        self._mark = event.start_mark if isinstance(event, AliasEvent) else None
        if isinstance(index, ScalarNode):
            self.path.append(str(index.value))
        else:
            self.path.append(index if isinstance(index, int) else None)
        node = super().compose_node(parent, index)
        self.path.pop()
        return node

    def return_alias(self, a: Any) -> Any:
        if a.end_mark is None:  # still being composed: the alias is inside its own anchor
            raise _Refused("an alias inside the anchor it names", self._mark, self.path)
        self._expanded += self._size(a)
        if self._expanded > MAX_EXPANDED:
            message = f"aliases here expand to more than {MAX_EXPANDED:,} values"
            raise _Refused(message, self._mark, self.path)
        return a

    def _size(self, node: Node) -> int:
        """How many nodes `node` stands for once every alias in it is expanded."""
        known = self._sizes.get(id(node))
        if known is not None:
            return known
        size = 1
        if isinstance(node, SequenceNode):
            size += sum(self._size(item) for item in node.value)
        elif isinstance(node, MappingNode):
            size += sum(self._size(key) + self._size(value) for key, value in node.value)
        self._sizes[id(node)] = size
        return size

    def compose_scalar_node(self, anchor: Any) -> Any:
        node = super().compose_scalar_node(anchor)
        if node.tag == _INT_TAG and len(node.value) > MAX_DIGITS:
            message = f"a number of {len(node.value):,} digits; at most {MAX_DIGITS} are read"
            raise _Refused(message, node.start_mark, self.path)
        return node


class _Constructor(RoundTripConstructor):
    """Places at its node the ValueError of a value that cannot be built (`2021-13-45`)."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as err:
            raise _Refused(f"cannot read this value: {err}", node.start_mark, []) from None


def _loader() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Composer = _BoundedComposer
    yaml.Constructor = _Constructor
    yaml.max_depth = MAX_DEPTH
    return yaml


def load_yaml(path: Path) -> Any:
    """Parse one YAML document, keeping line numbers (ruamel round-trip nodes).

    A syntax error or a refused document becomes an `InputError` naming the line, because
    a bare parser traceback tells a sysadmin nothing about where to look.
    """
    file, text, yaml = str(path), read_input(path), _loader()
    try:
        return yaml.load(text)
    except _Refused as err:
        raise InputError([Problem(file, _line(err), err.field, err.problem)]) from None
    except MaxDepthExceededError as err:
        field = _path(yaml.composer.path[:8]) + "…"
        message = f"nested more than {MAX_DEPTH} levels deep"
        raise InputError([Problem(file, _line(err), field, message)]) from None
    except MarkedYAMLError as err:
        what = "; ".join(part for part in (err.context, err.problem) if part)
        raise InputError([Problem(file, _line(err), "", f"YAML syntax error: {what}")]) from None
    except ReaderError as err:
        line = text[: err.position].count("\n") + 1
        char = err.character
        shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        message = f"YAML syntax error: the control character {shown} is not allowed in YAML"
        raise InputError([Problem(file, line, "", message)]) from None
    except YAMLError as err:
        raise InputError([Problem(file, None, "", f"YAML syntax error: {err}")]) from None


def _line(err: MarkedYAMLError) -> int | None:
    mark = err.problem_mark or err.context_mark
    return mark.line + 1 if mark is not None else None


def to_plain(node: Any) -> Any:
    """Strip ruamel's round-trip types so pydantic sees ordinary dicts, lists and scalars.

    ruamel's `ScalarInt`/`ScalarFloat` and `ScalarBoolean` would otherwise leak into
    validated models (and a `ScalarBoolean` is an int, not a bool). A mapping used as a key
    (`? {a: 1}`) stays ruamel's hashable one; pydantic then names it an unknown key.
    """
    if isinstance(node, Mapping):
        return {
            key if isinstance(key, Mapping) else to_plain(key): to_plain(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [to_plain(item) for item in node]
    if type(node).__name__ == "ScalarBoolean":
        return bool(node)
    for plain in (bool, int, float, str):
        if isinstance(node, plain):
            return plain(node)
    return node


def line_of(data: Any, loc: Loc) -> int | None:
    """The 1-based line of the deepest part of `loc` present in `data`.

    A missing key therefore points at its parent: the mapping that should hold it.
    """
    line = data.lc.line + 1 if isinstance(data, CommentedBase) else None
    node = data
    for part in loc:
        try:
            if isinstance(node, CommentedMap) and part in node:
                line = node.lc.key(part)[0] + 1
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line = node.lc.item(part)[0] + 1
            else:
                break
        except (AttributeError, KeyError):
            break  # a key merged in from an anchor (`<<: *x`) has no line of its own here
        node = node[part]
    return line


def dotted(loc: Loc) -> str:
    """`('units', 2, 'hosts', 0, 'os')` -> `units[2].hosts[0].os`, the way users read paths."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def yaml_locate(data: Any, prefix: Loc = ()) -> Locate:
    """A `Locate` for a model validated from `to_plain(data)`, or from its part at `prefix`."""
    return lambda loc: (line_of(data, prefix + loc), dotted(prefix + loc))


def yaml_problems(
    file: str, data: Any, error: ValidationError, model_cls: type[BaseModel] | None = None
) -> list[Problem]:
    """Every error of a model validated from `to_plain(data)`, placed on its YAML line."""
    return validation_problems(file, error, yaml_locate(data), model_cls)


def validation_problems(
    file: str, error: ValidationError, locate: Locate, model_cls: type[BaseModel] | None = None
) -> list[Problem]:
    """Turn each pydantic error into a `Problem`; `model_cls` is where typo hints come from."""
    problems = []
    for detail in error.errors():
        loc = tuple(detail["loc"])
        keys = accepted_keys(model_cls, loc[:-1]) if model_cls else set()
        line, field = locate(loc)
        problems.append(Problem(file, line, field, explain(detail, keys)))
    return problems


def explain(detail: ErrorDetails, known_keys: Collection[str] = ()) -> str:
    """Say what was expected and what was found, in words about YAML rather than Python types."""
    kind, ctx, got = detail["type"], detail.get("ctx", {}), detail["input"]
    key = detail["loc"][-1] if detail["loc"] else ""
    if kind == "missing":
        return f"missing required key '{key}'"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(key), list(known_keys), n=1)
        return f"unknown key '{key}'" + (f" (did you mean '{close[0]}'?)" if close else "")
    if kind == "literal_error":
        choices = ", ".join(re.findall(r"'([^']*)'", ctx["expected"]))
        return f"expected one of {choices}; got {_shown(got)}"
    if kind == "string_pattern_mismatch":
        wanted = _PATTERNS.get(ctx["pattern"], f"text matching {ctx['pattern']}")
        return f"expected {wanted}; got {_shown(got)}"
    if kind == "value_error":
        return f"{ctx['error']}; got {_shown(got)}"
    expected = _EXPECTED.get(kind)
    if expected is not None:
        bounds = {
            k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in ctx.items()
        }
        return f"expected {expected.format(**bounds)}; got {_shown(got)}" + _quote_hint(kind, got)
    return f"{detail['msg'][:1].lower()}{detail['msg'][1:]}; got {_shown(got)}"


_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping of keys to values",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
    "greater_than": "a number greater than {gt}",
    "greater_than_equal": "a number of at least {ge}",
    "less_than": "a number less than {lt}",
    "less_than_equal": "a number of at most {le}",
    "too_short": "at least {min_length} item(s)",
    "too_long": "at most {max_length} item(s)",
    "string_too_short": "at least {min_length} character(s)",
    "string_too_long": "at most {max_length} character(s)",
}


_SHOWN = 80


def _shown(value: Any) -> str:
    """Name what the user wrote without dumping a whole mapping, list or long text into the
    message; control characters come out escaped, so a message stays one line."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if value is None:
        return "nothing"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"a number of about {int(value.bit_length() * 0.30103) + 1:,} digits"
    if isinstance(value, str) and len(value) > _SHOWN:
        return repr(value[:_SHOWN] + "…")
    try:
        return repr(value)
    except Exception:  # a pyinfra inventory's own object, whose repr fails
        return f"a {type(value).__name__}"


def _quote_hint(kind: str, value: Any) -> str:
    """YAML reads `name: 2021` or `os: yes` as a number or boolean; the fix is quoting."""
    if kind == "string_type" and isinstance(value, bool | int | float):
        return " (put it in quotes to make it text)"
    return ""


def accepted_keys(model_cls: type[BaseModel], loc: Loc) -> set[str]:
    """The keys a mapping at `loc` inside `model_cls` accepts, to suggest one for a typo there."""
    models = [model_cls]
    for part in loc:
        if isinstance(part, str):
            fields = [m.model_fields[part] for m in models if part in m.model_fields]
            models = [nested for f in fields for nested in _models_in(f.annotation)]
    return {name for model in models for name in model.model_fields}


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation can hold: `Unit`, `list[Unit]`, `Unit | None`..."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]


def load_model(path: Path, model_cls: type[M]) -> M:
    """Load a YAML file into `model_cls`, reporting every problem at once as one `InputError`.

    An empty file means "all defaults", so a user can start from an empty policy.
    """
    data = load_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        problem = Problem(str(path), line_of(data, ()), "", "expected a mapping of keys at the top")
        raise InputError([problem])
    try:
        return model_cls.model_validate(to_plain(data))
    except ValidationError as err:
        raise InputError(yaml_problems(str(path), data, err, model_cls)) from None
