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

**The swept host is the adversary.** clamd's socket is world-writable on Debian, so any
user can have clamd scan, and log, any name they choose, and clamd writes that name raw:
newlines included. A name can therefore carry whole lines that look like clamd's own. So:

- Records are kept whole on the host (`RECORDS`): in a clamd log a line that does not start
  with clamd's timestamp continues the record above it; backslashes and the joined
  newlines are escaped, so the jump host reads one record per line, never a half.
- A detection is accepted only in the exact format of its source, and a line is never a
  detection of its own when it may be the rest of a file name: after a path that clamd has
  not finished (`/…` without `: NAME FOUND`, `: OK` or ` ERROR`), a timestamped line is
  still that path; after a warning that ends in a path, so is a `FOUND` line stamped the
  same second. In a clamscan log, which has no timestamps, a line clamscan could not have
  begun with is the rest of the name above it.
- Times only move forward: a record dated before the one above it (the rotated `.1` file
  read first) is backdated, one dated after the sweep is from the future; neither is a
  detection. A clamscan summary must count the results above it, and a run's results wait
  for the next summary: one forged inside a name leaves the run's own summary miscounting.
- The journal says itself when it received each entry: a syslog entry is one record whole;
  clamd's stdout lines can only continue a record within one write (one receive time), and
  their own timestamps must agree with the journal's.
- Whatever is odd — a name with a line break, a line no ClamAV writes, a backdated record,
  a miscounting summary, more records than were read — is listed as suspicious and fails
  the check as critical, even when no detection is left.

What a crafted name can still do:

- Write lines that are, byte for byte, what clamd or clamscan would have written: a
  complete detection line after a line that looks finished, dated between the record
  above it and the sweep. It is read as a detection — a false positive, under the name and
  path the attacker chose, stored and counted in the weekly letter.
- Turn a genuine detection into a suspicious line: a name that leaves a record unfinished
  (or a path warning stamped the same second) takes the next detection into itself. The
  check fails as critical and lists it, but it is not stored as a detection.
- In a clamscan log, knowing how many detections precede its file in the same run, forge a
  summary that counts them and re-date them to any time after the run above it in the file.
- Flood the log: only the newest MAX_RECORDS records are read; older ones that may be in
  the window make the check fail as critical, but are not stored.

It cannot date a detection before the record above it, make a forged line pass where a
name is unfinished, or — but for the clamscan re-dating above — make a genuine detection
vanish without the check failing. clamd logging to syslog (`LogSyslog yes`) gives the
journal one entry per record, which no name can forge.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from checks.base import Check, Context, HostFacts, Sections, clean, ctime
from checks.windows import infections as windows
from raquet.models import Detection, Finding, Host, OsName
from raquet.policy import Policy

MAX_RECORDS = 1000  # per log file (and for the journal, the scan), the newest
MAX_RECORD_BYTES = 4096  # a record longer than this is cut (PATH_MAX is 4096)
MAX_SOURCE_BYTES = 512 * 1024  # per log file: the check's whole budget is 4 MiB
MAX_EVIDENCE = 200
MAX_SUSPICIOUS = 50
FUTURE_SLACK = timedelta(hours=1)
JOURNAL_SKEW = timedelta(seconds=90)

# clamd's LogTime stamp, ctime(3) without the newline: `Wed Dec  2 00:07:23 2026 -> `
_STAMP_ERE = (
    "[A-Z][a-z][a-z] [A-Z][a-z][a-z] [ 0-9][0-9] "
    "[0-9][0-9]:[0-9][0-9]:[0-9][0-9] [0-9][0-9][0-9][0-9] -> "
)
# clamd's frequent lines that never hold a path or a detection, dropped on the host so the
# records read cover more days; dropping one cannot change how the records around it join
_NOISE = (
    "(SelfCheck: Database status OK\\.|SelfCheck: Database modification detected\\. Forcing "
    "reload\\.|Reading databases from [^ ]+|Database correctly reloaded \\([0-9]+ signatures\\)"
    "|Activating the newly loaded database\\.\\.\\.)"
)
LOG_NOISE = f"^{_STAMP_ERE}{_NOISE}$"
JOURNAL_NOISE = f'"MESSAGE":"({_STAMP_ERE})?{_NOISE}"'

RECORDS = rf"""
rq_records() {{
  awk -v format="$1" -v max={MAX_RECORD_BYTES} '
    function put(s, sep,   room) {{
      if (cut) return
      room = max - used - length(sep); if (room < 0) room = 0
      if (length(s) > room) {{ s = substr(s, 1, room); cut = 1 }}
      used += length(sep) + length(s)
      gsub(/\\/, "&&", s)
      printf "%s%s%s", sep, s, (cut ? "\\~" : "")
    }}
    BEGIN {{ stamp = "^{_STAMP_ERE}" }}
    NR == 1 && format == "auto" {{ format = ($0 ~ stamp) ? "clamd" : "clamscan" }}
    format == "clamd" && total && $0 !~ stamp {{ put($0, "\\n"); next }}
    format == "clamscan" && /^(Known viruses|Engine version|Scanned directories|Scanned files|Data scanned|Data read|Time): / {{ next }}
    {{ if (total++) printf "\n"; used = 0; cut = 0; printf "r "; put($0, "") }}
    END {{ if (total) printf "\n"; print "@format " format; print "@records " total + 0 }}
  ' | awk -v n={MAX_RECORDS} -v budget={MAX_SOURCE_BYTES} '
    BEGIN {{ first = 1 }}
    /^@/ {{ marks = marks $0 "\n"; next }}
    {{
      ring[++last] = $0; bytes += length($0) + 1
      while (last - first + 1 > n || bytes > budget) {{
        bytes -= length(ring[first]) + 1; delete ring[first]; first++
      }}
    }}
    END {{ for (i = first; i <= last; i++) print ring[i]; printf "%s", marks }}
  '
}}
"""
"""`rq_records FORMAT` (stdin): one output line per record, `r ` + the record with `\\` as
`\\\\` and each joined newline as `\\n` (`\\~` at the end: cut at MAX_RECORD_BYTES), the
newest that fit, then `@format clamd|clamscan|lines` and `@records N` (how many it read).
FORMAT `auto` is a log file: clamd's when its first line carries clamd's timestamp."""


def linux_snippet(policy: Policy) -> str:
    """Everything the policy names is quoted before it reaches the host's shell."""
    rules = policy.infections
    logs = " ".join(shlex.quote(p) for p in rules.log_paths)
    noise, quiet = shlex.quote(LOG_NOISE), shlex.quote(JOURNAL_NOISE)
    units = "-u clamav-daemon -u clamav-clamonacc"
    lines = [
        RECORDS,
        "rq infections.logs",
        f"for f in {logs}; do",
        '  for g in "$f.1" "$f"; do',
        '    [ -r "$g" ] || continue',
        '    echo "@file $g"',
        f'    grep -a -v -E {noise} "$g" 2>/dev/null | rq_records auto',
        "  done",
        "done",
        "rq infections.journal",
        "if [ -d /run/systemd/system ] && command -v journalctl >/dev/null 2>&1; then",
        "  fields=--output-fields=MESSAGE,_TRANSPORT,_PID",
        '  journalctl -q -n 0 "$fields" >/dev/null 2>&1 || fields=',
        f"  journalctl -q -o json $fields --since=-{int(rules.lookback_days) + 7}days {units} "
        f"2>/dev/null | grep -a -v -E {quiet} | rq_records lines",
        "fi",
        "rq infections.quarantine",
        f"for f in {shlex.quote(rules.quarantine_dir)}/*.json; do",
        '  [ -r "$f" ] && printf \'%s %s\\n\' "$(stat -c %Y "$f")" "$(head -c 8192 "$f" | tr -d \'\\n\')"',
        "done 2>/dev/null",
    ]
    if rules.scan:
        paths = " ".join(shlex.quote(p) for p in rules.scan_paths)
        scan = f"timeout {int(rules.scan_timeout)} clamscan -r -i --no-summary {paths} 2>/dev/null"
        lines += [
            "rq infections.scan",
            "if command -v clamscan >/dev/null 2>&1; then",
            "  exec 4>&1",  # clamscan's own exit status, past the pipe that escapes its output
            f"  st=$( {{ {{ {scan}; echo $? >&3; }} | rq_records clamscan >&4; }} 3>&1 )",
            '  exec 4>&-; echo "@exit $st"',
            "else echo '@missing'; fi",
        ]
    return "\n".join(lines) + "\n"


@dataclass(slots=True)
class SuspiciousLine:
    """A record of an AV log that is not what the AV writes, or that a file name forged."""

    source: str
    reason: str
    text: str
    at: datetime | None = None
    """When it was written, as far as the records around it tell; None: not known."""


@dataclass(slots=True)
class InfectionsState:
    detections: list[Detection] = field(default_factory=list)
    logs_read: list[str] = field(default_factory=list)
    scan: dict[str, Any] | None = None
    unavailable: str | None = None
    quarantined: dict[str, datetime] = field(default_factory=dict)
    """Original path -> when raquet quarantined the file there."""
    suspicious: list[SuspiciousLine] = field(default_factory=list)
    odd_names: list[tuple[datetime, str, str]] = field(default_factory=list)
    """(detected_at, path, name) of detections whose file name holds a line break."""


def visible(text: str, limit: int = 1024) -> str:
    """A host's text kept whole but printable: `\\` doubled, every other unprintable character
    as its escape (`\\n`, `\\x0b`, `\\u2028`), so two different names never look alike."""
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    kept = "".join(out)
    return kept if len(kept) <= limit else kept[: limit - 1] + "…"


@dataclass
class Source:
    """One log file (or the journal, or the scan) as `RECORDS` sent it."""

    name: str
    format: str = ""
    records: list[tuple[str, bool]] = field(default_factory=list)  # (text, cut)
    total: int = 0
    marks: dict[str, str] = field(default_factory=dict)  # the snippet's own `@exit`, `@missing`

    @property
    def dropped(self) -> int:
        """Records the host read but did not send (more than MAX_RECORDS or the byte budget)."""
        return max(0, self.total - len(self.records))


_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def _unescape(text: str) -> tuple[str, bool]:
    if "\\" not in text:
        return text, False  # nothing escaped (most records)
    cut = False

    def one(match: re.Match[str]) -> str:
        nonlocal cut
        if match[1] == "~":
            cut = True
            return ""
        return {"\\": "\\", "n": "\n"}.get(match[1], match[0])

    return _ESCAPE.sub(one, text), cut


def read_sources(lines: list[str], name: str) -> list[Source]:
    """The sources of one section: `@file PATH` starts each log file; the journal and the
    scan are one source each, named `name`. Lines that are neither records nor the
    snippet's markers (a tool's error message) are not records. A source without its
    `@format` was not read on the host (no awk?): that is no proof of no detection."""
    sources = _sources(lines, name)
    unread = [s.name for s in sources if not s.format and "missing" not in s.marks]
    if unread:
        raise ValueError(f"the host could not read {clean(', '.join(unread), 200)} (is awk there?)")
    return sources


def _sources(lines: list[str], name: str) -> list[Source]:
    sources: list[Source] = []
    for line in lines:
        if line.startswith("@file "):
            sources.append(Source(clean(line[6:], 256)))
            continue
        if not sources:
            sources.append(Source(name))
        current = sources[-1]
        if line.startswith("r "):
            current.records.append(_unescape(line[2:]))
        elif line.startswith("@format "):
            current.format = line[8:].strip()
        elif line.startswith("@records ") and line[9:].strip().isdigit():
            current.total = int(line[9:].strip())
        elif line.startswith("@"):
            mark, _, value = line[1:].partition(" ")
            current.marks[mark] = value.strip()
    return sources


class Reading:
    """What one source gave: detections, and suspicious lines with when they were written."""

    def __init__(self, source: str, kind: str) -> None:
        self.source = source
        self.kind = kind  # Detection.source
        self.detections: list[Detection] = []
        self.suspicious: list[SuspiciousLine] = []
        self.odd_names: list[tuple[datetime, str, str]] = []
        self._undated: list[SuspiciousLine] = []
        self.oldest: datetime | None = None  # the first in-order record's time

    def flag(self, reason: str, text: str, at: datetime | None = None) -> None:
        line = SuspiciousLine(source=self.source, reason=reason, text=visible(text, 300), at=at)
        self.suspicious.append(line)
        if at is None:
            self._undated.append(line)

    def settle(self, when: datetime) -> None:
        """Lines flagged undated were written before this in-order record: that bounds them."""
        self.oldest = self.oldest or when
        for line in self._undated:
            line.at = when
        self._undated = []

    def detect(self, path: str, name: str, when: datetime, text: str) -> None:
        found = Detection(
            name=clean(name, 256), path=visible(path), detected_at=when, source=self.kind
        )
        self.detections.append(found)
        if "\n" in path:
            self.odd_names.append((found.detected_at, found.path, found.name))
            self.flag(
                "a file name with a line break: one detection, under the whole name", text, when
            )

    def extend(self, other: Reading) -> None:
        self.detections += other.detections
        self.suspicious += other.suspicious
        self.odd_names += other.odd_names


# --- clamd: its log file and its journal -------------------------------------------------

_HEAD = re.compile(
    r"(?P<level>(?:WARNING|ERROR): )?"
    r"(?P<stamp>[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}) -> "
)
_LEVEL = re.compile(r"(?:WARNING|ERROR): ")
_STREAM = re.compile(r"(?:instream|stream)\([^()\n]*\)|fd\[[0-9]+\]")
_CLAMD_DONE = (" FOUND", ": OK", " ERROR")
# clamd messages that end with a path it does not terminate (clamd/scanner.c)
_PATH_LAST = (
    "File path check failure for: ",
    "File path check failure on: ",
    "Directory recursion limit reached, skipping ",
    "Memory allocation failed during cli_ftw() on ",
)


@dataclass
class ClamdRecord:
    """One record of clamd's: a timestamped head line and the lines a file name carried."""

    lines: list[str]
    stamp: str | None  # the head's timestamp text; None: the record has no head
    level: str  # `WARNING` or `ERROR` when clamd wrote one; detections have none
    body: str  # the message after the timestamp and the level
    group: tuple[str, str] | None = None  # journal: (pid, receive time) of the write
    received: datetime | None = None
    cut: bool = False

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def continued_by(self, line: str, stamp: str | None, group: tuple[str, str] | None) -> bool:
        """Whether the next line belongs to this record: one without a timestamp always does;
        a timestamped one when this record is a path clamd has not finished yet, or when it
        is a warning that ends in a path and the line, stamped the same second, holds a
        `FOUND` (a burst of such warnings is common and harmless, a forged detection not)."""
        if group != self.group:
            return False
        if stamp is None:
            return True
        message = self.body.split("\n", 1)[0].removeprefix("ScanOnAccess: ")
        if message.startswith("/"):
            return self.cut or not self.lines[-1].endswith(_CLAMD_DONE)
        return message.startswith(_PATH_LAST) and stamp == self.stamp and "FOUND" in line


def _head(line: str, level_first: bool) -> tuple[str | None, str, str]:
    """(timestamp, level, message) of a clamd line: `STAMP -> [LEVEL: ]MESSAGE` in its log
    file, `[LEVEL: ]STAMP -> MESSAGE` on its stdout (the journal); (None, "", line) without."""
    match = _HEAD.match(line)
    if match is None or (match["level"] and not level_first):
        return None, "", line
    rest = line[match.end() :]
    level = match["level"] or ""
    if not level_first and (after := _LEVEL.match(rest)):
        level, rest = after[0], rest[after.end() :]
    return match["stamp"], level, rest


def _hit(body: str) -> tuple[str, str] | None:
    """`PATH: NAME FOUND` -> (path, name): the name is what follows the last `: ` (clamd
    writes it after the path), the path is absolute or one of clamd's stream labels."""
    body = body.removeprefix("ScanOnAccess: ")
    if not body.endswith(" FOUND"):
        return None
    path, sep, name = body[: -len(" FOUND")].rpartition(": ")
    if not sep or not name or "\n" in name or name != name.strip():
        return None
    if not (path.startswith("/") or _STREAM.fullmatch(path)):
        return None
    return path, name


def _clamd_time(stamp: str, tz: tzinfo, after: datetime | None = None) -> datetime | None:
    """A clamd timestamp (the host's local time) as UTC; in the hour a DST change repeats, the
    reading that does not go back past `after`."""
    try:
        naive = ctime(stamp)
        first = naive.replace(tzinfo=tz).astimezone(UTC)
        if after is None or first >= after:
            return first
        return max(first, naive.replace(tzinfo=tz, fold=1).astimezone(UTC))
    except (ValueError, OverflowError):
        return None


def clamd_records(units: list[tuple[str, bool]]) -> list[ClamdRecord]:
    """A clamd log file's records (each unit already joined on the host) joined further where
    a timestamped line is the rest of an unfinished path."""
    records: list[ClamdRecord] = []
    for text, cut in units:
        stamp, level, body = _head(text, level_first=False)
        if records and records[-1].continued_by(text, stamp, None):
            records[-1].lines += text.split("\n")
            records[-1].body += "\n" + text
            records[-1].cut |= cut
        else:
            records.append(ClamdRecord(text.split("\n"), stamp, level, body, cut=cut))
    return records


def judge_clamd(
    records: list[ClamdRecord],
    reading: Reading,
    tz: tzinfo,
    now: datetime,
    since: datetime | None = None,
    partial: bool = False,
) -> datetime | None:
    """Detections and suspicious lines of one clamd log, in order; returns the time of its
    last in-order record, which the next file of the same log must not go back past. When
    older records were not read (`partial`) the first one read may be the rest of one of
    them, so it is not judged."""
    bar = since
    for record in records[1:] if partial else records:
        when = _clamd_time(record.stamp, tz, bar) if record.stamp else None
        problem = _clamd_problem(record, when, bar, now)
        if problem:
            reading.flag(problem, record.text)
            continue
        assert when is not None
        bar = when
        reading.settle(when)
        _clamd_verdict(record, when, reading)
    return bar


def _clamd_problem(
    record: ClamdRecord, when: datetime | None, bar: datetime | None, now: datetime
) -> str | None:
    if record.cut:
        return f"a record longer than the {MAX_RECORD_BYTES} bytes read"
    if record.stamp is None:
        return "a line without clamd's timestamp that continues no record"
    if when is None:
        return "a timestamp that is no date"
    if bar is not None and when < bar:
        return "dated before the record above it (backdated)"
    if when > now + FUTURE_SLACK:
        return "dated after the sweep"
    return None


def _clamd_verdict(record: ClamdRecord, when: datetime, reading: Reading) -> None:
    """An in-order record: a detection in clamd's exact format, or suspicious when it holds a
    line break or a `FOUND` that is not one."""
    hit = None if record.level else _hit(record.body)
    if hit:
        reading.detect(hit[0], hit[1], when, record.text)
    elif "\n" in record.text:
        reading.flag("a line break inside a record clamd wrote as one line", record.text, when)
    elif "FOUND" in record.body:
        reading.flag("a FOUND line not in clamd's detection format", record.text, when)


def parse_journal(lines: list[str], tz: tzinfo, now: datetime) -> tuple[Reading, int]:
    """clamd's journal, `journalctl -o json`: each entry says when journald received it and by
    which transport. A syslog entry is one clamd record, whole. clamd's stdout arrives line
    by line; the lines of one write share their receive time, so a record can continue only
    within its write, and its own timestamp must agree with the journal's. Returns the
    reading and how many entries were not read."""
    reading = Reading("journal", "clamav")
    source = (read_sources(lines, "journal") or [Source("journal")])[0]
    open_records: dict[str, ClamdRecord] = {}
    skipped: tuple[str, datetime] | None = None  # the first write, when older entries were dropped
    for text, cut in source.records:
        entry = _entry(text, cut, reading)
        if entry is None:
            continue
        transport, pid, received, message = entry
        if source.dropped and skipped in (None, (pid, received)):
            skipped = (pid, received)  # it may be the rest of a write not read
            continue
        if transport != "stdout":
            record = ClamdRecord([message], None, "", message, received=received)
            _journal_verdict(record, reading, tz)
            continue
        stamp, level, body = _head(message, level_first=True)
        group = (pid, received.isoformat())
        current = open_records.get(pid)
        if current is not None and current.continued_by(message, stamp, group):
            current.lines.append(message)
            current.body += "\n" + message
            continue
        if current is not None:
            _journal_verdict(current, reading, tz)
        open_records[pid] = ClamdRecord([message], stamp, level, body, group, received)
    for record in open_records.values():
        _journal_verdict(record, reading, tz)
    return reading, source.dropped


def _entry(text: str, cut: bool, reading: Reading) -> tuple[str, str, datetime, str] | None:
    """(transport, pid, received, message) of one journal entry; None for what is not one."""
    if cut:
        reading.flag(f"a journal entry longer than the {MAX_RECORD_BYTES} bytes read", text)
        return None
    try:
        entry = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(entry, dict):
        return None
    received = _realtime(entry.get("__REALTIME_TIMESTAMP"))
    if received is None:
        return None
    message = entry.get("MESSAGE")
    if isinstance(message, list) and all(isinstance(b, int) and 0 <= b < 256 for b in message):
        message = bytes(message).decode("utf-8", errors="replace")  # unprintable bytes in it
    if not isinstance(message, str):
        reading.flag("a clamd message longer than journalctl shows (4096 bytes)", text, received)
        return None
    return str(entry.get("_TRANSPORT")), str(entry.get("_PID")), received, message


def _realtime(value: object) -> datetime | None:
    if not isinstance(value, str) or not value.isdigit() or len(value) > 17:
        return None
    try:
        return datetime.fromtimestamp(int(value) // 1_000_000, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _journal_verdict(record: ClamdRecord, reading: Reading, tz: tzinfo) -> None:
    """A journal record is dated by the journal; clamd's own timestamp, when the line has
    one, must agree with it (clamd's is kept, so the log file's copy is the same detection)."""
    assert record.received is not None
    when = record.received
    if record.stamp is not None:
        own = _clamd_time(record.stamp, tz)
        if own is None or abs(own - record.received) > JOURNAL_SKEW:
            reading.flag("its own time is not when the journal received it", record.text, when)
            return
        when = own
    reading.settle(when)
    _clamd_verdict(record, when, reading)


# --- clamscan: its log files and the on-demand scan --------------------------------------

_CLAMSCAN_DONE = re.compile(
    r"(?: FOUND|: Excluded(?: \(/proc\))?|: Empty file|: Access denied| ERROR|: Symbolic link"
    r"|: Can't open directory\.| File(?:Hash|Type): .*)$"
)
# clamscan's warnings that carry a path (clamscan/manager.c), and how each one ends
_WARNINGS = {
    "WARNING: /": re.compile(r": (?:Not supported file type|Can't access file)$"),
    "WARNING: Can't open file /": re.compile(r": [A-Z][A-Za-z ,'()-]*$"),  # strerror(3)
}
_DASHES = re.compile(r"-{20,}")
_SUMMARY = "----------- SCAN SUMMARY -----------"
_SUMMARY_KEYS = re.compile(
    r"(?:Known viruses|Engine version|Scanned directories|Scanned files|Infected files"
    r"|Total errors|Data scanned|Data read|Time|Start Date|End Date|Not (?:moved|copied|removed))"
)
_OWN_LINES = ("WARNING: ", "ERROR: ", "LibClamAV ")


@dataclass
class _Scan:
    """One clamscan run being read: its result records, then its summary."""

    header: bool = False  # its `-----` line was read, so its summary must count its results
    found: list[tuple[str, str, str]] = field(default_factory=list)  # (path, name, text)
    summary: dict[str, str] | None = None


class ClamscanReader:
    """clamscan's lines in order. A result starts with `/` (a warning about a file, with
    `WARNING: /`); until clamscan finishes it (`: NAME FOUND`, ` ERROR`, `: Not supported
    file type`…) every following line is the rest of its file name, and so is a line after
    it that clamscan could not have started with (clamscan writes each result on one line:
    anything else that follows is a name's)."""

    def __init__(
        self,
        reading: Reading,
        tz: tzinfo,
        now: datetime,
        bar: datetime | None = None,
        partial: bool = False,
    ) -> None:
        self.reading, self.tz, self.now, self.bar = reading, tz, now, bar
        self.scan = _Scan()
        self.result: list[str] = []  # the lines of the result (or path warning) being read
        self.done = _CLAMSCAN_DONE  # how clamscan ends it
        self.finished = False  # whether its last line ends that way
        self.cut = False
        self.waiting = partial  # older lines were not read: start at the next scan's header
        self.held: list[tuple[str, str, str, datetime]] = []  # the last dated run's results

    def feed(self, line: str, cut: bool) -> None:
        if self.waiting:
            self.waiting = not _DASHES.fullmatch(line)
            self.scan = _Scan(header=not self.waiting)
        elif self.result and (not self.finished or not _starts(line)):
            self._add(line, cut)
        else:
            self._commit()
            self._line(line, cut)

    def _line(self, line: str, cut: bool) -> None:
        if self.scan.summary is not None:
            self._summary_line(line)
        elif line.startswith("/"):
            self.done = _CLAMSCAN_DONE
            self._add(line, cut)
        elif warning := next((w for w in _WARNINGS.items() if line.startswith(w[0])), None):
            self.done = warning[1]
            self._add(line, cut)
        elif _DASHES.fullmatch(line):
            for _, _, text in self.scan.found:
                self.reading.flag("a result of a scan that wrote no summary", text)
            self.scan = _Scan(header=True)
        elif line == _SUMMARY:
            self.scan.summary = {}
        elif "FOUND" in line:
            self.reading.flag("a FOUND line not in clamscan's detection format", line)
        elif line.strip() and not line.startswith(_OWN_LINES):
            self.reading.flag("a line clamscan does not write", line)

    def _add(self, line: str, cut: bool) -> None:
        self.result.append(line)
        self.cut |= cut
        self.finished = bool(self.done.search(line))

    def _commit(self) -> None:
        """The result read so far is whole: a detection in clamscan's format, or suspicious."""
        if not self.result:
            return
        text, finished, cut = "\n".join(self.result), self.finished, self.cut
        self.result, self.finished, self.cut = [], False, False
        hit = _hit(text) if finished and not cut and text.startswith("/") else None
        if hit:
            self.scan.found.append((*hit, text))
        elif cut:
            self.reading.flag(f"a result longer than the {MAX_RECORD_BYTES} bytes read", text)
        elif not finished:
            self.reading.flag("a result clamscan did not finish", text)
        elif "\n" in text or "FOUND" in text:
            self.reading.flag("a line break or FOUND in a line clamscan wrote", text)

    def _summary_line(self, line: str) -> None:
        summary = self.scan.summary
        assert summary is not None
        key, sep, value = line.partition(": ")
        if not sep or not _SUMMARY_KEYS.fullmatch(key):
            self.reading.flag("a line inside clamscan's summary that it does not write", line)
        elif key == "End Date":
            self._dated(summary)
            self.scan = _Scan()
        else:
            summary[key] = value.strip()

    def _dated(self, summary: dict[str, str]) -> None:
        """The scan's results take its `Start Date`, unless the summary is not the scan's.
        They are held until the next summary is read: a summary forged inside a file name
        counts right for the results above it, but then the run's own summary, below,
        cannot count what is left, and both runs' results are suspicious."""
        when = _scan_start(summary.get("Start Date", ""), self.tz, self.bar)
        problem = self._summary_problem(summary, when)
        if problem:
            for *_, text, _ in self.held:
                self.reading.flag(f"{problem} (the scan below this one)", text)
            for *_, text in self.scan.found:
                self.reading.flag(problem, text)
            self.held = []
            return
        assert when is not None
        self._release()
        self.held = [(path, name, text, when) for path, name, text in self.scan.found]
        self.bar = when
        self.reading.settle(when)

    def _release(self) -> None:
        for path, name, text, when in self.held:
            self.reading.detect(path, name, when, text)
        self.held = []

    def _summary_problem(self, summary: dict[str, str], when: datetime | None) -> str | None:
        if when is None:
            return "a scan summary without a valid Start Date"
        if self.bar is not None and when < self.bar:
            return "a scan summary dated before the one above it (backdated)"
        if when > self.now + FUTURE_SLACK:
            return "a scan summary dated after the sweep"
        counted = summary.get("Infected files", "")
        paths = len({path for path, _, _ in self.scan.found})
        if self.scan.header and counted != str(paths):
            return f"the scan's summary counts {clean(counted, 20)} infected files, its log {paths}"
        return None

    def finish(self, dated_at: datetime | None) -> datetime | None:
        """The end of the source: results without a summary are dated `dated_at` (the
        on-demand scan runs with `--no-summary`) or wait for their summary (a log)."""
        self._commit()
        self._release()
        if dated_at is not None:
            for path, name, text in self.scan.found:
                self.reading.detect(path, name, dated_at, text)
        return self.bar


def _starts(line: str) -> bool:
    """Whether clamscan could have started this line itself (else it is a file name's rest)."""
    return (
        not line.strip()
        or line.startswith(("/", *_OWN_LINES))
        or line == _SUMMARY
        or bool(_DASHES.fullmatch(line))
    )


def _scan_start(text: str, tz: tzinfo, after: datetime | None) -> datetime | None:
    try:
        naive = datetime.strptime(text, "%Y:%m:%d %H:%M:%S")
        first = naive.replace(tzinfo=tz).astimezone(UTC)
        if after is None or first >= after:
            return first
        return max(first, naive.replace(tzinfo=tz, fold=1).astimezone(UTC))
    except (ValueError, OverflowError):
        return None


# --- the check's sections ----------------------------------------------------------------


@dataclass
class LogsReading:
    reading: Reading
    files: list[str]
    dropped: dict[str, tuple[int, datetime | None]]
    """File -> (records not read, the oldest read record's time)."""


def parse_logs(lines: list[str], tz: tzinfo, now: datetime) -> LogsReading:
    """Every log file in its own format; a rotated `.1` file is read first, and the current
    file must not go back past its last record."""
    total = Reading("logs", "clamav")
    files: list[str] = []
    dropped: dict[str, tuple[int, datetime | None]] = {}
    bars: dict[str, datetime | None] = {}
    for source in read_sources(lines, "logs"):
        files.append(source.name)
        base = source.name.removesuffix(".1")
        reading = Reading(source.name, "clamav" if source.format == "clamd" else "clamscan")
        partial = source.dropped > 0
        if source.format == "clamd":
            records = clamd_records(source.records)
            bars[base] = judge_clamd(records, reading, tz, now, bars.get(base), partial)
        else:
            clamscan = ClamscanReader(reading, tz, now, bars.get(base), partial)
            for text, cut in source.records:
                clamscan.feed(text, cut)
            bars[base] = clamscan.finish(None)
        if partial:
            dropped[source.name] = (source.dropped, reading.oldest)
        total.extend(reading)
    return LogsReading(total, files, dropped)


def parse_quarantine(lines: list[str]) -> dict[str, datetime]:
    """`MTIME {"original_path": …}` per quarantine record; the newest record per path wins."""
    found: dict[str, datetime] = {}
    for line in lines:
        stamp, _, text = line.partition(" ")
        try:
            record = json.loads(text)
        except (ValueError, RecursionError):
            continue
        path = record.get("original_path") if isinstance(record, dict) else None
        if stamp.isdigit() and len(stamp) <= 12 and isinstance(path, str):
            when = datetime.fromtimestamp(int(stamp), UTC)
            key = clean(path, 1024)
            found[key] = max(when, found.get(key, when))
    return found


def parse_scan(lines: list[str], now: datetime) -> tuple[Reading, dict[str, Any]]:
    """The on-demand `clamscan -i --no-summary`: its results are dated by the sweep."""
    reading = Reading("scan", "clamscan")
    source = (read_sources(lines, "scan") or [Source("scan")])[0]
    if "missing" in source.marks:
        return reading, {"ran": False, "reason": "clamscan is not installed"}
    clamscan = ClamscanReader(reading, UTC, now, None)
    for text, cut in source.records:
        clamscan.feed(text, cut)
    clamscan.finish(now)
    status: dict[str, Any] = {"ran": True, "exit": clean(source.marks.get("exit", ""), 8) or None}
    if status["exit"] == "124":
        status["reason"] = "the scan hit its time limit; results are partial"
    return reading, status


class InfectionsCheck(Check[InfectionsState]):
    name = "infections"
    title = "Infections"

    def snippet(self, os: OsName, policy: Policy) -> str | None:
        return linux_snippet(policy) if os == "linux" else windows.SNIPPET

    def parse(self, sections: Sections, facts: HostFacts) -> InfectionsState:
        if facts.windows:
            found, sources, unavailable = windows.parse(sections)
            kept, odd = _in_range(found)
            return InfectionsState(
                detections=_unique(kept), logs_read=sources, unavailable=unavailable, suspicious=odd
            )
        logs = parse_logs(sections.lines("infections.logs"), facts.tz, facts.now)
        reading = logs.reading
        journal, unread = parse_journal(sections.lines("infections.journal"), facts.tz, facts.now)
        reading.extend(journal)
        if unread:
            logs.dropped["journal"] = (unread, journal.oldest)
        scan = None
        if "infections.scan" in sections:
            scanned, scan = parse_scan(sections.lines("infections.scan"), facts.now)
            reading.extend(scanned)
        for name, (count, oldest) in logs.dropped.items():
            reading.suspicious.append(_unread(name, count, oldest))
        return InfectionsState(
            detections=_unique(reading.detections),
            logs_read=logs.files,
            scan=scan,
            quarantined=parse_quarantine(sections.lines("infections.quarantine")),
            suspicious=reading.suspicious,
            odd_names=reading.odd_names,
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
        suspicious = [s for s in state.suspicious if s.at is None or s.at >= since]
        evidence = self._evidence(state, facts, active, dealt, suspicious, lookback)
        evidence["detections_in_window"] = len(recent)
        if not state.logs_read and state.scan is None and not state.detections and not suspicious:
            return Finding(
                check=self.name,
                status="not_applicable",
                severity="info",
                title="No AV detection log on the host to read",
                evidence=evidence,
            )
        if suspicious or active:
            return self._failed(active, suspicious, lookback, evidence, facts.windows)
        title = f"No malware detected in the last {lookback:g} days"
        if recent:
            title = (
                f"{len(dealt)} malware detection(s) in the last {lookback:g} days, all quarantined"
            )
        return Finding(
            check=self.name, status="pass", severity="info", title=title, evidence=evidence
        )

    def _failed(
        self,
        active: list[Detection],
        suspicious: list[SuspiciousLine],
        lookback: float,
        evidence: dict[str, Any],
        defender: bool,
    ) -> Finding:
        parts = []
        if active:
            names = sorted({d.name for d in active})
            parts.append(
                f"{len(active)} malware detection(s) in the last {lookback:g} days "
                f"({', '.join(names[:3])})"
            )
        if suspicious and defender:
            parts.append("Defender's detection history holds forged or suspicious records")
        elif suspicious:
            parts.append("ClamAV's log holds forged or suspicious lines")
        return Finding(
            check=self.name,
            status="fail",
            severity="critical",
            title="; ".join(parts),
            evidence=evidence,
        )

    def _evidence(
        self,
        state: InfectionsState,
        facts: HostFacts,
        active: list[Detection],
        dealt: list[Detection],
        suspicious: list[SuspiciousLine],
        lookback: float,
    ) -> dict[str, Any]:
        odd = set(state.odd_names)

        def shown(d: Detection) -> dict[str, Any]:
            return {
                "name": d.name,
                "path": d.path,
                "detected_at": d.detected_at.astimezone(facts.tz).isoformat(),
                "source": d.source,
                **({"action": d.action} if d.action else {}),
                **({"suspicious_name": True} if (d.detected_at, d.path, d.name) in odd else {}),
            }

        evidence: dict[str, Any] = {
            "detections": [shown(d) for d in active[-MAX_EVIDENCE:]],
            "quarantined": [
                {
                    **shown(d),
                    "quarantined_at": state.quarantined[d.path].astimezone(facts.tz).isoformat(),
                }
                for d in dealt[-MAX_EVIDENCE:]
            ],
            "detections_in_logs": len(state.detections),
            "lookback_days": lookback,
            "logs_read": state.logs_read,
            "scan": state.scan,
            "suspicious": [
                {
                    "source": s.source,
                    "reason": s.reason,
                    "text": s.text,
                    **({"at": s.at.astimezone(facts.tz).isoformat()} if s.at else {}),
                }
                for s in suspicious[-MAX_SUSPICIOUS:]
            ],
            "suspicious_count": len(suspicious),
        }
        if state.unavailable:
            evidence["unavailable"] = state.unavailable
        return evidence


def _unread(name: str, count: int, oldest: datetime | None) -> SuspiciousLine:
    """More records than were read: an AV log flooded to push detections out of reach looks
    like this. It counts while the oldest record read is inside the window."""
    return SuspiciousLine(
        source=name,
        reason=f"{count} older record(s) were not read (more than {MAX_RECORDS} or "
        f"{MAX_SOURCE_BYTES // 1024} KiB)",
        text="",
        at=oldest,
    )


def _in_range(found: list[Detection]) -> tuple[list[Detection], list[SuspiciousLine]]:
    """Defender's detections in UTC; one dated where no clock can be (year 9999 west of UTC)
    is no detection to store or show, but a record the host garbled or forged."""
    kept, odd = [], []
    for d in found:
        try:
            kept.append(d.model_copy(update={"detected_at": d.detected_at.astimezone(UTC)}))
        except OverflowError:
            text = f"{d.name}: {d.path} at {d.detected_at.isoformat()}"
            odd.append(
                SuspiciousLine(
                    source=windows.SOURCE, reason="dated past any clock", text=visible(text, 300)
                )
            )
    return kept, odd


def _unique(found: list[Detection]) -> list[Detection]:
    unique = {(d.detected_at, d.path, d.name): d for d in found}
    return sorted(unique.values(), key=lambda d: d.detected_at)


CHECK = InfectionsCheck()
