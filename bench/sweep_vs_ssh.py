"""Benchmark: `raquet sweep` of a lab fleet against parallel OpenSSH running the same script, like for like.

    sudo .venv/bin/python -m bench.sweep_vs_ssh --hosts 20 40 200 1000 --runs 3
    sudo .venv/bin/python -m bench.sweep_vs_ssh --hosts 40 --runs 5 --check av

Starts one lab (tests/lab) big enough for the largest `--hosts` (several fleets of 200, one
/24 bridge each); each size sweeps the first N of its hosts. Before measuring, one live
host is probed the way `raquet sweep` connects (`bench.record_answer --probe`: raquet's
own pyinfra State and channel), and the OpenSSH baseline is given exactly the key
exchange, host key algorithm, ciphers and MACs paramiko negotiated; one `ssh -v` then
confirms OpenSSH negotiates the same, or the bench stops. Then, per size, alternating run
by run (one warm-up of each side first, not counted):

- **ssh**: `ssh -F none -o KexAlgorithms=… -o Ciphers=… -o MACs=… -o HostKeyAlgorithms=…
  -o StrictHostKeyChecking=yes -o UserKnownHostsFile=FLEET root@HOST "sh -c 'sh -s'"
  < SCRIPT`, one client per host, at most `--parallel` at once (as `xargs -P`), the same
  remote command and the same script on stdin as raquet sends; each host's output must
  end with the frame's `RQ1 end`;
- **raquet**: the real `raquet sweep -i INV --parallel P --json FILE` (start-up, pyinfra
  and paramiko on gevent, parsing, judging, SQLite, the JSON document); every host must
  come back `swept` with no error.

Reports the medians of wall time, the CPU seconds per host of each side's own client
processes (`wait4` rusage: the sum over the ssh clients, the raquet process), raquet's
peak RSS, and raquet's start-up (exec to first TCP connect, `bench.clients.startup`).
`--json FILE` keeps every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from tabulate import tabulate

from bench.clients import (
    Job,
    Source,
    Usage,
    machine,
    median_startup,
    raise_open_files,
    run_one,
    run_pool,
    startup,
    sweep_argv,
)
from tests.lab.fleet import Fleet, LabHost
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
        fleets.append(fleet.start(ready_timeout=900))  # hundreds of clamd start on two cores
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


def lab_hosts(fleets: list[Fleet], count: int) -> list[tuple[Fleet, str, LabHost]]:
    """The first `count` hosts of the lab, with their fleet and unit."""
    every = [(f, u.id, f.hosts[h.name]) for f in fleets for u, h in f.scenario.hosts()]
    return sorted(every, key=lambda t: t[2].spec.name)[:count]


def inventory_for(hosts: list[tuple[Fleet, str, LabHost]], path: Path) -> Path:
    """One raquet inventory; each host names its fleet's key and known_hosts."""
    units: dict[str, list[dict[str, str]]] = {}
    for fleet, unit, h in hosts:
        units.setdefault(unit, []).append(
            {
                "name": h.spec.name,
                "address": h.address,
                "ssh_user": "root",
                "ssh_key": str(fleet.client_key),
                "known_hosts": str(fleet.known_hosts),
            }
        )
    document = {
        "province": "bench",
        "units": [{"id": u, "name": u, "hosts": hs} for u, hs in units.items()],
    }
    path.write_text(json.dumps(document))  # JSON is YAML
    return path


# --- what paramiko negotiates, and OpenSSH told to do the same -------------------------


def probe(
    fleet: Fleet, host: LabHost, checks: list[str] | None, script: Path, env: dict[str, str]
) -> dict:
    """`bench/record_answer.py --probe` in its own process (raquet patches with gevent), on
    the measured source: the script is the one that raquet builds."""
    here = Path(__file__).resolve().parent / "record_answer.py"
    argv = [sys.executable, str(here), "--probe", host.address]
    argv += ["--key", str(fleet.client_key), "--known-hosts", str(fleet.known_hosts)]
    argv += ["--script", str(script)]
    argv += [a for c in checks or [] for a in ("--check", c)]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def ssh_options(negotiated: dict[str, str]) -> list[str]:
    """OpenSSH client options pinning exactly what paramiko negotiated (both directions)."""
    if negotiated["cipher_c2s"] != negotiated["cipher_s2c"]:
        raise RuntimeError(f"paramiko negotiated different ciphers per direction: {negotiated}")
    if negotiated["mac_c2s"] != negotiated["mac_s2c"]:
        raise RuntimeError(f"paramiko negotiated different MACs per direction: {negotiated}")
    compression = "yes" if negotiated["compression_c2s"] != "none" else "no"
    return [
        "-F",
        "none",  # no ~/.ssh/config nor /etc/ssh/ssh_config (Debian's sends env, tries GSSAPI)
        "-o",
        f"KexAlgorithms={negotiated['kex']}",
        "-o",
        f"HostKeyAlgorithms={negotiated['host_key']}",
        "-o",
        f"Ciphers={negotiated['cipher_c2s']}",
        "-o",
        f"MACs={negotiated['mac_c2s']}",
        "-o",
        f"Compression={compression}",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "UpdateHostKeys=no",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "ControlMaster=no",
        "-o",
        "ControlPath=none",
    ]


def ssh_argv(options: list[str], fleet: Fleet, host: LabHost, command: str) -> list[str]:
    return [
        "ssh",
        *options,
        "-i",
        str(fleet.client_key),
        "-o",
        f"UserKnownHostsFile={fleet.known_hosts}",
        f"root@{host.address}",
        command,
    ]


_KEX = re.compile(r"debug1: kex: algorithm: (\S+)")
_HOSTKEY = re.compile(r"debug1: kex: host key algorithm: (\S+)")
_CIPHER = re.compile(
    r"debug1: kex: (client->server|server->client) cipher: (\S+) MAC: (\S+) compression: (\S+)"
)


def openssh_negotiated(argv: list[str], script: Path) -> dict[str, str]:
    """What `ssh -v` says it agreed on, in paramiko's terms."""
    with open(script, "rb") as stdin:
        log = subprocess.run(
            [argv[0], "-v", *argv[1:]], stdin=stdin, capture_output=True, check=True
        ).stderr.decode("utf-8", "replace")
    found: dict[str, str] = {}
    if m := _KEX.search(log):
        found["kex"] = m.group(1)
    if m := _HOSTKEY.search(log):
        found["host_key"] = m.group(1)
    for direction, cipher, mac, compression in _CIPHER.findall(log):
        side = "c2s" if direction == "client->server" else "s2c"
        found[f"cipher_{side}"] = cipher
        found[f"mac_{side}"] = mac
        found[f"compression_{side}"] = compression
    return found


# --- one run of each side ----------------------------------------------------------------


def plain_ssh(jobs: list[Job], parallel: int) -> Usage:
    usage = run_pool(jobs, parallel)
    if usage.failed:
        raise RuntimeError(f"ssh failed on {usage.failed} hosts")
    short = [
        j.argv[-2] for j in jobs if j.stdout and not j.stdout.read_bytes().endswith(b"RQ1 end\n")
    ]
    if short:
        raise RuntimeError(f"ssh: {len(short)} hosts' output lacks the frame's end: {short[:3]}")
    return usage


def raquet_sweep(argv: list[str], env: dict[str, str], out: Path, hosts: int) -> Usage:
    usage, code = run_one(Job(argv, env=env))
    document = json.loads(out.read_text())
    bad = [h for h in document["hosts"] if h["status"] != "swept" or h.get("error")]
    if bad or len(document["hosts"]) != hosts:
        first = bad[0] if bad else {}
        raise RuntimeError(
            f"raquet swept {len(document['hosts']) - len(bad)} of {hosts} hosts cleanly "
            f"(exit {code}); first problem: {first.get('name')}: {first.get('status')} "
            f"{first.get('error')}"
        )
    return usage


def measure_size(
    count: int,
    fleets: list[Fleet],
    args: argparse.Namespace,
    checks: list[str],
    options: list[str],
    command: str,
    script: Path,
    workdir: Path,
    env: dict[str, str],
) -> dict:
    chosen = lab_hosts(fleets, count)
    if len(chosen) < count:
        raise RuntimeError(f"the lab has {len(chosen)} hosts, not {count}")
    size_dir = workdir / f"size-{count}"
    (size_dir / "out").mkdir(parents=True)
    inventory = inventory_for(chosen, size_dir / "inventory.yml")
    jobs = [
        Job(ssh_argv(options, f, h, command), script, size_dir / "out" / h.spec.name)
        for f, _, h in chosen
    ]
    extra = ["--connect-timeout", "300"]  # lab sshd share the 2 cores: wait as ssh waits

    def sweep(run: int) -> Usage:
        out = size_dir / f"sweep-{run}.json"
        argv = sweep_argv(inventory, size_dir / "bench.db", out, checks, args.parallel, *extra)
        return raquet_sweep(argv, env, out, count)

    load = os.getloadavg()[0]
    plain_ssh(jobs, args.parallel)  # warm-up of both sides (page cache, sshd, apt caches)
    sweep(0)
    runs: list[tuple[Usage, Usage]] = []
    for run in range(1, args.runs + 1):
        ssh_usage = plain_ssh(jobs, args.parallel)
        raquet_usage = sweep(run)
        runs.append((ssh_usage, raquet_usage))
        print(
            f"  {count} hosts, run {run}: ssh {ssh_usage.wall:.2f} s, raquet "
            f"{raquet_usage.wall:.2f} s ({raquet_usage.wall / ssh_usage.wall:.2f}); CPU ms/host "
            f"ssh {ssh_usage.cpu / count * 1000:.1f}, raquet {raquet_usage.cpu / count * 1000:.1f}",
            flush=True,
        )
    ssh_wall = statistics.median(s.wall for s, _ in runs)
    raquet_wall = statistics.median(r.wall for _, r in runs)
    return {
        "hosts": count,
        "parallel": min(args.parallel, count),
        "load_average_before": load,
        "runs": [{"ssh": asdict(s), "raquet": asdict(r)} for s, r in runs],
        "ssh_wall_median": ssh_wall,
        "raquet_wall_median": raquet_wall,
        "ratio_of_medians": raquet_wall / ssh_wall,
        "ratio_median": statistics.median(r.wall / s.wall for s, r in runs),
        "ssh_cpu_per_host": statistics.median(s.cpu for s, _ in runs) / count,
        "raquet_cpu_per_host": statistics.median(r.cpu for _, r in runs) / count,
        "raquet_cpu_total": statistics.median(r.cpu for _, r in runs),
        "raquet_maxrss_mib": max(r.maxrss_mib for _, r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, nargs="+", default=[40])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--check", action="append", default=None, help="only these checks (both sides)"
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=None,
        help="hosts at once, both sides (default: raquet sweep's own --parallel default)",
    )
    parser.add_argument(
        "--commit",
        default=None,
        help="measure this commit (git archive), not the work tree with its uncommitted edits",
    )
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    args = parser.parse_args()
    sizes = sorted(set(args.hosts))
    workdir = Path(tempfile.mkdtemp(prefix="raquet-bench."))
    script = workdir / "script.sh"
    limit = raise_open_files()
    started = datetime.now(UTC)
    source = Source.of(args.commit, workdir)
    env = source.env(workdir)
    os.chdir(workdir)  # no raquet.toml of the work tree's
    report: dict = {"date": started.isoformat(timespec="seconds"), "machine": machine()}
    report["commit"] = source.commit
    with ExitStack() as stack:
        print(f"starting a lab of {sizes[-1]} hosts in {workdir} …", flush=True)
        fleets = start_fleets(sizes[-1], workdir, stack)
        first_fleet, _, first = lab_hosts(fleets, 1)[0]
        probed = probe(first_fleet, first, args.check, script, env)
        checks, command, negotiated = probed["checks"], probed["command"], probed["negotiated"]
        if args.parallel is None:
            args.parallel = probed["parallel_default"]
        options = ssh_options(negotiated)
        openssh = openssh_negotiated(ssh_argv(options, first_fleet, first, command), script)
        wanted = {k: v for k, v in negotiated.items() if not k.endswith("_version")}
        if openssh != wanted:
            raise RuntimeError(f"OpenSSH negotiated {openssh}, paramiko {wanted}")
        report.update(
            checks=checks,
            remote_command=command,
            negotiated=negotiated,
            ssh_options=options,
            open_files_limit=limit,
            parallel=args.parallel,
        )
        print(f"paramiko and OpenSSH both negotiate: {wanted}")
        print(f"server: {negotiated['server_version']}; remote command: {command}")
        print(f"checks: {', '.join(checks)}; at most {args.parallel} hosts at once, both sides")
        samples = startup(workdir / "startup", env)
        report["startup"] = [asdict(s) for s in samples]
        start = median_startup(samples)
        report["startup_median"] = asdict(start)
        print(
            f"raquet start-up (exec to first connect, median of {len(samples)}): "
            f"{start.to_connect:.2f} s; whole 1-host run {start.wall:.2f} s, {start.cpu:.2f} CPU s"
        )
        results = []
        for count in sizes:
            results.append(
                measure_size(count, fleets, args, checks, options, command, script, workdir, env)
            )
            report["sizes"] = results
            if args.json:
                args.json.write_text(json.dumps(report, indent=2) + "\n")
    rows = [
        [
            r["hosts"],
            r["parallel"],
            len(r["runs"]),
            f"{r['ssh_wall_median']:.2f}",
            f"{r['raquet_wall_median']:.2f}",
            f"{r['ratio_of_medians']:.2f}",
            f"{r['ssh_cpu_per_host'] * 1000:.1f}",
            f"{r['raquet_cpu_per_host'] * 1000:.1f}",
            f"{(r['raquet_cpu_total'] - start.cpu) / r['hosts'] * 1000:.1f}",
            f"{r['raquet_maxrss_mib']:.0f}",
        ]
        for r in results
    ]
    print(f"\n{report['date']}, commit {report['commit']}; {report['machine']}")
    print(
        tabulate(
            rows,
            headers=[
                "hosts",
                "at once",
                "runs",
                "ssh wall (s)",
                "raquet wall (s)",
                "raquet/ssh",
                "ssh CPU ms/host",
                "raquet CPU ms/host",
                "raquet CPU ms/host less start-up",
                "raquet peak RSS (MiB)",
            ],
        )
    )


if __name__ == "__main__":
    main()
