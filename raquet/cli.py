"""The `raquet` command line (SPEC §4).

Exit codes, the same for every command:
  0  all swept hosts compliant (or the command succeeded)
  1  non-compliant findings (a check failed or could not run)
  2  bad input or usage (inventory, policy, options) — nothing was swept
  3  some hosts were not swept (unreachable or error); takes precedence over 1

Data goes to stdout (`--json -`) and nothing else does then: tables, progress and notes
for people go to stderr whenever stdout carries data. The store, the sweep engine and
the inventory parsers are imported by the commands that use them, so that `--help`,
`checks` or `config` do not pay for SQLAlchemy or pyinfra (tests/test_startup.py holds
this): a command module imported here imports its heavy parts inside its commands, and
one that does not (`report`) is `deferred`, imported only when its command runs.
"""

from __future__ import annotations

import copy
import importlib
import os
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer

import raquet
from raquet import collector, workers_cli
from raquet.console import (
    Column,
    DbOpt,
    JsonOpt,
    SweepProgress,
    Verbosity,
    configure_logging,
    data_on_stdout,
    err,
    fitted,
    people,
    write_json,
)
from raquet.db_cli import db_app
from raquet.errors import InputError
from raquet.feeds_cli import feeds_app
from raquet.selection import HostOpt, LimitOpt, Selection, SelectionError, TagOpt, UnitOpt
from raquet.selection import selection as selected
from raquet.vulns_cli import vulns_app
from remediations.command import remediate

if TYPE_CHECKING:
    from celery import Celery

    from raquet.models import Host, HostResult, Inventory, SweepResult
    from raquet.policy import Policy
    from raquet.store import Store
    from raquet.sweep import SweepOptions

EXIT_OK, EXIT_NONCOMPLIANT, EXIT_USAGE, EXIT_NOT_SWEPT = 0, 1, 2, 3
DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
_DEFERRED = "_raquet_deferred"  # the attribute naming a deferred command's `module:function`


class Commands(typer.core.TyperGroup):
    """raquet's command group: a `deferred` command stands in its place until it is invoked
    (or asked for its own help), then the real one is imported and built."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        target = getattr(getattr(found, "callback", None), _DEFERRED, None)
        if target is not None:
            found = self.commands[cmd_name] = _built(cmd_name, target)
        return found

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """As click lists commands, from their short help, without importing any deferred one."""
        shown = [(name, cmd) for name, cmd in self.commands.items() if not cmd.hidden]
        if shown:
            limit = formatter.width - 6 - max(len(name) for name, _ in shown)
            with formatter.section("Commands"):
                formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in shown])


class ListsChecks(typer.core.TyperCommand):
    """A command whose `--check` help names every check, looked up only when the help is
    shown: importing every check costs a sweep a sixth of its start-up, and a sweep of
    some checks imports only those."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        from checks import registry

        for param in self.params:
            if param.name == "check" and isinstance(param, typer.core.TyperOption):
                param.help = f"Only this check (repeatable): {', '.join(registry())}."
        super().format_help(ctx, formatter)


app = typer.Typer(
    cls=Commands,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: wraps at any width, never cuts an option name
)
inventory_app = typer.Typer(help="Inventories of units and hosts.", no_args_is_help=True)
app.add_typer(inventory_app, name="inventory")
app.add_typer(feeds_app, name="feeds")
app.add_typer(vulns_app, name="vulns")
app.add_typer(db_app, name="db")

InventoryOpt = Annotated[
    Path | None,
    typer.Option(
        "-i",
        "--inventory",
        metavar="FILE",
        envvar="RAQUET_INVENTORY",
        show_envvar=True,
        help="Inventory file (raquet YAML, pyinfra .py, Ansible INI/YAML).",
    ),
]
PolicyOpt = Annotated[
    Path | None,
    typer.Option(
        "-p",
        "--policy",
        metavar="FILE",
        envvar="RAQUET_POLICY",
        help="Policy YAML (default: the shipped policy).",
    ),
]


def fail_usage(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    return typer.Exit(EXIT_USAGE)


def _problems(exc: InputError) -> typer.Exit:
    for problem in exc.problems:
        print(problem, file=sys.stderr)
    return typer.Exit(EXIT_USAGE)


def _version(value: bool) -> None:
    if value:
        print(f"raquet {raquet.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE",
            envvar="RAQUET_CONFIG",
            help="Settings file (default: ./raquet.toml, ~/.config/raquet/raquet.toml, "
            "/etc/raquet/raquet.toml; see `raquet config`).",
        ),
    ] = None,
    verbose: Annotated[
        int,
        typer.Option(
            "-v", "--verbose", count=True, show_default=False, help="Say more (raquet's own log)."
        ),
    ] = 0,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="Only errors: no progress, no summary.")
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="Every log, pyinfra's and paramiko's too (passwords still hidden)."
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Agentless compliance sweeps and remediation (rà quét).

    Settings come from flags, then RAQUET_* variables, then the settings file.
    """
    from raquet import settings

    collector.settle()  # the command line is loaded
    Verbosity.level = 0 if quiet else 1 + verbose
    configure_logging(Verbosity.level, debug)
    try:
        ctx.obj = settings.apply(config)
    except InputError as exc:
        raise _problems(exc) from None


def _load(path: Path | None) -> Inventory:
    from raquet.inventory import load_inventory

    if path is None:
        raise fail_usage(
            "no inventory: give -i FILE, set RAQUET_INVENTORY, or `inventory` in raquet.toml"
        )
    try:
        return load_inventory(path)
    except InputError as exc:
        raise _problems(exc) from None
    except OSError as exc:
        raise fail_usage(f"{path}: {exc.strerror}") from None


def _select(inv: Inventory, selection: Selection) -> list[Host]:
    try:
        return selection.resolve(inv)
    except SelectionError as exc:
        raise fail_usage(str(exc)) from None


@inventory_app.command("check")
def inventory_check(inventory: InventoryOpt = None, json_file: JsonOpt = None) -> None:
    """Validate an inventory and print its units and host counts (and hosts per network
    segment, when hosts name segments)."""
    from raquet.inventory import describe_hosts, describe_segments, uses_segments

    inv = _load(inventory)
    units = [(u.id, u.name, u.hosts) for u in inv.units]
    segments = describe_segments(inv)
    if json_file:
        write_json(
            json_file,
            {
                "source": str(inv.source),
                "province": inv.province,
                "timezone": inv.timezone,
                "units": [{"id": i, "name": n, **_host_counts(hosts)} for i, n, hosts in units],
                "total": _host_counts(inv.hosts()),
                "segments": segments,
                "hosts": describe_hosts(inv),
            },
        )
    out = people(data_on_stdout(json_file))
    shown = uses_segments(inv)
    across = f", {len(segments)} segment{'s' * (len(segments) != 1)}" if shown else ""
    out.print(
        f"{inv.source}: {inv.province or '(no province)'}, {len(inv.units)} units, "
        f"{len(inv.hosts())} hosts{across}",
        markup=False,
    )
    columns = [
        Column("unit"),
        Column("name", drop=1),
        *(Column(h, numeric=True) for h in ("hosts", "linux", "windows")),
        Column("servers", drop=2, numeric=True),
        Column("workstations", drop=3, numeric=True),
    ]
    rows = [[i, n, *_host_counts(hosts).values()] for i, n, hosts in units]
    out.print(fitted(out, columns, rows, ["total", "", *_host_counts(inv.hosts()).values()]))
    if shown:
        heads = ("units", "hosts", "linux", "windows")
        table = [Column("segment"), *(Column(h, numeric=True) for h in heads)]
        out.print()
        out.print(fitted(out, table, [list(row.values()) for row in segments]))


def _host_counts(hosts: list[Host]) -> dict[str, int]:
    return {
        "hosts": len(hosts),
        "linux": sum(h.os == "linux" for h in hosts),
        "windows": sum(h.os == "windows" for h in hosts),
        "servers": sum(h.role == "server" for h in hosts),
        "workstations": sum(h.role == "workstation" for h in hosts),
    }


@app.command(cls=ListsChecks)
def sweep(
    inventory: InventoryOpt = None,
    policy: PolicyOpt = None,
    unit: UnitOpt = None,
    host: HostOpt = None,
    tag: TagOpt = None,
    limit: LimitOpt = None,
    check: Annotated[
        list[str] | None,
        typer.Option(
            "--check",
            metavar="CHECK",
            help="Only this check (repeatable; `raquet checks` lists them).",
        ),
    ] = None,
    json_file: Annotated[
        Path | None,
        typer.Option(
            "--json", metavar="FILE", help="Write the result document here ('-': stdout)."
        ),
    ] = None,
    parallel: Annotated[
        int,
        typer.Option(metavar="N", min=1, envvar="RAQUET_PARALLEL", help="Hosts swept at once."),
    ] = 500,
    connect_timeout: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            min=0.5,
            envvar="RAQUET_CONNECT_TIMEOUT",
            help="Seconds to connect and authenticate.",
        ),
    ] = 10,
    timeout: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            min=1,
            envvar="RAQUET_TIMEOUT",
            help="Seconds one check may run on a host.",
        ),
    ] = 120,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Finish the last unfinished sweep of this inventory (its own hosts and settings).",
        ),
    ] = False,
    insecure_no_host_key_check: Annotated[
        bool,
        typer.Option(
            "--insecure-no-host-key-check",
            help="Do NOT verify SSH host keys nor WinRM HTTPS certificates (dangerous).",
        ),
    ] = False,
    waivers: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            envvar="RAQUET_WAIVERS",
            help="Approved exceptions (YAML): waived findings are reported, not failed.",
        ),
    ] = None,
    db: DbOpt = None,
    distributed: Annotated[
        bool,
        typer.Option(
            "--distributed",
            envvar="RAQUET_DISTRIBUTED",
            help="Sweep through the segments' workers (raquet worker) instead of from here.",
        ),
    ] = False,
    broker: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            envvar="RAQUET_BROKER",
            help="Celery broker of the workers (with --distributed; default redis://localhost).",
        ),
    ] = None,
    worker_wait: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            min=0,
            envvar="RAQUET_WORKER_WAIT",
            help="With --distributed: how long a segment may have no live worker before its "
            "hosts count as not swept.",
        ),
    ] = 30,
) -> None:
    """Sweep the inventory's hosts and store every result as it arrives."""
    collector.hold()  # until connecting is loaded, then until judging is
    raquet.patch()  # gevent's, before the store, pyinfra and paramiko are imported
    from raquet import pyinfra_api

    pyinfra_api.load()  # without what a sweep never calls (jinja2, typeguard, packaging)
    from raquet.console import Redact
    from raquet.sweep import Begun, SweepOptions, run_beginning
    from raquet.targets import require_secrets

    inv = _load(inventory)
    selection = selected(unit, host, tag, limit)
    if resume and selection:
        raise fail_usage("--resume finishes the sweep's own hosts: it takes no host selection")
    hosts = _select(inv, selection)
    try:
        require_secrets(hosts)
    except InputError as exc:
        raise _problems(exc) from None
    Redact.hide(*_secrets(inv.hosts()))
    if insecure_no_host_key_check:
        err.print(
            "[bold red]WARNING: SSH host keys and WinRM certificates are NOT verified: anyone on "
            "the path can impersonate these hosts and read what the sweep sends.[/bold red]"
        )
    options = SweepOptions(
        checks=list(check or []),
        parallel=parallel,
        connect_timeout=connect_timeout,
        check_timeout=timeout,
        verify_host_keys=not insecure_no_host_key_check,
    )
    app = _broker(broker) if distributed else None
    begun: list[Begun] = []
    planned: list[Policy] = []
    collector.settle()
    with ExitStack() as closing:

        def plan() -> Policy:
            """The policy, waivers and checks read: what the hosts' gather scripts need,
            read once the first connections are under way (bad input ends the sweep with
            exit 2, nothing run on any host, its connections closed); a resumed sweep's
            are the ones it began with."""
            if not planned:
                collector.hold()
                planned.append(_judged_by(policy, waivers, check, options))
                collector.settle()
            return planned[0]

        def begin() -> Begun:
            """The store opened, the sweep begun (or the unfinished one found), the
            context built: before any host is connected when the store decides which
            hosts to sweep (--resume) or workers sweep them, else while the hosts run
            their gather scripts."""
            nonlocal hosts
            if begun:
                return begun[0]
            pol = plan()
            collector.hold()
            from raquet.gather import sweep_context
            from raquet.store import Store

            store = closing.enter_context(Store(db))
            if app is not None and store.engine.dialect.name == "sqlite":
                err.print(
                    "[yellow]a distributed sweep with an SQLite store works only when every "
                    "worker runs on this machine: give the workers' PostgreSQL store (--db)[/yellow]"
                )
            sweep_id, hosts, judged_by = _begin_or_resume(
                store, inv, hosts, options, pol, policy, resume
            )
            planned[:] = [judged_by]
            if Verbosity.level:
                err.print(
                    f"sweep {sweep_id}: {len(hosts)} hosts, checks {', '.join(options.checks)}, "
                    f"store {store.url}",
                    markup=False,
                )
            ctx = replace(
                sweep_context(store, judged_by, options.checks), waivers=options.waivers or None
            )
            if "connections" in options.checks and ctx.indicators is None and Verbosity.level:
                err.print(
                    "[yellow]no indicator feeds imported: `connections` will report an error "
                    "(raquet feeds import FILE)[/yellow]"
                )
            collector.settle()
            begun.append(Begun(store, sweep_id, ctx))
            return begun[0]

        if resume or app is not None:
            begin()
        with SweepProgress(len(hosts)) as progress:
            if app is not None:
                first = begun[0]
                results = _dispatched(
                    app, first.store, first.sweep_id, hosts, options, worker_wait, progress
                )
            else:
                results = run_beginning(hosts, plan, begin, options, on_result=progress)
        document = _conclude(begun[0].store, begun[0].sweep_id, results).localized(inv.timezone)
    if json_file:
        _write_document(json_file, document)
    if Verbosity.level:
        from raquet.console import summary

        out = people(data_on_stdout(json_file))
        out.print(summary(out, inv, document.hosts))
    raise typer.Exit(_exit_code(document.hosts))


def _judged_by(
    policy: Path | None, waivers: Path | None, check: list[str] | None, options: SweepOptions
) -> Policy:
    """The policy a sweep judges by; its waivers and the checks named (all when none)
    put in `options`. Bad input is a usage error naming file, line and field."""
    from checks import select as select_checks
    from raquet.policy import load_policy
    from raquet.waivers import load_waivers

    try:
        pol = load_policy(policy)
        options.waivers = load_waivers(waivers) if waivers else []
        options.checks = [c.name for c in select_checks(check)]
    except InputError as exc:
        raise _problems(exc) from None
    except KeyError as exc:
        raise fail_usage(str(exc.args[0])) from None
    return pol


def _write_document(target: Path, document: SweepResult) -> None:
    """`write_json` of the document, as pydantic writes it (the same text as `json.dumps`
    of its JSON dump with `indent=2`, in a tenth of the time: 0.15 ms a host)."""
    text = document.model_dump_json(indent=2)
    if data_on_stdout(target):
        print(text)
    else:
        target.write_text(text + "\n", encoding="utf-8")


def _broker(broker: str | None) -> Celery:
    """The workers' Celery app, checked to answer before any sweep is begun."""
    from raquet.distributed.app import BrokerUnreachable, make_app, reach

    try:
        app = make_app(broker)
        reach(app)
    except InputError as exc:
        raise _problems(exc) from None
    except BrokerUnreachable as exc:
        err.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        raise typer.Exit(EXIT_USAGE) from None
    return app


def _dispatched(
    app: Celery,
    store: Store,
    sweep_id: str,
    hosts: list[Host],
    options: SweepOptions,
    worker_wait: float,
    progress: Callable[[HostResult], None],
) -> list[HostResult]:
    """The sweep's hosts through the workers of their segments (raquet/distributed)."""
    from raquet.distributed.dispatch import Follow, dispatch
    from raquet.sweep import host_budget

    deadline = host_budget(options, len(options.checks))
    try:
        return dispatch(app, store, sweep_id, hosts, Follow(worker_wait, deadline), progress)
    except KeyboardInterrupt:
        err.print(
            f"interrupted: sweep {sweep_id} stays unfinished; the workers go on with what is "
            "queued, and `raquet sweep --resume --distributed` follows it to the end"
        )
        raise typer.Exit(130) from None


def _secrets(hosts: list[Host]) -> list[str]:
    names = {h.ssh_password_env for h in hosts} | {h.winrm_password_env for h in hosts}
    return [os.environ[n] for n in names if n and n in os.environ]


def _conclude(store: Store, sweep_id: str, results: list[HostResult]) -> SweepResult:
    """Finish the sweep only if every planned host's result is stored; otherwise leave it
    running for `--resume` and put the unstored results in the document as what they are."""
    pending = {name for name, _ in store.pending_hosts(sweep_id)}
    if pending:
        err.print(
            f"[bold red]{len(pending)} host result(s) could not be stored; the sweep stays "
            f"unfinished: run `raquet sweep --resume` when the store is writable[/bold red]"
        )
    else:
        store.finish_sweep(sweep_id, datetime.now(UTC))
    document = store.sweep_result(
        sweep_id, known={r.name: r for r in results if r.name not in pending}
    )
    unstored = [r for r in results if r.name in pending]
    document.hosts = sorted([*document.hosts, *unstored], key=lambda h: (h.unit, h.name))
    return document


def _begin_or_resume(
    store: Store,
    inv: Inventory,
    hosts: list[Host],
    options: SweepOptions,
    pol: Policy,
    policy: Path | None,
    resume: bool,
) -> tuple[str, list[Host], Policy]:
    """A new sweep, with its policy and options stored beside it; or the unfinished one,
    judged by the policy and options it began with, whatever this command line says."""
    source = str(inv.source.resolve())
    if not resume:
        sweep_id = store.begin_sweep(
            source,
            inv.province,
            options.checks,
            [(h.name, h.unit, h.segment) for h in hosts],
            {
                "policy": str(policy) if policy else None,
                "policy_document": pol.model_dump(mode="json"),
                **options.stored(),
                "timezone": inv.timezone,
                "issuer": inv.issuer,
                "units": {u.id: u.display_name for u in inv.units},
            },
        )
        return sweep_id, hosts, pol
    unfinished = store.latest_unfinished(source)
    if unfinished is None:
        raise fail_usage(f"no unfinished sweep of {source} to resume")
    sweep_id = unfinished
    info = store.sweep_info(sweep_id)
    pol = _resumed_settings(info.options, info.checks, options, pol)
    pending = {name for name, _ in store.pending_hosts(sweep_id)}
    by_name = {h.name: h for h in inv.hosts()}
    missing = sorted(pending - by_name.keys())
    if missing:
        raise fail_usage(
            f"hosts of sweep {sweep_id} are no longer in the inventory: {', '.join(missing)}"
        )
    err.print(f"resuming sweep {sweep_id}: {len(pending)} of {info.planned} hosts left")
    return sweep_id, [by_name[n] for n in by_name if n in pending], pol


def _shown(value: object) -> str:
    if isinstance(value, list):
        return str(len(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _resumed_settings(
    stored: dict[str, Any], checks: list[str], options: SweepOptions, pol: Policy
) -> Policy:
    """Sets `options` (and returns the policy) to the sweep's own; says what differs from
    the command line, so one sweep never judges its hosts by two standards."""
    from raquet.policy import Policy

    given = options.stored()
    options.restore(stored, checks)
    differ = [
        f"{key} {_shown(value)} (not {_shown(given[key])})"
        for key, value in options.stored().items()
        if value != given[key]
    ]
    document = stored.get("policy_document")
    if document is not None:
        stored_policy = Policy.model_validate(document)
        if stored_policy != pol:
            differ.append("the policy it began with (not the one given now)")
        pol = stored_policy
    else:
        differ.append("no stored policy (a sweep begun by an older raquet): the one given now")
    if differ:
        err.print(f"[yellow]resuming with the sweep's own settings: {'; '.join(differ)}[/yellow]")
    return pol


def _exit_code(results: list[HostResult]) -> int:
    if any(r.status != "swept" for r in results):
        return EXIT_NOT_SWEPT
    if any(not r.compliant for r in results):
        return EXIT_NONCOMPLIANT
    return EXIT_OK


def moment(value: datetime, zone: str | None) -> datetime:
    """A stored time in the zone its sweep recorded (the inventory's), as reports show it."""
    try:
        return value.astimezone(ZoneInfo(zone or DEFAULT_TIMEZONE))
    except (KeyError, ValueError):
        return value.astimezone(ZoneInfo(DEFAULT_TIMEZONE))


@app.command()
def history(
    inventory: InventoryOpt = None,
    unit: UnitOpt = None,
    host: HostOpt = None,
    tag: TagOpt = None,
    limit: LimitOpt = None,
    last: Annotated[
        int, typer.Option("--last", "-n", metavar="N", min=1, help="How many sweeps.")
    ] = 50,
    json_file: JsonOpt = None,
    db: DbOpt = None,
) -> None:
    """List sweeps, newest first, with how their hosts (or the selected ones) fared.

    Times are in the zone of the sweep's inventory, with its offset, as in the reports.
    """
    from raquet.store import Store

    selection = selected(unit, host, tag, limit)
    scopes: list[tuple[str | None, str | None]] = [(None, None)]
    if selection and (tag or limit or inventory):
        scopes = _scopes(_load(inventory), _select(_load(inventory), selection))
    elif selection:  # no inventory: --unit and --host are looked up in the store itself
        scopes = [(u, None) for u in selection.units] or [(None, h) for h in selection.hosts]
        if selection.units and selection.hosts:
            raise fail_usage("--unit with --host needs the inventory (-i) to combine them")
    with Store(db) as store:
        sweeps = _merged([store.history(unit=u, host=h, limit=last) for u, h in scopes], last)
    if selection and not sweeps:
        raise fail_usage(f"no stored sweep touched {selection.describe()}")
    if json_file:
        write_json(
            json_file,
            [
                {
                    **s.model_dump(mode="json", exclude={"options"}),
                    "started_at": moment(s.started_at, s.options.get("timezone")).isoformat(),
                    "finished_at": moment(s.finished_at, s.options.get("timezone")).isoformat()
                    if s.finished_at
                    else None,
                    "timezone": s.options.get("timezone") or DEFAULT_TIMEZONE,
                }
                for s in sweeps
            ],
        )
    out = people(data_on_stdout(json_file))
    columns = [
        Column("sweep"),
        Column("started"),
        Column("status", drop=3),
        Column("hosts", numeric=True),
        Column("swept", numeric=True, drop=4),
        Column("not swept", numeric=True),
        Column("compliant", numeric=True),
        Column("checks", drop=5),
        Column("inventory", drop=6),
    ]
    rows = [
        [
            s.id[:12],
            moment(s.started_at, s.options.get("timezone")).strftime("%Y-%m-%d %H:%M %z"),
            s.status,
            s.planned,
            s.swept,
            s.unreachable + s.error,
            s.compliant,
            ",".join(s.checks),
            Path(s.inventory).name,
        ]
        for s in sweeps
    ]
    out.print(fitted(out, columns, rows))


def _scopes(inv: Inventory, hosts: list[Host]) -> list[tuple[str | None, str | None]]:
    """The store queries that cover `hosts`: one per whole unit, one per other host."""
    chosen = {h.name for h in hosts}
    scopes: list[tuple[str | None, str | None]] = []
    for unit in inv.units:
        names = {h.name for h in unit.hosts}
        if names and names <= chosen:
            scopes.append((unit.id, None))
        else:
            scopes.extend((None, h.name) for h in unit.hosts if h.name in chosen)
    return scopes


def _merged(parts: list[list[Any]], last: int) -> list[Any]:
    """Several scoped histories as one: a sweep's counts are summed over the scopes (each
    host is in one scope only), newest first. The newest `last` of the union are each among
    the newest `last` of some scope, so asking each scope for `last` is enough."""
    if len(parts) == 1:
        return parts[0]
    by_id: dict[str, Any] = {}
    for part in parts:
        for info in part:
            seen = by_id.get(info.id)
            if seen is None:
                by_id[info.id] = info.model_copy()
                continue
            for key in ("planned", "swept", "unreachable", "error", "compliant"):
                setattr(seen, key, getattr(seen, key) + getattr(info, key))
    ordered = sorted(by_id.values(), key=lambda s: (s.started_at, s.id), reverse=True)
    return ordered[:last]


def deferred(name: str, target: str, summary: str) -> None:
    """Registers command `name` here (its place in `raquet --help`, which shows `summary`,
    the first paragraph of its docstring), while `target` (`module:function`) is imported
    only when the command runs: a module whose imports `raquet --help` should not pay."""

    def stand_in() -> None:  # never runs: Commands.get_command puts the real one first
        raise AssertionError(f"deferred command {name} was not loaded")

    stand_in.__doc__ = summary
    setattr(stand_in, _DEFERRED, target)
    app.command(name)(stand_in)


def _built(name: str, target: str) -> Any:
    """The click command of a deferred command, built as `app.command(name)(function)` would."""
    module, _, function = target.partition(":")
    alone = typer.Typer(rich_markup_mode=None, pretty_exceptions_enable=False, add_completion=False)
    alone.command(name)(getattr(importlib.import_module(module), function))
    command = typer.main.get_command(alone)
    _name_values(command)
    return command


deferred(
    "report",
    "reports.command:report",
    "Write the weekly provincial letter, or one unit's report with --unit.",
)
deferred(
    "show",
    "raquet.history_cli:show",
    "Show one sweep (per unit and host, every finding) or one host over its last sweeps.",
)
deferred(
    "diff",
    "raquet.history_cli:diff",
    "What changed per host and check between two sweeps: new, fixed, persisting, regressed.",
)
deferred(
    "prune",
    "raquet.history_cli:prune",
    "Delete the host results of sweeps older than the week before DATE's week.",
)


app.command("remediate")(remediate)
app.command("worker")(workers_cli.worker)
app.command("workers")(workers_cli.workers)


@app.command("checks")
def list_checks(json_file: JsonOpt = None) -> None:
    """List the checks raquet knows."""
    from checks import registry

    checks = [{"name": c.name, "title": c.title} for c in registry().values()]
    if json_file:
        write_json(json_file, checks)
    out = people(data_on_stdout(json_file))
    out.print(
        fitted(out, [Column("check"), Column("title")], [[c["name"], c["title"]] for c in checks])
    )


@app.command("config")
def config(ctx: typer.Context, json_file: JsonOpt = None) -> None:
    """Print the effective settings and where each came from (flags still override them)."""
    from raquet.settings import SETTINGS, Loaded

    loaded: Loaded = ctx.obj
    about = {s.key: s for s in SETTINGS}
    if json_file:
        write_json(
            json_file,
            {
                "file": str(loaded.path) if loaded.path else None,
                "searched": [str(p) for p in loaded.searched],
                "settings": {
                    e.key: {"value": e.value, "source": e.source, "env": about[e.key].env}
                    for e in loaded.settings
                },
            },
        )
    out = people(data_on_stdout(json_file))
    if loaded.path:
        out.print(f"settings file: {loaded.path}", markup=False)
    else:
        out.print(
            "no settings file; looked for: " + ", ".join(str(p) for p in loaded.searched),
            markup=False,
        )
    columns = [Column("setting"), Column("value"), Column("from"), Column("variable", drop=1)]
    rows = [
        [
            e.key,
            e.value if e.value is not None else about[e.key].default,
            e.source.replace(str(loaded.path), "file", 1) if loaded.path else e.source,
            about[e.key].env,
        ]
        for e in loaded.settings
    ]
    out.print(fitted(out, columns, rows))


@app.command("schedule")
def schedule(
    ctx: typer.Context,
    print_units: Annotated[
        bool,
        typer.Option("--print", help="Print the systemd service and timer for this set-up."),
    ] = False,
    calendar: Annotated[
        str, typer.Option(metavar="WHEN", help="systemd OnCalendar of the weekly sweep.")
    ] = "Mon *-*-* 07:00:00 Asia/Ho_Chi_Minh",
    user: Annotated[
        str | None, typer.Option(metavar="USER", help="User the sweep runs as (default: you).")
    ] = None,
) -> None:
    """The systemd service and timer that sweep every week (see docs/scheduling.md)."""
    from raquet.schedule import units

    if not print_units:
        raise fail_usage("say --print: raquet writes the units out, you install them")
    for name, text in units(calendar=calendar, user=user, config=ctx.obj.path):
        print(f"# /etc/systemd/system/{name}")
        print(text)


def _name_values(command: Any) -> None:
    """Gives every option that takes a value a metavar such as FILE or N: typer would show
    its Python type instead (`<path>`, `<list[str]>`, `<int range>`), which means nothing
    to a sysadmin. Options that name their own metavar keep it, and choices are left to
    typer, which lists them (`<html|pdf|...>`)."""
    for param in command.params:
        if param.param_type_name != "option" or param.metavar is not None or param.is_flag:
            continue
        desc = param.type_descriptor
        if desc.is_choice or param.count:
            continue
        if desc.is_path:
            param.metavar = "DIR" if desc.path_type == "dir" else "FILE"
        else:
            element = param.bare_type().removeprefix("list[").removesuffix("]")
            param.metavar = _METAVARS.get(element, "TEXT")
    for sub in getattr(command, "commands", {}).values():
        _name_values(sub)


_METAVARS = {"int": "N", "float": "NUMBER", "datetime": "DATE"}


_ROOT_FLAGS = frozenset({"-q", "--quiet", "--debug", "-v", "--verbose"})


def invoked(argv: list[str]) -> typer.Typer:
    """The app with only the command `argv` invokes, when that is plain to see: typer builds
    every command's click parameters from its signature (about 0.2 s for all of raquet's),
    and one run needs one. The root's own options before the command are allowed; anything
    else (`--help`, `--version`, completion, no command, an unknown one) gets the whole app,
    so every help page and every error is the one the whole app gives."""
    args = iter(argv)
    for arg in args:
        if arg == "--config":
            next(args, None)
        elif arg.startswith("--config=") or arg in _ROOT_FLAGS or arg.strip("v") == "-" != arg:
            continue
        else:
            break
    else:
        return app
    commands = [c for c in app.registered_commands if _command_name(c) == arg]
    groups = [g for g in app.registered_groups if g.name == arg]
    if not commands and not groups:
        return app
    only = copy.copy(app)
    only.registered_commands, only.registered_groups = commands, groups
    return only


def _command_name(info: Any) -> str:
    return info.name or typer.main.get_command_name(info.callback.__name__)


def main() -> None:
    if any(k.startswith("_RAQUET_COMPLETE") for k in os.environ):  # completion: every command
        command = typer.main.get_command(app)
    else:
        command = typer.main.get_command(invoked(sys.argv[1:]))
    _name_values(command)
    try:
        command(prog_name="raquet")
    except Exception as exc:
        from raquet.store import StoreError

        if not isinstance(exc, StoreError):
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
