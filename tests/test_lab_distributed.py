"""Several jump hosts, one sweep (issue 13), on real segments of this machine.

Two isolated lab fleets are two network segments: their hosts are reachable only from
each segment's jump namespace, where the workers run; the dispatcher runs in the root
namespace, which cannot reach any host. A real redis-server and a real PostgreSQL listen
on each segment's service address (TCP, password in the workers' environment only). A
third segment names hosts no worker serves.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from sqlalchemy import create_engine, text

from raquet.store import Store
from tests.conftest import ROOT, raquet_cli
from tests.lab.fleet import Fleet
from tests.lab.scenario import HostScenario, Scenario, UnitScenario
from tests.pg import throwaway_server

PASSWORD = "s3cret-Pg-pw"
REDIS_PORT = 6391
SEGMENTS = {"td-lan": "td", "vl-lan": "vl"}
ORPHANS = ["cb-srv-01", "cb-srv-02"]  # segment cb-lan: no worker serves it


def _scenario(prefix: str) -> Scenario:
    hosts = [
        HostScenario(name=f"{prefix}-srv-01", clamav="running", db_age_days=1),
        HostScenario(name=f"{prefix}-srv-02", clamav="running", db_age_days=30),
        HostScenario(name=f"{prefix}-srv-03", clamav="stopped", packages=["rqlab-openssl"]),
        HostScenario(name=f"{prefix}-ws-04", role="workstation", clamav="absent"),
        HostScenario(name=f"{prefix}-ws-05", role="workstation", packages=["rqlab-tools"]),
        HostScenario(name=f"{prefix}-ws-06", role="workstation", kind="dead"),
    ]
    units = [
        UnitScenario(id=f"{prefix}-a", name=f"Unit {prefix} A", hosts=hosts[:3]),
        UnitScenario(id=f"{prefix}-b", name=f"Unit {prefix} B", hosts=hosts[3:]),
    ]
    return Scenario(units=units)


@dataclass
class Province:
    fleets: dict[str, Fleet]
    inventory: Path
    db: str
    broker: str
    workdir: Path
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    brokers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {**os.environ, "RAQUET_DB": self.db, "RAQUET_BROKER": self.broker}

    def start_worker(self, name: str, segment: str) -> None:
        """A worker in the segment's jump namespace, reaching the broker and the store at
        its own segment's service address (the only one it can reach); the store's
        password travels in its environment, never on its command line."""
        fleet = self.fleets[segment]
        log = (self.workdir / f"{name}.log").open("ab")
        here = fleet.service_address
        env = os.environ | {
            "RAQUET_DB": f"postgresql://raquet:{PASSWORD}@{here}/postgres",
            "RAQUET_BROKER": f"redis://{here}:{REDIS_PORT}/0",
            "RAQUET_VISIBILITY_TIMEOUT": "40",
        }
        worker = [sys.executable, "-m", "raquet", "worker", "-i", str(self.inventory)]
        worker += ["--segment", segment, "--concurrency", "4", "--name", name]
        # restarted when it exits, as its systemd service (Restart=always) would; a test
        # that kills a worker kills the whole group, this loop with it
        supervised = ["sh", "-c", 'while :; do "$@"; sleep 1; done', "sh", *worker]
        self.workers[name] = fleet.jump_popen(
            supervised, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        self.wait_for(lambda live: name in live, f"worker {name} never answered")

    def kill_worker(self, name: str) -> None:
        process = self.workers.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        self.wait_for(lambda live: name not in live, f"worker {name} still answers")

    def live(self) -> dict[str, list[str]]:
        shown = raquet_cli("workers", "--json", "-", env=self.env())
        assert shown.returncode == 0, shown.stderr
        return {w["worker"]: w["segments"] for w in json.loads(shown.stdout)["workers"]}

    def wait_for(self, condition: Any, message: str) -> None:
        deadline = time.monotonic() + 60
        while not condition(self.live()):
            assert time.monotonic() < deadline, message
            time.sleep(0.5)

    def sweep(self, *args: str, name: str = "d") -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "raquet",
                "sweep",
                "-i",
                str(self.inventory),
                "--distributed",
                "--connect-timeout",
                "3",
                "--timeout",
                "8",
                "--worker-wait",
                "6",
                "--json",
                str(self.workdir / f"{name}.json"),
                *args,
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def document(self, name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.workdir / f"{name}.json").read_text())
        return loaded


def _inventory(fleets: dict[str, Fleet], path: Path) -> None:
    """One province, its units on two segments (and a third no worker serves)."""
    units = []
    for segment, fleet in fleets.items():
        for unit in fleet.scenario.units:
            hosts = [
                {
                    "name": spec.name,
                    "address": fleet.hosts[spec.name].address,
                    "role": spec.role,
                    "ssh_user": "root",
                    "ssh_key": str(fleet.client_key),
                    "known_hosts": str(fleet.known_hosts),
                }
                for spec in unit.hosts
            ]
            units.append({"id": unit.id, "name": unit.name, "segment": segment, "hosts": hosts})
    orphans = [{"name": name, "address": f"198.51.100.{i + 10}"} for i, name in enumerate(ORPHANS)]
    units.append({"id": "cao-binh", "name": "Cao Bằng", "segment": "cb-lan", "hosts": orphans})
    with path.open("w") as out:
        YAML().dump({"province": "Lạng Sơn", "units": units}, out)


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Province]:
    workdir = tmp_path_factory.mktemp("distributed")
    fleets: dict[str, Fleet] = {}
    redis: subprocess.Popen[bytes] | None = None
    province: Province | None = None
    try:
        for segment, prefix in SEGMENTS.items():
            fleet = Fleet(_scenario(prefix), workdir / segment, isolated=True)
            fleets[segment] = fleet.start()
        addresses = [fleet.service_address for fleet in fleets.values()]
        redis = _redis(addresses, workdir)
        first = addresses[0]
        with throwaway_server(listen=addresses, password=PASSWORD):
            inventory = workdir / "province.yml"
            _inventory(fleets, inventory)
            db = f"postgresql://raquet:{PASSWORD}@{first}/postgres"
            broker = f"redis://{first}:{REDIS_PORT}/0"
            province = Province(fleets, inventory, db, broker, workdir, brokers=[redis])
            # each segment's workers reach the broker and store at their own service address
            province.start_worker("td-1@jump-td", "td-lan")
            province.start_worker("td-2@jump-td", "td-lan")
            province.start_worker("vl-1@jump-vl", "vl-lan")
            yield province
    finally:
        for server in province.brokers if province is not None else [redis]:
            if server is not None:
                server.kill()
                server.wait()
        for fleet in fleets.values():
            fleet.stop()


def _redis(addresses: list[str], workdir: Path) -> subprocess.Popen[bytes]:
    command = ["redis-server", "--port", str(REDIS_PORT), "--bind", *addresses]
    command += ["--save", "", "--appendonly", "no", "--protected-mode", "no"]
    command += ["--dir", str(workdir)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while (
        subprocess.run(
            ["redis-cli", "-h", addresses[0], "-p", str(REDIS_PORT), "ping"], capture_output=True
        ).stdout.strip()
        != b"PONG"
    ):
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.2)
    time.sleep(0.2)
    assert server.poll() is None, "redis-server exited: is its port taken by a stale one?"
    return server


def _verdicts(document: dict[str, Any]) -> dict[str, Any]:
    """Per host what was decided: status, reason, each finding and its evidence (times
    and ages, which move between two sweeps, compared by type only)."""

    def shape(value: Any) -> Any:
        if isinstance(value, float):
            return "float"
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items() if k not in {"now", "clock"}}
        if isinstance(value, list):
            return [shape(v) for v in value]
        return value

    def reason(host: dict[str, Any]) -> str | None:
        # a dead address answers "timed out" or "unable to connect" as ARP happens to go
        error: str | None = host["error"]
        if host["status"] == "unreachable" and error and error.startswith("Could not connect"):
            return "Could not connect"
        return error

    return {
        h["name"]: (
            h["unit"],
            h["status"],
            reason(h),
            [
                (f["check"], f["status"], f["severity"], f["title"], shape(f["evidence"]))
                for f in h["findings"]
            ],
        )
        for h in document["hosts"]
    }


def _rows(db: str, sweep_id: str) -> tuple[int, int]:
    engine = create_engine(db.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as connection:
            total, distinct = connection.execute(
                text("SELECT count(*), count(DISTINCT host) FROM host_results WHERE sweep_id = :s"),
                {"s": sweep_id},
            ).one()
            return int(total), int(distinct)
    finally:
        engine.dispose()


def _by_workers(store: Store, sweep_id: str) -> list[str]:
    """Hosts a worker (not the dispatcher, for a segment without one) has recorded."""
    return [host for host, by in store.swept_by(sweep_id).items() if by != "dispatcher"]


def _first_worker_result(province: Province, sweep: subprocess.Popen[str]) -> str:
    """The running sweep's id, once a worker has recorded one of its hosts; a failure
    says what the dispatcher and the workers were doing rather than only that nothing
    came."""
    with Store(province.db) as store:
        deadline = time.monotonic() + 120
        while not (sweep_id := store.latest_unfinished()) or not _by_workers(store, sweep_id):
            if sweep.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        else:
            return sweep_id
    if sweep.poll() is None:
        sweep.kill()
    _, stderr = sweep.communicate(timeout=60)
    logs = {
        path.name: path.read_text(errors="replace")[-3000:]
        for path in sorted(province.workdir.glob("*@*.log"))
    }
    raise AssertionError(
        f"no worker swept anything (dispatcher exit {sweep.returncode}):\n{stderr[-3000:]}\n"
        + "\n".join(f"--- {name}\n{text}" for name, text in logs.items())
    )


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:  # gone meanwhile
        return ""


def _finish(process: subprocess.Popen[str]) -> str:
    _, stderr = process.communicate(timeout=400)
    assert process.returncode == 3, stderr  # dead hosts and the orphaned segment: not swept
    return stderr


def _local(province: Province, segment: str, name: str) -> dict[str, Any]:
    """A local sweep of one segment's units, run from its own jump namespace."""
    fleet = province.fleets[segment]
    out = province.workdir / f"{name}.json"
    units = [arg for unit in fleet.scenario.units for arg in ("--unit", unit.id)]
    local = fleet.jump_popen(
        [
            sys.executable,
            "-m",
            "raquet",
            "sweep",
            "-i",
            str(province.inventory),
            *units,
            "--connect-timeout",
            "3",
            "--timeout",
            "8",
            "--json",
            str(out),
            "--db",
            f"sqlite:///{province.workdir / name}.db",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert local.wait(timeout=300) == 3
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def test_each_segment_is_swept_by_its_own_workers_with_a_local_sweeps_verdicts(
    province: Province,
) -> None:
    root_view = raquet_cli(
        "sweep", "-i", province.inventory, "--unit", "td-a", "--db",
        f"sqlite:///{province.workdir / 'root.db'}", "--connect-timeout", "2", "--json", "-",
    )  # fmt: skip
    assert root_view.returncode == 3
    assert {h["status"] for h in json.loads(root_view.stdout)["hosts"]} == {"unreachable"}

    stderr = _finish(province.sweep(name="first"))
    assert "no worker for segment cb-lan" in stderr
    document = province.document("first")
    verdicts = _verdicts(document)
    planned = {
        spec.name for fleet in province.fleets.values() for _, spec in fleet.scenario.hosts()
    } | set(ORPHANS)
    assert set(verdicts) == planned
    for orphan in ORPHANS:
        assert verdicts[orphan][1:3] == ("unreachable", "no worker for segment cb-lan")
    with Store(province.db) as store:
        swept_by = store.swept_by(document["sweep_id"])
    for segment, prefix in SEGMENTS.items():
        workers = {n for n in province.workers if n.startswith(prefix)}
        mine = {n: by for n, by in swept_by.items() if n.startswith(prefix)}
        assert len(mine) == 6 and set(mine.values()) <= workers, mine
        local = _verdicts(_local(province, segment, f"local-{segment}"))
        assert local == {n: v for n, v in verdicts.items() if n.startswith(prefix)}
        assert set(document) == set(
            json.loads((province.workdir / f"local-{segment}.json").read_text())
        )


def test_a_worker_killed_mid_sweep_loses_and_duplicates_nothing(province: Province) -> None:
    reference = _verdicts(province.document("first"))
    sweep = province.sweep(name="killed")
    with Store(province.db) as store:
        deadline = time.monotonic() + 120
        while True:
            sweep_id = store.latest_unfinished()
            done = store.swept_by(sweep_id) if sweep_id else {}
            if any(by == "td-1@jump-td" for by in done.values()):
                break
            assert time.monotonic() < deadline, "td-1 never swept a host"
            time.sleep(0.1)
    province.kill_worker("td-1@jump-td")
    _finish(sweep)
    document = province.document("killed")
    assert _verdicts(document) == reference
    total, distinct = _rows(province.db, document["sweep_id"])
    assert total == distinct == len(reference)
    province.start_worker("td-1@jump-td", "td-lan")


def test_a_lone_worker_restarted_mid_sweep_finishes_its_segment(province: Province) -> None:
    reference = _verdicts(province.document("first"))
    sweep = province.sweep("--worker-wait", "60", name="restarted")
    with Store(province.db) as store:
        deadline = time.monotonic() + 120
        while True:
            sweep_id = store.latest_unfinished()
            done = store.swept_by(sweep_id) if sweep_id else {}
            if any(by == "vl-1@jump-vl" for by in done.values()):
                break
            assert time.monotonic() < deadline, "vl-1 never swept a host"
            time.sleep(0.1)
    province.kill_worker("vl-1@jump-vl")
    time.sleep(2)
    province.start_worker("vl-1@jump-vl", "vl-lan")
    _finish(sweep)
    document = province.document("restarted")
    assert _verdicts(document) == reference
    assert _rows(province.db, document["sweep_id"]) == (len(reference), len(reference))


def test_a_broker_restart_loses_nothing(province: Province) -> None:
    """The broker keeps no disk copy here: a restart empties its queues, and what the
    store has not got yet is queued again."""
    reference = _verdicts(province.document("first"))
    # workers reconnect with Celery's back-off (2, 4, 6… s): a segment's wait for its
    # worker starts only once the broker answers again, and must outlast that back-off
    sweep = province.sweep("--worker-wait", "40", name="broker")
    _first_worker_result(province, sweep)
    address = province.fleets["td-lan"].service_address
    subprocess.run(["redis-cli", "-h", address, "-p", str(REDIS_PORT), "shutdown", "nosave"])
    time.sleep(1)
    addresses = [fleet.service_address for fleet in province.fleets.values()]
    province.brokers.append(_redis(addresses, province.workdir))  # stopped with the module
    _finish(sweep)
    document = province.document("broker")
    assert _verdicts(document) == reference
    assert _rows(province.db, document["sweep_id"]) == (len(reference), len(reference))


def test_interrupted_dispatch_resumes_and_no_secret_crosses_the_broker(province: Province) -> None:
    reference = _verdicts(province.document("first"))
    province.kill_worker("vl-1@jump-vl")  # vl-lan's hosts wait for a worker
    address = province.fleets["td-lan"].service_address
    monitor = subprocess.Popen(
        ["redis-cli", "-h", address, "-p", str(REDIS_PORT), "monitor"],
        stdout=subprocess.PIPE,
        text=True,
    )
    sweep = province.sweep("--worker-wait", "120", name="interrupted")
    sweep_id = _first_worker_result(province, sweep)
    monitor.terminate()
    seen, _ = monitor.communicate(timeout=30)
    # what clients sent (not MONITOR's own "[db client-address]" prefix), and every
    # task's body decoded
    pushed = [line.split("] ", 1)[1] for line in seen.splitlines() if '"LPUSH"' in line]
    bodies = [
        base64.b64decode(b).decode()
        for b in re.findall(r'body\\": \\"([A-Za-z0-9+/=]+)', "\n".join(pushed))
    ]
    sent = "\n".join(pushed + bodies)
    assert bodies and "td-srv-01" in "\n".join(bodies)  # every task the broker carried
    for secret in (PASSWORD, "id_ed25519", "198.18.", "policy", "ssh"):
        assert secret not in sent
    sweep.send_signal(signal.SIGINT)
    _, stderr = sweep.communicate(timeout=60)
    assert "--resume --distributed" in stderr
    with Store(province.db) as store:
        assert store.latest_unfinished() == sweep_id
    commands = [_cmdline(pid) for pid in os.listdir("/proc") if pid.isdigit()]
    workers = [c for c in commands if "raquet\x00worker" in c]
    assert len(workers) >= 3  # the supervising loops and the workers themselves
    assert not [c for c in workers if PASSWORD in c]

    province.start_worker("vl-1@jump-vl", "vl-lan")
    resumed = province.sweep("--resume", name="resumed")
    stderr = _finish(resumed)
    assert f"resuming sweep {sweep_id}" in stderr
    document = province.document("resumed")
    assert document["sweep_id"] == sweep_id
    assert _verdicts(document) == reference
    assert _rows(province.db, sweep_id) == (len(reference), len(reference))
