"""`raquet db`: where the store's schema stands, and upgrading it on command.

An embedded SQLite store upgrades itself when opened (after a backup); a PostgreSQL store
is shared by several jump hosts, so it is upgraded only here, once every jump host runs
the new raquet (an older one refuses the upgraded store rather than misreading it).
"""

from __future__ import annotations

import typer

from raquet.console import DbOpt, JsonOpt, data_on_stdout, people, write_json

EXIT_STORE = 2

db_app = typer.Typer(help="The store's schema: status and upgrade.", no_args_is_help=True)


@db_app.command("status")
def db_status(db: DbOpt = None, json_file: JsonOpt = None) -> None:
    """Say which schema revision the store is at and whether this raquet can use it."""
    from raquet.store import StoreError
    from raquet.store.migrate import known_revisions, store_revision
    from raquet.store.schema import HEAD_REVISION

    try:
        url, found = store_revision(db)
    except StoreError as exc:
        people(data_on_stdout(json_file)).print(f"error: {exc}")
        raise typer.Exit(EXIT_STORE) from None
    if found.current is None:
        state = "empty: created at the newest revision when first used"
    elif found.at_head:
        state = "up to date"
    elif found.current in known_revisions():
        state = "older: run `raquet db upgrade`"
    else:
        state = "newer than this raquet: written by a newer raquet"
    document = {
        "store": url,
        "revision": found.current,
        "before_alembic": found.legacy,
        "this_raquet": HEAD_REVISION,
        "state": state,
    }
    if json_file is not None:
        write_json(json_file, document)
    console = people(data_on_stdout(json_file))
    console.print(f"store     {url}")
    console.print(f"revision  {found.current or '-'}{' (before Alembic)' if found.legacy else ''}")
    console.print(f"raquet    {HEAD_REVISION}")
    console.print(f"state     {state}")


@db_app.command("upgrade")
def db_upgrade(db: DbOpt = None) -> None:
    """Bring the store to this raquet's schema (in one transaction; SQLite is backed up first)."""
    from raquet.store import StoreError
    from raquet.store.migrate import upgrade_store

    console = people(False)
    try:
        before, after, backup = upgrade_store(db)
    except StoreError as exc:
        console.print(f"error: {exc}")
        raise typer.Exit(EXIT_STORE) from None
    if before == after:
        console.print(f"the store is already at revision {after}")
        return
    console.print(f"store upgraded from revision {before or '(none)'} to {after}")
    if backup is not None:
        console.print(f"the store as it was: {backup}")
