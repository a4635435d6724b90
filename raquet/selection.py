"""Which hosts a command acts on: `--unit`, `--host`, `--tag` and `--limit PATTERN`.

Every command that touches hosts takes the same four options and resolves them here,
against the inventory, before anything connects. `--limit` follows Ansible's host
patterns, since that is what a sysadmin already types: terms separated by `,` or `:`;
a term is `all`, a host name, a unit id or a tag, as a glob (`td-*`) or, after `~`, a regular
expression; `&term` keeps only hosts that also match it, `!term` removes the hosts that
match it; `@FILE` reads more terms from a file, one per line (Ansible's retry files).

Ansible only warns about a term that matches nothing; here it is an error, as is a
selection that leaves no host: a typo in a remediation's `--limit` must stop the run,
not quietly act on a different set of hosts.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated

import typer

from raquet.models import Host, Inventory


class SelectionError(ValueError):
    """A selection that names something the inventory does not have, or leaves no host."""


@dataclass(frozen=True)
class Selection:
    """What the command line asked for; empty means every host of the inventory."""

    units: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    limit: str | None = None

    def __bool__(self) -> bool:
        return bool(self.units or self.hosts or self.tags or self.limit)

    def resolve(self, inventory: Inventory) -> list[Host]:
        """The selected hosts in inventory order; each kind narrows the others (a host must
        be in one of the `--unit`s, one of the `--host`s, carry one of the `--tag`s and
        match the `--limit`)."""
        hosts = inventory.hosts()
        _known("unit", self.units, [u.id for u in inventory.units])
        _known("host", self.hosts, [h.name for h in hosts])
        _known("tag", self.tags, sorted({t for h in hosts for t in h.tags}))
        chosen = [
            h
            for h in hosts
            if (not self.units or h.unit in self.units)
            and (not self.hosts or h.name in self.hosts)
            and (not self.tags or set(h.tags) & set(self.tags))
        ]
        if self.limit:
            chosen = limit(chosen, self.limit, inventory)
        if not chosen:
            raise SelectionError(f"the selection ({self.describe()}) matches no host")
        return chosen

    def describe(self) -> str:
        parts = [
            *(f"--unit {u}" for u in self.units),
            *(f"--host {h}" for h in self.hosts),
            *(f"--tag {t}" for t in self.tags),
        ]
        if self.limit:
            parts.append(f"--limit {self.limit}")
        return " ".join(parts) or "all hosts"


def _known(kind: str, given: list[str], known: list[str]) -> None:
    unknown = [name for name in given if name not in known]
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1)
        hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
    listing = ", ".join(known[:20]) + (", …" if len(known) > 20 else "")
    raise SelectionError(f"unknown {kind}(s): {', '.join(hints)}; known: {listing or 'none'}")


def terms(pattern: str, *, _depth: int = 0) -> list[str]:
    """The pattern split into terms, `@FILE` expanded (one term per non-blank line, `#`
    comments allowed). Host names, unit ids and tags never hold `,` or `:`."""
    out: list[str] = []
    for term in (t.strip() for t in re.split(r"[,:]", pattern)):
        if not term:
            continue
        if term.startswith("@"):
            if _depth:
                raise SelectionError(f"{term}: a file of names cannot name another file")
            path = Path(term[1:]).expanduser()
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise SelectionError(f"--limit {term}: {exc.strerror}") from None
            lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
            out.extend(t for line in lines if line for t in terms(line, _depth=1))
        else:
            out.append(term)
    return out


def _matcher(term: str) -> re.Pattern[str] | str:
    if term.startswith("~"):
        try:
            return re.compile(term[1:])
        except re.error as exc:
            raise SelectionError(f"--limit {term}: not a regular expression: {exc}") from None
    return term


def _matches(host: Host, matcher: re.Pattern[str] | str) -> bool:
    names = [host.name, host.unit, *host.tags]
    if matcher == "all":
        return True
    if isinstance(matcher, str):
        return any(fnmatchcase(name, matcher) for name in names)
    return any(matcher.fullmatch(name) for name in names)


def limit(hosts: list[Host], pattern: str, inventory: Inventory) -> list[Host]:
    """`hosts` narrowed by an Ansible-style pattern. Plain terms are a union (all hosts when
    there are none), then every `&` term intersects and every `!` term subtracts, whatever
    their order, as in Ansible. Each term must match some host of the inventory."""
    every = inventory.hosts()
    union: list[re.Pattern[str] | str] = []
    narrowing: list[tuple[str, re.Pattern[str] | str]] = []
    for term in terms(pattern):
        op, body = (term[0], term[1:]) if term[0] in "&!" else ("", term)
        if not body:
            raise SelectionError(f"--limit: '{term}' names nothing")
        matcher = _matcher(body)
        if not any(_matches(h, matcher) for h in every):
            raise SelectionError(f"--limit: '{body}' matches no host, unit or tag")
        if op:
            narrowing.append((op, matcher))
        else:
            union.append(matcher)
    chosen = [h for h in hosts if not union or any(_matches(h, m) for m in union)]
    for op, matcher in narrowing:
        keep = op == "&"
        chosen = [h for h in chosen if _matches(h, matcher) == keep]
    return chosen


UnitOpt = Annotated[
    list[str] | None,
    typer.Option("--unit", metavar="UNIT", help="Only the hosts of this unit id (repeatable)."),
]
HostOpt = Annotated[
    list[str] | None,
    typer.Option("--host", metavar="HOST", help="Only this host, by name (repeatable)."),
]
TagOpt = Annotated[
    list[str] | None,
    typer.Option("--tag", metavar="TAG", help="Only hosts with this tag (repeatable)."),
]
LimitOpt = Annotated[
    str | None,
    typer.Option(
        "--limit",
        "-l",
        metavar="PATTERN",
        help="Ansible-style pattern of hosts, units and tags: globs, ~regex, "
        "'!' excludes, '&' intersects, ',' or ':' separates, @FILE reads names.",
    ),
]


def selection(
    units: list[str] | None, hosts: list[str] | None, tags: list[str] | None, pattern: str | None
) -> Selection:
    """The options as typer hands them over (None for an option not given)."""
    return Selection(units or [], hosts or [], tags or [], pattern)
