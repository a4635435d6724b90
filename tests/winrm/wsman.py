"""WS-Management SOAP as a Windows WinRM service reads and writes it (the WinRS subset).

Requests are parsed the way the service does (action, message id, ShellId selector,
body), not as pywinrm happens to format them; replies and faults copy the element
layout of real Windows responses recorded in pywinrm's and pypsrp's test suites
(`winrm/tests/conftest.py`, `tests_pypsrp/responses/test_winrs_*.yml`).
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
}
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
COMMAND, SEND, RECEIVE, SIGNAL = (
    f"{SHELL}/{op}" for op in ("Command", "Send", "Receive", "Signal")
)
FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
DONE = f"{SHELL}/CommandState/Done"
RUNNING = f"{SHELL}/CommandState/Running"
TERMINATE = f"{SHELL}/signal/terminate"

# WSManFault codes as Windows sends them (decimal HRESULTs)
TIMED_OUT = 2150858793  # 0x80338029, OperationTimeout expired with no output
INVALID_SELECTORS = 2150858843  # 0x8033805B, unknown ShellId / CommandId
SCHEMA_VALIDATION = 2150858817  # 0x80338041


class Fault(Exception):
    """A SOAP fault the service answers with (HTTP 500)."""

    def __init__(self, code: str, subcode: str, reason: str, wsman_code: int | None) -> None:
        super().__init__(reason)
        self.code, self.subcode, self.reason, self.wsman_code = code, subcode, reason, wsman_code


def shell_not_found(shell_id: str) -> Fault:
    return Fault(
        "s:Sender",
        "w:InvalidSelectors",
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the "
        "shell was not found on the server. Possible causes are: the specified ShellId is "
        "incorrect or the shell no longer exists on the server. Provide the correct ShellId "
        "or create a new shell and retry the operation. ",
        INVALID_SELECTORS,
    )


def command_not_found(command_id: str) -> Fault:
    return Fault(
        "s:Sender",
        "w:InvalidSelectors",
        f"The Windows Remote Shell received a request to perform an operation on a command "
        f"identifier that does not exist. Either the command has completed execution or the "
        f"client specified an invalid command identifier {command_id}. ",
        INVALID_SELECTORS,
    )


def timed_out() -> Fault:
    return Fault(
        "s:Receiver",
        "w:TimedOut",
        "The WS-Management service cannot complete the operation within the time specified "
        "in OperationTimeout.  ",
        TIMED_OUT,
    )


def bad_request(reason: str) -> Fault:
    return Fault("s:Sender", "w:SchemaValidationError", reason, SCHEMA_VALIDATION)


@dataclass
class Request:
    action: str
    message_id: str
    resource_uri: str
    shell_id: str | None
    operation_timeout_s: float
    options: dict[str, str]
    body: ET.Element

    @classmethod
    def parse(cls, payload: bytes) -> Request:
        try:
            root = ET.fromstring(payload)
        except ET.ParseError as exc:
            raise bad_request(f"The SOAP XML in the message is not valid: {exc}") from None
        header, body = root.find("s:Header", NS), root.find("s:Body", NS)
        if header is None or body is None:
            raise bad_request("The message is not a SOAP 1.2 envelope with Header and Body.")

        def text(path: str) -> str:
            node = header.find(path, NS)
            return (node.text or "").strip() if node is not None else ""

        selector = header.find("w:SelectorSet/w:Selector[@Name='ShellId']", NS)
        options = {
            o.get("Name", ""): (o.text or "") for o in header.findall("w:OptionSet/w:Option", NS)
        }
        return cls(
            action=text("a:Action"),
            message_id=text("a:MessageID"),
            resource_uri=text("w:ResourceURI"),
            shell_id=(selector.text or "").strip() if selector is not None else None,
            operation_timeout_s=_duration(text("w:OperationTimeout")) or 60.0,
            options=options,
            body=body,
        )


def _duration(value: str) -> float | None:
    """`PT20S`, `PT20.000S`: the xs:duration forms WS-Man clients send for timeouts."""
    if value.startswith("PT") and value.endswith("S"):
        try:
            return float(value[2:-1])
        except ValueError:
            return None
    return None


def envelope(action: str, relates_to: str, body: str) -> bytes:
    namespaces = " ".join(f'xmlns:{k}="{v}"' for k, v in NS.items() if k != "f")
    return (
        f'<s:Envelope xml:lang="en-US" {namespaces}><s:Header>'
        f"<a:Action>{action}</a:Action>"
        f"<a:MessageID>uuid:{str(uuid.uuid4()).upper()}</a:MessageID>"
        f"<a:To>{ANONYMOUS}</a:To>"
        f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo>"
        f"</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def fault_envelope(fault: Fault, relates_to: str, machine: str) -> bytes:
    code = f' Code="{fault.wsman_code}"' if fault.wsman_code is not None else ""
    body = (
        f"<s:Fault><s:Code><s:Value>{fault.code}</s:Value><s:Subcode><s:Value>{fault.subcode}"
        f'</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">'
        f"{escape(fault.reason)}</s:Text></s:Reason><s:Detail>"
        f'<f:WSManFault xmlns:f="{NS["f"]}"{code} Machine={quoteattr(machine)}>'
        f"<f:Message>{escape(fault.reason)}</f:Message></f:WSManFault></s:Detail></s:Fault>"
    )
    return envelope(FAULT_ACTION, relates_to, body)


def create_response(relates_to: str, endpoint: str, shell_id: str, owner: str) -> bytes:
    body = (
        f"<x:ResourceCreated><a:Address>{escape(endpoint)}</a:Address><a:ReferenceParameters>"
        f"<w:ResourceURI>{SHELL_URI}</w:ResourceURI><w:SelectorSet>"
        f'<w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet>'
        f"</a:ReferenceParameters></x:ResourceCreated>"
        f"<rsp:Shell><rsp:ShellId>{shell_id}</rsp:ShellId><rsp:ResourceUri>{SHELL_URI}"
        f"</rsp:ResourceUri><rsp:Owner>{escape(owner)}</rsp:Owner><rsp:ClientIP>127.0.0.1"
        f"</rsp:ClientIP><rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut><rsp:InputStreams>stdin"
        f"</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams>"
        f"<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S"
        f"</rsp:ShellInactivity></rsp:Shell>"
    )
    return envelope(f"{CREATE}Response", relates_to, body)


def command_response(relates_to: str, command_id: str) -> bytes:
    body = f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>"
    return envelope(f"{COMMAND}Response", relates_to, body)


def receive_response(
    relates_to: str,
    command_id: str,
    streams: list[tuple[str, str]],
    exit_code: int | None,
) -> bytes:
    """`streams` are (name, base64) pairs; `exit_code` None means the command still runs."""
    parts = [
        f'<rsp:Stream Name="{name}" CommandId="{command_id}">{data}</rsp:Stream>'
        for name, data in streams
    ]
    if exit_code is None:
        parts.append(f'<rsp:CommandState CommandId="{command_id}" State="{RUNNING}"/>')
    else:
        parts += [
            f'<rsp:Stream Name="stdout" CommandId="{command_id}" End="true"></rsp:Stream>',
            f'<rsp:Stream Name="stderr" CommandId="{command_id}" End="true"></rsp:Stream>',
            f'<rsp:CommandState CommandId="{command_id}" State="{DONE}">'
            f"<rsp:ExitCode>{exit_code}</rsp:ExitCode></rsp:CommandState>",
        ]
    return envelope(
        f"{RECEIVE}Response",
        relates_to,
        f"<rsp:ReceiveResponse>{''.join(parts)}</rsp:ReceiveResponse>",
    )


def empty_response(action: str, relates_to: str, element: str | None) -> bytes:
    return envelope(f"{action}Response", relates_to, f"<{element}/>" if element else "")
