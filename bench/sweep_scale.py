"""Benchmark: the real `raquet sweep` of 2,000, 5,000 and 10,000 hosts from one jump host.

    .venv/bin/python -m bench.sweep_scale                       # 2000 5000 10000
    .venv/bin/python -m bench.sweep_scale --hosts 500 1000 --delay 1 --commit HEAD

The lab cannot start 10,000 sshd on two cores, so the hosts are `bench.responder`
processes (asyncssh; `--workers` of them, each serving its own range of loopback
addresses 127.10.Y.Z:PORT with one host key per address), every session answered with
a real lab host's recorded answer to the script of every check (all six: av, connections,
infections, patches, software, vulns; `bench/recorded/`). `--check` sweeps only the checks
named, as `raquet sweep --check` does (default: every check). Before measuring, one
responder host is probed the way `raquet sweep` connects (`bench/record_answer.py
--probe`) with the script of the checks swept: what paramiko negotiates must equal what
it negotiated with the lab's OpenSSH, and the recorded frame must parse for those checks,
untampered, or the bench refuses the run. The frame parses only for the checks it was
recorded with (`checks` in `bench/recorded/linux-all.json`, in the script's order): a
subset, or a check added since, does not; record it again (`bench/record_answer.py`).

Per size: a generated inventory (units of 250 hosts, one known_hosts with exactly that
many `[addr]:port` entries, StrictHostKeyChecking as always), one run of `raquet sweep
--parallel P --json FILE` into a fresh SQLite store with no data imported: the
connections check's finding is then an `error` ("no indicator feeds are imported") and the
vulns check's `not_applicable` ("no vulnerability data imported"; it matches no package:
matching's cost is `bench/vulns_match.py`'s), on every host alike. Every host must come
back `swept` with no error of its own (a finding's is not one). Prints wall
time, raquet's CPU seconds per host (its own process, `wait4`), its peak RSS (ru_maxrss),
and the RSS growth per extra host between sizes. The responders' CPU is not raquet's and
is reported apart. Needs no root and no lab.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from tabulate import tabulate

from bench.clients import (
    Job,
    Source,
    machine,
    median_startup,
    raise_open_files,
    run_one,
    startup,
    sweep_argv,
)
from bench.responder import address

HERE = Path(__file__).resolve().parent
UNIT_SIZE = 250
GIB = 1024


def start_responders(
    count: int, workers: int, port: int, delay: float, workdir: Path
) -> tuple[list[subprocess.Popen[str]], list[str], Path]:
    """`workers` responder processes over `count` hosts; (processes, known_hosts lines, key)."""
    key = workdir / "client_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", str(key)], check=True
    )
    share = -(-count // workers)
    processes, parts = [], []
    for first in range(0, count, share):
        part = workdir / f"known_hosts.{first}"
        argv = [sys.executable, "-m", "bench.responder", "--first", str(first)]
        argv += ["--count", str(min(share, count - first)), "--port", str(port)]
        argv += ["--client-key", f"{key}.pub", "--known-hosts", str(part), "--delay", str(delay)]
        processes.append(
            subprocess.Popen(
                argv,
                cwd=HERE.parent,
                stdout=subprocess.PIPE,
                stderr=open(workdir / f"responder.{first}.log", "w"),  # noqa: SIM115
                text=True,
            )
        )
        parts.append(part)
    for process in processes:
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith("ready"):
            raise RuntimeError(f"a responder did not start (see {workdir}/responder.*.log)")
    lines = [line for part in parts for line in part.read_text().splitlines(keepends=True)]
    return processes, lines, key


def stop_responders(processes: list[subprocess.Popen[str]], workdir: Path) -> list[dict]:
    stats = []
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=60)
    for log in sorted(workdir.glob("responder.*.log")):
        for line in log.read_text().splitlines():
            if line.startswith("{"):
                stats.append(json.loads(line))
    return stats


def inventory(count: int, port: int, key: Path, known: list[str], workdir: Path) -> Path:
    known_hosts = workdir / f"known_hosts-{count}"
    known_hosts.write_text("".join(known[:count]))
    units = []
    for first in range(0, count, UNIT_SIZE):
        hosts = [
            {
                "name": f"h-{i:05d}",
                "address": address(i),
                "ssh_port": port,
                "ssh_user": "root",
                "ssh_key": str(key),
                "known_hosts": str(known_hosts),
            }
            for i in range(first, min(first + UNIT_SIZE, count))
        ]
        units.append({"id": f"u-{first // UNIT_SIZE:03d}", "name": f"Unit {first}", "hosts": hosts})
    path = workdir / f"inventory-{count}.yml"
    path.write_text(json.dumps({"province": "scale", "units": units}))  # JSON is YAML
    return path


def probe(
    key: Path,
    known: list[str],
    port: int,
    workdir: Path,
    env: dict[str, str],
    checks: Sequence[str] = (),
) -> dict:
    """One responder host swept as raquet connects, with the script of `checks` (none
    named: every check); raises unless the recorded frame parses for them, untampered, and
    paramiko negotiates with the responder what it negotiated with the lab's sshd."""
    known_hosts = workdir / "known_hosts-probe"
    known_hosts.write_text(known[0])
    argv = [sys.executable, str(HERE / "record_answer.py"), "--probe", address(0)]
    argv += ["--port", str(port), "--key", str(key), "--known-hosts", str(known_hosts)]
    argv += ["--script", str(workdir / "script.sh")]
    argv += [arg for name in checks for arg in ("--check", name)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode:
        why = (done.stderr.strip().splitlines() or ["?"])[-1]
        raise RuntimeError(f"probing a responder host failed: {why}")
    out = done.stdout
    probed = json.loads(out.strip().splitlines()[-1])
    recorded = json.loads((HERE / "recorded" / "linux-all.json").read_text())
    lab = {k: v for k, v in recorded["paramiko_negotiated"].items() if not k.endswith("_version")}
    here = {k: v for k, v in probed["negotiated"].items() if not k.endswith("_version")}
    if lab != here:
        raise RuntimeError(f"paramiko negotiates {here} with the responder, {lab} with lab sshd")
    return probed


def sweep(
    count: int,
    inv: Path,
    parallel: int,
    workdir: Path,
    env: dict[str, str],
    extra: list[str],
    checks: Sequence[str] = (),
) -> dict:
    out = workdir / f"sweep-{count}.json"
    db = workdir / f"scale-{count}.db"
    argv = sweep_argv(inv, db, out, checks, parallel, *extra)
    load = os.getloadavg()[0]
    usage, code = run_one(Job(argv, env=env))
    hosts = json.loads(out.read_text())["hosts"]
    bad = [h for h in hosts if h["status"] != "swept" or h.get("error")]
    if bad or len(hosts) != count:
        first = bad[0] if bad else {}
        raise RuntimeError(
            f"raquet swept {len(hosts) - len(bad)} of {count} hosts cleanly (exit {code}); "
            f"first problem: {first.get('name')}: {first.get('status')} {first.get('error')}"
        )
    result = {"hosts": count, "load_average_before": load, **asdict(usage)}
    result["exit_code"] = code  # 1: some host is not compliant (the recorded one is not)
    del result["failed"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, nargs="+", default=[2000, 5000, 10000])
    parser.add_argument("--workers", type=int, default=2, help="responder processes")
    parser.add_argument("--port", type=int, default=2222)
    parser.add_argument("--delay", type=float, default=0.0, help="each host's seconds to answer")
    parser.add_argument("--parallel", type=int, default=None, help="default: raquet's default")
    parser.add_argument("--commit", default=None, help="measure this commit (git archive)")
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    parser.add_argument(
        "--check", action="append", default=None, help="only this check (default: every one)"
    )
    args = parser.parse_args()
    checks = args.check or []
    sizes = sorted(set(args.hosts))
    workdir = Path(tempfile.mkdtemp(prefix="raquet-scale."))
    limit = raise_open_files()
    source = Source.of(args.commit, workdir)
    env = source.env(workdir)
    report: dict = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": source.commit,
        "machine": machine(),
        "open_files_limit": limit,
        "workers": args.workers,
        "delay": args.delay,
    }
    processes, known, key = start_responders(
        sizes[-1], args.workers, args.port, args.delay, workdir
    )
    try:
        os.chdir(workdir)  # no raquet.toml of the work tree's
        probed = probe(key, known, args.port, workdir, env, checks)
        parallel = args.parallel or probed["parallel_default"]
        report.update(parallel=parallel, negotiated=probed["negotiated"], checks=probed["checks"])
        print(f"{report['date']}, commit {source.commit}; {report['machine']}")
        print(
            f"responders: {args.workers} processes, {sizes[-1]} hosts; at most {parallel} at once"
        )
        print(f"paramiko negotiates with them: {probed['negotiated']}")
        samples = startup(workdir / "startup", env)
        start = median_startup(samples)
        report["startup_median"] = asdict(start)
        extra = ["--connect-timeout", "300"]
        warm = inventory(50, args.port, key, known, workdir)
        sweep(50, warm, parallel, workdir, env, extra, checks)  # page cache, pyc; not counted
        results = []
        for count in sizes:
            inv = inventory(count, args.port, key, known, workdir)
            result = sweep(count, inv, parallel, workdir, env, extra, checks)
            results.append(result)
            print(
                f"  {count} hosts: {result['wall']:.1f} s, {result['cpu'] / count * 1000:.1f} "
                f"CPU ms/host, peak RSS {result['maxrss_mib']:.0f} MiB",
                flush=True,
            )
            report["sizes"] = results
            if args.json:
                args.json.write_text(json.dumps(report, indent=2) + "\n")
    finally:
        report["responders"] = stop_responders(processes, workdir)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    rows, previous = [], None
    for r in results:
        growth = ""
        if previous:
            kib = (r["maxrss_mib"] - previous["maxrss_mib"]) * 1024
            growth = f"{kib / (r['hosts'] - previous['hosts']):.1f}"
        rows.append(
            [
                r["hosts"],
                f"{r['wall']:.1f}",
                f"{r['hosts'] / r['wall']:.0f}",
                f"{r['cpu'] / r['hosts'] * 1000:.1f}",
                f"{(r['cpu'] - start.cpu) / r['hosts'] * 1000:.1f}",
                f"{r['maxrss_mib']:.0f}",
                growth,
                "yes" if r["maxrss_mib"] < GIB else "NO",
            ]
        )
        previous = r
    responder_cpu = sum(s["cpu_s"] for s in report["responders"])
    print(
        f"\nraquet start-up: {start.to_connect:.2f} s to first connect, {start.cpu:.2f} CPU s "
        f"for a 1-host run; responders' own CPU over all runs: {responder_cpu:.0f} s"
    )
    print(
        tabulate(
            rows,
            headers=[
                "hosts",
                "wall (s)",
                "hosts/s",
                "raquet CPU ms/host",
                "less start-up",
                "peak RSS (MiB)",
                "RSS KiB per extra host",
                "< 1 GiB",
            ],
        )
    )


if __name__ == "__main__":
    main()
