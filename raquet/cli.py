"""The `raquet` command line (SPEC §4).

Exit codes, the same for every command:
  0  all swept hosts compliant (or the command succeeded)
  1  non-compliant findings (a check failed or could not run)
  2  bad input or usage (inventory, policy, options) — nothing was swept
  3  some hosts were not swept (unreachable or error); takes precedence over 1
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from tabulate import tabulate

import raquet  # noqa: F401  (gevent patching before pyinfra, paramiko and sockets load)
from checks import registry
from checks import select as select_checks
from raquet import history_cli
from raquet.console import SweepProgress, err, summary
from raquet.errors import InputError
from raquet.feeds_cli import feeds_app
from raquet.gather import sweep_context
from raquet.inventory import load_inventory, summary_table
from raquet.models import Host, HostResult, Inventory, SweepResult
from raquet.policy import Policy, load_policy
from raquet.store import Store, StoreError
from raquet.sweep import SweepOptions, run
from raquet.targets import require_secrets
from remediations.command import remediate
from reports.command import report

EXIT_OK, EXIT_NONCOMPLIANT, EXIT_USAGE, EXIT_NOT_SWEPT = 0, 1, 2, 3

app = typer.Typer(
    help="Agentless compliance sweeps and remediation (rà quét).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
inventory_app = typer.Typer(help="Inventories of units and hosts.", no_args_is_help=True)
app.add_typer(inventory_app, name="inventory")
app.add_typer(feeds_app, name="feeds")

InventoryOpt = Annotated[
    Path,
    typer.Option(
        "-i", "--inventory", help="Inventory file (raquet YAML, pyinfra .py, Ansible INI/YAML)."
    ),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="RAQUET_DB",
        help="Store URL (default: SQLite file in ~/.local/share/raquet).",
    ),
]


def fail_usage(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    return typer.Exit(EXIT_USAGE)


def _load(path: Path) -> Inventory:
    try:
        return load_inventory(path)
    except InputError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise typer.Exit(EXIT_USAGE) from None
    except OSError as exc:
        raise fail_usage(f"{path}: {exc.strerror}") from None


@inventory_app.command("check")
def inventory_check(inventory: InventoryOpt) -> None:
    """Validate an inventory and print its units and host counts."""
    inv = _load(inventory)
    print(
        f"{inv.source}: {inv.province or '(no province)'}, {len(inv.units)} units, {len(inv.hosts())} hosts"
    )
    print(summary_table(inv))


@app.command()
def sweep(
    inventory: InventoryOpt,
    policy: Annotated[
        Path | None, typer.Option("-p", "--policy", help="Policy YAML (defaults are shipped).")
    ] = None,
    unit: Annotated[
        list[str] | None, typer.Option("--unit", help="Only this unit (repeatable).")
    ] = None,
    check: Annotated[
        list[str] | None, typer.Option("--check", help="Only this check (repeatable).")
    ] = None,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Write the result document here ('-' for stdout).")
    ] = None,
    parallel: Annotated[int, typer.Option(min=1, help="Hosts swept at once.")] = 500,
    connect_timeout: Annotated[
        float, typer.Option(min=0.5, help="Seconds to connect and authenticate.")
    ] = 10,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds one check may run on a host.")
    ] = 120,
    resume: Annotated[
        bool, typer.Option("--resume", help="Finish the last unfinished sweep of this inventory.")
    ] = False,
    insecure_no_host_key_check: Annotated[
        bool,
        typer.Option(
            "--insecure-no-host-key-check",
            help="Do NOT verify SSH host keys nor WinRM HTTPS certificates (dangerous).",
        ),
    ] = False,
    db: DbOpt = None,
) -> None:
    """Sweep the inventory's hosts and store every result as it arrives."""
    inv = _load(inventory)
    try:
        pol = load_policy(policy)
        selected = [c.name for c in select_checks(check)]
        hosts = inv.select(unit)
        require_secrets(hosts)
    except InputError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise typer.Exit(EXIT_USAGE) from None
    except KeyError as exc:
        raise fail_usage(str(exc.args[0])) from None
    if insecure_no_host_key_check:
        err.print(
            "[bold red]WARNING: SSH host keys and WinRM certificates are NOT verified: anyone on "
            "the path can impersonate these hosts and read what the sweep sends.[/bold red]"
        )
    options = SweepOptions(
        checks=selected,
        parallel=parallel,
        connect_timeout=connect_timeout,
        check_timeout=timeout,
        verify_host_keys=not insecure_no_host_key_check,
    )
    with Store(db) as store:
        sweep_id, hosts, pol = _begin_or_resume(store, inv, hosts, options, pol, policy, resume)
        err.print(
            f"sweep {sweep_id}: {len(hosts)} hosts, checks {', '.join(options.checks)}, store {store.url}"
        )
        with SweepProgress(len(hosts)) as progress:
            ctx = sweep_context(store, pol, options.checks)
            if "connections" in options.checks and ctx.indicators is None:
                err.print(
                    "[yellow]no indicator feeds imported: `connections` will report an error (raquet feeds import FILE)[/yellow]"
                )
            results = run(hosts, ctx, store, sweep_id, options, on_result=progress)
        document = _conclude(store, sweep_id, results).localized(inv.timezone)
    print(summary(inv, document.hosts))
    if json_file:
        _write_json(json_file, document.model_dump(mode="json"))
    raise typer.Exit(_exit_code(document.hosts))


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
    document = store.sweep_result(sweep_id)
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
            [(h.name, h.unit) for h in hosts],
            {
                "policy": str(policy) if policy else None,
                "policy_document": pol.model_dump(mode="json"),
                **_stored_options(options),
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


def _stored_options(options: SweepOptions) -> dict[str, object]:
    return {
        "parallel": options.parallel,
        "connect_timeout": options.connect_timeout,
        "timeout": options.check_timeout,
        "verify_host_keys": options.verify_host_keys,
    }


def _shown(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _resumed_settings(
    stored: dict[str, Any], checks: list[str], options: SweepOptions, pol: Policy
) -> Policy:
    """Sets `options` (and returns the policy) to the sweep's own; says what differs from
    the command line, so one sweep never judges its hosts by two standards."""
    given = _stored_options(options)
    options.checks = checks
    options.parallel = int(stored.get("parallel", options.parallel))
    options.connect_timeout = float(stored.get("connect_timeout", options.connect_timeout))
    options.check_timeout = float(stored.get("timeout", options.check_timeout))
    options.verify_host_keys = bool(stored.get("verify_host_keys", options.verify_host_keys))
    differ = [
        f"{key} {_shown(value)} (not {_shown(given[key])})"
        for key, value in _stored_options(options).items()
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


def _write_json(target: Path, document: dict[str, object]) -> None:
    text = json.dumps(document, ensure_ascii=False, indent=2)
    if str(target) == "-":
        print(text)
    else:
        target.write_text(text + "\n", encoding="utf-8")


def _exit_code(results: list[HostResult]) -> int:
    if any(r.status != "swept" for r in results):
        return EXIT_NOT_SWEPT
    if any(not r.compliant for r in results):
        return EXIT_NONCOMPLIANT
    return EXIT_OK


@app.command()
def history(
    unit: Annotated[str | None, typer.Option("--unit", help="Only this unit's hosts.")] = None,
    host: Annotated[str | None, typer.Option("--host", help="Only this host.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    db: DbOpt = None,
) -> None:
    """List sweeps, newest first, with how their hosts fared."""
    with Store(db) as store:
        rows = [
            [
                s.id[:12],
                s.started_at.astimezone().strftime("%Y-%m-%d %H:%M"),
                s.status,
                s.planned,
                s.swept,
                s.unreachable + s.error,
                s.compliant,
                ",".join(s.checks),
                s.inventory,
            ]
            for s in store.history(unit=unit, host=host, limit=limit)
        ]
    print(
        tabulate(
            rows,
            headers=[
                "sweep",
                "started",
                "status",
                "hosts",
                "swept",
                "not swept",
                "compliant",
                "checks",
                "inventory",
            ],
        )
    )


app.command("report")(report)
app.command("show")(history_cli.show)
app.command("diff")(history_cli.diff)
app.command("prune")(history_cli.prune)


app.command("remediate")(remediate)


@app.command("checks")
def list_checks() -> None:
    """List the checks raquet knows."""
    print(tabulate([[c.name, c.title] for c in registry().values()], headers=["check", "title"]))


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pyinfra").setLevel(
        logging.CRITICAL
    )  # every host failure is reported by raquet
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    try:
        app()
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
