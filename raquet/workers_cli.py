"""`raquet worker` (a sweep worker of one jump host's segments) and `raquet workers`
(who is consuming which segment): Celery underneath, imported only by these commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import raquet
from raquet.console import Column, DbOpt, JsonOpt, data_on_stdout, fitted, people, write_json

EXIT_USAGE = 2

BrokerOpt = Annotated[
    str | None,
    typer.Option(
        "--broker",
        metavar="URL",
        envvar="RAQUET_BROKER",
        help="Celery broker: redis://HOST:6379/0 (default: a Redis on this host) or amqp://….",
    ),
]


def worker(
    inventory: Annotated[
        Path | None,
        typer.Option(
            "-i",
            "--inventory",
            metavar="FILE",
            envvar="RAQUET_INVENTORY",
            help="This jump host's inventory: addresses, keys, known_hosts, password variables.",
        ),
    ] = None,
    segment: Annotated[
        list[str] | None,
        typer.Option(
            "--segment",
            metavar="NAME",
            help="A segment whose hosts this jump host reaches (repeatable; default: default).",
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(metavar="N", min=1, help="Hosts swept at once by this worker.")
    ] = 100,
    name: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="Celery node name (default raquet-SEGMENTS@HOST)."),
    ] = None,
    broker: BrokerOpt = None,
    db: DbOpt = None,
) -> None:
    """Sweep the hosts of this jump host's segments as a distributed sweep queues them."""
    raquet.patch()  # gevent before Celery, pyinfra and the store load
    from raquet.cli import _load
    from raquet.distributed.app import BrokerUnreachable, make_app, reach
    from raquet.distributed.worker import SegmentWorker, default_name, run
    from raquet.errors import InputError
    from raquet.models import check_segment
    from raquet.store import Store, StoreError
    from raquet.targets import require_secrets

    inv = _load(inventory)
    segments = sorted(set(segment or ["default"]))
    console = people(False)
    try:
        for each in segments:
            check_segment(each)
    except ValueError as exc:
        console.print(f"error: --segment: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    served = [h for h in inv.hosts() if h.segment in segments]
    if not served:
        console.print(f"error: the inventory names no host in segment(s) {', '.join(segments)}")
        raise typer.Exit(EXIT_USAGE)
    try:
        require_secrets(served)
        app = make_app(broker)
        reach(app)
    except BrokerUnreachable as exc:
        console.print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    except InputError as exc:
        for problem in exc.problems:
            console.print(str(problem), markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    node = name or default_name(segments)
    try:
        store = Store(db)
    except StoreError as exc:
        console.print(f"error: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    console.print(
        f"worker {node}: {len(served)} hosts of segment(s) {', '.join(segments)}, "
        f"store {store.url}",
        markup=False,
    )
    with store:
        run(app, SegmentWorker(inv, segments, store, node, concurrency), concurrency, "INFO")


def workers(broker: BrokerOpt = None, json_file: JsonOpt = None) -> None:
    """List the live sweep workers and the segments they consume (Celery's inspect)."""
    from raquet.distributed.app import BrokerUnreachable, make_app, reach, segment_of

    app = make_app(broker)
    try:
        reach(app)
    except BrokerUnreachable as exc:
        people(data_on_stdout(json_file)).print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    inspect = app.control.inspect(timeout=1.0)
    queues = inspect.active_queues() or {}
    stats = inspect.stats() or {}
    active = inspect.active() or {}
    rows = [
        {
            "worker": node,
            "segments": sorted(
                s
                for q in queues.get(node) or []
                if (s := segment_of(str(q.get("name", "")))) is not None
            ),
            "concurrency": (stats.get(node) or {}).get("pool", {}).get("max-concurrency"),
            "active": len(active.get(node) or []),
        }
        for node in sorted(queues)
    ]
    if json_file is not None:
        write_json(json_file, {"workers": rows})
    console = people(data_on_stdout(json_file))
    if not rows:
        console.print("no live worker answered (is `raquet worker` running, and the broker right?)")
        return
    table = fitted(
        console,
        [
            Column("worker"),
            Column("segments"),
            Column("concurrency", drop=1, numeric=True),
            Column("hosts now", drop=2, numeric=True),
        ],
        [
            [r["worker"], ", ".join(r["segments"]), r["concurrency"] or "", r["active"]]
            for r in rows
        ],
    )
    console.print(table)
