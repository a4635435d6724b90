"""The lab itself: a fleet takes a free address range, `down` removes only its own checkout's
dead labs, a stalled host never hangs a start, and isolated segments (a distributed sweep's
fleets) are reachable only from their jump namespaces.

Other labs may run on this machine while these tests do (other checkouts, other test runs):
the tests only assert on labs they made themselves, and `down` runs on a checkout path of
their own, so it cannot touch anyone else's lab.
"""

from __future__ import annotations

import contextlib
import errno
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, raquet_cli
from tests.lab import claim, netns
from tests.lab.fleet import Fleet
from tests.lab.scenario import Connection, HostScenario, Scenario, UnitScenario

pytestmark = pytest.mark.lab

C2 = "203.0.113.50"
# connects to ADDRESS PORT and prints what answered first, or the errno it failed with
PROBE = """
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20) as s:
        print("answered", s.recv(64).decode(errors="replace").strip())
except OSError as e:
    print("failed", e.errno)
"""
# a lab started by a process that is then SIGKILLed: what a crashed test run leaves behind
CRASHING_OWNER = """
import sys, time
from pathlib import Path
from tests.lab.fleet import Fleet
from tests.lab.scenario import Scenario
plan = Scenario.model_validate_json(sys.argv[1])
fleet = Fleet(plan, Path(sys.argv[2]), checkout=Path(sys.argv[3])).start()
print(fleet.net, flush=True)
time.sleep(3600)
"""


def _scenario(*hosts: HostScenario) -> Scenario:
    return Scenario(units=[UnitScenario(id="lab", name="Lab", hosts=list(hosts))])


def _host(name: str, **fields: Any) -> HostScenario:
    return HostScenario(name=name, clamav="absent", **fields)


def _free() -> int:
    """The N the next lab would take."""
    return min(set(range(256)) - claim.used())


def _bridge_exists(name: str) -> bool:
    return name in claim.bridges()


def _lab_namespaces(net: int) -> list[str]:
    return [n for n in netns.names() if n.startswith(f"rql{net}-")]


def _connect(address: str, port: int = 22) -> str:
    """From the root namespace: "answered ..." or "failed ERRNO", as PROBE prints."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family) as conn:
            conn.settimeout(20)
            conn.connect((address, port))
            return "answered " + conn.recv(64).decode(errors="replace").strip()
    except OSError as error:
        return f"failed {error.errno}"


def _probe(fleet: Fleet, address: str, port: int = 22) -> str:
    """PROBE run in the fleet's jump namespace."""
    proc = fleet.jump_popen(
        [sys.executable, "-c", PROBE, address, str(port)], stdout=subprocess.PIPE, text=True
    )
    return str(proc.communicate(timeout=60)[0]).strip()


# 1. a free address range


@pytest.fixture
def dummy() -> Iterator[str]:
    """An interface of the test's own, to hold addresses and routes a lab must avoid: a veth
    pair (this kernel has no `dummy` driver), both ends up so routes through it are taken."""
    subprocess.run(["ip", "link", "add", "rqtest0", "type", "veth", "peer", "rqtest0p"], check=True)
    try:
        for end in ("rqtest0", "rqtest0p"):
            subprocess.run(["ip", "link", "set", end, "up"], check=True)
        yield "rqtest0"
    finally:
        subprocess.run(["ip", "link", "del", "rqtest0"], check=False)


def test_a_lab_takes_no_range_an_address_or_a_route_stands_on(tmp_path: Path, dummy: str) -> None:
    first = _free()
    subprocess.run(["ip", "addr", "add", f"198.18.{first}.1/24", "dev", dummy], check=True)
    second = _free()
    assert second != first
    subprocess.run(["ip", "route", "add", f"198.18.{second}.0/24", "dev", dummy], check=True)
    third = _free()
    assert third not in {first, second}
    subprocess.run(["ip", "-6", "route", "add", f"fd18:{third:x}::/64", "dev", dummy], check=True)
    assert _free() not in {first, second, third}
    with Fleet(_scenario(_host("free-01")), tmp_path) as fleet:
        assert fleet.net not in {first, second, third}
        assert fleet.ssh("free-01", "hostname").strip() == "free-01"


def test_two_labs_started_at_the_same_moment_take_two_ranges(tmp_path: Path) -> None:
    yml = tmp_path / "plan.yml"
    yml.write_text(_scenario(_host("race-01")).model_dump_json())  # JSON is YAML
    labs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.lab", "up", str(yml), "--dir", str(tmp_path / f"l{i}")],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    try:
        bridges = [_bridge_of(lab) for lab in labs]
        assert bridges[0] != bridges[1]
        assert all(_bridge_exists(b) for b in bridges)
    finally:
        for lab in labs:
            lab.send_signal(signal.SIGTERM)
        for lab in labs:
            assert lab.wait(timeout=60) == 0, lab.stderr.read() if lab.stderr else ""


def _bridge_of(lab: subprocess.Popen[str]) -> str:
    """The bridge `python -m tests.lab up` says it made (it fails the test if it exits first)."""
    assert lab.stdout
    for line in lab.stdout:
        if line.startswith("bridge: "):
            return line.split()[1]
    pytest.fail(f"the lab did not come up: {lab.stderr.read() if lab.stderr else ''}")


# 2. down removes only this checkout's labs


def test_down_removes_only_the_dead_labs_of_its_checkout(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    plan = _scenario(_host("down-01"))
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CRASHING_OWNER,
            plan.model_dump_json(),
            str(tmp_path / "dead"),
            ours,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    with claim.lock():  # as a lab of older code would, but without racing the labs here
        unrecorded = f"rqlab{_free()}"
        subprocess.run(["ip", "link", "add", unrecorded, "type", "bridge"], check=True)
    try:
        assert owner.stdout
        dead = int(owner.stdout.readline())
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        with (
            Fleet(plan, tmp_path / "running", checkout=ours) as running,
            Fleet(plan, tmp_path / "other", checkout=theirs) as other,
        ):
            assert _bridge_exists(f"rqlab{dead}") and _lab_namespaces(dead)  # left behind

            said = _down(ours)
            assert not _bridge_exists(f"rqlab{dead}") and not _lab_namespaces(dead), said
            assert not (claim.RUN / f"{dead}.json").exists()
            assert f"{running.bridge}: running" in said
            assert f"{other.bridge}: a lab of {theirs}, left alone" in said
            assert f"{unrecorded}: no record" in said
            for fleet in (running, other):
                assert fleet.ssh("down-01", "hostname").strip() == "down-01"

            said = _down(ours, "--force")
            assert not _bridge_exists(running.bridge) and not _lab_namespaces(running.net)
            assert other.ssh("down-01", "hostname").strip() == "down-01"
            assert _bridge_exists(unrecorded)
    finally:
        owner.kill()
        owner.wait()
        subprocess.run(["ip", "link", "del", unrecorded], check=False, stderr=subprocess.DEVNULL)
        _down(ours, "--force")


def _down(checkout: Path, *flags: str) -> str:
    """`python -m tests.lab down` for `checkout` (a path of the test's own: see the docstring)."""
    argv = [sys.executable, "-m", "tests.lab", "down", "--checkout", str(checkout), *flags]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True).stdout


# 3. a stalled host never hangs a lab


def test_a_host_stalled_on_its_first_boot_is_booted_again_and_comes_up(tmp_path: Path) -> None:
    plan = _scenario(_host("stall-ok"), _host("stall-once", stall_boot="once"))
    with Fleet(plan, tmp_path).start(ready_timeout=60, host_timeout=10) as fleet:
        assert fleet.hosts["stall-once"].boots == 2
        assert fleet.hosts["stall-ok"].boots == 1
        assert not fleet.stalled
        # the second boot made a new host key: known_hosts has it (ssh checks it, BatchMode)
        assert fleet.ssh("stall-once", "hostname").strip() == "stall-once"


def test_a_host_that_always_stalls_fails_the_start_saying_what_it_was_doing(
    tmp_path: Path,
) -> None:
    fleet = Fleet(
        _scenario(_host("stall-ok"), _host("stall-always", stall_boot="always")), tmp_path
    )
    with pytest.raises(RuntimeError) as failed:
        fleet.start(ready_timeout=12, host_timeout=3)
    message = str(failed.value)
    assert "stall-always: booted 2 times" in message
    assert "/etc/raquet-lab/init.sh" in message and "sleep infinity" in message  # its processes
    assert "stall-ok" not in message
    assert not _bridge_exists(fleet.bridge) and not _lab_namespaces(fleet.net)


def test_allow_stalled_leaves_a_stalled_host_out(tmp_path: Path) -> None:
    fleet = Fleet(
        _scenario(_host("stall-ok"), _host("stall-always", stall_boot="always")), tmp_path
    )
    with fleet.start(ready_timeout=12, host_timeout=3, allow_stalled=True):
        assert list(fleet.stalled) == ["stall-always"]
        assert "sleep infinity" in fleet.stalled["stall-always"]
        inventory = fleet.inventory_path.read_text()
        assert "stall-ok" in inventory and "stall-always" not in inventory
        stalled = fleet.hosts["stall-always"].netns or ""
        assert netns.pids([stalled])[stalled] == []  # killed, not left to spin
        assert fleet.ssh("stall-ok", "hostname").strip() == "stall-ok"


# 4. isolated segments for the distributed sweep


@pytest.fixture(scope="module")
def segments(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Fleet]]:
    """Two isolated fleets, A (one host holding a C2 connection) and B."""
    a_plan = _scenario(_host("seg-a1"), _host("seg-a2", connections=[Connection(address=C2)]))
    with (
        Fleet(a_plan, tmp_path_factory.mktemp("segment-a"), isolated=True) as a,
        Fleet(_scenario(_host("seg-b1")), tmp_path_factory.mktemp("segment-b"), isolated=True) as b,
    ):
        yield a, b


def test_the_root_cannot_reach_a_segment(segments: tuple[Fleet, Fleet]) -> None:
    a, _ = segments
    host = a.hosts["seg-a1"]
    assert _connect(host.address) == f"failed {errno.EHOSTUNREACH}"
    assert _connect(f"fd18:{a.net:x}::a") == f"failed {errno.EHOSTUNREACH}"
    # nor by the host's IPv6 link-local address through the bridge
    listing = [
        "ip",
        "-n",
        host.netns or "",
        "-6",
        "-o",
        "addr",
        "show",
        "dev",
        "eth0",
        "scope",
        "link",
    ]
    local = subprocess.run(listing, capture_output=True, text=True, check=True).stdout
    link_local = local.split()[3].split("/")[0]
    assert link_local.startswith("fe80:")
    with pytest.raises(OSError), socket.socket(socket.AF_INET6) as conn:
        conn.settimeout(20)
        conn.connect((link_local, 22, 0, socket.if_nametoindex(a.bridge)))


def test_a_jump_reaches_its_own_segment_only(segments: tuple[Fleet, Fleet]) -> None:
    a, b = segments
    for mine, other in ((a, b), (b, a)):
        for host in mine.hosts.values():
            assert _probe(mine, host.address).startswith("answered SSH-2.0-"), host.spec.name
        for host in other.hosts.values():
            assert _probe(mine, host.address) == f"failed {errno.ENETUNREACH}", host.spec.name


def test_both_jumps_reach_their_service_address(segments: tuple[Fleet, Fleet]) -> None:
    a, b = segments
    for mine, other in ((a, b), (b, a)):
        with _service(mine.service_address) as port:
            probe = mine.jump_popen(
                [sys.executable, "-c", PROBE, mine.service_address, str(port)],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert str(probe.communicate(timeout=60)[0]).strip() == "answered service"
            assert _probe(other, mine.service_address, port) == f"failed {errno.ENETUNREACH}"


def test_a_host_cannot_reach_the_service_address(segments: tuple[Fleet, Fleet]) -> None:
    a, _ = segments
    with _service(a.service_address) as port:
        attempt = f"bash -c 'exec 3<>/dev/tcp/{a.service_address}/{port} && echo connected' 2>&1"
        said = a.ssh("seg-a1", f"{attempt} || true")
    assert "connected" not in said and "No route to host" in said


@contextlib.contextmanager
def _service(address: str) -> Iterator[int]:
    """A TCP service in the root namespace on `address` that says "service" to whoever
    connects (as redis or PostgreSQL would listen there); yields its port."""
    server = socket.create_server((address, 0))
    server.settimeout(60)

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                with conn:
                    conn.sendall(b"service\n")

    import threading  # gevent's, under raquet's patching: a greenlet

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def test_the_scenario_connections_hold_in_a_segment(segments: tuple[Fleet, Fleet]) -> None:
    a, _ = segments
    established = a.ssh("seg-a2", "ss -Htn state established")
    assert f"{C2}:443" in established


def test_a_sweep_from_the_jump_sweeps_the_segment_and_from_the_root_none(
    segments: tuple[Fleet, Fleet], tmp_path: Path
) -> None:
    a, _ = segments
    sweep = ["sweep", "-i", str(a.inventory_path), "--connect-timeout", "3", "--timeout", "20"]
    from_root = raquet_cli(*sweep, "--db", f"sqlite:///{tmp_path}/r.db", "--json", tmp_path / "r")
    hosts = json.loads((tmp_path / "r").read_text())["hosts"]
    assert {h["name"]: h["status"] for h in hosts} == dict.fromkeys(a.hosts, "unreachable")
    assert from_root.returncode == 3, from_root.stderr  # some hosts not swept
    store = ["--db", f"sqlite:///{tmp_path}/j.db", "--json", str(tmp_path / "j")]
    worker = a.jump_popen(
        [sys.executable, "-m", "raquet", *sweep, *store],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    err = worker.communicate(timeout=300)[1]
    hosts = json.loads((tmp_path / "j").read_text())["hosts"]
    assert {h["name"]: h["status"] for h in hosts} == dict.fromkeys(a.hosts, "swept"), err


def test_stop_kills_the_jump_processes_and_removes_the_segment(tmp_path: Path) -> None:
    with pytest.raises(AttributeError):
        _ = Fleet(_scenario(_host("seg-01")), tmp_path).service_address  # not isolated
    fleet = Fleet(_scenario(_host("seg-01")), tmp_path, isolated=True).start()
    try:
        worker = fleet.jump_popen(["sh", "-c", "sleep infinity & sleep infinity"])
        jump, net = fleet.jump_netns, fleet.net
        started = _settled(jump, 3)
    finally:
        fleet.stop()
    assert worker.poll() is not None
    assert not [pid for pid in started if _alive(pid)]
    assert not _lab_namespaces(net) and not _bridge_exists(f"rqlab{net}")
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    assert f"198.18.{net}.0/24" not in routes and f"198.18.{net}.252/30" not in routes
    assert not (claim.RUN / f"{net}.json").exists()
    assert (tmp_path / "inventory.yml").exists()  # the workdir is the caller's


def _settled(namespace: str, count: int) -> list[int]:
    """The processes in `namespace` once there are `count` of them (a shell and its children
    take a moment to start)."""
    for _ in range(600):
        found = netns.pids([namespace])[namespace]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    pytest.fail(f"{namespace} never held {count} processes: {found}")


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (PID 1 here may be slow to reap orphans)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in {"Z", "X"}
