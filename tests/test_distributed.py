"""The distributed sweep's decisions that need no fleet: what a task may carry, the
delivery settings, how the dispatcher reads the workers it sees, the commands' errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from raquet.distributed.app import Planned, make_app, queue_for, segment_of
from raquet.distributed.dispatch import _Watch
from raquet.distributed.worker import _JOBS_KEPT, SegmentWorker
from raquet.inventory import load_inventory
from raquet.store import Store
from raquet.sweep import SweepOptions, host_budget
from tests.conftest import raquet_cli

INVENTORY = Path(__file__).resolve().parents[1] / "inventory" / "segments.example.yml"


def test_a_task_names_its_host_and_nothing_else() -> None:
    planned = Planned(host="td-srv-01", unit="trang-dinh", os="linux", role="server")
    assert set(planned.model_dump()) == {"host", "unit", "os", "role"}
    with pytest.raises(ValidationError):
        Planned.model_validate({"host": "h", "unit": "u", "ssh_password": "x"})


def test_tasks_are_acknowledged_after_their_result_and_redelivered_after_the_deadline() -> None:
    conf = make_app("redis://127.0.0.1:1/0").conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1 and conf.task_ignore_result
    default_deadline = host_budget(SweepOptions(checks=["a"] * 5), 5)
    assert conf.broker_transport_options["visibility_timeout"] > default_deadline
    assert conf.accept_content == ["json"]  # never pickle from a broker


def test_visibility_timeout_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAQUET_VISIBILITY_TIMEOUT", "45")
    conf = make_app("redis://127.0.0.1:1/0").conf
    assert conf.broker_transport_options["visibility_timeout"] == 45
    monkeypatch.setenv("RAQUET_VISIBILITY_TIMEOUT", "soon")
    with pytest.raises(Exception, match="RAQUET_VISIBILITY_TIMEOUT"):
        make_app(None)


def test_queues_are_named_for_their_segment() -> None:
    assert queue_for("td-lan") == "raquet.td-lan"
    assert segment_of("raquet.td-lan") == "td-lan"
    assert segment_of("celery") is None


def test_a_worker_that_vanishes_makes_its_segment_owed_until_a_worker_is_back() -> None:
    watch = _Watch({"td": ["a", "b"], "vl": ["c"]}, wait=30)
    again, abandoned = watch.update({"td": ["b"], "vl": ["c"]}, {"td", "vl"}, now=0)
    assert (again, abandoned) == (set(), set())  # a missed one reply: maybe only busy
    again, abandoned = watch.update({"td": ["b"], "vl": ["c"]}, {"td", "vl"}, now=5)
    assert (again, abandoned) == ({"td"}, set())  # missed two: gone, b takes td's hosts
    again, abandoned = watch.update({"td": ["b"]}, {"td", "vl"}, now=10)
    assert (again, abandoned) == (set(), set())  # c missed once
    again, abandoned = watch.update({"td": ["b"]}, {"td", "vl"}, now=15)
    assert (again, abandoned) == (set(), set())  # c gone: vl owed, but no worker to take it
    again, abandoned = watch.update({"td": ["b"], "vl": ["c"]}, {"td", "vl"}, now=20)
    assert (again, abandoned) == ({"vl"}, set())  # c restarted: vl's pending queued again


def test_a_busy_worker_that_misses_one_reply_costs_nothing() -> None:
    watch = _Watch({"td": ["a"]}, wait=30)
    for now in range(0, 100, 10):
        answer = {"td": ["a"]} if now % 20 else {}  # every other reply missed
        assert watch.update(answer, {"td"}, now=now) == (set(), set())
    assert watch.owed == set()


def test_a_segment_without_workers_is_given_up_after_the_wait() -> None:
    watch = _Watch({"td": ["a"]}, wait=30)
    assert watch.update({}, {"td"}, now=0) == (set(), set())
    assert watch.update({}, {"td"}, now=29) == (set(), set())
    assert watch.update({}, {"td"}, now=31) == (set(), {"td"})


def test_a_silent_broker_is_not_a_segment_without_workers() -> None:
    watch = _Watch({"td": ["a"]}, wait=30)
    for now in (0, 40, 80):
        assert watch.update(None, {"td"}, now=now) == (set(), set())
    # it answers again: whatever it held may be lost, so the pending hosts go again
    assert watch.update({"td": ["a"]}, {"td"}, now=90) == ({"td"}, set())


def test_a_worker_forgets_old_sweeps_but_never_one_a_task_is_still_sweeping_for(
    tmp_path: Path,
) -> None:
    inventory = load_inventory(INVENTORY)
    with Store(f"sqlite:///{tmp_path / 'raquet.db'}") as store:
        hosts = [(h.name, h.unit, h.segment) for h in inventory.hosts()]
        options = {"policy_document": {}, **SweepOptions(checks=["av"]).stored()}
        sweeps = [
            store.begin_sweep("inv.yml", "P", ["av"], hosts, options) for _ in range(_JOBS_KEPT + 3)
        ]
        worker = SegmentWorker(inventory, ["td-lan"], store, "w@here", 4)
        try:
            busy = worker._job(sweeps[0])  # a task of the oldest sweep still sweeping
            for sweep in sweeps[1:-1]:
                worker._job(sweep).busy -= 1  # these tasks are done
            # the busy one kept beside the newest, the idle ones after it dropped
            assert list(worker._jobs) == [sweeps[0], *sweeps[-1 - (_JOBS_KEPT - 1) : -1]]
            assert not busy.writer._writer.dead
            busy.busy -= 1
            worker._job(sweeps[-1]).busy -= 1
            assert list(worker._jobs) == sweeps[-_JOBS_KEPT:]  # once idle, it goes first
            assert busy.writer._writer.dead
        finally:
            worker.close()


def test_worker_refuses_a_bad_segment_and_one_without_hosts() -> None:
    bad = raquet_cli("worker", "-i", INVENTORY, "--segment", "TD LAN")
    assert bad.returncode == 2 and "--segment" in bad.stdout + bad.stderr
    empty = raquet_cli("worker", "-i", INVENTORY, "--segment", "nowhere")
    assert empty.returncode == 2
    assert "no host in segment(s) nowhere" in empty.stdout + empty.stderr


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A real redis-server on a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        ping = ["redis-cli", "-p", str(port), "ping"]
        while subprocess.run(ping, capture_output=True).stdout.strip() != b"PONG":
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.kill()
        server.wait()


def test_workers_says_when_nobody_answers(redis_url: str) -> None:
    shown = raquet_cli("workers", "--broker", redis_url, "--json", "-")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {"workers": []}
    assert "no live worker answered" in shown.stderr


def test_an_unreachable_broker_is_an_error_before_any_sweep_begins(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'raquet.db'}"
    for command in (["workers"], ["sweep", "-i", INVENTORY, "--distributed", "--db", db]):
        env = os.environ | {"RAQUET_WINRM_PASSWORD": "x"}  # the example's Windows host
        done = raquet_cli(*command, "--broker", "redis://:hunter2@127.0.0.1:1/0", env=env)
        assert done.returncode == 2
        said = done.stdout + done.stderr
        assert "cannot reach the broker redis://:**@127.0.0.1:1/0" in said
        assert "hunter2" not in said and "Traceback" not in said
    assert not (tmp_path / "raquet.db").exists()  # nothing was begun
