"""Benchmark: `raquet sweep` of a lab fleet against plain parallel OpenSSH running the same script.

    sudo .venv/bin/python -m bench.sweep_vs_ssh --hosts 40 --runs 3
    sudo .venv/bin/python -m bench.sweep_vs_ssh --hosts 1000 --runs 1 --check av

More than 200 hosts run as several lab fleets (one /24 bridge each), swept as one inventory.

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
from contextlib import ExitStack
from pathlib import Path

from tabulate import tabulate

import raquet  # noqa: F401
from checks import select
from raquet.policy import Policy
from raquet.script import build
from tests.lab.fleet import Fleet
from tests.lab.scenario import HostScenario, Scenario, UnitScenario

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_SETS = [[], ["rqlab-openssl"], ["rqlab-tools"], ["rqlab-openssl", "rqlab-sudo"]]


FLEET_SIZE = 200  # hosts per lab fleet (one /24 bridge each); bigger runs use several fleets


def fleet_scenario(count: int, first: int) -> Scenario:
    hosts = [
        HostScenario(
            name=f"b-{i:04d}",
            clamav="running" if i % 3 else "stopped",
            db_age_days=1 + i % 20,
            packages=PACKAGE_SETS[i % len(PACKAGE_SETS)],
        )
        for i in range(first, first + count)
    ]
    units = [
        UnitScenario(id=f"unit-{first}-{u}", name=f"Unit {first}/{u}", hosts=hosts[u::4])
        for u in range(4)
    ]
    return Scenario(units=[u for u in units if u.hosts])


def start_fleets(count: int, workdir: Path, stack: ExitStack) -> list[Fleet]:
    _roomy_neighbour_table(count)
    fleets = []
    for first in range(0, count, FLEET_SIZE):
        size = min(FLEET_SIZE, count - first)
        fleet = Fleet(fleet_scenario(size, first), workdir / f"fleet-{first}")
        stack.callback(fleet.stop)
        fleets.append(fleet.start(ready_timeout=600))  # hundreds of clamd start on two cores
    return fleets


def _roomy_neighbour_table(hosts: int) -> None:
    """All lab hosts share one L2 segment with the jump host, so each needs an ARP entry; the
    kernel's default table (1024 entries, pruned hard above 512) drops them at about 500
    hosts and connects time out. A real jump host reaches its fleet through a router."""
    for level, size in (
        ("gc_thresh1", hosts * 2),
        ("gc_thresh2", hosts * 4),
        ("gc_thresh3", hosts * 8),
    ):
        path = Path(f"/proc/sys/net/ipv4/neigh/default/{level}")
        if int(path.read_text()) < size:
            path.write_text(str(size))


def combined_inventory(fleets: list[Fleet], path: Path) -> Path:
    """One raquet inventory over every fleet; each host names its fleet's key and known_hosts."""
    units = []
    for fleet in fleets:
        for unit in fleet.scenario.units:
            hosts = [
                {
                    "name": h.name,
                    "address": fleet.hosts[h.name].address,
                    "ssh_user": "root",
                    "ssh_key": str(fleet.client_key),
                    "known_hosts": str(fleet.known_hosts),
                }
                for h in unit.hosts
            ]
            units.append({"id": unit.id, "name": unit.name, "hosts": hosts})
    path.write_text(json.dumps({"province": "bench", "units": units}))  # JSON is YAML
    return path


def plain_ssh(fleets: list[Fleet], script: str) -> float:
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
        for fleet in fleets
        for h in fleet.hosts.values()
    ]
    codes = [p.wait() for p in procs]
    elapsed = time.monotonic() - started
    if any(codes):
        raise RuntimeError(f"plain ssh failed on {sum(c != 0 for c in codes)} hosts")
    return elapsed


def raquet_sweep(inventory: Path, workdir: Path, run: int, checks: list[str], hosts: int) -> float:
    out = workdir / f"sweep-{run}.json"
    selection = [arg for name in checks for arg in ("--check", name)]
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "raquet",
            "sweep",
            "-i",
            str(inventory),
            *selection,
            # every lab sshd shares the jump host's two cores: wait for handshakes as long as
            # the ssh baseline does (it has no connect deadline), not call hosts unreachable
            "--connect-timeout",
            "300",
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
    if swept != hosts:
        raise RuntimeError(f"raquet swept {swept} of {hosts} hosts")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--check", action="append", default=None, help="only these checks (both sides)"
    )
    args = parser.parse_args()
    checks = [c.name for c in select(args.check)]
    workdir = Path(tempfile.mkdtemp(prefix="raquet-bench."))
    script = build(select(checks), "linux", Policy(), 120).text
    rows = []
    with ExitStack() as stack:
        fleets = start_fleets(args.hosts, workdir, stack)
        inventory = combined_inventory(fleets, workdir / "inventory.yml")
        plain_ssh(fleets, script)  # warm caches on both sides before measuring
        for run in range(args.runs):
            ssh_s = plain_ssh(fleets, script)
            raquet_s = raquet_sweep(inventory, workdir, run, checks, args.hosts)
            rows.append(
                [run + 1, args.hosts, f"{ssh_s:.2f}", f"{raquet_s:.2f}", f"{raquet_s / ssh_s:.2f}"]
            )
    print(f"checks: {', '.join(checks)}")
    print(tabulate(rows, headers=["run", "hosts", "plain ssh (s)", "raquet sweep (s)", "ratio"]))
    ratio = statistics.median(float(r[4]) for r in rows)
    print(
        f"\nmedian ratio raquet / plain parallel ssh: {ratio:.2f} ({args.hosts} hosts, {args.runs} runs)"
    )


if __name__ == "__main__":
    main()
