"""Thousands of SSH "hosts" on loopback addresses, each answering the gather script with a recorded real answer.

    .venv/bin/python -m bench.responder --first 0 --count 5000 --port 2222 \\
        --client-key KEY.pub --known-hosts OUT --answer bench/recorded/linux-all.out

An asyncssh server (a bench-only dependency) listening on one loopback address per host
(`address(i)`: 127.10.Y.Z, Z in 1..254; all of 127.0.0.0/8 is local on Linux, nothing to
set up), each address with its own ed25519 host key. Its `known_hosts` lines
(`[127.10.Y.Z]:PORT ssh-ed25519 …`) are written to `--known-hosts` before it says `ready`
on stdout, so the sweep verifies every host's key as it would a real fleet's
(StrictHostKeyChecking). Only the client key given is accepted.

Every session must exec exactly raquet's bootstrap (`sh -c 'sh -s'`); the script arrives
on stdin and, once the client has sent EOF, the session answers with the recorded bytes
(`bench/record_answer.py`: a real lab host's framed answer to every check's script), exit
status 0, after `--delay` seconds (a host's time to run the checks; 0: none). The key
exchange, cipher and MAC are pinned to what paramiko negotiates with a lab host's OpenSSH
(`bench/recorded/linux-all.json`), so the sweeping side pays what it pays against real
sshd. A script whose sha256 differs from the recorded one is still answered, and counted
(stderr, at exit): the recorded frame may then not be what that script writes.

One process serves thousands of connections on one core; `bench.sweep_scale` starts
several, each with its own range of hosts.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import resource
import signal
import socket
import sys
from pathlib import Path

import asyncssh

HERE = Path(__file__).resolve().parent
RECORDED = HERE / "recorded"
COMMAND = "sh -c 'sh -s'"  # raquet.channel's bootstrap, as pyinfra wraps it (no sudo)


def address(index: int) -> str:
    """The loopback address of host number `index` (0-based)."""
    if not 0 <= index < 254 * 256:
        raise ValueError(f"no loopback address for host {index}")
    return f"127.10.{index // 254}.{1 + index % 254}"


class Stats:
    sessions = 0
    answered = 0
    other_script = 0
    refused_command = 0


class Answer(asyncssh.SSHServerSession):
    """One exec session: read the script to EOF, send the recorded answer, exit 0."""

    def __init__(self, answer: bytes, script_sha256: str, delay: float) -> None:
        self._answer = answer
        self._script_sha256 = script_sha256
        self._delay = delay
        self._digest = hashlib.sha256()
        self._chan: asyncssh.SSHServerChannel | None = None

    def connection_made(self, chan: asyncssh.SSHServerChannel) -> None:
        self._chan = chan
        Stats.sessions += 1

    def shell_requested(self) -> bool:
        return False

    def exec_requested(self, command: str) -> bool:
        if command != COMMAND:
            Stats.refused_command += 1
            return False
        return True

    def data_received(self, data: bytes, datatype: object) -> None:
        self._digest.update(data)

    def eof_received(self) -> bool:
        if self._digest.hexdigest() != self._script_sha256:
            Stats.other_script += 1
        if self._delay:
            asyncio.get_running_loop().call_later(self._delay, self._send)
        else:
            self._send()
        return True  # keep our half open until the answer is sent

    def _send(self) -> None:
        chan = self._chan
        if chan is None or chan.is_closing():
            return
        chan.write(self._answer)
        chan.exit(0)
        Stats.answered += 1


class Server(asyncssh.SSHServer):
    def __init__(self, factory: object) -> None:
        self._factory = factory

    def begin_auth(self, username: str) -> bool:
        return True  # authentication required: the client key below, nothing else

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def session_requested(self) -> asyncssh.SSHServerSession:
        return self._factory()  # type: ignore[operator]


def negotiated() -> dict[str, str]:
    meta = json.loads((RECORDED / "linux-all.json").read_text())
    return meta["paramiko_negotiated"]


async def serve(args: argparse.Namespace) -> None:
    answer = args.answer.read_bytes()
    meta = json.loads(args.answer.with_suffix(".json").read_text())
    algs = meta["paramiko_negotiated"]
    authorized = asyncssh.import_authorized_keys(args.client_key.read_text())

    def session() -> Answer:
        return Answer(answer, meta["script_sha256"], args.delay)

    listeners = []
    lines = []
    for index in range(args.first, args.first + args.count):
        host = address(index)
        key = asyncssh.generate_private_key("ssh-ed25519")
        options = asyncssh.SSHServerConnectionOptions(
            server_host_keys=[key],
            authorized_client_keys=authorized,
            kex_algs=[algs["kex"]],
            encryption_algs=[algs["cipher_s2c"]],
            mac_algs=[algs["mac_s2c"]],
            compression_algs=[algs["compression_s2c"]],
            encoding=None,
            allow_pty=False,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_scp=False,
            login_timeout=300,
            keepalive_interval=0,
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, args.port))
        sock.listen(64)
        sock.setblocking(False)
        listeners.append(
            await asyncssh.listen(
                sock=sock, server_factory=lambda: Server(session), options=options
            )
        )
        public = key.export_public_key("openssh").decode().split()[:2]
        lines.append(f"[{host}]:{args.port} {' '.join(public)}\n")
    args.known_hosts.write_text("".join(lines))
    print(f"ready {args.count}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for listener in listeners:
        listener.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "hosts": args.count,
                "sessions": Stats.sessions,
                "answered": Stats.answered,
                "other_script": Stats.other_script,
                "refused_command": Stats.refused_command,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "maxrss_mib": usage.ru_maxrss / 1024,
            }
        ),
        file=sys.stderr,
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--first", type=int, default=0, help="first host number")
    parser.add_argument("--count", type=int, required=True, help="hosts (addresses) to serve")
    parser.add_argument("--port", type=int, default=2222)
    parser.add_argument(
        "--client-key", type=Path, required=True, help="the one accepted key (.pub)"
    )
    parser.add_argument(
        "--known-hosts", type=Path, required=True, help="write the hosts' keys here"
    )
    parser.add_argument("--answer", type=Path, default=RECORDED / "linux-all.out")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before answering")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
