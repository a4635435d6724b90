"""`@winrm`: pyinfra 3.x connector for Windows hosts over WS-Management (pywinrm).

Transports: ntlm (workgroup and local accounts), kerberos (domain accounts), credssp,
certificate, and basic — the last two only over HTTPS. Over plain HTTP every message is
encrypted by the authentication protocol (SPNEGO/CredSSP session encryption), never
sent in clear. HTTPS certificates are verified unless host data says `ignore`, which is
logged as a warning every time. The password is read from the environment variable the
inventory names, at connect time, so it never sits in pyinfra host data or a log line.

Commands are PowerShell scripts (see `winrs.Shell`): one shell per host, opened at
connect so that a wrong password or an untrusted certificate shows as `unreachable`,
as it does for SSH. A deadline turns into `TimeoutError`, a broken connection into
`ConnectionError`, both of which the sweep maps like SSH's.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal, TypedDict, TypeVar, cast

import gevent
import requests
from pyinfra.api.exceptions import ConnectError
from pyinfra.connectors.base import BaseConnector, DataMeta
from pyinfra.connectors.util import CommandOutput, OutputLine
from typing_extensions import Unpack, override
from winrm.exceptions import (
    InvalidCredentialsError,
    WinRMError,
    WinRMTransportError,
    WSManFaultError,
)
from winrm.protocol import Protocol

from raquet.connectors import clixml
from raquet.connectors.winrs import Shell

if TYPE_CHECKING:
    from pyinfra.api.arguments import ConnectorArguments
    from pyinfra.api.command import StringCommand

log = logging.getLogger("raquet")

Transport = Literal["ntlm", "kerberos", "credssp", "certificate", "basic"]
TLS_ONLY = ("basic", "certificate")
# pywinrm's names: its "ssl" is Basic over HTTPS
PYWINRM_TRANSPORT = {
    "ntlm": "ntlm",
    "kerberos": "kerberos",
    "credssp": "credssp",
    "certificate": "certificate",
    "basic": "ssl",
}
OPERATION_TIMEOUT = 20
MAX_OUTPUT = 32 * 1024 * 1024
CLOSE_TIMEOUT = 5
T = TypeVar("T")


class WinRMData(TypedDict, total=False):
    winrm_hostname: str
    winrm_port: int
    winrm_scheme: str
    winrm_transport: str
    winrm_user: str
    winrm_password_env: str
    winrm_ca_bundle: str
    winrm_server_cert_validation: str
    winrm_cert_pem: str
    winrm_cert_key_pem: str
    winrm_connect_timeout: float


class WinRMCommandError(RuntimeError):
    """The WinRM service refused or lost a command (a SOAP fault, an HTTP error)."""


class WinRMConnector(BaseConnector):
    """Runs PowerShell on Windows hosts through one WinRS shell per host."""

    handles_execution = True
    data_cls = WinRMData
    data_meta = {  # noqa: RUF012 (pyinfra declares it an instance variable)
        "winrm_hostname": DataMeta("address to connect to (default: the host name)"),
        "winrm_port": DataMeta("port (default 5985 for http, 5986 for https)"),
        "winrm_scheme": DataMeta("http or https (default: https for basic/certificate)"),
        "winrm_transport": DataMeta("ntlm | kerberos | credssp | certificate | basic", "ntlm"),
        "winrm_user": DataMeta("user name (DOMAIN\\user or user@REALM)"),
        "winrm_password_env": DataMeta("environment variable holding the password"),
        "winrm_ca_bundle": DataMeta("PEM file of CAs trusted for the host's HTTPS certificate"),
        "winrm_server_cert_validation": DataMeta("validate | ignore (loudly)", "validate"),
        "winrm_cert_pem": DataMeta("client certificate (certificate transport)"),
        "winrm_cert_key_pem": DataMeta("client certificate key (certificate transport)"),
        "winrm_connect_timeout": DataMeta("seconds to connect, authenticate, open a shell", 10.0),
    }

    shell: Shell | None = None

    @override
    @staticmethod
    def make_names_data(name: str) -> Iterator[tuple[str, dict[str, Any], list[str]]]:
        yield f"@winrm/{name}", {"winrm_hostname": name}, ["@winrm"]

    @property
    def transport(self) -> Transport:
        value = self.data["winrm_transport"] or "ntlm"
        if value not in PYWINRM_TRANSPORT:
            raise ConnectError(f"unknown WinRM transport {value!r}")
        return cast(Transport, value)

    @property
    def scheme(self) -> str:
        return self.data["winrm_scheme"] or ("https" if self.transport in TLS_ONLY else "http")

    @property
    def endpoint(self) -> str:
        host = self.data["winrm_hostname"] or self.host.name
        if ":" in host:
            host = f"[{host}]"
        port = self.data["winrm_port"] or (5986 if self.scheme == "https" else 5985)
        return f"{self.scheme}://{host}:{port}/wsman"

    @override
    def connect(self) -> None:
        timeout = float(self.data["winrm_connect_timeout"] or 10)
        protocol = self._protocol()
        try:
            self.shell = within(
                timeout,
                lambda: Shell(
                    protocol, idle_timeout_s=max(600, int(timeout) * 6), max_output=MAX_OUTPUT
                ),
            )
        except TimeoutError:
            raise ConnectError(
                f"timed out after {timeout:g}s connecting to {self.endpoint}"
            ) from None
        except Exception as exc:
            raise ConnectError(f"{self.endpoint}: {connect_reason(exc)}") from None

    def _protocol(self) -> Protocol:
        transport, scheme = self.transport, self.scheme
        if scheme not in ("http", "https"):
            raise ConnectError(f"WinRM scheme must be http or https, not {scheme!r}")
        if transport in TLS_ONLY and scheme != "https":
            raise ConnectError(f"WinRM {transport} authentication is only allowed over https")
        validation = self.data["winrm_server_cert_validation"] or "validate"
        if validation not in ("validate", "ignore"):
            raise ConnectError("winrm_server_cert_validation must be 'validate' or 'ignore'")
        if scheme == "https" and validation == "ignore":
            log.warning(
                "%s: the WinRM certificate of %s is NOT verified: anyone on the path can "
                "impersonate this host and read what the sweep sends",
                self.host.name,
                self.endpoint,
            )
        password = None
        if self.data["winrm_password_env"]:
            password = os.environ.get(self.data["winrm_password_env"])
            if password is None:
                raise ConnectError(
                    f"environment variable {self.data['winrm_password_env']} is not set"
                )
        try:
            return Protocol(
                self.endpoint,
                transport=PYWINRM_TRANSPORT[transport],  # type: ignore[arg-type]
                username=self.data["winrm_user"],
                password=password,
                ca_trust_path=self.data["winrm_ca_bundle"] or None,  # type: ignore[arg-type]
                cert_pem=self.data["winrm_cert_pem"],
                cert_key_pem=self.data["winrm_cert_key_pem"],
                server_cert_validation=validation,  # type: ignore[arg-type]
                operation_timeout_sec=OPERATION_TIMEOUT,
                read_timeout_sec=OPERATION_TIMEOUT + 10,
                # never plaintext on http; on https TLS already protects the messages
                message_encryption="always" if scheme == "http" else "auto",
                proxy=None,  # an environment proxy must not sit between raquet and the fleet
            )
        except WinRMError as exc:
            raise ConnectError(f"{self.endpoint}: {exc}") from None

    @override
    def disconnect(self) -> None:
        """Close the shell, bounded in time: a host that stopped answering must not hold the sweep."""
        shell, self.shell = self.shell, None
        if shell is None:
            return
        try:
            within(CLOSE_TIMEOUT, shell.close)
        except Exception:  # the shell dies with its idle timeout on the host anyway
            log.debug("closing the WinRM shell on %s failed", self.host.name, exc_info=True)
        finally:
            shell.protocol.transport.close_session()

    @override
    def run_shell_command(
        self,
        command: StringCommand,
        print_output: bool = False,
        print_input: bool = False,
        **arguments: Unpack[ConnectorArguments],
    ) -> tuple[bool, CommandOutput]:
        """Run `command` as a PowerShell script; `_timeout` bounds the whole round trip."""
        if self.shell is None:
            raise ConnectionError(f"{self.host.name} is not connected")
        timeout = arguments.get("_timeout")
        success_codes = arguments.get("_success_exit_codes") or [0]
        script = command.get_raw_value()
        shell = self.shell
        try:
            output = within(timeout, lambda: shell.run_powershell(script))
        except requests.exceptions.RequestException as exc:
            raise ConnectionError(f"WinRM connection lost: {connect_reason(exc)}") from None
        except (WinRMError, WinRMTransportError) as exc:
            raise WinRMCommandError(connect_reason(exc)) from None
        stdout = output.stdout.decode("utf-8", errors="replace")
        stderr = clixml.decode(output.stderr.decode("utf-8", errors="replace"))
        # host output: lines end at "\n" only (splitlines also breaks at \x0b, \u2028…)
        lines = [OutputLine("stdout", line.rstrip("\r")) for line in stdout.split("\n")]
        lines += [
            OutputLine("stderr", line.rstrip("\r")) for line in stderr.split("\n") if line.strip()
        ]
        if output.truncated:
            lines.append(OutputLine("stderr", f"output truncated at {MAX_OUTPUT} bytes"))
        return output.exit_code in success_codes, CommandOutput(lines)

    @override
    def put_file(self, *args: Any, **kwargs: Any) -> bool:
        raise NotImplementedError("raquet's WinRM connector does not transfer files")

    @override
    def get_file(self, *args: Any, **kwargs: Any) -> bool:
        raise NotImplementedError("raquet's WinRM connector does not transfer files")


def within(seconds: float | None, call: Callable[[], T]) -> T:
    """`call()`, or TimeoutError once `seconds` pass. The deadline is a gevent.Timeout, a
    BaseException, so requests and urllib3 cannot mistake it for a socket timeout of their
    own and report it as a lost connection."""
    deadline = gevent.Timeout(seconds)
    deadline.start()
    try:
        return call()
    except gevent.Timeout as exc:
        if exc is not deadline:
            raise
        raise TimeoutError(f"no answer within {seconds:g}s") from None
    finally:
        deadline.close()


def connect_reason(exc: BaseException) -> str:
    """One line a sysadmin can act on, for whatever pywinrm or requests raised."""
    if isinstance(exc, InvalidCredentialsError):
        return (
            "authentication failed: the server rejected the credentials (user, password, transport)"
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS certificate not trusted or handshake failed: {_innermost(exc)}"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"timed out: {_innermost(exc)}"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return f"could not connect: {_innermost(exc)}"
    if isinstance(exc, WSManFaultError):
        code = f" {exc.fault_subcode}" if exc.fault_subcode else ""
        return f"WinRM fault{code}: {exc.reason.strip()}"
    if isinstance(exc, WinRMTransportError):
        text = exc.response_text.strip()[:200]
        return f"HTTP {exc.code} from the WinRM service{': ' + text if text else ''}"
    return str(exc) or type(exc).__name__


def _innermost(exc: BaseException) -> str:
    """requests wraps urllib3 wraps the socket error; the innermost one says what happened."""
    seen: BaseException = exc
    while True:
        reason = getattr(seen, "reason", None) or seen.__cause__ or seen.__context__
        if not isinstance(reason, BaseException) or reason is seen:
            break
        seen = reason
    return str(seen) or type(seen).__name__
