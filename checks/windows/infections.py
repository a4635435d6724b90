"""`infections` on Windows: Microsoft Defender's detection history.

`Get-MpThreatDetection` has one row per detection event (when, which files, what was
done); the threat's name is only in `Get-MpThreat`, joined on ThreatID. Each file of a
detection becomes one `Detection`, timestamped with its InitialDetectionTime, so the
store keeps it once however many sweeps see it — as ClamAV's log lines on Linux.
A threat that was allowed, or whose clean-up failed, is still on the machine: its
`action` says so.
"""

from __future__ import annotations

from checks.base import Sections
from checks.windows.common import flag, load, number, objects, parse_date, strings, text
from raquet.models import Detection

SNIPPET = r"""
$r = @{}
try {
  $r.Detections = @(Get-MpThreatDetection -ErrorAction Stop | Select-Object -First 5000 -Property DetectionID, ThreatID,
    ProcessName, DomainUser, InitialDetectionTime, LastThreatStatusChangeTime, RemediationTime, ThreatStatusID,
    ActionSuccess, Resources, DetectionSourceTypeID, CleaningActionID, CurrentThreatExecutionStatusID,
    AdditionalActionsBitMask)
  $r.Threats = @(Get-MpThreat -ErrorAction Stop | Select-Object -First 5000 -Property ThreatID, ThreatName,
    SeverityID, CategoryID, IsActive, DidThreatExecute)
} catch { $r.Error = Rq-Error $_ }
$r
"""

SOURCE = "Get-MpThreatDetection"
# MPTHREAT_STATUS, as ThreatStatusID numbers it
THREAT_STATUS = {
    0: "Unknown",
    1: "Detected",
    2: "Cleaned",
    3: "Quarantined",
    4: "Removed",
    5: "Allowed",
    6: "Blocked",
    102: "CleanFailed",
    103: "QuarantineFailed",
    104: "RemoveFailed",
    105: "AllowFailed",
    106: "Abandoned",
    107: "BlockFailed",
}
HANDLED = {2, 3, 4, 6}
MAX_RESOURCES = 20


def _path(resource: str) -> str:
    """`file:_C:\\x.exe` -> `C:\\x.exe`; other kinds (`process:_`, `regkey:_`…) stay labelled."""
    kind, sep, rest = resource.partition(":_")
    return rest if sep and kind == "file" else resource


def parse(sections: Sections) -> tuple[list[Detection], list[str], str | None]:
    """Every detection the history holds, the sources read, and why none could be (Defender
    absent, its module missing)."""
    data = load(sections, "infections")
    if isinstance(data.get("Error"), str) or "Detections" not in data:
        return [], [], text(data.get("Error"), 300) or "no detection history was returned"
    names = {
        number(t.get("ThreatID")): text(t.get("ThreatName"), 256)
        for t in objects(data.get("Threats"))
    }
    found = []
    for row in objects(data.get("Detections")):
        when = parse_date(row.get("InitialDetectionTime"))
        if when is None:
            continue
        threat = number(row.get("ThreatID"))
        status = number(row.get("ThreatStatusID"))
        action = THREAT_STATUS.get(status if status is not None else 0, f"status {status}")
        if status not in HANDLED or flag(row.get("ActionSuccess")) is False:
            action = f"{action} (still present)"
        name = names.get(threat) or f"ThreatID {threat}"
        paths = [_path(r) for r in strings(row.get("Resources"), 1024)][:MAX_RESOURCES] or [""]
        found += [
            Detection(name=name, path=path, detected_at=when, source="defender", action=action)
            for path in paths
        ]
    return found, [SOURCE], None
