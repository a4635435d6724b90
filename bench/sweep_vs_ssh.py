"""Benchmark: `raquet sweep` of a lab fleet against plain parallel OpenSSH running the same script.

    sudo .venv/bin/python -m bench.sweep_vs_ssh --hosts 40 --runs 3

Starts a lab fleet (tests/lab), then alternates, run by run: (a) `ssh host 'same script'`
for every host at once (OpenSSH's client, one process per host, no parsing, no store) and
(b) the real `raquet sweep` command (Python start-up, pyinfra, parsing, judging, SQLite
store, JSON document). Prints each run and the median ratio raquet / ssh.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

import raquet  # noqa: F401
from checks import registry
from raquet.policy import Policy
from raquet.script import build, new_nonce
from tests.lab.fleet import Fleet
from tests.lab.scenario import HostScenario, Scenario, UnitScenario

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_SETS = [[], ["rqlab-openssl"], ["rqlab-tools"], ["rqlab-openssl", "rqlab-sudo"]]


def fleet_scenario(count: int) -> Scenario:
    hosts = [
        HostScenario(
            name=f"b-{i:04d}",
            clamav="running" if i % 3 else "stopped",
            db_age_days=1 + i % 20,
            packages=PACKAGE_SETS[i % len(PACKAGE_SETS)],
        )
        for i in range(count)
    ]
    units = [UnitScenario(id=f"unit-{u}", name=f"Unit {u}", hosts=hosts[u::4]) for u in range(4)]
    return Scenario(units=units)


def plain_ssh(fleet: Fleet, script: str) -> float:
    """Every host at once with the OpenSSH client, as a sysadmin's shell loop would."""
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [
                "ssh",
                "-i",
                str(fleet.client_key),
                "-o",
                f"UserKnownHostsFile={fleet.known_hosts}",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                f"root@{h.address}",
                script,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for h in fleet.hosts.values()
    ]
    codes = [p.wait() for p in procs]
    elapsed = time.monotonic() - started
    if any(codes):
        raise RuntimeError(f"plain ssh failed on {sum(c != 0 for c in codes)} hosts")
    return elapsed


def raquet_sweep(fleet: Fleet, workdir: Path, run: int) -> float:
    started = time.monotonic()
    out = workdir / f"sweep-{run}.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "raquet",
            "sweep",
            "-i",
            str(fleet.inventory_path),
            "--db",
            f"sqlite:///{workdir}/bench.db",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    elapsed = time.monotonic() - started
    swept = sum(h["status"] == "swept" for h in json.loads(out.read_text())["hosts"])
    if swept != len(fleet.hosts):
        raise RuntimeError(f"raquet swept {swept} of {len(fleet.hosts)} hosts")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="raquet-bench."))
    script = build(registry().values(), "linux", Policy(), new_nonce(), 120)
    rows = []
    with Fleet(fleet_scenario(args.hosts), workdir / "fleet") as fleet:
        plain_ssh(fleet, script)  # warm caches on both sides before measuring
        for run in range(args.runs):
            ssh_s = plain_ssh(fleet, script)
            raquet_s = raquet_sweep(fleet, workdir, run)
            rows.append(
                [run + 1, args.hosts, f"{ssh_s:.2f}", f"{raquet_s:.2f}", f"{raquet_s / ssh_s:.2f}"]
            )
    print(tabulate(rows, headers=["run", "hosts", "plain ssh (s)", "raquet sweep (s)", "ratio"]))
    ratio = statistics.median(float(r[4]) for r in rows)
    print(
        f"\nmedian ratio raquet / plain parallel ssh: {ratio:.2f} ({args.hosts} hosts, {args.runs} runs)"
    )


if __name__ == "__main__":
    main()
