"""STIX 2.1 bundles: the network values in `indicator` objects' STIX patterns.

Patterns are parsed by the OASIS grammar (stix2-patterns), never by regex. From each
pattern raquet takes every value compared with `=`, `IN` or `ISSUBSET` to an IP, domain
or URL path, whatever joins the comparisons: `OR` lists alternatives, and for `AND` the
value is still an address the indicator names, so matching it errs on the side a sweep
should (a connection to it is worth a look). Negated comparisons are not indicators.
Indicators of other kinds (file hashes, YARA rules) are counted as ignored.
"""

from __future__ import annotations

import re
from typing import Any

from stix2patterns.exceptions import ParseException
from stix2patterns.v21.grammars.STIXPatternListener import STIXPatternListener
from stix2patterns.v21.pattern import Pattern

from raquet.errors import InputError, Problem
from raquet.feeds.collect import Collector
from raquet.feeds.limits import MAX_ENTRIES, MAX_PATTERN, MAX_PATTERNS_TOTAL
from raquet.feeds.values import Expect

# Object paths whose value is an indicator, with what the value must be (None: any kind).
# The network-traffic and resolves_to_refs forms are what MISP's STIX export writes.
_PATHS: dict[str, Expect | None] = {
    "ipv4-addr:value": "address",
    "ipv6-addr:value": "address",
    "domain-name:value": "domain",
    "url:value": "url",
    "network-traffic:dst_ref.value": None,
    "network-traffic:src_ref.value": None,
    "domain-name:resolves_to_refs[*].value": "address",
}


def is_bundle(data: Any) -> bool:
    return isinstance(data, dict) and (data.get("type") == "bundle" or "objects" in data)


def parse_stix(data: Any, out: Collector) -> None:
    if not is_bundle(data) or not isinstance(data.get("objects"), list):
        problem = Problem(out.file, None, "objects", "not a STIX 2.1 bundle (no objects list)")
        raise InputError([problem])
    objects = data["objects"]
    if len(objects) > MAX_ENTRIES:
        message = f"{len(objects):,} objects; at most {MAX_ENTRIES:,}: split the bundle"
        raise InputError([Problem(out.file, None, "objects", message)])
    read = 0
    for index, obj in enumerate(objects):
        if isinstance(obj, dict) and obj.get("type") == "indicator":
            pattern = obj.get("pattern")
            read += len(pattern) if isinstance(pattern, str) and len(pattern) <= MAX_PATTERN else 0
            if read > MAX_PATTERNS_TOTAL:
                message = f"the patterns add up to more than {MAX_PATTERNS_TOTAL >> 20} MiB"
                problem = Problem(out.file, None, f"objects[{index}].pattern", message)
                raise InputError([*out.problems, problem])
            _indicator(obj, f"objects[{index}]", out)


def _indicator(obj: dict[str, Any], where: str, out: Collector) -> None:
    if obj.get("revoked") is True or obj.get("pattern_type", "stix") != "stix":
        out.ignore()
        return
    pattern = obj.get("pattern")
    if not isinstance(pattern, str):
        out.problem(None, f"{where}.pattern", "missing pattern")
        return
    if len(pattern) > MAX_PATTERN:
        out.problem(None, f"{where}.pattern", f"longer than {MAX_PATTERN:,} characters")
        return
    try:
        values = pattern_values(pattern)
    except ParseException as err:
        out.problem(None, f"{where}.pattern", f"not a valid STIX pattern: {err}")
        return
    except RecursionError:  # the grammar's parser and walker recurse once per nested term
        out.problem(None, f"{where}.pattern", "not a valid STIX pattern: nested too deeply")
        return
    if not values:
        out.ignore()
        return
    dates = out.dates(
        None,
        first_seen=(f"{where}.valid_from", obj.get("valid_from")),
        expires=(f"{where}.valid_until", obj.get("valid_until")),
    )
    if dates is None:
        return
    for value, expect in values:
        out.add(
            value,
            line=None,
            field=f"{where}.pattern",
            expect=expect,
            reference=_reference(obj.get("external_references")),
            comment=_string(obj.get("name")) or _string(obj.get("description")),
            dates=dates,
        )


def pattern_values(pattern: str) -> list[tuple[str, Expect | None]]:
    """The string values a pattern compares network paths to, in pattern order."""
    listener = _Values()
    Pattern(pattern).walk(listener)
    return listener.found


class _Values(STIXPatternListener):
    def __init__(self) -> None:
        self.found: list[tuple[str, Expect | None]] = []

    def exitPropTestEqual(self, ctx: Any) -> None:
        if ctx.EQ() is not None and ctx.NOT() is None:
            self._take(ctx.objectPath(), [_literal(ctx.primitiveLiteral())])

    def exitPropTestSet(self, ctx: Any) -> None:
        if ctx.NOT() is None:
            literals = ctx.setLiteral().primitiveLiteral()
            self._take(ctx.objectPath(), [_literal(literal) for literal in literals])

    def exitPropTestIsSubset(self, ctx: Any) -> None:
        if ctx.NOT() is None:
            self._take(ctx.objectPath(), [ctx.StringLiteral()])

    def _take(self, path: Any, tokens: list[Any]) -> None:
        text = path.getText()
        if text not in _PATHS:
            return
        for token in tokens:
            if token is not None:
                self.found.append((_unquote(token.getText()), _PATHS[text]))


def _literal(literal: Any) -> Any:
    """The string token of a literal; numbers and booleans are no network value."""
    orderable = literal.orderableLiteral()
    return None if orderable is None else orderable.StringLiteral()


def _unquote(token: str) -> str:
    """A STIX string literal's text: quotes removed, `\\'` and `\\\\` unescaped."""
    return re.sub(r"\\(.)", r"\1", token[1:-1])


def _reference(refs: object) -> str | None:
    """The external references, each by its id (a letter's number), else what names it."""
    if not isinstance(refs, list):
        return None
    names = []
    for ref in refs:
        if isinstance(ref, dict):
            for key in ("external_id", "description", "url", "source_name"):
                if _string(ref.get(key)):
                    names.append(str(ref[key]).strip())
                    break
    return "; ".join(names) or None


def _string(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
