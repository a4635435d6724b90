"""The `@winrm` connector against the stand-in: transports, TLS checks, secrets, deadlines, size.

Every test talks real WS-Management over real sockets on 127.0.0.1 to a separate stand-in
process (tests/winrm); nothing in pywinrm or the connector is mocked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from pyinfra.api import StringCommand
from pyinfra.api.exceptions import ConnectError
from pyinfra.api.host import Host as PyinfraHost
from winrm.exceptions import WSManFaultError
from winrm.protocol import Protocol

from checks import select
from checks.base import Sections
from raquet.gather import split
from raquet.models import Host
from raquet.policy import Policy
from raquet.script import Script, build
from raquet.targets import make_state
from tests.winrm import shells
from tests.winrm.fleet import PASSWORD, PASSWORD_ENV, StandInFleet
from tests.winrm.scenario import FleetSpec, HostSpec, ProgramSpec

FLEET = FleetSpec(
    hosts=[
        HostSpec(name="ws-ntlm", unit="u"),
        HostSpec(name="srv-basic", unit="u", role="server", transport="basic"),
        HostSpec(name="ws-badpass", unit="u", behaviour="wrong_password"),
        HostSpec(name="ws-hang", unit="u", behaviour="hang"),
        HostSpec(name="ws-silent", unit="u", behaviour="silent"),
        HostSpec(
            name="ws-big",
            unit="u",
            software=[ProgramSpec(name=f"Chương trình {i}", version=f"1.{i}") for i in range(3000)],
        ),
    ]
)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandInFleet]:
    with StandInFleet(FLEET, tmp_path_factory.mktemp("winrm")) as running:
        yield running


@pytest.fixture(autouse=True)
def password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)


def target(fleet: StandInFleet, name: str, *, verify: bool = True, **fields: object) -> PyinfraHost:
    spec = fleet.hosts[name]
    settings: dict[str, object] = {
        "winrm_transport": spec.transport,
        "winrm_port": fleet.ports[name],
        "winrm_user": fleet.user(spec)
        if spec.transport == "basic"
        else f"AGENCY\\{fleet.user(spec)}",
        "winrm_password_env": PASSWORD_ENV,
    }
    if spec.transport == "basic":
        settings |= {"winrm_scheme": "https", "winrm_ca_bundle": str(fleet.ca)}
    host = Host(name=name, address="127.0.0.1", os="windows", **(settings | fields))  # type: ignore[arg-type]
    state = make_state([host], parallel=1, connect_timeout=3, verify_host_keys=verify)
    return state.inventory.get_host(name)


def gather(
    host: PyinfraHost, script: str, timeout: float = 20
) -> tuple[bool, list[str], list[str]]:
    host.connect(raise_exceptions=True, show_errors=False)
    try:
        ok, output = host.run_shell_command(StringCommand(script), _timeout=timeout)
    finally:
        host.disconnect()
    return ok, output.stdout_lines, output.stderr_lines


def raquet_script(padding: int = 0) -> Script:
    script = build(select(["av"]), "windows", Policy(), 10)
    return replace(script, text=script.text + ("\n# " + "x" * 200) * (padding // 203))


def sections_of(script: Script, stdout: list[str]) -> Sections:
    return split(script, "\n".join(stdout).encode())


@pytest.mark.parametrize("name", ["ws-ntlm", "srv-basic"])
def test_gathers_over_ntlm_http_and_basic_https(fleet: StandInFleet, name: str) -> None:
    # NTLM on http: the stand-in answers unencrypted SOAP with HTTP 500 (AllowUnencrypted=false),
    # so a result here means every message was sealed. Basic: only over https, CA from the inventory.
    script = raquet_script()
    ok, stdout, _ = gather(target(fleet, name), script.text)
    sections = sections_of(script, stdout)
    assert ok and sections["av.__exit"] == "0" and "host.clock" in sections


def test_a_200_kb_script_arrives_whole_through_stdin(fleet: StandInFleet) -> None:
    script = raquet_script(padding=200 * 1024)
    assert len(script.text.encode()) > 200 * 1024
    ok, stdout, _ = gather(target(fleet, "ws-ntlm"), script.text)
    assert ok and sections_of(script, stdout)["av.__exit"] == "0"
    received = fleet.last_script("ws-ntlm")
    sent = script.text.encode()
    assert hashlib.sha256(received.encode()).digest() == hashlib.sha256(sent).digest()


def test_an_untrusted_certificate_is_refused(fleet: StandInFleet) -> None:
    host = target(fleet, "srv-basic", winrm_ca_bundle=None)
    with pytest.raises(ConnectError, match="certificate"):
        host.connect(raise_exceptions=True, show_errors=False)


def test_turning_verification_off_is_loud(
    fleet: StandInFleet, caplog: pytest.LogCaptureFixture
) -> None:
    host = target(fleet, "srv-basic", verify=False, winrm_ca_bundle=None)
    with caplog.at_level(logging.WARNING, logger="raquet"):
        ok, _, _ = gather(host, raquet_script().text)
    assert ok
    assert "NOT verified" in caplog.text


def test_basic_is_refused_over_http_before_anything_is_sent(fleet: StandInFleet) -> None:
    host = target(fleet, "srv-basic", winrm_scheme="http")
    with pytest.raises(ConnectError, match="only allowed over https"):
        host.connect(raise_exceptions=True, show_errors=False)


def test_a_wrong_password_is_an_unreachable_reason(fleet: StandInFleet) -> None:
    with pytest.raises(ConnectError, match="authentication failed"):
        target(fleet, "ws-badpass").connect(raise_exceptions=True, show_errors=False)


def test_the_password_stays_out_of_host_data_and_logs(
    fleet: StandInFleet, caplog: pytest.LogCaptureFixture
) -> None:
    host = target(fleet, "ws-ntlm")
    assert PASSWORD not in repr(dict(host.data.dict()))
    with caplog.at_level(logging.DEBUG):
        gather(host, raquet_script().text)
    assert caplog.records and PASSWORD not in caplog.text


def test_a_host_that_never_finishes_times_out(fleet: StandInFleet) -> None:
    host = target(fleet, "ws-hang")
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        gather(host, raquet_script().text, timeout=2)
    assert time.monotonic() - started < 2 + 5 + 2  # the deadline, then a bounded shell close


def test_a_host_that_never_answers_is_unreachable(fleet: StandInFleet) -> None:
    started = time.monotonic()
    with pytest.raises(ConnectError, match="timed out after 3s"):
        target(fleet, "ws-silent").connect(raise_exceptions=True, show_errors=False)
    assert time.monotonic() - started < 5


def test_powershell_errors_read_as_text(fleet: StandInFleet) -> None:
    ok, _, stderr = gather(target(fleet, "ws-ntlm"), "Get-RaquetNothing -Now")
    assert not ok
    assert stderr[0].startswith(
        "Get-RaquetNothing : The term 'Get-RaquetNothing' is not recognized"
    )
    assert not any("<" in line for line in stderr)


def test_missing_password_variable_is_a_connect_error(
    fleet: StandInFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV)
    with pytest.raises(ConnectError, match=PASSWORD_ENV):
        target(fleet, "ws-ntlm").connect(raise_exceptions=True, show_errors=False)


def test_stand_in_answers_bad_requests_with_wsman_faults(fleet: StandInFleet) -> None:
    spec = fleet.hosts["ws-ntlm"]
    protocol = Protocol(
        f"http://127.0.0.1:{fleet.ports['ws-ntlm']}/wsman",
        transport="ntlm",
        username=f"AGENCY\\{fleet.user(spec)}",
        password=os.environ[PASSWORD_ENV],
        message_encryption="always",
    )
    shell = protocol.open_shell()
    with pytest.raises(WSManFaultError) as fault:
        protocol.run_command("00000000-0000-0000-0000-000000000000", "ipconfig")
    assert (
        fault.value.wsman_fault_code == 2150858843
        and fault.value.fault_subcode == "w:InvalidSelectors"
    )
    with pytest.raises(WSManFaultError) as fault:
        protocol.get_command_output_raw(shell, "11111111-2222-3333-4444-555555555555")
    assert fault.value.wsman_fault_code == 2150858843
    command = protocol.run_command(shell, "ipconfig", ["/all"])
    _, err, code = protocol.get_command_output(shell, command)
    assert code == 1 and b"is not recognized as an internal or external command" in err
    protocol.cleanup_command(shell, command)
    protocol.close_shell(shell)


def test_large_output_arrives_over_many_receives(fleet: StandInFleet) -> None:
    """Windows hands output out in small Stream elements over several Receive calls, Running
    then Done; the stand-in does the same and the connector puts it back together."""
    script = build(select(["software"]), "windows", Policy(), 10)
    ok, stdout, _ = gather(target(fleet, "ws-big"), script.text)
    assert ok and sum(len(line) for line in stdout) > 3 * shells.RECEIVE_BUDGET
    programs = json.loads(sections_of(script, stdout)["software.json"])["Uninstall"]
    assert len(programs) == 3000 and programs[2999]["DisplayName"] == "Chương trình 2999"
