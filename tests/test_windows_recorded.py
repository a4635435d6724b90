"""Parsers against output recorded on real Windows machines (tests/fixtures/windows, sources cited there).

A recording in PowerShell's list format is turned into what `ConvertTo-Json` on Windows
PowerShell 5.1 makes of the same object — by the property types of the class's MOF
(boolean, uint32, DateTime, string) and nothing else — then parsed and judged.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from checks import registry
from checks.base import Context, HostFacts, Sections
from raquet.models import Host
from raquet.powershell import host_sections

RECORDED = Path(__file__).parent / "fixtures" / "windows"
# MSFT_MpComputerStatus property types (learn.microsoft.com, MSFT_MpComputerStatus class)
UINT = {"AntispywareSignatureAge", "AntivirusSignatureAge", "ComputerState", "FullScanAge",
        "LastFullScanSource", "LastQuickScanSource", "NISSignatureAge", "QuickScanAge",
        "RealTimeScanDirection"}  # fmt: skip


def as_convertto_json(listing: str) -> dict[str, Any]:
    """`Name : value` lines -> the object ConvertTo-Json 5.1 writes: DateTime as `/Date(ms)/`
    (the recording's local time read as UTC: its zone is not printed), empty as null."""
    values: dict[str, Any] = {}
    for line in listing.splitlines():
        if line.startswith("#") or (" : " not in line and not line.rstrip().endswith(":")):
            continue
        name, _, value = (part.strip() for part in line.partition(":"))
        if not value:
            values[name] = None
        elif value in ("True", "False"):
            values[name] = value == "True"
        elif name in UINT:
            values[name] = int(value)
        elif value.endswith(("AM", "PM")):
            moment = datetime.strptime(value, "%m/%d/%Y %I:%M:%S %p").replace(tzinfo=UTC)
            values[name] = f"/Date({int(moment.timestamp() * 1000)})/"
        else:
            values[name] = value
    return values


def windows_sections(now: datetime, **checks: dict[str, Any]) -> Sections:
    host = {"Caption": "Microsoft Windows Server 2022 Standard", "BuildNumber": "20348",
            "ProductType": 3, "Now": f"/Date({int(now.timestamp() * 1000)})/",
            "UtcOffsetMinutes": 0}  # fmt: skip
    sections = Sections(host_sections(host))
    for name, data in checks.items():
        sections[f"{name}.json"] = json.dumps(data)
        sections[f"{name}.__exit"] = "0"
    return sections


@pytest.mark.parametrize(
    ("now", "status", "age"),
    [(datetime(2013, 7, 31, 3, 1, 45, tzinfo=UTC), "pass", 1.0),
     (datetime(2013, 8, 20, 3, 1, 45, tzinfo=UTC), "fail", 21.0)],
)  # fmt: skip
def test_defender_status_from_microsofts_example(now: datetime, status: str, age: float) -> None:
    status_object = as_convertto_json(
        (RECORDED / "get-mpcomputerstatus.learn-2013.txt").read_text()
    )
    assert status_object["AntivirusSignatureLastUpdated"] == "/Date(1375153305000)/"
    av = {
        "MpComputerStatus": status_object,
        "AntiVirusProductError": "Microsoft.Management.Infrastructure.CimException: Invalid "
        "namespace  [HRESULT 0x8004100e,Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand]",
        "Services": [
            {
                "Name": "WinDefend",
                "DisplayName": "Microsoft Defender Antivirus Service",
                "Status": 4,
            }
        ],
    }
    sections = windows_sections(now, av=av)
    host = Host(name="recorded", address="192.0.2.1", os="windows", role="server")
    finding = registry()["av"].judge(sections, host, HostFacts.parse(sections), Context()).finding
    assert finding.status == status, finding.title
    assert finding.evidence["product"] == "Microsoft Defender Antivirus"
    assert finding.evidence["signature_age_days"] == age
    assert finding.evidence["security_center"] == "not available (Server SKU)"
    assert finding.evidence["defender"]["signature_version"] == "1.155.1107.0"
