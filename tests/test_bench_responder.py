"""The scale bench's SSH responder answers raquet's sweep channel with the recorded frame, and only it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncssh  # noqa: F401  (a dev dependency: CI runs this test)
import paramiko
import pytest

from bench.record_answer import RECORDED, probe
from bench.responder import address
from checks import registry, select
from raquet import framing
from raquet.policy import Policy
from raquet.script import build

ROOT = Path(__file__).resolve().parent.parent


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def responder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, int]]:
    work = tmp_path_factory.mktemp("responder")
    key = work / "client"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    port = _free_port(address(0))
    known = work / "known_hosts"
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "bench.responder", "--count", "2", "--port", str(port)),
            *("--client-key", f"{key}.pub", "--known-hosts", str(known)),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout and process.stdout.readline().startswith("ready")
        yield key, known, port
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_sweep_channel_gets_the_recorded_frame_untampered(
    responder: tuple[Path, Path, int],
) -> None:
    key, known, port = responder
    assert f"[{address(1)}]:{port} ssh-ed25519 " in known.read_text()
    meta = json.loads((RECORDED / "linux-all.json").read_text())
    # probe() connects as `raquet sweep` does and raises unless the frame parses untampered
    algorithms, stdout, facts = probe(address(1), key, known, meta["checks"], port)
    assert stdout == (RECORDED / "linux-all.out").read_bytes()
    assert facts["exit_status"] == 0
    for name in ("kex", "host_key", "cipher_c2s", "cipher_s2c", "mac_c2s", "mac_s2c"):
        assert algorithms[name] == meta["paramiko_negotiated"][name]


def test_the_recorded_answer_covers_every_check() -> None:
    # the scale benches sweep every check by default: a check added (or a section renamed)
    # since the recording means recording again (`bench/record_answer.py`, root, the lab)
    meta = json.loads((RECORDED / "linux-all.json").read_text())
    assert meta["checks"] == list(registry())
    script = build(select(None), "linux", Policy(), meta["check_timeout"])
    sections = framing.split((RECORDED / "linux-all.out").read_bytes(), script)
    assert sections.tampered is None and sections.complete
    assert all(f"{name}.__exit" in sections for name in registry())
    assert "vulns.dpkg" in sections and "host.os_release" in sections


def test_another_key_or_command_is_refused(
    responder: tuple[Path, Path, int], tmp_path: Path
) -> None:
    key, known, port = responder
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    client = paramiko.SSHClient()
    client.load_host_keys(str(known))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.AuthenticationException):
        client.connect(address(0), port, "root", key_filename=str(other), look_for_keys=False)
    client.connect(address(0), port, "root", key_filename=str(key), look_for_keys=False)
    try:
        channel = client.get_transport().open_session()  # type: ignore[union-attr]
        with pytest.raises(paramiko.SSHException):
            channel.exec_command("id")
    finally:
        client.close()
