"""Reading what Windows PowerShell 5.1's ConvertTo-Json wrote: objects, lists, dates, strings.

Host output is untrusted: a field may be missing, null, of the wrong type, or an object
where a list was meant (a one-element pipeline unrolled); these helpers return a safe
value in each case instead of raising, and bound every string that is kept.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from checks.base import Sections, clean

SERVICE_RUNNING = 4  # System.ServiceProcess.ServiceControllerStatus.Running


def load(sections: Sections, check: str) -> dict[str, Any]:
    """The object the check's scriptblock returned (`{}` when it returned nothing)."""
    text = sections.get(f"{check}.json")
    if not text:
        return {}
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"{check}: expected a JSON object, got {type(value).__name__}")
    return value


def objects(value: Any) -> list[dict[str, Any]]:
    """A list of objects: `[...]`, a lone object, or nothing."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return []


def strings(value: Any, limit: int = 512) -> list[str]:
    """A list of strings, each cleaned; a lone string counts as a list of one."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    return [clean(v, limit) for v in value if isinstance(v, str)]


def text(value: Any, limit: int = 256) -> str:
    return clean(str(value), limit) if isinstance(value, str | int | float) else ""


def number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def parse_date(value: Any) -> datetime | None:
    """A date as Windows PowerShell 5.1's ConvertTo-Json writes it — `/Date(ms)/` (UTC ms), a
    `{"value": "/Date(ms)/", "DateTime": …}` wrapper for dates from script properties
    (Get-HotFix's InstalledOn), a WMI DMTF string — or ISO 8601 as PowerShell 7 writes it.
    DateTime.MinValue and the 1601 FILETIME epoch mean "never" and give None."""
    if isinstance(value, dict):
        return parse_date(value.get("value"))
    if not isinstance(value, str) or not value:
        return None
    stamp = _parse(value.strip())
    return stamp if stamp is not None and stamp.year > 1970 else None


def _parse(text: str) -> datetime | None:
    if text.startswith("/Date(") and text.endswith(")/"):
        digits = text[6:-2]
        end = max(digits.rfind("+"), digits.rfind("-"))
        try:
            return datetime.fromtimestamp(int(digits[:end] if end > 0 else digits) / 1000, UTC)
        except (ValueError, OverflowError, OSError):
            return None
    if len(text) >= 25 and text[:14].isdigit() and text[14] == "." and text[21] in "+-":
        try:  # DMTF: yyyymmddHHMMSS.ffffff+UUU, the offset in minutes
            local = datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
            minutes = int(text[22:25]) * (-1 if text[21] == "-" else 1)
            return datetime.fromtimestamp(local.timestamp() - minutes * 60, UTC)
        except ValueError:
            return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def running_services(value: Any) -> dict[str, bool]:
    """`Get-Service | Select Name, Status` -> {lower-case name: running}."""
    return {
        text(s.get("Name"), 128).lower(): s.get("Status") == SERVICE_RUNNING
        for s in objects(value)
        if text(s.get("Name"))
    }
