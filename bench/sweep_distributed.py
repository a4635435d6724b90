"""Benchmark: a distributed sweep (dispatcher + 2 workers) against a local sweep of the same hosts.

    sudo .venv/bin/python -m bench.sweep_distributed --hosts 200 --runs 3

One isolated lab fleet (tests/lab, `isolated=True`) is the segment; a real redis-server
and a real PostgreSQL listen on its service address. Runs alternate, run by run:
(a) the local sweep, `raquet sweep` started in the segment's jump namespace (the only
place that reaches the hosts), and (b) `raquet sweep --distributed` started in the root
namespace, with two `raquet worker` processes already running in the jump namespace
(started once, before the first run, as a jump host's service is). Both write to the same
PostgreSQL store. Prints each run, the medians and the ratio distributed / local: the
dispatch overhead is the ratio minus one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tabulate import tabulate

from bench.sweep_vs_ssh import fleet_scenario, inventory_for, lab_hosts
from tests.lab.fleet import Fleet
from tests.pg import throwaway_server

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-pg-pw"
REDIS_PORT = 6392


def _redis(address: str, workdir: Path, stack: ExitStack) -> str:
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(REDIS_PORT),
            "--bind",
            address,
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
    )
    stack.callback(server.kill)
    ping = ["redis-cli", "-h", address, "-p", str(REDIS_PORT), "ping"]
    while subprocess.run(ping, capture_output=True).stdout.strip() != b"PONG":
        time.sleep(0.2)
    return f"redis://{address}:{REDIS_PORT}/0"


def _timed(argv: list[str], env: dict[str, str], log: Path) -> tuple[float, float, int]:
    """Wall seconds, the process's own CPU seconds (user + sys, from wait4) and its exit;
    its stderr kept in `log`."""
    started = time.monotonic()
    with log.open("wb") as errors:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=errors
        )
        _, status, usage = os.wait4(process.pid, 0)
    return (
        time.monotonic() - started,
        usage.ru_utime + usage.ru_stime,
        os.waitstatus_to_exitcode(status),
    )


def _hosts_in(document: Path) -> dict[str, str]:
    loaded: dict[str, Any] = json.loads(document.read_text())
    return {h["name"]: h["status"] for h in loaded["hosts"]}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sweep_distributed")
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"raquet-bench-dist-{os.getpid()}"
    workdir.mkdir(parents=True)
    with ExitStack() as stack:
        fleet = Fleet(fleet_scenario(args.hosts, 0), workdir / "fleet", isolated=True)
        stack.callback(fleet.stop)
        fleet.start(ready_timeout=900)
        address = fleet.service_address
        broker = _redis(address, workdir, stack)
        stack.enter_context(throwaway_server(listen=[address], password=PASSWORD))
        db = f"postgresql://raquet:{PASSWORD}@{address}/postgres"
        inventory = inventory_for(lab_hosts([fleet], args.hosts), workdir / "inventory.yml")
        env = os.environ | {"RAQUET_DB": db, "RAQUET_BROKER": broker}
        concurrency = max(1, 500 // args.workers)  # the local sweep's default --parallel, shared
        for n in range(args.workers):
            log = (workdir / f"worker-{n}.log").open("wb")
            fleet.jump_popen(
                [
                    sys.executable,
                    "-m",
                    "raquet",
                    "worker",
                    "-i",
                    str(inventory),
                    "--concurrency",
                    str(concurrency),
                    "--name",
                    f"bench-{n}@jump",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        time.sleep(8)  # the workers' start-up is a service's, not the sweep's
        sweep = [sys.executable, "-m", "raquet", "sweep", "-i", str(inventory)]
        rows = []
        local_times, dist_times = [], []
        for run in range(args.runs):
            local_json, dist_json = workdir / f"local-{run}.json", workdir / f"dist-{run}.json"
            local = _timed(
                ["ip", "netns", "exec", fleet.jump_netns, *sweep, "--json", str(local_json)],
                env,
                workdir / f"local-{run}.log",
            )
            dist = _timed(
                [*sweep, "--distributed", "--json", str(dist_json)],
                env,
                workdir / f"dist-{run}.log",
            )
            same = _hosts_in(local_json) == _hosts_in(dist_json)
            rows.append(
                [run + 1, f"{local[0]:.2f}", f"{dist[0]:.2f}", f"{dist[0] / local[0]:.2f}", same]
            )
            local_times.append(local[0])
            dist_times.append(dist[0])
        ratio = statistics.median(dist_times) / statistics.median(local_times)
        print(
            tabulate(
                rows, headers=["run", "local (s)", "distributed (s)", "ratio", "same statuses"]
            )
        )
        print(
            f"\n{args.hosts} hosts, {args.workers} workers: median local "
            f"{statistics.median(local_times):.2f} s, distributed "
            f"{statistics.median(dist_times):.2f} s, ratio {ratio:.2f} "
            f"(dispatch overhead {100 * (ratio - 1):+.0f} %)"
        )
        if args.json:
            args.json.write_text(
                json.dumps({"hosts": args.hosts, "local": local_times, "distributed": dist_times})
            )


if __name__ == "__main__":
    main()
