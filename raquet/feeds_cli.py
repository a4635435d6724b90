"""`raquet feeds`: import, list, show and remove the indicator feeds sweeps match against.

A province receives the same national list more than once (by e-mail, then in the
letter's annex); importing it again under another name would make every match list two
feeds. The reports count each connection once whatever the number of feeds, but the
import says so, since two names for one list is almost always a mistake.

The store (SQLAlchemy), the feed parsers and tabulate are imported by the commands, not
with this module, which `raquet.cli` imports for every command.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import typer

from raquet.console import Column, DbOpt, JsonOpt, data_on_stdout, fitted, people, write_json
from raquet.errors import InputError

EXIT_USAGE = 2
FormatChoice = Literal["auto", "txt", "csv", "stix", "misp", "xlsx"]
"""`raquet.feeds.FormatChoice`, named here so that building the command line does not import
the feed parsers (tests/test_startup.py holds the two equal)."""

feeds_app = typer.Typer(
    help="Indicator feeds: malicious IPs, CIDRs and domains.", no_args_is_help=True
)

NameArg = Annotated[str, typer.Argument(help="The feed's name, as `raquet feeds list` shows it.")]


def _moment(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M %z") if value is not None else ""


@feeds_app.command("import")
def feeds_import(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="Feed file: text list, CSV, STIX 2.1, MISP JSON or XLSX (default: every "
            "file of the feeds directory, RAQUET_FEEDS_DIR or `feeds_dir` in raquet.toml)."
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Feed name (default: the file's name).")] = None,
    fmt: Annotated[FormatChoice, typer.Option("--format", help="File format.")] = "auto",
    db: DbOpt = None,
) -> None:
    """Import (or replace) an indicator feed; malformed entries are listed and skipped."""
    files = [file] if file is not None else _feeds_dir_files()
    if name is not None and len(files) > 1:
        print("error: --name names one feed; give the file to import", file=sys.stderr)
        raise typer.Exit(EXIT_USAGE)
    failed = False
    for path in files:
        failed |= not _import_one(path, name or path.stem, fmt, db)
    if failed:
        raise typer.Exit(EXIT_USAGE)


def _feeds_dir_files() -> list[Path]:
    """The feeds directory's files, in name order; hidden files and folders are not feeds."""
    folder = os.environ.get("RAQUET_FEEDS_DIR")
    if not folder:
        print(
            "error: give a feed file, or a feeds directory (RAQUET_FEEDS_DIR, `feeds_dir` in "
            "raquet.toml)",
            file=sys.stderr,
        )
        raise typer.Exit(EXIT_USAGE)
    found = sorted(p for p in Path(folder).glob("*") if p.is_file() and not p.name.startswith("."))
    if not found:
        print(f"error: the feeds directory {folder} holds no file", file=sys.stderr)
        raise typer.Exit(EXIT_USAGE)
    return found


def _import_one(file: Path, feed_name: str, fmt: FormatChoice, db: str | None) -> bool:
    """One file as one feed; False (after saying why) when the file is refused whole."""
    from raquet.feeds import parse_feed
    from raquet.store import Store

    try:
        parsed = parse_feed(file, fmt)
    except InputError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return False
    for problem in parsed.problems:
        print(f"skipped: {problem}", file=sys.stderr)
    with Store(db) as store:
        twins = store.feeds_holding(parsed.indicators, besides=feed_name)
        info = store.import_feed(
            feed_name,
            str(file.resolve()),
            parsed.format,
            parsed.indicators,
            problems=len(parsed.problems),
        )
    print(
        f"feed {info.name}: {info.indicators} indicators from {file} ({info.format}), "
        f"{info.problems} entries skipped"
    )
    for twin in twins:
        print(
            f"warning: feed {info.name} holds exactly the indicators of feed {twin}; if it is "
            f"the same list, drop the copy (`raquet feeds remove {info.name}`) and import "
            f"updates with --name {twin}",
            file=sys.stderr,
        )
    return True


@feeds_app.command("list")
def feeds_list(db: DbOpt = None, json_file: JsonOpt = None) -> None:
    """List imported feeds, with a total; the source path goes first when the terminal is narrow."""
    from raquet.store import Store

    with Store(db) as store:
        feeds = store.feeds()
    if json_file:
        write_json(json_file, [f.model_dump(mode="json") for f in feeds])
    columns = [
        Column("feed"),
        Column("indicators", numeric=True),
        Column("skipped", numeric=True, drop=2),
        Column("format", drop=3),
        Column("imported", drop=1),
        Column("source", drop=4),
    ]
    rows = [
        [f.name, f.indicators, f.problems, f.format, _moment(f.imported_at), f.source]
        for f in feeds
    ]
    total = ["total", sum(f.indicators for f in feeds), sum(f.problems for f in feeds), "", "", ""]
    out = people(data_on_stdout(json_file))
    out.print(fitted(out, columns, rows, total))


@feeds_app.command("show")
def feeds_show(
    name: NameArg,
    limit: Annotated[int, typer.Option(min=0, help="Indicators listed.")] = 20,
    db: DbOpt = None,
) -> None:
    """Show one feed: where it came from, its indicators by kind, the first of them."""
    from tabulate import tabulate

    from raquet.store import FeedNotFound, Store

    with Store(db) as store:
        try:
            info, kinds, shown = store.feed_detail(name, limit)
        except FeedNotFound as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(EXIT_USAGE) from None
    by_kind = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())) or "none"
    print(f"feed {info.name}")
    print(f"  source:     {info.source} ({info.format})")
    print(f"  imported:   {_moment(info.imported_at)}")
    print(f"  indicators: {info.indicators} ({by_kind}); {info.problems} entries skipped")
    if shown:
        rows = [
            [i.kind, i.value, i.reference or "", _moment(i.expires), i.comment or ""] for i in shown
        ]
        print(tabulate(rows, headers=["kind", "value", "reference", "expires", "comment"]))
        if info.indicators > len(shown):
            print(f"... and {info.indicators - len(shown)} more (--limit N)")


@feeds_app.command("remove")
def feeds_remove(name: NameArg, db: DbOpt = None) -> None:
    """Remove a feed and its indicators; later sweeps no longer match against it."""
    from raquet.store import FeedNotFound, Store

    with Store(db) as store:
        try:
            info = store.remove_feed(name)
        except FeedNotFound as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(EXIT_USAGE) from None
    print(f"removed feed {info.name} ({info.indicators} indicators)")
