"""Benchmark: the sweep's store writes, one transaction per host against the ResultWriter's batches.

    .venv/bin/python -m bench.store_writes --hosts 2000
    .venv/bin/python -m bench.store_writes --hosts 2000 --db postgresql://…

Both sides store the same host results (five findings each, evidence of the size a real
host's has) into a fresh store, side by side in one run: (a) `Store.record_host` per host,
one transaction each, as every sweep did before; (b) the sweep's `ResultWriter`, fed by
greenlets as hosts finish, committing batches. Prints CPU milliseconds per host (this
process's user + sys) and wall time of each.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import gevent

import raquet  # noqa: F401  (gevent patching, as in every entry point)
from raquet.models import Finding, HostResult
from raquet.store import Store
from raquet.store.writer import ResultWriter

CHECKS = ("av", "patches", "software", "connections", "infections")


def _result(i: int) -> HostResult:
    now = datetime.now(UTC)
    evidence = {
        "packages": 170 + i % 7,
        "pending": [{"package": f"lib{n}", "version": f"1.{n}-{i % 9}"} for n in range(8)],
        "sockets": [{"remote": f"203.0.113.{n}:443", "pid": 1000 + n} for n in range(6)],
        "note": "x" * 400,
    }
    findings = [
        Finding(
            check=c,
            status="fail" if (i + n) % 3 else "pass",
            severity="high",
            title=f"{c} t",
            evidence=evidence,
        )
        for n, c in enumerate(CHECKS)
    ]
    return HostResult(
        name=f"h-{i:05d}", unit=f"u-{i % 20}", os="linux", role="server", address=f"10.0.{i // 250}.{i % 250}",
        status="swept", started_at=now, finished_at=now, findings=findings,
    )  # fmt: skip


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _one_by_one(store: Store, sweep_id: str, results: list[HostResult]) -> None:
    for result in results:
        store.record_host(sweep_id, result)


def _batched(store: Store, sweep_id: str, results: list[HostResult]) -> None:
    writer = ResultWriter(lambda batch: store.record_results(sweep_id, batch))
    # hosts finish a few at a time, as a sweep's greenlets do
    for start in range(0, len(results), 10):
        for result in results[start : start + 10]:
            writer.put(result)
        gevent.sleep(0.001)
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.store_writes")
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--db", default=None, help="a PostgreSQL URL (default: fresh SQLite files)")
    args = parser.parse_args()
    results = [_result(i) for i in range(args.hosts)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, write in (
            ("one transaction per host", _one_by_one),
            ("ResultWriter batches", _batched),
        ):
            url = args.db or str(Path(tmp) / f"{name.split()[0]}.db")
            with Store(url) as store:
                sweep_id = store.begin_sweep(
                    "bench.yml", "bench", list(CHECKS), [(r.name, r.unit) for r in results], {}
                )
                cpu, wall = _cpu(), time.monotonic()
                write(store, sweep_id, results)
                cpu, wall = _cpu() - cpu, time.monotonic() - wall
                assert store.sweep_info(sweep_id).swept == args.hosts
            rows.append((name, 1000 * cpu / args.hosts, wall))
    for name, ms, wall in rows:
        print(f"{name:28} {ms:6.2f} ms CPU/host   {wall:6.2f} s wall")
    print(f"ratio batched / per host: {rows[1][1] / rows[0][1]:.2f}")


if __name__ == "__main__":
    main()
