"""`raquet vulns`: import, list and remove the offline vulnerability data the `vulns` check
judges installed packages, browsers and Windows builds against.

Data sets are files a province downloads where it has internet and carries to the jump
host: OSV (a zip or directory of records: Debian, Ubuntu, Rocky, AlmaLinux, Red Hat), the
Debian security tracker's JSON, NVD CVE 2.0 feeds, Microsoft's monthly CVRF documents.
Each is kept under a name with where and when it came from; importing a name again
replaces it in one transaction.

The store and the readers are imported by the commands, not with this module, which
`raquet.cli` imports for every command.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import typer

from raquet.console import Column, DbOpt, JsonOpt, data_on_stdout, fitted, people, write_json

EXIT_USAGE = 2
FormatChoice = Literal["auto", "osv", "debian", "nvd", "msrc"]
"""`raquet.vulns.FormatChoice`, named here so that building the command line does not import
the readers (tests/test_vulns_check.py holds the two equal)."""

vulns_app = typer.Typer(
    help="Offline vulnerability data: OSV, Debian security tracker, NVD, MSRC.",
    no_args_is_help=True,
)

NameArg = Annotated[
    str, typer.Argument(help="The data set's name, as `raquet vulns list` shows it.")
]


def _moment(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M %z") if value is not None else ""


@vulns_app.command("import")
def vulns_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="Data set: an OSV zip or directory, the Debian security tracker's JSON, an "
            "NVD CVE 2.0 feed (.json or .json.gz), an MSRC CVRF JSON document."
        ),
    ],
    name: Annotated[
        str | None, typer.Option(help="Data set name (default: the file's name).")
    ] = None,
    fmt: Annotated[FormatChoice, typer.Option("--format", help="Data format.")] = "auto",
    db: DbOpt = None,
) -> None:
    """Import (or replace) a vulnerability data set; malformed records are listed and skipped."""
    from raquet.errors import Problem
    from raquet.store import NoRecords, Store
    from raquet.vulns import detect, read_vulns
    from raquet.vulns.read import LeftOut

    dataset = name or _default_name(file)
    chosen: FormatChoice = fmt
    if fmt == "auto":
        found = detect(file)
        if isinstance(found, Problem):
            print(found, file=sys.stderr)
            raise typer.Exit(EXIT_USAGE)
        chosen = found
    left_out = LeftOut()
    with Store(db) as store:
        try:
            done = store.import_vulns(
                dataset,
                str(file.resolve()),
                chosen,
                lambda: read_vulns(file, chosen, dataset=dataset, left_out=left_out),
            )
        except NoRecords as exc:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            _say_left_out(left_out.unmapped)
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(EXIT_USAGE) from None
    _say_left_out(left_out.unmapped)
    info = done.info
    for problem in done.problems:
        print(f"skipped: {problem}", file=sys.stderr)
    if info.problems > len(done.problems):
        print(f"skipped: ... and {info.problems - len(done.problems)} more", file=sys.stderr)
    print(
        f"vulnerability data {info.name}: {info.records} records from {file} ({info.format}), "
        f"{info.problems} skipped; covers {', '.join(info.spaces) or 'nothing raquet matches'}"
    )


def _say_left_out(unmapped: int) -> None:
    if unmapped:
        print(
            f"not kept: {unmapped} NVD records whose products no program or package raquet "
            "names maps to (raquet/vulns/data/applications.yml; import again after adding "
            "one there)",
            file=sys.stderr,
        )


def _default_name(file: Path) -> str:
    """The file's name without its data suffixes (`nvdcve-2.0-2024.json.gz` ->
    `nvdcve-2.0-2024`)."""
    name = file.name
    for suffix in (".gz", ".zip", ".json"):
        name = name.removesuffix(suffix)
    return name or file.name


@vulns_app.command("list")
def vulns_list(db: DbOpt = None, json_file: JsonOpt = None) -> None:
    """List imported data sets, with what each covers and a total."""
    from raquet.store import Store

    with Store(db) as store:
        datasets = store.vuln_datasets()
    if json_file:
        write_json(json_file, [d.model_dump(mode="json") for d in datasets])
    columns = [
        Column("data set"),
        Column("records", numeric=True),
        Column("skipped", numeric=True, drop=2),
        Column("format", drop=3),
        Column("covers", drop=1),
        Column("imported", drop=2),
        Column("source", drop=4),
    ]
    rows = [
        [
            d.name,
            d.records,
            d.problems,
            d.format,
            ", ".join(d.spaces),
            _moment(d.imported_at),
            d.source,
        ]
        for d in datasets
    ]
    total = [
        "total",
        sum(d.records for d in datasets),
        sum(d.problems for d in datasets),
        "",
        "",
        "",
        "",
    ]
    out = people(data_on_stdout(json_file))
    out.print(fitted(out, columns, rows, total))


@vulns_app.command("remove")
def vulns_remove(name: NameArg, db: DbOpt = None) -> None:
    """Remove a data set; later sweeps no longer judge against it."""
    from raquet.store import Store, VulnDatasetNotFound

    with Store(db) as store:
        try:
            info = store.remove_vulns(name)
        except VulnDatasetNotFound as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(EXIT_USAGE) from None
    print(f"removed vulnerability data {info.name} ({info.records} records)")
