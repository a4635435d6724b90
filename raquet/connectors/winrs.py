"""One WinRS shell per host on pywinrm's `Protocol`, running PowerShell scripts of any size.

pywinrm's `Session.run_ps` opens a new shell (and, with NTLM, a new handshake) for every
command and puts the whole script on a `cmd.exe` command line, which caps it near 3,000
characters. Here the shell stays open for the host's whole sweep and the command line
only carries a short `-EncodedCommand` bootstrap; the real script follows on stdin
(`rsp:Send`) as base64 text, so its size is bounded only by memory and no console
codepage can mangle a character of it. pywinrm's own output loop retries Receive
forever; this one stops at the caller's deadline.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from winrm.exceptions import WinRMOperationTimeoutError
from winrm.protocol import Protocol

# `$input` is the command's stdin in an -EncodedCommand run (Ansible's bootstrap_wrapper.ps1
# reads its payload the same way); whitespace between base64 lines is ignored by .NET.
BOOTSTRAP = (
    "$ProgressPreference='SilentlyContinue';"
    "$rq_b64=($input|Out-String);"
    "& ([ScriptBlock]::Create([Text.Encoding]::UTF8.GetString("
    "[Convert]::FromBase64String($rq_b64))))"
)
POWERSHELL = "powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand"
UTF8_CODEPAGE = 65001
# stdin goes base64-encoded once more inside the SOAP body: 64 KiB stays well under the
# 150 KiB envelope limit of WinRM 2.0 (Windows 7 / 2008 R2).
STDIN_CHUNK = 64 * 1024
LINE = 1024


def encoded_command(script: str) -> str:
    """`powershell.exe ... -EncodedCommand <base64 of UTF-16LE>` for a short script."""
    return f"{POWERSHELL} {base64.b64encode(script.encode('utf-16-le')).decode('ascii')}"


def stdin_payload(script: str) -> bytes:
    """The script as the bootstrap reads it: UTF-8, base64, in lines (ASCII on the wire)."""
    encoded = base64.b64encode(script.encode("utf-8")).decode("ascii")
    return "\r\n".join(encoded[i : i + LINE] for i in range(0, len(encoded), LINE)).encode("ascii")


@dataclass
class Output:
    stdout: bytes
    stderr: bytes
    exit_code: int
    truncated: bool = False


class Shell:
    """A WinRS shell kept open on one host; `run` may be called any number of times."""

    def __init__(self, protocol: Protocol, idle_timeout_s: int, max_output: int) -> None:
        self.protocol = protocol
        self.max_output = max_output
        self.shell_id = protocol.open_shell(
            codepage=UTF8_CODEPAGE, noprofile=True, idle_timeout=f"PT{idle_timeout_s}S"
        )

    def run_powershell(self, script: str) -> Output:
        """Run `script` through the stdin bootstrap and wait for it to finish."""
        command_id = self.protocol.run_command(
            self.shell_id, encoded_command(BOOTSTRAP), console_mode_stdin=False
        )
        payload = stdin_payload(script)
        for start in range(0, len(payload), STDIN_CHUNK) or [0]:
            chunk = payload[start : start + STDIN_CHUNK]
            last = start + STDIN_CHUNK >= len(payload)
            self.protocol.send_command_input(self.shell_id, command_id, chunk, end=last)
        output = self._receive(command_id)
        # only after a clean finish: a host that stopped answering is left to `close`,
        # which its caller bounds in time
        self.protocol.cleanup_command(self.shell_id, command_id)
        return output

    def _receive(self, command_id: str) -> Output:
        """Receive until Done; output past `max_output` bytes is dropped, not kept in memory."""
        stdout, stderr = bytearray(), bytearray()
        truncated = False
        while True:
            try:
                out, err, code, done = self.protocol.get_command_output_raw(
                    self.shell_id, command_id
                )
            except WinRMOperationTimeoutError:  # nothing new within OperationTimeout: ask again
                continue
            for buffer, data in ((stdout, out), (stderr, err)):
                room = self.max_output - len(buffer)
                truncated |= len(data) > room
                buffer += data[: max(room, 0)]
            if done:
                return Output(bytes(stdout), bytes(stderr), code, truncated)

    def close(self) -> None:
        self.protocol.close_shell(self.shell_id)
