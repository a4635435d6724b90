"""Benchmark: raquet's own fixed and per-host CPU, commits against each other, alternated.

    .venv/bin/python -m bench.cpu_per_host --commits c157229 HEAD --hosts 2000 --runs 3

For each commit (exported with `git archive`, byte-compiled): `bench.clients.startup`
(a one-host sweep of a local listener: exec to first TCP connect, and that run's CPU
seconds), then `--runs` sweeps of `--hosts` hosts served by `bench.responder` (as
`bench.sweep_scale` serves them: loopback addresses, a host key each, a recorded lab
answer), the commits alternated run by run, each run preceded by nothing but the
previous one. Prints medians: start-up ms to first connect, the one-host run's CPU
seconds, CPU ms per host, and CPU ms per host less the one-host run's CPU.

`--check` names the checks swept (default: every check, all six, as the recorded answer
`bench/recorded/linux-all.out` has them). Before measuring, each commit probes one
responder host with its own script of those checks (`bench.sweep_scale.probe`): unless the
recorded frame parses for them, untampered, the bench refuses the run (a subset of the
recorded checks does not parse, nor a commit with another check or whose checks write other
sections). Needs no root and no lab.

`--delay S` has every responder host think S seconds before it answers, as a real host
spends its time running the checks: the median wall time is then printed too, and what
it exceeds the hosts' own S by (the latency raquet adds: its start-up, whatever it does
not overlap with the hosts' work, its end).

    .venv/bin/python -m bench.cpu_per_host --commits 487c093 HEAD --hosts 20 --runs 7 --delay 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

from bench.clients import (
    Job,
    Source,
    median_startup,
    raise_open_files,
    run_one,
    startup,
    sweep_argv,
)
from bench.sweep_scale import inventory, probe, start_responders, stop_responders


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", nargs="+", default=["HEAD"])
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--check", action="append", default=None)
    parser.add_argument("--parallel", type=int, default=500)
    parser.add_argument("--delay", type=float, default=0.0, help="each host's seconds to answer")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    checks = args.check or []  # none named: raquet's default, every check
    workdir = Path(tempfile.mkdtemp(prefix="raquet-cpu."))
    raise_open_files()
    sources = [Source.of(rev, workdir / f"rev-{i}") for i, rev in enumerate(args.commits)]
    report: dict = {"hosts": args.hosts, "delay": args.delay, "checks": checks, "commits": {}}
    for source in sources:
        env = source.env(workdir)
        start = median_startup(startup(workdir / f"startup-{source.commit}", env))
        report["commits"][source.commit] = {"startup": start.__dict__, "runs": []}
    processes, known, key = start_responders(args.hosts, 2, 2222, args.delay, workdir)
    try:
        os.chdir(workdir)
        for source in sources:  # refuses unless the recorded frame parses for these checks
            probed = probe(key, known, 2222, workdir, source.env(workdir), checks)
            report["checks"] = probed["checks"]  # the same for all: the frame parsed for each
            print(f"{source.commit}: checks {', '.join(probed['checks'])}", flush=True)
        inv = inventory(args.hosts, 2222, key, known, workdir)
        for run in range(args.runs + 1):  # the first round warms the page cache, not counted
            for source in sources:
                out, db = workdir / "out.json", workdir / f"db-{source.commit}-{run}.db"
                argv = sweep_argv(inv, db, out, checks, args.parallel, "--connect-timeout", "300")
                usage, _ = run_one(Job(argv, env=source.env(workdir)))
                hosts = json.loads(out.read_text())["hosts"]
                bad = [h for h in hosts if h["status"] != "swept" or h.get("error")]
                if bad or len(hosts) != args.hosts:
                    raise RuntimeError(f"{source.commit}: {len(bad)} hosts not swept cleanly")
                if run:
                    report["commits"][source.commit]["runs"].append(usage.__dict__)
                print(
                    f"{source.commit} run {run}: {usage.cpu:.2f} CPU s, {usage.wall:.2f} s",
                    flush=True,
                )
    finally:
        report["responders"] = stop_responders(processes, workdir)
    for commit, found in report["commits"].items():
        start = found["startup"]
        cpu = statistics.median(r["cpu"] for r in found["runs"])
        found["median_cpu_ms_per_host"] = cpu / args.hosts * 1000
        found["median_cpu_ms_per_host_less_startup"] = (cpu - start["cpu"]) / args.hosts * 1000
        wall = found["median_wall"] = statistics.median(r["wall"] for r in found["runs"])
        print(
            f"{commit}: start-up {start['to_connect'] * 1000:.0f} ms to first connect, "
            f"one-host run {start['cpu']:.2f} CPU s; {args.hosts} hosts: "
            f"{found['median_cpu_ms_per_host']:.2f} CPU ms/host, "
            f"{found['median_cpu_ms_per_host_less_startup']:.2f} less start-up "
            f"(runs: {', '.join(format(r['cpu'], '.2f') for r in found['runs'])} CPU s); "
            f"wall {wall:.2f} s, {wall - args.delay:.2f} s beyond the hosts' {args.delay:g} s"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
