"""`raquet report`: the weekly provincial letter or one unit's report, in any format (SPEC §6).

Registered by raquet.cli (`app.command("report")(report)`); exit code 2 for anything the
user asked that the store cannot answer (unknown sweep, unit, week), as for every other
bad usage of raquet.
"""

from __future__ import annotations

import os
import traceback
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from jinja2 import TemplateError, TemplateSyntaxError

from raquet.errors import InputError, Problem
from raquet.store import Store, StoreError
from reports.aggregate import build
from reports.collect import Selection, UsageError, collect
from reports.document import layout
from reports.formats import Format, write
from reports.formatting import Lang
from reports.prose import IncompleteLetter
from reports.settings import ENV as SETTINGS_ENV
from reports.settings import ReportSettings, load_settings
from reports.weeks import IsoWeek

EXIT_USAGE = 2


class Language(StrEnum):
    vi = "vi"
    en = "en"


def write_report(
    store: Store,
    selection: Selection,
    format: Format,
    output: Path,
    lang: Lang = "vi",
    templates: Path | None = None,
    now: datetime | None = None,
    settings: ReportSettings | None = None,
) -> list[Path]:
    """Collects, computes, lays out and writes one report; returns the files written."""
    moment = now or datetime.now(UTC)
    settings = settings or ReportSettings()
    data = collect(store, selection, moment)
    data.unit_names.update(settings.unit_names_at(data.week.sunday))
    report = build(data, selection.unit, lang, moment, templates)
    output.parent.mkdir(parents=True, exist_ok=True)
    return write(format, layout(report, templates, settings), output)


def report(
    format: Annotated[
        Format, typer.Option("--format", "-f", help="html, pdf, docx, xlsx, md, csv or json.")
    ],
    output: Annotated[
        str,
        typer.Option(
            "-o",
            "--output",
            metavar="PATH",
            help="File to write. csv: a directory (existing, or ending in /) gets one file per "
            "table; anything else is a base name (BASE-units.csv, ...).",
        ),
    ],
    sweep: Annotated[
        str | None,
        typer.Option(
            "--sweep",
            metavar="ID",
            help="Report on this sweep only: id, unique prefix or 'latest'.",
        ),
    ] = None,
    week: Annotated[
        str | None,
        typer.Option(
            "--week",
            metavar="YYYY-Www",
            help="ISO week in the province's time zone (default: the last complete week; "
            "a week in progress, when asked for, is marked incomplete).",
        ),
    ] = None,
    unit: Annotated[
        str | None,
        typer.Option(
            "--unit", metavar="ID", help="One unit's report instead of the province letter."
        ),
    ] = None,
    lang: Annotated[Language, typer.Option("--lang", help="Language of the report.")] = Language.vi,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="RAQUET_DB",
            metavar="URL",
            help="Store URL (default: SQLite file in ~/.local/share/raquet).",
        ),
    ] = None,
    templates: Annotated[
        Path | None,
        typer.Option(
            "--templates",
            metavar="DIR",
            exists=True,
            file_okay=False,
            help="Directory of templates overriding the shipped ones by file name.",
        ),
    ] = None,
    settings: Annotated[
        Path | None,
        typer.Option(
            "--settings",
            envvar=SETTINGS_ENV,
            metavar="FILE",
            help="The letter's settings (issuer, ký hiệu, signer, recipients, legal basis, "
            "contact), YAML; see inventory/reports.example.yml.",
        ),
    ] = None,
) -> None:
    """Write the weekly provincial letter, or one unit's report with --unit."""
    try:
        selection = Selection(sweep=sweep, week=IsoWeek.parse(week) if week else None, unit=unit)
    except ValueError as exc:
        raise _usage(f"--week: {exc}") from None
    target = Path(output)
    try:
        letter = load_settings(settings)
    except InputError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except OSError as exc:
        raise _usage(f"{settings}: {exc.strerror or exc}") from None
    try:
        if format is Format.csv and output.endswith(("/", os.sep)):
            target.mkdir(parents=True, exist_ok=True)
        with Store(db) as store:
            written = write_report(
                store, selection, format, target, lang.value, templates, settings=letter
            )
    except (UsageError, StoreError, OSError) as exc:
        raise _usage(str(exc)) from None
    except TemplateError as exc:  # a --templates file that does not parse or render
        typer.echo(str(_template_problem(exc)), err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except IncompleteLetter as exc:  # a --templates file that leaves out a part
        typer.echo(str(exc.problem), err=True)
        raise typer.Exit(EXIT_USAGE) from None
    for path in written:
        typer.echo(f"wrote {path}", err=True)


def _template_problem(error: TemplateError) -> Problem:
    """Where a template went wrong: the file and line Jinja names, or the template frame
    of the traceback (Jinja rewrites it to point at template lines)."""
    line: int | None
    if isinstance(error, TemplateSyntaxError):
        file, line = error.filename or error.name or "template", error.lineno
    else:
        frames = [
            f for f in traceback.extract_tb(error.__traceback__) if f.filename.endswith(".j2")
        ]
        file, line = (frames[-1].filename, frames[-1].lineno) if frames else ("template", None)
    return Problem(file, line, "", f"template error: {error.message}")


def _usage(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_USAGE)
