"""`infections`: no malware detection recorded by the AV within the lookback window (SPEC §3).

Detections are read from ClamAV's own records — clamd's log (`DATE -> PATH: NAME FOUND`),
clamscan logs (`PATH: NAME FOUND` dated by the scan's `Start Date`), and clamd's journal
where it logs to systemd — in the host's local time zone, read from the host. Each
detection keeps its own timestamp and is stored once however many sweeps see it, so
reports can count detections per week. An on-demand `clamscan` of the policy's paths is
optional and bounded in time. On Windows the source is Microsoft Defender's detection
history (`checks/windows/infections.py`), judged here the same way.

A detection whose file `raquet remediate` has quarantined since (a record in the policy's
`quarantine_dir`, dated by the host's clock) has been dealt with: it is listed apart, under
`quarantined`, and does not fail the check.
"""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from pydantic import BaseModel, Field

from checks.base import Check, Context, HostFacts, Sections, clean
from checks.windows import infections as windows
from raquet.models import Detection, Finding, Host, OsName
from raquet.policy import Policy

MAX_LINES = 5000
MAX_EVIDENCE = 200


def linux_snippet(policy: Policy) -> str:
    """Everything the policy names is quoted before it reaches the host's shell."""
    rules = policy.infections
    logs = " ".join(shlex.quote(p) for p in rules.log_paths)
    lines = [
        "rq infections.logs",
        f"for f in {logs}; do",
        '  for g in "$f" "$f.1"; do',
        '    [ -r "$g" ] || continue',
        '    echo "@file $g"',
        f"    grep -a -h -E ' FOUND$|^Start Date:' \"$g\" 2>/dev/null | tail -n {MAX_LINES}",
        "  done",
        "done",
        "rq infections.journal",
        "if [ -d /run/systemd/system ] && command -v journalctl >/dev/null 2>&1; then",
        f"  journalctl -q -o short-iso --since=-{int(rules.lookback_days) + 7}days "
        "-u clamav-daemon -u clamav-clamonacc 2>/dev/null | grep -a ' FOUND$' | tail -n "
        f"{MAX_LINES}",
        "fi",
        "rq infections.quarantine",
        f"for f in {shlex.quote(rules.quarantine_dir)}/*.json; do",
        '  [ -r "$f" ] && printf \'%s %s\\n\' "$(stat -c %Y "$f")" "$(head -c 8192 "$f" | tr -d \'\\n\')"',
        "done 2>/dev/null",
    ]
    if rules.scan:
        paths = " ".join(shlex.quote(p) for p in rules.scan_paths)
        lines += [
            "rq infections.scan",
            "if command -v clamscan >/dev/null 2>&1; then",
            f"  timeout {int(rules.scan_timeout)} clamscan -r -i --no-summary {paths} 2>/dev/null"
            f' | tail -n {MAX_LINES}; echo "@exit $?"',
            "else echo '@missing'; fi",
        ]
    return "\n".join(lines) + "\n"


class InfectionsState(BaseModel):
    detections: list[Detection] = Field(default_factory=list)
    logs_read: list[str] = Field(default_factory=list)
    scan: dict[str, Any] | None = None
    unavailable: str | None = None
    quarantined: dict[str, datetime] = Field(default_factory=dict)
    """Original path -> when raquet quarantined the file there."""


def _found(text: str) -> tuple[str, str] | None:
    """`PATH: NAME FOUND` -> (path, name); paths may themselves contain ': '."""
    if not text.endswith(" FOUND"):
        return None
    path, sep, name = text[: -len(" FOUND")].rpartition(": ")
    if not sep or not path:
        return None
    return clean(path, 1024), clean(name, 256)


def _clamd_time(stamp: str, tz: tzinfo) -> datetime | None:
    try:
        return datetime.strptime(" ".join(stamp.split()), "%a %b %d %H:%M:%S %Y").replace(tzinfo=tz)
    except ValueError:
        return None


def parse_logs(lines: list[str], tz: tzinfo) -> tuple[list[Detection], list[str]]:
    """clamd lines carry their own time; clamscan lines wait for their scan's `Start Date`."""
    found: list[Detection] = []
    files: list[str] = []
    undated: list[tuple[str, str]] = []
    for line in lines:
        if line.startswith("@file "):
            files.append(clean(line[6:], 256))
            undated = []
        elif line.startswith("Start Date:"):
            try:
                when = datetime.strptime(line.split(":", 1)[1].strip(), "%Y:%m:%d %H:%M:%S")
            except ValueError:
                continue
            found += [
                Detection(name=n, path=p, detected_at=when.replace(tzinfo=tz), source="clamscan")
                for p, n in undated
            ]
            undated = []
        elif " -> " in line:
            stamp, _, rest = line.partition(" -> ")
            logged_at = _clamd_time(stamp, tz)
            hit = _found(rest.removeprefix("ScanOnAccess: "))
            if logged_at and hit:
                found.append(
                    Detection(name=hit[1], path=hit[0], detected_at=logged_at, source="clamav")
                )
        elif hit := _found(line):
            undated.append(hit)
    return found, files


def parse_journal(lines: list[str]) -> list[Detection]:
    """`2026-11-16T10:00:02+0700 host clamd[123]: /path: Name FOUND` (journalctl -o short-iso)."""
    found = []
    for line in lines:
        parts = line.split(" ", 3)
        if len(parts) < 4:
            continue
        try:
            when = datetime.strptime(parts[0], "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            continue
        hit = _found(parts[3])
        if hit:
            found.append(Detection(name=hit[1], path=hit[0], detected_at=when, source="clamav"))
    return found


def parse_quarantine(lines: list[str]) -> dict[str, datetime]:
    """`MTIME {"original_path": …}` per quarantine record; the newest record per path wins."""
    found: dict[str, datetime] = {}
    for line in lines:
        stamp, _, text = line.partition(" ")
        try:
            record = json.loads(text)
        except ValueError:
            continue
        path = record.get("original_path") if isinstance(record, dict) else None
        if stamp.isdigit() and isinstance(path, str):
            when = datetime.fromtimestamp(int(stamp), UTC)
            key = clean(path, 1024)
            found[key] = max(when, found.get(key, when))
    return found


def parse_scan(lines: list[str], now: datetime) -> tuple[list[Detection], dict[str, Any]]:
    detections: list[Detection] = []
    status: dict[str, Any] = {"ran": True, "exit": None}
    for line in lines:
        if line == "@missing":
            return [], {"ran": False, "reason": "clamscan is not installed"}
        if line.startswith("@exit "):
            status["exit"] = line[6:].strip()
        elif hit := _found(line):
            detections.append(
                Detection(name=hit[1], path=hit[0], detected_at=now, source="clamscan")
            )
    if status["exit"] == "124":
        status["reason"] = "the scan hit its time limit; results are partial"
    return detections, status


class InfectionsCheck(Check[InfectionsState]):
    name = "infections"
    title = "Infections"

    def snippet(self, os: OsName, policy: Policy) -> str | None:
        return linux_snippet(policy) if os == "linux" else windows.SNIPPET

    def parse(self, sections: Sections, facts: HostFacts) -> InfectionsState:
        if facts.windows:
            found, sources, unavailable = windows.parse(sections)
            unique = {(d.detected_at, d.path, d.name): d for d in found}
            ordered = sorted(unique.values(), key=lambda d: d.detected_at)
            return InfectionsState(detections=ordered, logs_read=sources, unavailable=unavailable)
        logged, files = parse_logs(sections.lines("infections.logs"), facts.tz)
        found = logged + parse_journal(sections.lines("infections.journal"))
        scan = None
        if "infections.scan" in sections:
            scanned, scan = parse_scan(sections.lines("infections.scan"), facts.now)
            found += scanned
        unique = {(d.detected_at, d.path, d.name): d for d in found}
        ordered = sorted(unique.values(), key=lambda d: d.detected_at)
        quarantined = parse_quarantine(sections.lines("infections.quarantine"))
        return InfectionsState(
            detections=ordered, logs_read=files, scan=scan, quarantined=quarantined
        )

    def detections(self, state: InfectionsState) -> list[Detection]:
        return state.detections

    def evaluate(
        self, state: InfectionsState, host: Host, facts: HostFacts, ctx: Context
    ) -> Finding:
        lookback = ctx.policy.infections.lookback_days
        since = facts.now - timedelta(days=lookback)
        recent = [d for d in state.detections if d.detected_at >= since]
        dealt = [
            d
            for d in recent
            if d.path in state.quarantined and state.quarantined[d.path] >= d.detected_at
        ]
        active = [d for d in recent if d not in dealt]
        evidence: dict[str, Any] = {
            "detections": [
                {
                    "name": d.name,
                    "path": d.path,
                    "detected_at": d.detected_at.astimezone(facts.tz).isoformat(),
                    "source": d.source,
                    **({"action": d.action} if d.action else {}),
                }
                for d in active[-MAX_EVIDENCE:]
            ],
            "quarantined": [
                {
                    "name": d.name,
                    "path": d.path,
                    "detected_at": d.detected_at.astimezone(facts.tz).isoformat(),
                    "source": d.source,
                    "quarantined_at": state.quarantined[d.path].astimezone(facts.tz).isoformat(),
                }
                for d in dealt[-MAX_EVIDENCE:]
            ],
            "detections_in_window": len(recent),
            "detections_in_logs": len(state.detections),
            "lookback_days": lookback,
            "logs_read": state.logs_read,
            "scan": state.scan,
        }
        if state.unavailable:
            evidence["unavailable"] = state.unavailable
        if not state.logs_read and state.scan is None and not state.detections:
            return Finding(
                check=self.name,
                status="not_applicable",
                severity="info",
                title="No AV detection log on the host to read",
                evidence=evidence,
            )
        if not recent:
            return Finding(
                check=self.name,
                status="pass",
                severity="info",
                title=f"No malware detected in the last {lookback:g} days",
                evidence=evidence,
            )
        if not active:
            return Finding(
                check=self.name,
                status="pass",
                severity="info",
                title=f"{len(dealt)} malware detection(s) in the last {lookback:g} days, "
                "all quarantined",
                evidence=evidence,
            )
        names = sorted({d.name for d in active})
        return Finding(
            check=self.name,
            status="fail",
            severity="critical",
            title=f"{len(active)} malware detection(s) in the last {lookback:g} days "
            f"({', '.join(names[:3])})",
            evidence=evidence,
        )


CHECK = InfectionsCheck()
