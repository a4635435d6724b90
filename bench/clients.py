"""Runs client processes and reads their own CPU and memory from the kernel (`wait4`).

Shared by `bench.sweep_vs_ssh` and `bench.sweep_scale`. Only the clients' processes are
measured: the OpenSSH clients one by one (summed), or the one `raquet sweep` process, so
the servers' CPU (the lab's sshd, or the responder), which both sides share, counts for
neither. This module must not import raquet: raquet's gevent monkey-patching would let
gevent's SIGCHLD watcher reap a child before `wait4` reads its rusage.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Usage:
    """One run of one side."""

    wall: float  # seconds, first spawn to last exit
    cpu: float  # user + system seconds of the client processes (summed)
    maxrss_mib: float  # the largest single client process's peak RSS
    failed: int = 0  # processes that exited non-zero

    def per_host(self, hosts: int) -> float:
        return self.cpu / hosts


@dataclass
class Job:
    argv: list[str]
    stdin: Path | None = None
    stdout: Path | None = None
    env: dict[str, str] | None = None


def _spawn(job: Job) -> int:
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, str(job.stdin or os.devnull), os.O_RDONLY, 0),
        (
            os.POSIX_SPAWN_OPEN,
            1,
            str(job.stdout or os.devnull),
            os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
            0o600,
        ),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
    ]
    env = job.env or dict(os.environ)
    # found on the job's own PATH (posix_spawnp would search this process's)
    program = shutil.which(job.argv[0], path=env.get("PATH")) or job.argv[0]
    return os.posix_spawn(program, job.argv, env, file_actions=actions)


def _cpu(rusage: resource.struct_rusage) -> float:
    return rusage.ru_utime + rusage.ru_stime


def run_pool(jobs: Sequence[Job], parallel: int) -> Usage:
    """Every job, at most `parallel` running at once (as `xargs -P`); CPU summed over all."""
    started = time.monotonic()
    pending = iter(jobs)
    running: set[int] = set()
    cpu, maxrss, failed = 0.0, 0, 0
    for job in pending:
        running.add(_spawn(job))
        if len(running) >= parallel:
            break
    while running:
        pid, status, rusage = os.wait4(-1, 0)
        if pid not in running:
            continue
        running.discard(pid)
        cpu += _cpu(rusage)
        maxrss = max(maxrss, rusage.ru_maxrss)
        failed += os.waitstatus_to_exitcode(status) != 0
        job = next(pending, None)
        if job is not None:
            running.add(_spawn(job))
    return Usage(time.monotonic() - started, cpu, maxrss / 1024, failed)


def run_one(job: Job) -> tuple[Usage, int]:
    """One process to its end: (its usage, its exit code)."""
    started = time.monotonic()
    pid = _spawn(job)
    _, status, rusage = os.wait4(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return Usage(time.monotonic() - started, _cpu(rusage), rusage.ru_maxrss / 1024, code != 0), code


def raquet_command() -> list[str]:
    """The `raquet` console script, as a user runs it, found on the measured source's PATH
    (`Source.env`): the installed one for the work tree, one written as pip writes it for
    a commit, from that commit's own `[project.scripts]` (the installed script names the
    work tree's entry function, which another commit may not have). Not `python -m
    raquet`: the two differ, by as much as 0.4 CPU s of interpreter teardown at exit."""
    return ["raquet"]


PIP_SCRIPT = """#!{python}
# -*- coding: utf-8 -*-
import re
import sys
from {module} import {function}
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit({function}())
"""
"""pip's console-script template (pip/_vendor/distlib/scripts.py), as in `.venv/bin/raquet`."""


@dataclass
class Source:
    """The raquet code measured: the work tree as it is, or one commit exported from git."""

    path: Path
    commit: str

    @classmethod
    def of(cls, rev: str | None, workdir: Path) -> Source:
        """`rev` exported with `git archive` into `workdir` (so other engineers' uncommitted
        edits in the work tree are not measured), or the work tree itself."""
        if rev is None:
            return cls(ROOT, measured_commit())
        full = subprocess.run(
            ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dest = workdir / f"src-{full[:12]}"
        dest.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", full], cwd=ROOT, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
        # byte-compiled once, as an installed package is (PYTHONDONTWRITEBYTECODE may be set)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(dest)], check=True)
        entry = tomllib.loads((dest / "pyproject.toml").read_text())["project"]["scripts"]
        module, _, function = entry["raquet"].partition(":")
        script = dest / "bin" / "raquet"
        script.parent.mkdir()
        script.write_text(
            PIP_SCRIPT.format(python=sys.executable, module=module, function=function)
        )
        script.chmod(0o755)
        return cls(dest, full[:12])

    def env(self, workdir: Path) -> dict[str, str]:
        """The environment every measured raquet process gets: this source first on the path,
        no RAQUET_* variables and no settings file of the user's (`XDG_CONFIG_HOME` empty)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAQUET_")}
        env["PYTHONPATH"] = str(self.path)
        scripts = self.path / "bin" if self.path != ROOT else Path(sys.executable).parent
        env["PATH"] = f"{scripts}{os.pathsep}{env.get('PATH', os.defpath)}"
        config = workdir / "xdg-config"
        config.mkdir(parents=True, exist_ok=True)
        env["XDG_CONFIG_HOME"] = str(config)
        return env


def sweep_argv(
    inventory: Path, db: Path, out: Path, checks: Sequence[str], parallel: int, *extra: str
) -> list[str]:
    return [
        *raquet_command(),
        "sweep",
        "-i",
        str(inventory),
        *(arg for name in checks for arg in ("--check", name)),
        "--parallel",
        str(parallel),
        "--db",
        f"sqlite:///{db}",
        "--json",
        str(out),
        *extra,
    ]


def raise_open_files() -> int:
    """The soft open-files limit raised to the hard one, inherited by every child."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass
class Startup:
    to_connect: float  # exec of `raquet sweep` to its first TCP connection, seconds
    wall: float  # exec to exit, one host whose connection is closed at once
    cpu: float  # that whole run's user + system seconds
    maxrss_mib: float


def startup(workdir: Path, env: dict[str, str], runs: int = 5) -> list[Startup]:
    """`raquet sweep` of one host on a local listener that records when the connection
    arrives and closes it at once (the host ends `unreachable`): exec to first connect is
    Python start-up, imports, inventory, policy, store, pyinfra State. No strace, no lab."""
    workdir.mkdir(parents=True, exist_ok=True)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    (workdir / "known_hosts").write_text("")
    inventory = workdir / "startup.yml"
    inventory.write_text(
        "province: bench\nunits:\n- id: startup\n  hosts:\n"
        f"  - {{name: probe, address: 127.0.0.1, ssh_port: {port}, ssh_user: root, "
        f"known_hosts: {workdir / 'known_hosts'}}}\n"
    )
    arrivals: list[float] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            arrivals.append(time.monotonic())
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    results = []
    try:
        for run in range(runs + 1):  # the first run warms the page cache, not counted
            arrivals.clear()
            db = workdir / f"startup-{run}.db"
            argv = sweep_argv(inventory, db, workdir / f"startup-{run}.json", [], 1)
            spawned = time.monotonic()
            usage, _ = run_one(Job(argv, env=env))
            if not arrivals:
                raise RuntimeError("raquet sweep never connected to the start-up listener")
            if run:
                results.append(
                    Startup(arrivals[0] - spawned, usage.wall, usage.cpu, usage.maxrss_mib)
                )
    finally:
        listener.close()
    return results


def median_startup(samples: list[Startup]) -> Startup:
    return Startup(
        statistics.median(s.to_connect for s in samples),
        statistics.median(s.wall for s in samples),
        statistics.median(s.cpu for s in samples),
        statistics.median(s.maxrss_mib for s in samples),
    )


def measured_commit() -> str:
    """HEAD, and `+dirty` when raquet's own code differs from it in the work tree."""
    head = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "raquet", "checks", "pyproject.toml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return head + ("+dirty" if dirty else "")


def machine() -> str:
    import platform

    cpus = os.cpu_count()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    ssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    return (
        f"{cpus} CPU, {mem:.0f} GiB, Linux {platform.release()}, Python {platform.python_version()}, "
        f"{ssh.split(',')[0]}, load average at start {os.getloadavg()[0]:.2f}"
    )


def have(tool: str) -> bool:
    return shutil.which(tool) is not None
