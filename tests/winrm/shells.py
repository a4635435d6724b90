"""WinRS shells and commands on the stand-in: Create / Command / Send / Receive / Signal / Delete.

A command runs when its stdin is closed (or at once if it takes none, as cmd.exe would
with console stdin). Its output is then handed out over as many Receive calls as a real
host needs: several Running replies carrying small Stream elements, then Done with the
exit code. A command that "hangs" never finishes: each Receive is held for the client's
OperationTimeout and answered with the w:TimedOut fault, as Windows does.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.winrm import wsman

STREAM_CHUNK = 4096  # bytes per rsp:Stream element
RECEIVE_BUDGET = 48 * 1024  # raw bytes per ReceiveResponse: far below MaxEnvelopeSize 153600


@dataclass
class Result:
    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: int = 0
    delay_s: float = 0.0  # how long the host takes before output appears
    hang: bool = False


Runner = Callable[[str, bytes], Result]


@dataclass
class Command:
    id: str
    command_line: str
    wants_stdin: bool
    stdin: bytearray = field(default_factory=bytearray)
    stdin_closed: bool = False
    result: Result | None = None
    ready_at: float = 0.0
    pending: deque[tuple[str, bytes]] = field(default_factory=deque)
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class Shell:
    id: str
    codepage: str
    commands: dict[str, Command] = field(default_factory=dict)


class Service:
    """The WinRS service of one stand-in host."""

    def __init__(self, machine: str, endpoint: str, runner: Runner) -> None:
        self.machine, self.endpoint, self.runner = machine, endpoint, runner
        self.shells: dict[str, Shell] = {}
        self.lock = threading.Lock()
        self.requests: list[str] = []

    def handle(self, payload: bytes, owner: str) -> bytes:
        """One SOAP request -> one SOAP reply; faults are raised as `wsman.Fault`."""
        request = wsman.Request.parse(payload)
        self.requests.append(request.action.rsplit("/", 1)[-1])
        if request.resource_uri != wsman.SHELL_URI:
            raise wsman.Fault(
                "s:Sender",
                "w:DestinationUnreachable",
                "The WS-Management service cannot process the request because the resource "
                f"URI {request.resource_uri} is not supported. ",
                2150858752,
            )
        if request.action == wsman.CREATE:
            return self._create(request, owner)
        shell = self._shell(request)
        operations = {
            wsman.DELETE: self._delete,
            wsman.COMMAND: self._command,
            wsman.SEND: self._send,
            wsman.RECEIVE: self._receive,
            wsman.SIGNAL: self._signal,
        }
        operation = operations.get(request.action)
        if operation is None:
            raise wsman.Fault(
                "s:Sender",
                "a:ActionNotSupported",
                f"The action {request.action} is not supported by the service. ",
                None,
            )
        return operation(request, shell)

    def _shell(self, request: wsman.Request) -> Shell:
        shell = self.shells.get(request.shell_id or "")
        if shell is None:
            raise wsman.shell_not_found(request.shell_id or "")
        return shell

    def _create(self, request: wsman.Request, owner: str) -> bytes:
        if request.body.find("rsp:Shell", wsman.NS) is None:
            raise wsman.bad_request("The Create request has no rsp:Shell element.")
        shell = Shell(str(uuid.uuid4()).upper(), request.options.get("WINRS_CODEPAGE", "437"))
        with self.lock:
            self.shells[shell.id] = shell
        return wsman.create_response(request.message_id, self.endpoint, shell.id, owner)

    def _delete(self, request: wsman.Request, shell: Shell) -> bytes:
        with self.lock:
            self.shells.pop(shell.id, None)
        return wsman.empty_response(wsman.DELETE, request.message_id, None)

    def _command(self, request: wsman.Request, shell: Shell) -> bytes:
        line = request.body.find("rsp:CommandLine/rsp:Command", wsman.NS)
        if line is None or not (line.text or "").strip():
            raise wsman.bad_request("The Command request has no rsp:Command.")
        arguments = [
            a.text or "" for a in request.body.findall("rsp:CommandLine/rsp:Arguments", wsman.NS)
        ]
        console = request.options.get("WINRS_CONSOLEMODE_STDIN", "TRUE").upper() == "TRUE"
        command = Command(
            str(uuid.uuid4()).upper(), " ".join([line.text or "", *arguments]).strip(), not console
        )
        shell.commands[command.id] = command
        if not command.wants_stdin:
            self._start(command)
        return wsman.command_response(request.message_id, command.id)

    def _send(self, request: wsman.Request, shell: Shell) -> bytes:
        stream = request.body.find("rsp:Send/rsp:Stream", wsman.NS)
        if stream is None or stream.get("Name") != "stdin":
            raise wsman.bad_request("The Send request has no stdin rsp:Stream.")
        command = self._find(shell, stream.get("CommandId", ""))
        if command.stdin_closed:
            raise wsman.bad_request("The stdin of this command was already closed.")
        command.stdin += base64.b64decode(stream.text or "")
        if stream.get("End", "false").lower() == "true":
            command.stdin_closed = True
            self._start(command)
        return wsman.empty_response(wsman.SEND, request.message_id, "rsp:SendResponse")

    def _receive(self, request: wsman.Request, shell: Shell) -> bytes:
        desired = request.body.find("rsp:Receive/rsp:DesiredStream", wsman.NS)
        if desired is None:
            raise wsman.bad_request("The Receive request has no rsp:DesiredStream.")
        command = self._find(shell, desired.get("CommandId", ""))
        result, wait = command.result, request.operation_timeout_s
        if result is None or result.hang:
            command.done.wait(wait)  # held like Windows holds it, then the timeout fault
            raise wsman.timed_out()
        remaining = command.ready_at - time.monotonic()
        if remaining > 0:
            command.done.wait(min(remaining, wait))
            if remaining >= wait:
                raise wsman.timed_out()
        streams, budget = [], RECEIVE_BUDGET
        while command.pending and budget > 0:
            name, data = command.pending.popleft()
            streams.append((name, base64.b64encode(data).decode()))
            budget -= len(data)
        exit_code = None if command.pending else result.exit_code
        return wsman.receive_response(request.message_id, command.id, streams, exit_code)

    def _signal(self, request: wsman.Request, shell: Shell) -> bytes:
        signal = request.body.find("rsp:Signal", wsman.NS)
        if signal is None:
            raise wsman.bad_request("The Signal request has no rsp:Signal.")
        command = self._find(shell, signal.get("CommandId", ""))
        code = signal.find("rsp:Code", wsman.NS)
        if code is None or (code.text or "").strip() not in (
            wsman.TERMINATE,
            f"{wsman.SHELL}/signal/ctrl_c",
        ):
            raise wsman.bad_request("Unknown signal code.")
        command.done.set()
        shell.commands.pop(command.id, None)
        return wsman.empty_response(wsman.SIGNAL, request.message_id, "rsp:SignalResponse")

    def _find(self, shell: Shell, command_id: str) -> Command:
        command = shell.commands.get(command_id)
        if command is None:
            raise wsman.command_not_found(command_id)
        return command

    def _start(self, command: Command) -> None:
        result = self.runner(command.command_line, bytes(command.stdin))
        command.result = result
        command.ready_at = time.monotonic() + result.delay_s
        for name, data in (("stdout", result.stdout), ("stderr", result.stderr)):
            for start in range(0, len(data), STREAM_CHUNK):
                command.pending.append((name, data[start : start + STREAM_CHUNK]))
