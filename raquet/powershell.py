"""One PowerShell script per Windows host from the checks' snippets; its output -> Sections.

The Windows counterpart of `raquet.script`. Each check's snippet is the body of a
scriptblock returning one object (a hashtable). Every check runs in its own runspace,
all at once, under `try/catch`, so one failing or hung cmdlet costs one finding, not the
host; a check still running at the deadline is stopped and reported as timed out (`124`,
as `timeout(1)` says on Linux). Each result is serialised inside its runspace with a
depth-limited `ConvertTo-Json -Compress` and bounded in size; the results are joined
into one JSON document, which leaves the host base64-encoded after a nonce marker, so
console codepages, stray output and hostile strings cannot alter it.

Written for Windows PowerShell 5.1 and kept to what PowerShell 3.0 has (`ConvertTo-Json`
needs 3.0); a host still on 2.0 gets a plain error naming what to install.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from checks.base import Check, Sections, clean
from checks.windows.common import parse_date
from raquet.policy import Policy

if TYPE_CHECKING:
    from raquet.script import Script

MAX_CHECK_JSON = 4 * 1024 * 1024
JSON_DEPTH = 5
MARKER = "@@rq:"

COMMON = r"""
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
function Rq-Error($record) {
  $e = $record.Exception
  while ($e.InnerException -and -not $e.Message) { $e = $e.InnerException }
  $text = '{0}: {1}' -f $e.GetType().FullName, $e.Message
  if ($record.FullyQualifiedErrorId) { $text += ' [' + $record.FullyQualifiedErrorId + ']' }
  $text.Trim()
}
function Rq-Run([scriptblock]$body) {
  try { $data = & $body; $exit = '0' } catch { $data = $null; $exit = 'error: ' + (Rq-Error $_) }
  try {
    $json = ConvertTo-Json -InputObject @{ exit = $exit; data = $data } -Depth __DEPTH__ -Compress
  } catch {
    $json = ConvertTo-Json -InputObject @{ exit = 'error: ' + (Rq-Error $_); data = $null } -Compress
  }
  if ($json.Length -gt __MAX__) {
    $why = 'error: the result ({0} characters) exceeds the limit of __MAX__' -f $json.Length
    $json = ConvertTo-Json -InputObject @{ exit = $why; data = $null } -Compress
  }
  $json
}
"""

# Win32_OperatingSystem for what every Windows has; the CurrentVersion key for the
# servicing details (UBR, 22H2, edition) that WMI does not carry.
HOST = r"""
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$cv = Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
$zone = [TimeZoneInfo]::Local
@{
  Caption = $os.Caption
  Version = $os.Version
  BuildNumber = $os.BuildNumber
  ProductType = $os.ProductType
  OperatingSystemSKU = $os.OperatingSystemSKU
  LastBootUpTime = $os.LastBootUpTime
  UBR = $cv.UBR
  DisplayVersion = $cv.DisplayVersion
  ReleaseId = $cv.ReleaseId
  EditionID = $cv.EditionID
  InstallationType = $cv.InstallationType
  Now = [DateTime]::UtcNow
  UtcOffsetMinutes = [int]$zone.GetUtcOffset([DateTime]::Now).TotalMinutes
  TimeZone = $zone.Id
  PSVersion = $PSVersionTable.PSVersion.ToString()
}
"""

PRELUDE = r"""
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
if ($PSVersionTable.PSVersion.Major -lt 3) {
  [Console]::Error.WriteLine('raquet needs Windows PowerShell 3.0 or later (install WMF 5.1); this host has PowerShell ' + $PSVersionTable.PSVersion)
  exit 3
}
"""

RUNNER = r"""
$rq_jobs = foreach ($c in $rq_checks) {
  $ps = [PowerShell]::Create()
  [void]$ps.AddScript($rq_common.ToString() + "`nRq-Run {" + $c[1].ToString() + "}")
  New-Object PSObject -Property @{ Name = $c[0]; PS = $ps; Handle = $ps.BeginInvoke() }
}
$rq_deadline = [DateTime]::UtcNow.AddMilliseconds($rq_limit_ms)
$rq_parts = foreach ($j in $rq_jobs) {
  $left = [int][Math]::Max(0, ($rq_deadline - [DateTime]::UtcNow).TotalMilliseconds)
  if ($j.Handle.AsyncWaitHandle.WaitOne($left)) {
    try {
      $json = [string]($j.PS.EndInvoke($j.Handle) | Select-Object -Last 1)
      if (-not $json) { $json = '{"exit":"error: the check returned nothing","data":null}' }
    } catch {
      $json = ConvertTo-Json -InputObject @{ exit = 'error: ' + $_.Exception.Message; data = $null } -Compress
    }
  } else {
    [void]$j.PS.BeginStop($null, $null)
    $json = '{"exit":"124","data":null}'
  }
  '"' + $j.Name + '":' + $json
}
$rq_doc = '{"v":1,"checks":{' + ($rq_parts -join ',') + '}}'
[Console]::Out.Write($rq_marker + ' ' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($rq_doc)) + "`n")
[Console]::Out.Flush()
# a stopped check may still hold a thread: end the process, not just the script
[Environment]::Exit(0)
"""


def quote(value: str) -> str:
    """A PowerShell single-quoted literal: nothing inside is expanded; `'` (and its typographic
    look-alikes, which PowerShell also takes as quotes) is doubled."""
    escaped = "".join(ch * 2 if ch in "'\u2018\u2019\u201a\u201b" else ch for ch in value)
    return f"'{escaped}'"


def quote_list(values: Iterable[str]) -> str:
    """`@('a','b')`: a PowerShell array of literals."""
    return "@(" + ",".join(quote(v) for v in values) + ")"


def build(checks: Iterable[Check], policy: Policy, nonce: str, timeout: float) -> str:
    """The Windows PowerShell script that gathers every check's state in one go."""
    common = COMMON.replace("__DEPTH__", str(JSON_DEPTH)).replace("__MAX__", str(MAX_CHECK_JSON))
    parts = [
        PRELUDE,
        f"$rq_marker = {quote(MARKER + nonce)}",
        f"$rq_limit_ms = {max(1000, int(timeout * 1000))}",
        "$rq_common = {" + common + "}",
        "$rq_checks = New-Object System.Collections.ArrayList",
        _add("host", HOST),
    ]
    for check in checks:
        snippet = check.snippet("windows", policy)
        if snippet is not None:
            parts.append(_add(check.name, snippet))
    parts.append(RUNNER)
    return "\n".join(parts)


def _add(name: str, body: str) -> str:
    return f"[void]$rq_checks.Add(@({quote(name)}, {{{body}}}))"


class HostInfo(BaseModel):
    """What the `host` block returns: the fields the sweep needs, as the cmdlets type them."""

    model_config = ConfigDict(extra="ignore")

    Caption: str = ""
    Version: str = ""
    BuildNumber: str = ""
    ProductType: int | None = None
    UBR: int | None = None
    DisplayVersion: str | None = None
    ReleaseId: str | None = None
    EditionID: str | None = None
    InstallationType: str | None = None
    Now: Any = None
    UtcOffsetMinutes: int = 0
    TimeZone: str = ""
    PSVersion: str = ""

    @property
    def server(self) -> bool:
        """ProductType 2 (domain controller) and 3 (server) are Server SKUs."""
        return self.ProductType in (2, 3) or (self.InstallationType or "").startswith("Server")


def split(lines: Iterable[str], script: Script) -> Sections:
    """The host's output back into the sections the checks read, in the Linux path's shape:
    `<check>.json` (its object as JSON), `<check>.__exit` (`0`, `124` or `error: …`) and
    `host.*`. No marker, or a marker with garbage after it, gives no sections at all; two
    markers, a repeated key or a check the script did not run mean the document was not
    the script's own (`sections.tampered`)."""
    marker = f"{MARKER}{script.nonce} "
    sections = Sections()
    found = [line for line in lines if line.startswith(marker)]
    if not found:
        return sections
    try:
        document = _strict_json(base64.b64decode(found[0][len(marker) :].strip(), validate=True))
        checks = document["checks"]
    except _Duplicate as exc:
        sections.tampered = str(exc)
        return sections
    except (binascii.Error, ValueError, KeyError, TypeError):
        return sections
    if not isinstance(checks, dict):
        return sections
    unexpected = sorted(set(checks) - set(script.checks))
    if len(found) > 1 or unexpected:
        why = "the result marker appears twice" if len(found) > 1 else "unexpected checks"
        sections.tampered = f"{why}: {clean(', '.join(unexpected), 120)}".rstrip(": ")
        return sections
    for name, result in checks.items():
        if not isinstance(result, dict):
            continue
        sections[f"{name}.__exit"] = clean(str(result.get("exit", "")), 600)
        if result.get("data") is not None:
            sections[f"{name}.json"] = json.dumps(result["data"], ensure_ascii=False)
    host = sections.get("host.json")
    if host is not None:
        sections.update(host_sections(json.loads(host)))
    sections.complete = True
    return sections


class _Duplicate(ValueError):
    """A JSON object with a key twice: ConvertTo-Json never writes one."""


def _strict_json(raw: bytes) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in items:
            if key in result:
                raise _Duplicate(f"a key appears twice in the result document: {clean(key, 60)}")
            result[key] = value
        return result

    return json.loads(raw, object_pairs_hook=pairs)


def host_sections(data: Any) -> dict[str, str]:
    """`host.os_release`, `host.clock`, `host.zone` as the Linux script writes them, so one
    HostFacts parser serves both. End-of-life tables key Windows by build number and by
    family (`windows`, `windows-server`, `windows-ltsc`; Enterprise/Education editions first
    try their own longer dates), because a client and a server release can share a build."""
    try:
        info = HostInfo.model_validate(data)
    except ValidationError:  # not an object, or fields of the wrong type: no facts
        return {}
    edition = (info.EditionID or "").lower()
    os_id, like = ("windows-server" if info.server else "windows"), ""
    if not info.server and edition.rstrip("n").endswith("enterprises"):
        os_id, like = "windows-ltsc", "windows-enterprise windows"
    elif not info.server and edition.startswith(("enterprise", "education", "iot")):
        os_id, like = "windows-enterprise", "windows"
    build = f"{info.BuildNumber}.{info.UBR}" if info.UBR is not None else info.BuildNumber
    release = info.DisplayVersion or info.ReleaseId or ""
    pretty = " ".join(p for p in (info.Caption.strip(), release, f"(build {build})") if p)
    lines = [
        f"ID={os_id}",
        f"ID_LIKE={like}",
        f"VERSION_ID={info.BuildNumber}",
        f"BUILD_ID={build}",
        f'PRETTY_NAME="{clean(pretty, 120)}"',
        f"VARIANT_ID={'server' if info.server else 'workstation'}",
    ]
    sections = {
        "host.os_release": "\n".join(lines),
        "host.zone": clean(info.TimeZone, 64),
        "host.windows": json.dumps(info.model_dump(exclude={"Now"}), ensure_ascii=False),
    }
    now = parse_date(info.Now)
    if now is not None:
        offset = info.UtcOffsetMinutes
        sign = "-" if offset < 0 else "+"
        sections["host.clock"] = (
            f"{int(now.timestamp())} {sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
        )
    return sections
