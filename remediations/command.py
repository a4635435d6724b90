"""`raquet remediate`: the command's options only.

The work lives in `remediations.run`, imported when the command runs, so that loading
the CLI (and every sweep) does not pay for pyinfra's operation modules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from raquet.selection import HostOpt, LimitOpt, TagOpt, UnitOpt


def remediate(
    inventory: Annotated[
        Path,
        typer.Option(
            "-i",
            "--inventory",
            metavar="FILE",
            envvar="RAQUET_INVENTORY",
            help="Inventory file (raquet YAML, pyinfra, Ansible).",
        ),
    ],
    sweep: Annotated[
        str,
        typer.Option(
            "--sweep",
            help="Sweep whose findings to fix (id, prefix or 'latest': each host's newest).",
        ),
    ] = "latest",
    check: Annotated[
        list[str] | None, typer.Option("--check", help="Only this check (repeatable).")
    ] = None,
    host: HostOpt = None,
    unit: UnitOpt = None,
    tag: TagOpt = None,
    limit: LimitOpt = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Make the changes (default: print the plan).")
    ] = False,
    reboot: Annotated[
        bool, typer.Option("--reboot", help="Reboot hosts whose updates need it.")
    ] = False,
    undo: Annotated[
        str | None, typer.Option("--undo", help="Take back the block of remediation ID.")
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            "-p",
            "--policy",
            metavar="FILE",
            envvar="RAQUET_POLICY",
            help="Policy YAML (defaults are shipped).",
        ),
    ] = None,
    db: Annotated[
        str | None, typer.Option("--db", envvar="RAQUET_DB", help="Store URL (default: SQLite).")
    ] = None,
    parallel: Annotated[int, typer.Option(min=1, help="Hosts remediated at once.")] = 100,
    connect_timeout: Annotated[
        float,
        typer.Option(
            metavar="SECONDS", min=0.5, envvar="RAQUET_CONNECT_TIMEOUT", help="Seconds to connect."
        ),
    ] = 10,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds one command may run.")] = 900,
    insecure_no_host_key_check: Annotated[
        bool,
        typer.Option(
            "--insecure-no-host-key-check", help="Do NOT verify SSH host keys (dangerous)."
        ),
    ] = False,
) -> None:
    """Fix failing findings with pyinfra operations: print the plan, or --apply it and verify."""
    from remediations.run import main

    if tag or limit:
        host, unit = _selected(inventory, unit, host, tag, limit), None
    main(
        inventory,
        sweep,
        check,
        host,
        unit,
        apply,
        reboot,
        undo,
        policy,
        db,
        parallel,
        connect_timeout,
        timeout,
        insecure_no_host_key_check,
    )


def _selected(
    inventory: Path,
    unit: list[str] | None,
    host: list[str] | None,
    tag: list[str] | None,
    limit: str | None,
) -> list[str]:
    """`--tag` and `--limit` resolved to host names the way `sweep` resolves them, so the
    plan covers exactly the hosts a sweep with the same options would have swept."""
    from raquet.console import err
    from raquet.errors import InputError
    from raquet.inventory import load_inventory
    from raquet.selection import SelectionError, selection

    try:
        hosts = selection(unit, host, tag, limit).resolve(load_inventory(inventory))
    except InputError as exc:
        for problem in exc.problems:
            err.print(str(problem), markup=False)
        raise typer.Exit(2) from None
    except (SelectionError, OSError) as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None
    return [h.name for h in hosts]
