"""`av`: an antivirus is installed, running, and its signatures are fresh (SPEC §3).

On Linux ClamAV is read closely (packages, clamd, database age); other products are
recognised by their process names from `data/linux_av.yml`. Windows hosts are judged in
`checks/windows/av.py` (Defender, Security Center, services). The database age comes from
the best source the host offers, in order: the build time in a .cvd/.cld header, the last
successful update in freshclam's log, the newest database file's modification time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, Field

from checks.base import Check, Context, HostFacts, Sections, clean, ctime, load_data
from checks.windows import av as windows
from raquet.models import Finding, Host, OsName, Severity
from raquet.policy import Policy

LINUX = r"""
rq av.procs
for f in /proc/[0-9]*/comm; do read -r c < "$f" && echo "$c"; done 2>/dev/null | sort -u
rq av.clamav
for b in clamd clamscan freshclam clamdscan clamonacc; do
  p=$(command -v "$b" 2>/dev/null) && echo "bin $b $p"
done
if command -v dpkg-query >/dev/null 2>&1; then
  dpkg-query -W -f='pkg ${Package} ${Version} ${db:Status-Abbrev}\n' 'clamav*' 2>/dev/null
elif command -v rpm >/dev/null 2>&1; then
  rpm -qa --qf 'pkg %{NAME} %{VERSION}-%{RELEASE} ii\n' 'clamav*' 'clamd' 2>/dev/null
fi
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  for u in clamav-daemon clamd@scan clamav-freshclam clamav-clamonacc; do
    echo "unit $u $(systemctl is-active "$u" 2>/dev/null)"
  done
fi
rq av.db
for d in /var/lib/clamav /var/clamav /usr/local/share/clamav; do
  for f in "$d"/*.cvd "$d"/*.cld "$d"/*.cud "$d"/*.?db "$d"/*.hsb "$d"/*.msb "$d"/*.yar*; do
    [ -f "$f" ] || continue
    echo "file $(stat -c %Y "$f") $f"
    case "$f" in *.cvd|*.cld|*.cud) printf 'header '; head -c 512 "$f" | tr -d '\000\n'; echo;; esac
  done
done
rq av.freshclam_log
for f in /var/log/clamav/freshclam.log /var/log/freshclam.log; do
  [ -r "$f" ] && tail -n 300 "$f"
done
"""

_LOG_LINE = re.compile(
    r"^(?P<ts>\w{3} \w{3} +\d{1,2} \d\d:\d\d:\d\d \d{4}) -> .*?"
    r"\b(?:daily|main|bytecode)\.c[lv]d\b.*?\b(?:updated|up[- ]to[- ]date)\b"
)


class Product(BaseModel):
    name: str
    processes: list[str]
    management: list[str] = Field(default_factory=list)


@cache
def products() -> list[Product]:
    table: Any = load_data("linux_av.yml")
    return [Product.model_validate(p) for p in table["products"]]


class DbFile(BaseModel):
    path: str
    mtime: datetime
    build_time: datetime | None = None


class AvState(BaseModel):
    processes: set[str] = Field(default_factory=set)
    binaries: dict[str, str] = Field(default_factory=dict)
    packages: dict[str, str] = Field(default_factory=dict)
    units: dict[str, str] = Field(default_factory=dict)
    db_files: list[DbFile] = Field(default_factory=list)
    freshclam_updates: list[datetime] = Field(default_factory=list)

    @property
    def clamav_installed(self) -> bool:
        return bool(self.packages) or "clamd" in self.binaries or "clamscan" in self.binaries

    def signature_time(
        self,
    ) -> tuple[datetime | None, Literal["cvd_header", "freshclam_log", "file_mtime"] | None]:
        built = [f.build_time for f in self.db_files if f.build_time]
        if built:
            return max(built), "cvd_header"
        if self.freshclam_updates:
            return max(self.freshclam_updates), "freshclam_log"
        if self.db_files:
            return max(f.mtime for f in self.db_files), "file_mtime"
        return None, None


def parse_cvd_header(header: str) -> datetime | None:
    """`ClamAV-VDB:07 Oct 2024 08-34 -0400:27420:2067990:90:md5:dsig:builder:stime`; stime is epoch."""
    fields = header.strip().split(":")
    if len(fields) < 2 or fields[0] != "ClamAV-VDB":
        return None
    built = epoch(fields[8].strip(), UTC) if len(fields) >= 9 else None
    if built is not None:
        return built
    try:
        return datetime.strptime(fields[1].strip(), "%d %b %Y %H-%M %z")
    except ValueError:
        return None


def epoch(text: str, tz: tzinfo) -> datetime | None:
    """Seconds since 1970 as a time; None when the text is no such number or one no datetime
    holds (a host's `stat` or database header may say anything)."""
    if not text.isdigit():
        return None
    try:
        return datetime.fromtimestamp(int(text), tz)
    except (OverflowError, OSError, ValueError):
        return None


class AvCheck(Check[AvState | windows.WindowsAvState]):
    name = "av"
    title = "Antivirus"

    def snippet(self, os: OsName, policy: Policy) -> str | None:
        return LINUX if os == "linux" else windows.snippet()

    def parse(self, sections: Sections, facts: HostFacts) -> AvState | windows.WindowsAvState:
        if facts.windows:
            return windows.parse(sections, facts)
        state = AvState(processes={clean(p, 64) for p in sections.lines("av.procs")})
        for line in sections.lines("av.clamav"):
            kind, _, rest = line.partition(" ")
            parts = rest.split(" ")
            if kind == "bin" and len(parts) >= 2:
                state.binaries[parts[0]] = clean(" ".join(parts[1:]))
            elif kind == "pkg" and len(parts) >= 3 and parts[2].startswith("ii"):
                state.packages[clean(parts[0], 64)] = clean(parts[1], 64)
            elif kind == "unit" and parts:
                state.units[parts[0]] = parts[1] if len(parts) > 1 else ""
        for line in sections.lines("av.db"):
            kind, _, rest = line.partition(" ")
            if kind == "file":
                stamp, _, path = rest.partition(" ")
                mtime = epoch(stamp, facts.tz)
                if mtime is not None:
                    state.db_files.append(DbFile(path=clean(path), mtime=mtime))
            elif kind == "header" and state.db_files:
                state.db_files[-1].build_time = parse_cvd_header(rest)
        for line in sections.lines("av.freshclam_log"):
            match = _LOG_LINE.match(line)
            if match is None:
                continue
            try:
                local = ctime(match["ts"])
            except ValueError:  # a garbled date
                continue
            state.freshclam_updates.append(local.replace(tzinfo=facts.tz))
        return state

    def evaluate(
        self, state: AvState | windows.WindowsAvState, host: Host, facts: HostFacts, ctx: Context
    ) -> Finding:
        if isinstance(state, windows.WindowsAvState):
            return windows.evaluate(state, facts, ctx)
        running = [p for p in products() if any(proc in state.processes for proc in p.processes)]
        clamd = "clamd" in state.processes or state.units.get("clamav-daemon") == "active"
        signed_at, source = state.signature_time()
        age = round((facts.now - signed_at) / timedelta(days=1), 1) if signed_at else None
        others = [p for p in running if p.name != "ClamAV"]
        managed = any(m in state.processes for p in running for m in p.management)
        evidence: dict[str, Any] = {
            "product": "ClamAV"
            if state.clamav_installed and (clamd or not others)
            else (others[0].name if others else None),
            "installed": state.clamav_installed or bool(others),
            "running": clamd or bool(others),
            "realtime": clamd or bool(others),
            "on_access": "clamonacc" in state.processes,
            "signature_age_days": age,
            "signature_time": signed_at.isoformat() if signed_at else None,
            "signature_source": source,
            "products_running": [p.name for p in running],
            "managed": managed,
            "clamav_packages": state.packages,
            "database_files": [f.path for f in state.db_files][:20],
        }
        limit = ctx.policy.av.max_signature_age_days

        def finding(status: Literal["pass", "fail"], severity: Severity, title: str) -> Finding:
            return Finding(
                check=self.name, status=status, severity=severity, title=title, evidence=evidence
            )

        if not evidence["installed"] and evidence["running"]:
            # e.g. a clamd of a container or namespace seen in /proc, or one copied by hand
            return finding(
                "fail", "high", "An antivirus process runs, but no antivirus is installed"
            )
        if not evidence["installed"]:
            return finding("fail", "high", "No antivirus is installed")
        if others and not clamd:
            return finding("pass", "info", f"{others[0].name} is running")
        if not clamd:
            return finding("fail", "high", "ClamAV is installed but clamd is not running")
        if age is None:
            return finding("fail", "high", "ClamAV has no signature database")
        if age > limit:
            return finding("fail", "high", f"ClamAV database is {age:g} days old (limit {limit:g})")
        return finding("pass", "info", f"ClamAV is running; signatures {age:g} days old")


CHECK = AvCheck()
