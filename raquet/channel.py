"""Runs the gather script on a host with the script on stdin and the jump host's own byte cap.

pyinfra's `run_shell_command` puts the command on the remote command line (readable by
every user of the host in `/proc/PID/cmdline`) and reads output into a list of lines
without bound, so a hostile login shell that streams forever grows the jump host until it
falls over. Here the command line is a fixed bootstrap (`sh -s`, wrapped in sudo as
pyinfra would wrap it), the script travels on stdin, and every byte received from the
host is counted: past `cap` the channel is closed and the host's result says so.

SSH (pyinfra's `ssh` connector: its authenticated paramiko client) and `local` are run
here; any other connector (raquet's `winrm`, which bounds its own output) goes through its
own `run_shell_command`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

import gevent
import gevent.os
from pyinfra.api import StringCommand
from pyinfra.api.host import Host as PyinfraHost
from pyinfra.connectors.local import LocalConnector
from pyinfra.connectors.ssh import SSHConnector
from pyinfra.connectors.util import SUDO_PASSWORD_REQUIRED_LINES, make_unix_command_for_host

BOOTSTRAP = StringCommand("sh", "-s")
STDERR_CAP = 64 * 1024
CHUNK = 64 * 1024


class OutputTooLarge(RuntimeError):
    """The host sent more than the jump host accepts from one host."""


class SudoPasswordRequired(RuntimeError):
    """sudo asked for a password: an unattended sweep must fail the host, never prompt."""


@dataclass
class Output:
    exit_status: int | None
    stdout: bytes
    stderr: bytes


class _Sink:
    """Bytes of one stream, refusing to hold more than `cap`."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.overflow = False

    def take(self, chunk: bytes) -> bool:
        """False once the stream passed its cap (nothing past it is kept; stderr is drained
        and dropped, stdout is cut off by the caller)."""
        if len(self.data) + len(chunk) > self.cap:
            self.overflow = True
            return False
        self.data += chunk
        return True


def nothing() -> None:
    """The `sent` of a caller that does not ask when the script is on its way."""


def run_script(
    target: PyinfraHost,
    script: str,
    *,
    sudo: bool,
    timeout: float,
    cap: int,
    sent: Callable[[], None] = nothing,
) -> Output:
    """`script` on `target`, within `timeout` seconds and `cap` bytes of stdout; `sent` is
    called once the whole script is on its way and only the host's answer is awaited."""
    connector = target.connector
    if isinstance(connector, SSHConnector):
        output = _run_ssh(target, connector, script.encode(), sudo, timeout, cap, sent)
    elif isinstance(connector, LocalConnector):
        output = _run_local(target, script.encode(), sudo, timeout, cap, sent)
    else:
        sent()
        return _run_pyinfra(target, script, sudo, timeout)
    lines = output.stderr.decode("utf-8", "replace").split("\n")
    if sudo and any(line.strip() in SUDO_PASSWORD_REQUIRED_LINES for line in lines):
        raise SudoPasswordRequired(
            "sudo asked for a password; give the user NOPASSWD sudo for raquet"
        )
    return output


def _command(target: PyinfraHost, sudo: bool) -> str:
    return str(
        make_unix_command_for_host(target.state, target, BOOTSTRAP, _sudo=sudo).get_raw_value()
    )


def _run_ssh(
    target: PyinfraHost,
    connector: SSHConnector,
    script: bytes,
    sudo: bool,
    timeout: float,
    cap: int,
    sent: Callable[[], None],
) -> Output:
    client = connector.client
    transport = client.get_transport() if client is not None else None
    if transport is None or not transport.is_active():
        raise ConnectionError("the SSH connection is not open")
    channel = transport.open_session(timeout=timeout)
    out, err = _Sink(cap), _Sink(STDERR_CAP)

    def pump(recv: Callable[[int], bytes], sink: _Sink) -> None:
        while chunk := recv(CHUNK):
            if not sink.take(chunk) and sink is out:
                channel.close()  # stop the host's stream at the jump host's own limit
                return

    readers = [gevent.spawn(pump, channel.recv, out), gevent.spawn(pump, channel.recv_stderr, err)]
    try:
        with gevent.Timeout(timeout, TimeoutError()):
            channel.exec_command(_command(target, sudo))
            channel.sendall(script)
            channel.shutdown_write()
            sent()
            gevent.joinall(readers, raise_error=True)
            _refuse_overflow(out, cap)
            return Output(channel.recv_exit_status(), bytes(out.data), bytes(err.data))
    finally:
        gevent.killall([g for g in readers if not g.dead])
        channel.close()


def _refuse_overflow(out: _Sink, cap: int) -> None:
    if out.overflow:
        raise OutputTooLarge(
            f"the host sent more than the {cap // (1024 * 1024)} MiB a host may send; "
            "the jump host stopped reading"
        )


def _run_local(
    target: PyinfraHost,
    script: bytes,
    sudo: bool,
    timeout: float,
    cap: int,
    sent: Callable[[], None],
) -> Output:
    process = subprocess.Popen(
        _command(target, sudo),
        shell=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert process.stdin and process.stdout and process.stderr
    out, err = _Sink(cap), _Sink(STDERR_CAP)

    def pump(fd: int, sink: _Sink) -> None:
        gevent.os.make_nonblocking(fd)
        while chunk := gevent.os.nb_read(fd, CHUNK):
            if not sink.take(chunk) and sink is out:
                return

    def feed() -> None:
        try:
            process.stdin.write(script)  # type: ignore[union-attr]
        finally:
            process.stdin.close()  # type: ignore[union-attr]

    readers = [
        gevent.spawn(pump, process.stdout.fileno(), out),
        gevent.spawn(pump, process.stderr.fileno(), err),
    ]
    try:
        with gevent.Timeout(timeout, TimeoutError()):
            gevent.spawn(feed).join()
            sent()
            gevent.joinall(readers, raise_error=True)
            _refuse_overflow(out, cap)
            return Output(process.wait(), bytes(out.data), bytes(err.data))
    finally:
        gevent.killall([g for g in readers if not g.dead])
        if process.poll() is None:
            _kill_group(process)
        process.stdout.close()
        process.stderr.close()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _run_pyinfra(target: PyinfraHost, script: str, sudo: bool, timeout: float) -> Output:
    """Connectors that bound their own output (raquet's WinRM) run the script their way."""
    _, output = target.run_shell_command(StringCommand(script), _timeout=timeout, _sudo=sudo)
    stdout = "\n".join(output.stdout_lines).encode()
    stderr = "\n".join(output.stderr_lines).encode()
    return Output(None, stdout, stderr)
