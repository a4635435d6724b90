"""What a Windows host would print for a command, from its scenario: the stand-in's "PowerShell".

Nothing here runs PowerShell. A command line is taken apart as `powershell.exe` would
take it (`-EncodedCommand` is UTF-16LE base64; raquet's bootstrap then reads a base64
UTF-8 script from stdin), and raquet's gather script is recognised by its structure: the
nonce marker, the per-check deadline and the names of the checks it carries. Each
check's object is then built from the scenario with the field names and types the real
cmdlets give (`Get-MpComputerStatus`, `Get-HotFix`, `Get-NetTCPConnection`…), and
serialised the way Windows PowerShell 5.1's `ConvertTo-Json -Compress` does: dates as
`"\\/Date(ms)\\/"`, script-property dates wrapped in `{"value":…,"DateTime":…}`, enums as
numbers, and `<`, `>`, `'`, `&` escaped as `\\u003c`… Anything else gets the CLIXML
error PowerShell writes for an unknown command.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.winrm.scenario import HostSpec
from tests.winrm.shells import Result

DAY = 86400.0
_ENCODED = re.compile(r"-EncodedCommand\s+(\S+)", re.IGNORECASE)
_MARKER = re.compile(r"^\$rq_marker = '(@@rq:[0-9a-f]+)'$", re.MULTILINE)
_LIMIT = re.compile(r"^\$rq_limit_ms = (\d+)$", re.MULTILINE)
_CHECK = re.compile(r"^\[void\]\$rq_checks\.Add\(@\('([a-z_]+)', \{", re.MULTILINE)
_DATE = re.compile(r'"\\u0000date:(-?\d+)\\u0000"')
NOT_RECOGNIZED = (
    "{0} : The term '{0}' is not recognized as the name of a cmdlet, function, script file, "
    "or operable program. Check the spelling of the name, or if a path was included, verify "
    "that the path is correct and try again."
)
INVALID_NAMESPACE = (
    "Microsoft.Management.Infrastructure.CimException: Invalid namespace  [HRESULT 0x8004100e,"
    "Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand]"
)
WU_DENIED = (
    'System.Management.Automation.MethodInvocationException: Exception calling "Search" with '
    '"1" argument(s): "Access is denied. (Exception from HRESULT: 0x80070005 (E_ACCESSDENIED))"'
    " [UnauthorizedAccessException]"
)


class PsDate:
    """A System.DateTime; `wrapped` for values from script properties (PSObject + DateTime)."""

    def __init__(self, moment: datetime, wrapped: bool = False) -> None:
        self.moment, self.wrapped = moment, wrapped


def to_json(value: Any) -> str:
    """`ConvertTo-Json -Compress` as Windows PowerShell 5.1 (JavaScriptSerializer) writes it."""

    def default(obj: Any) -> Any:
        if isinstance(obj, PsDate):
            token = f"\u0000date:{int(obj.moment.timestamp() * 1000)}\u0000"
            if obj.wrapped:
                return {
                    "value": token,
                    "DateTime": obj.moment.strftime("%A, %B %-d, %Y %-I:%M:%S %p"),
                }
            return token
        raise TypeError(type(obj))

    text = json.dumps(value, default=default, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("'", "\\u0027"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return _DATE.sub(lambda m: f'"\\/Date({m.group(1)})\\/"', text)


def clixml_error(text: str) -> bytes:
    """stderr of `powershell -EncodedCommand` for an error record (CLIXML, `_x000D__x000A_`)."""
    escaped = (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&apos;")
    )
    lines = "".join(f'<S S="Error">{line}_x000D__x000A_</S>' for line in escaped.split("\n"))
    return (
        '#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
        '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject'
        '</T><T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing '
        "modules for first use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T>"
        f"<SR>-1</SR><SD> </SD></PR></MS></Obj>{lines}</Objs>"
    ).encode()


def run(command_line: str, stdin: bytes, host: HostSpec, journal: Path) -> Result:
    """The output of `command_line` (with `stdin`) on `host`; the script is kept in `journal`."""
    words = command_line.split()
    if not words or words[0].lower() not in ("powershell.exe", "powershell"):
        message = (
            f"'{words[0] if words else ''}' is not recognized as an internal or external command,"
            "\r\noperable program or batch file.\r\n"
        )
        return Result(stderr=message.encode(), exit_code=1)
    encoded = _ENCODED.search(command_line)
    if encoded is None:
        return Result(stderr=clixml_error("-EncodedCommand is missing"), exit_code=1)
    bootstrap = base64.b64decode(encoded.group(1)).decode("utf-16-le")
    script = bootstrap
    if "$input" in bootstrap and "FromBase64String" in bootstrap:
        try:
            script = base64.b64decode(b"".join(stdin.split()), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            return Result(
                stderr=clixml_error(f"Exception calling FromBase64String: {exc}"), exit_code=1
            )
    (journal / f"{host.name}.ps1").write_text(script, encoding="utf-8")
    if host.behaviour == "hang":
        return Result(hang=True)
    marker = _MARKER.search(script)
    if marker is None:
        first = next((line.split()[0] for line in script.splitlines() if line.strip()), "")
        return Result(stderr=clixml_error(NOT_RECOGNIZED.format(first)), exit_code=1)
    if host.behaviour == "ps2":
        message = "raquet needs Windows PowerShell 3.0 or later (install WMF 5.1); this host has PowerShell 2.0\r\n"
        return Result(stderr=message.encode(), exit_code=3)
    limit = int(_LIMIT.search(script).group(1)) / 1000 if _LIMIT.search(script) else 60.0  # type: ignore[union-attr]
    names = _CHECK.findall(script)
    now = datetime.now(UTC)
    parts = []
    for name in names:
        if name in host.slow_checks:
            parts.append(f'"{name}":{{"exit":"124","data":null}}')
        elif name in host.failing_checks:
            result = {"data": None, "exit": f"error: {host.failing_checks[name]}"}
            parts.append(f'"{name}":{to_json(result)}')
        else:
            data = EMULATORS[name](host, now)
            parts.append(f'"{name}":{to_json({"data": data, "exit": "0"})}')
    document = '{"v":1,"checks":{' + ",".join(parts) + "}}"
    line = f"{marker.group(1)} {base64.b64encode(document.encode()).decode()}\n"
    return Result(stdout=line.encode(), delay_s=limit if host.slow_checks else 0.0)


def _ago(now: datetime, days: float) -> datetime:
    return now - timedelta(days=days)


def host_info(host: HostSpec, now: datetime) -> dict[str, Any]:
    os = host.os
    return {
        "Caption": os.caption,
        "Version": f"{'10.0' if os.build >= 10240 else '6.3' if os.build >= 9200 else '6.1'}.{os.build}",
        "BuildNumber": str(os.build),
        "ProductType": os.product_type,
        "OperatingSystemSKU": 48 if not os.server else 7,
        "LastBootUpTime": PsDate(_ago(now, 3)),
        "UBR": os.ubr,
        "DisplayVersion": os.display_version,
        "ReleaseId": "2009" if os.display_version else None,
        "EditionID": os.edition,
        "InstallationType": "Server" if os.server else "Client",
        "Now": PsDate(now),
        "UtcOffsetMinutes": os.utc_offset_minutes,
        "TimeZone": os.zone,
        "PSVersion": "5.1.19041.4522",
    }


def av(host: HostSpec, now: datetime) -> dict[str, Any]:
    data: dict[str, Any] = {}
    d = host.defender
    if d is None:
        data["MpComputerStatusError"] = (
            "System.Management.Automation.CommandNotFoundException: "
            + NOT_RECOGNIZED.format("Get-MpComputerStatus").split(" : ", 1)[1]
            + " [CommandNotFoundException]"
        )
    else:
        updated = _ago(now, d.signature_age_days)
        data["MpComputerStatus"] = {
            "AMServiceEnabled": d.am_service,
            "AntivirusEnabled": d.antivirus,
            "AntispywareEnabled": d.antivirus,
            "RealTimeProtectionEnabled": d.realtime,
            "OnAccessProtectionEnabled": d.realtime,
            "BehaviorMonitorEnabled": d.realtime,
            "IoavProtectionEnabled": d.realtime,
            "AntivirusSignatureVersion": "1.391.3104.0",
            "AntivirusSignatureLastUpdated": PsDate(updated),
            "AntivirusSignatureAge": int(d.signature_age_days),
            "AMRunningMode": d.mode,
            "AMProductVersion": "4.18.24050.7",
            "AMEngineVersion": "1.1.24050.5",
            "IsTamperProtected": d.tamper_protected,
        }
    if host.os.server:
        data["AntiVirusProductError"] = INVALID_NAMESPACE
    else:
        products = [p for p in host.av]
        entries = []
        if d is not None:
            on = d.antivirus and d.realtime and d.mode == "Normal"
            state = 0x061100 if on else 0x060100
            if d.signature_age_days > 7:
                state |= 0x10
            entries.append(_wsc("Windows Defender", state, "windowsdefender://"))
        for p in products:
            state = 0x041000 if p.enabled else 0x040000
            if not p.up_to_date:
                state |= 0x10
            entries.append(_wsc(p.name, state, rf"C:\Program Files\{p.name}\avp.exe"))
        data["AntiVirusProduct"] = entries
    services = []
    if d is not None:
        services.append(
            {
                "Name": "WinDefend",
                "DisplayName": "Microsoft Defender Antivirus Service",
                "Status": 4 if d.am_service else 1,
            }
        )
    for p in host.av:
        for name in [*p.services, *p.management]:
            services.append({"Name": name, "DisplayName": name, "Status": 4})
    data["Services"] = services
    return data


def _wsc(name: str, state: int, exe: str) -> dict[str, Any]:
    return {
        "displayName": name,
        "instanceGuid": "{D68DDC3A-831F-4fae-9E44-DA132C1ACF46}",
        "pathToSignedProductExe": exe,
        "pathToSignedReportingExe": exe,
        "productState": state,
        "timestamp": "Mon, 07 Jun 2021 03:25:30 GMT",
    }


def patches(host: HostSpec, now: datetime) -> dict[str, Any]:
    p = host.patches
    data: dict[str, Any] = {
        "HotFix": [
            {
                "HotFixID": h.id,
                "Description": h.description,
                "InstalledBy": "NT AUTHORITY\\SYSTEM",
                "InstalledOn": None
                if h.installed_days_ago is None
                else PsDate(
                    _ago(now, h.installed_days_ago).replace(
                        hour=0, minute=0, second=0, microsecond=0
                    ),
                    wrapped=True,
                ),
            }
            for h in p.hotfixes
        ],
        "Reboot": {
            "CBSRebootPending": "cbs" in p.reboot,
            "WURebootRequired": "wu" in p.reboot,
            "PendingFileRename": "file_rename" in p.reboot,
            "ComputerRenamePending": "rename" in p.reboot,
        },
    }
    if p.last_install_days_ago is not None:
        data["AutoUpdate"] = {
            "LastInstallationSuccessDate": PsDate(_ago(now, p.last_install_days_ago)),
            "LastSearchSuccessDate": PsDate(_ago(now, 0.2)),
        }
    if p.search == "denied":
        data["SearchError"] = WU_DENIED
    else:
        data["Search"] = {
            "ResultCode": 2,
            "Updates": [
                {
                    "Title": u.title,
                    "KBArticleIDs": [u.kb.removeprefix("KB")],
                    "MsrcSeverity": u.severity,
                    "Categories": u.categories,
                    "IsDownloaded": False,
                    "RebootRequired": False,
                }
                for u in p.pending
            ],
        }
    return data


def software(host: HostSpec, now: datetime) -> dict[str, Any]:
    a = host.activation
    licensing = {
        "Name": f"Windows(R), {host.os.edition} edition",
        "Description": f"Windows(R) Operating System, {a.channel.upper()} channel",
        "ApplicationID": "55c92734-d682-4d71-983e-d6ec3f16059f",
        "LicenseStatus": a.status,
        "LicenseStatusReason": 0 if a.status == 1 else -1073418221,
        "GracePeriodRemaining": 0 if a.channel != "Volume:GVLK" else 259200,
        "PartialProductKey": "3V66T",
        "ProductKeyChannel": a.channel,
        "KeyManagementServiceMachine": a.kms_host,
        "KeyManagementServicePort": 1688 if a.kms_host else 0,
        "DiscoveredKeyManagementServiceMachineName": None,
        "DiscoveredKeyManagementServiceMachineIpAddress": None,
    }
    t = host.traces
    return {
        "Uninstall": [
            {
                "Hive": s.hive,
                "DisplayName": s.name,
                "DisplayVersion": s.version,
                "Publisher": s.publisher,
                "InstallDate": "20210601",
                "SystemComponent": None,
            }
            for s in host.software
        ],
        "Licensing": [licensing],
        "Kms": [
            {
                "Key": r"HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion\SoftwareProtectionPlatform",
                "KeyManagementServiceName": a.kms_registry,
                "KeyManagementServicePort": "1688",
            }
        ]
        if a.kms_registry
        else [],
        "Ifeo": [
            {
                "Image": "SppExtComObj.exe",
                "VerifierDlls": "SppExtComObjHook.dll",
                "GlobalFlag": 256,
                "KMS_Emulation": 1,
            }
        ]
        if t.ifeo_hook
        else [],
        "Paths": t.paths,
        "Tasks": [
            "\\Microsoft",
            "\\Microsoft\\Windows",
            "\\Microsoft\\Windows\\SoftwareProtectionPlatform",
            "\\Microsoft\\Windows\\SoftwareProtectionPlatform\\SvcRestartTask",
            *t.tasks,
        ],
        "Services": [{"Name": name, "Status": 4} for name in t.services],
    }


TCP_STATES = {
    "Closed": 1,
    "Listen": 2,
    "SynSent": 3,
    "SynReceived": 4,
    "Established": 5,
    "TimeWait": 11,
}


def connections(host: HostSpec, now: datetime) -> dict[str, Any]:
    data: dict[str, Any] = {}
    local = "10.0.5.27"
    if host.netstat:
        data["TcpError"] = (
            "System.Management.Automation.CommandNotFoundException: "
            + NOT_RECOGNIZED.format("Get-NetTCPConnection").split(" : ", 1)[1]
            + " [CommandNotFoundException]"
        )
        rows = [
            "",
            "Active Connections",
            "",
            "  Proto  Local Address          Foreign Address        State           PID",
        ]
        for i, c in enumerate(host.tcp):
            remote = f"[{c.remote}]:{c.port}" if ":" in c.remote else f"{c.remote}:{c.port}"
            state = {"Established": "ESTABLISHED", "SynSent": "SYN_SENT", "TimeWait": "TIME_WAIT"}[
                c.state
            ]
            rows.append(f"  TCP    {local}:{49700 + i:<14} {remote:<22} {state:<15} {c.pid}")
        rows.append("  UDP    0.0.0.0:5353           *:*                                    1964")
        data["Netstat"] = rows
    else:
        data["Tcp"] = [
            {
                "LocalAddress": "::" if ":" in c.remote else local,
                "LocalPort": 49700 + i,
                "RemoteAddress": c.remote,
                "RemotePort": c.port,
                "State": TCP_STATES[c.state],
                "OwningProcess": c.pid,
                "CreationTime": PsDate(_ago(now, 0.01)),
            }
            for i, c in enumerate(host.tcp)
        ]
    data["Processes"] = [{"Id": 4, "ProcessName": "System"}] + [
        {"Id": c.pid, "ProcessName": c.process} for c in host.tcp
    ]
    data["DnsCache"] = [
        {
            "Entry": d.name,
            "Name": d.name,
            "Type": d.type,
            "Status": 0,
            "Section": 1,
            "TimeToLive": 3600,
            "Data": d.data,
        }
        for d in host.dns
    ]
    data["Hosts"] = [
        "# Copyright (c) 1993-2009 Microsoft Corp.",
        "#",
        "# localhost name resolution is handled within DNS itself.",
        "#\t127.0.0.1       localhost",
        *host.hosts_file,
    ]
    return data


def infections(host: HostSpec, now: datetime) -> dict[str, Any]:
    if host.defender is None:
        return {"Error": NOT_RECOGNIZED.format("Get-MpThreatDetection").split(" : ", 1)[1]}
    detections, threats = [], {}
    for i, d in enumerate(host.detections):
        threat_id = 2147700000 + i
        when = _ago(now, d.days_ago)
        detections.append(
            {
                "DetectionID": f"{{5A4DE6E4-0C6A-4F6D-9A53-{i:012X}}}",
                "ThreatID": threat_id,
                "ProcessName": "C:\\Windows\\explorer.exe",
                "DomainUser": "AGENCY\\nguyenvana",
                "InitialDetectionTime": PsDate(when),
                "LastThreatStatusChangeTime": PsDate(when + timedelta(seconds=2)),
                "RemediationTime": PsDate(when + timedelta(seconds=2)),
                "ThreatStatusID": d.status,
                "ActionSuccess": d.action_success,
                "Resources": [f"file:_{d.path}"],
                "DetectionSourceTypeID": 3,
                "CleaningActionID": 2,
                "CurrentThreatExecutionStatusID": 1,
                "AdditionalActionsBitMask": 0,
            }
        )
        threats[threat_id] = {
            "ThreatID": threat_id,
            "ThreatName": d.threat,
            "SeverityID": d.severity,
            "CategoryID": d.category,
            "IsActive": d.status not in (2, 3, 4, 6),
            "DidThreatExecute": False,
        }
    return {"Detections": detections, "Threats": list(threats.values())}


def vulns(host: HostSpec, now: datetime) -> dict[str, Any]:
    """The CurrentVersion key as Get-ItemProperty gives it (UBR and the version numbers are
    DWORDs), the architecture, and the Uninstall keys' names and versions."""
    os = host.os
    return {
        "Os": {
            "ProductName": os.caption.removeprefix("Microsoft ").replace(
                "Windows 11", "Windows 10"
            ),
            "CurrentBuildNumber": str(os.build),
            "UBR": os.ubr,
            "DisplayVersion": os.display_version or "",
            "ReleaseId": "2009" if os.display_version else "",
            "InstallationType": "Server" if os.server else "Client",
            "EditionID": os.edition,
            "CurrentVersion": "6.3",
            "CurrentMajorVersionNumber": 10 if os.build >= 10240 else None,
            "CurrentMinorVersionNumber": 0 if os.build >= 10240 else None,
        },
        "Arch": "AMD64",
        "Programs": [{"Name": s.name, "Version": s.version} for s in host.software],
    }


EMULATORS: dict[str, Callable[[HostSpec, datetime], Any]] = {
    "host": host_info,
    "av": av,
    "patches": patches,
    "software": software,
    "connections": connections,
    "infections": infections,
    "vulns": vulns,
}
