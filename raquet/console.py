"""What a sweep shows on the terminal: live progress while it runs, a per-unit summary at the end.

On a terminal it is a rich progress bar; anywhere else (cron, CI, a pipe) one plain line
per host, so logs stay readable and greppable.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable
from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from tabulate import tabulate

from raquet.models import HostResult, Inventory

err = Console(stderr=True, highlight=False)


class SweepProgress:
    """Counts hosts done and failed; a bar on a TTY, a line per host otherwise."""

    def __init__(self, total: int, *, interactive: bool | None = None) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> SweepProgress:
        if self.interactive:
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
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=self.done, failed=self.failed)
            if result.status != "swept":
                self._bar.console.print(
                    f"  {escape(result.name)}: {result.status}: {escape(result.error or '')}"
                )
        else:
            print(f"[{self.done}/{self.total}] {host_line(result)}", file=sys.stderr, flush=True)


def host_line(result: HostResult) -> str:
    """One line about one host: status, then what failed."""
    if result.status != "swept":
        return f"{result.unit}/{result.name}: {result.status}: {result.error}"
    failing = [f"{f.check}: {f.title}" for f in result.findings if f.status in ("fail", "error")]
    verdict = "compliant" if not failing else "; ".join(failing)
    return f"{result.unit}/{result.name}: {verdict}"


def summary(inventory: Inventory, results: Iterable[HostResult]) -> str:
    """The per-unit table printed at the end of a sweep."""
    by_unit: dict[str, list[HostResult]] = {}
    for result in results:
        by_unit.setdefault(result.unit, []).append(result)
    checks = sorted({f.check for r in by_unit.values() for h in r for f in h.findings})
    rows = []
    for unit in inventory.units:
        hosts = by_unit.get(unit.id, [])
        if not hosts:
            continue
        failing: Counter[str] = Counter()
        for host in hosts:
            failing.update(f.check for f in host.findings if f.status in ("fail", "error"))
        rows.append(
            [
                unit.display_name,
                len(hosts),
                sum(h.status == "swept" for h in hosts),
                sum(h.status != "swept" for h in hosts),
                sum(h.compliant for h in hosts),
                *(failing[c] for c in checks),
            ]
        )
    headers = [
        "unit",
        "hosts",
        "swept",
        "not swept",
        "compliant",
        *(f"{c} failing" for c in checks),
    ]
    return tabulate(rows, headers=headers, tablefmt="simple")
