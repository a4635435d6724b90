"""What raquet shows people: live progress, tables that fit the terminal, and the logs.

Everything for people goes to stderr whenever stdout carries data (`--json -`), so that
`raquet sweep --json - | python -m json.tool` works. On a terminal progress is a rich bar
with each host that is not compliant printed as it arrives; anywhere else (a timer, CI,
a pipe) it is one plain line per host, never wrapped, so logs stay greppable.

Tables are rich tables sized to the terminal: when a table would be wider, the columns
that matter least are dropped first, then rich folds what is left.

rich is imported when something is first printed through it, not with this module: every
command imports this module, and a sweep's progress off a terminal never needs rich
before its first connections are on their way (rich is about a tenth of start-up).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, cast

import typer

from raquet.errors import printable

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID
    from rich.table import Table

    from raquet.models import HostResult, Inventory

LOG_WIDTH = 200
"""Width of tables written without a terminal (a timer's journal, a pipe): wide enough to
keep every column, since a log is read later in a pager that does not rewrap it."""


def _width(stream: object) -> int | None:
    """rich's own width (the terminal's, or `COLUMNS`), else `LOG_WIDTH`."""
    isatty = getattr(stream, "isatty", None)
    if "COLUMNS" in os.environ or (isatty is not None and isatty()):
        return None
    return LOG_WIDTH


def _console(stderr: bool) -> Console:
    from rich.console import Console

    return Console(
        stderr=stderr, highlight=False, width=_width(sys.stderr if stderr else sys.stdout)
    )


class _Stderr:
    """The stderr console, made at its first use."""

    _made: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._made is None:
            self._made = _console(stderr=True)
        return getattr(self._made, name)


err = cast("Console", _Stderr())


class Verbosity:
    """`-q` (0), normal (1), `-v` (2 and more), set once by the command line."""

    level = 1


DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        metavar="URL",
        envvar="RAQUET_DB",
        help="Store URL (default: SQLite file in ~/.local/share/raquet).",
    ),
]
JsonOpt = Annotated[
    Path | None,
    typer.Option("--json", metavar="FILE", help="Write the data as JSON here ('-': stdout)."),
]


def write_json(target: Path, document: object) -> None:
    text = json.dumps(document, ensure_ascii=False, indent=2, default=str)
    if str(target) == "-":
        print(text)
    else:
        target.write_text(text + "\n", encoding="utf-8")


def data_on_stdout(json_file: Path | None) -> bool:
    return json_file is not None and str(json_file) == "-"


def people(data_on_stdout: bool) -> Console:
    """Where tables and notes for people go: stdout, unless stdout carries data."""
    return err if data_on_stdout else _console(stderr=False)


@dataclass(frozen=True)
class Column:
    """A table column; the highest `drop` goes first when the terminal is too narrow (0: kept)."""

    header: str
    drop: int = 0
    numeric: bool = False


def fitted(
    console: Console,
    columns: Sequence[Column],
    rows: Iterable[Sequence[object]],
    total: Sequence[object] | None = None,
) -> Table:
    """A table of `rows` (and a total row) no wider than the console, or as narrow as the
    kept columns allow: droppable columns are removed, most droppable first, then rich
    wraps cells at spaces (a header never breaks inside a word)."""
    body = [[printable(str(cell)) for cell in row] for row in rows]
    foot = [printable(str(cell)) for cell in total] if total is not None else None
    keep = list(range(len(columns)))
    while True:
        table = _table(columns, keep, body, foot)
        droppable = [i for i in keep if columns[i].drop]
        if fits(console, table) or not droppable:
            return table
        keep.remove(max(droppable, key=lambda i: columns[i].drop))


def fits(console: Console, table: Table) -> bool:
    """Whether `table` fits the console without wrapping any cell."""
    from rich.measure import Measurement

    return Measurement.get(console, console.options.update_width(10**6), table).maximum <= (
        console.width
    )


def _table(
    columns: Sequence[Column], keep: list[int], body: list[list[str]], foot: list[str] | None
) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for i in keep:
        column = columns[i]
        table.add_column(
            column.header,
            justify="right" if column.numeric else "left",
            overflow="fold",
            min_width=max(len(word) for word in column.header.split()),
        )
    for row in body:
        table.add_row(*(row[i] for i in keep))
    if foot is not None:
        table.add_section()
        table.add_row(*(foot[i] for i in keep), style="bold")
    return table


class SweepProgress:
    """Counts hosts done and failed; a bar on a TTY, a line per host otherwise."""

    def __init__(self, total: int, *, interactive: bool | None = None) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> SweepProgress:
        if self.interactive and Verbosity.level:
            from rich.progress import (  # a terminal's bar only: not for a timer's sweep
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]sweeping"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} not swept"),
                TimeElapsedColumn(),
                console=err,
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task("sweep", total=self.total, failed=0)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar:
            self._bar.stop()

    def __call__(self, result: HostResult) -> None:
        self.done += 1
        self.failed += result.status != "swept"
        if not Verbosity.level:
            return
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=self.done, failed=self.failed)
            if result.status != "swept" or not result.compliant:
                from rich.markup import escape

                style = "red" if result.status != "swept" else "yellow"
                self._bar.console.print(f"  [{style}]{escape(host_line(result))}[/{style}]")
        else:
            print(f"[{self.done}/{self.total}] {host_line(result)}", file=sys.stderr, flush=True)


def host_line(result: HostResult) -> str:
    """One line about one host: status, then what failed; nothing from the host can break it."""
    if result.status != "swept":
        return printable(f"{result.unit}/{result.name}: {result.status}: {result.error}")
    failing = [f"{f.check}: {f.title}" for f in result.findings if f.status in ("fail", "error")]
    verdict = "compliant" if not failing else "; ".join(failing)
    return printable(f"{result.unit}/{result.name}: {verdict}")


def summary(console: Console, inventory: Inventory, results: Iterable[HostResult]) -> Table:
    """The per-unit table printed at the end of a sweep: unit id first (what `--unit`
    takes), the name if there is room, counts, then the hosts failing each check, and a
    total. Where one column per check does not fit, one column lists them instead."""
    by_unit: dict[str, list[HostResult]] = {}
    for result in results:
        by_unit.setdefault(result.unit, []).append(result)
    checks = sorted({f.check for r in by_unit.values() for h in r for f in h.findings})
    units = [(u.id, u.name, by_unit[u.id]) for u in inventory.units if u.id in by_unit]
    every = [h for _, _, hosts in units for h in hosts]
    counts = [Column(h, numeric=True) for h in ("hosts", "swept", "not swept", "compliant")]
    wide = fitted(
        console,
        [
            Column("unit"),
            Column("name", drop=1),
            *counts,
            *(Column(c, numeric=True) for c in checks),
        ],
        [[i, n, *_counts(hosts), *_failing(hosts, checks)] for i, n, hosts in units],
        ["total", "", *_counts(every), *_failing(every, checks)],
    )
    if fits(console, wide):
        if checks:
            wide.caption = "check columns: hosts failing that check"
        return wide
    return fitted(
        console,
        [Column("unit"), *counts, Column("failing (hosts)")],
        [[i, *_counts(hosts), _listed(hosts, checks)] for i, _, hosts in units],
        ["total", *_counts(every), _listed(every, checks)],
    )


def _counts(hosts: list[HostResult]) -> list[int]:
    return [
        len(hosts),
        sum(h.status == "swept" for h in hosts),
        sum(h.status != "swept" for h in hosts),
        sum(h.compliant for h in hosts),
    ]


def _failing(hosts: list[HostResult], checks: list[str]) -> list[int]:
    failing: Counter[str] = Counter()
    for host in hosts:
        failing.update({f.check for f in host.findings if f.status in ("fail", "error")})
    return [failing[c] for c in checks]


def _listed(hosts: list[HostResult], checks: list[str]) -> str:
    pairs = zip(checks, _failing(hosts, checks), strict=True)
    return ", ".join(f"{check}\u00a0{n}" for check, n in pairs if n) or "-"


# --- logs -------------------------------------------------------------------------------

_SECRET_NAMES = re.compile(r"PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN", re.IGNORECASE)
_SECRET_KEYS = re.compile(
    r"""(['"]?\w*(?:password|passphrase|secret)\w*['"]?\s*[:=]\s*)(['"]).*?(?<!\\)\2""",
    re.IGNORECASE,
)


class Redact(logging.Filter):
    """Takes secrets out of every log record before any handler writes it.

    pyinfra's SSH connector logs paramiko's connect arguments (password included) at
    debug level; `--debug` must still never show one. A record loses the value of each
    variable named like a password (the inventory's `ssh_password_env` and
    `winrm_password_env` variables are such names by convention, and `hide` adds any
    other) and anything written as `password: '...'` or `password='...'`.
    """

    extra: ClassVar[set[str]] = set()

    @classmethod
    def hide(cls, *values: str) -> None:
        cls.extra.update(v for v in values if len(v) >= 3)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        secrets = self.extra | {
            v for k, v in os.environ.items() if _SECRET_NAMES.search(k) and len(v) >= 3
        }
        for secret in sorted(secrets, key=len, reverse=True):
            message = message.replace(secret, "***")
        record.msg, record.args = _SECRET_KEYS.sub(r"\1\2***\2", message), ()
        return True


def configure_logging(verbosity: int, debug: bool) -> None:
    """Warnings by default (pyinfra and paramiko silent: raquet reports every host failure
    itself); `-v` adds raquet's own info; `--debug` shows everything, pyinfra's and
    paramiko's included, through the same redaction."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(Redact())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    if debug:
        root.setLevel(logging.DEBUG)
        return
    root.setLevel({0: logging.ERROR, 1: logging.WARNING}.get(verbosity, logging.INFO))
    for noisy in ("pyinfra", "paramiko"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
