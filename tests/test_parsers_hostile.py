"""Parsers of host output against a hostile host (Hypothesis): whatever a host sends, a check
gives a finding (the only exception a parser may raise is the ValueError family that
`Check.judge` turns into an `error` finding), and ClamAV's detections are only ever what
its logs hold as well-formed records of their own source.

ClamAV's logs are read through the real snippet, run by this machine's /bin/sh through the
real script and frame reader (`gather`): the awk that joins and escapes records on the host
is under test as much as the parser. The journal's half of the snippet is run directly
(`journal_records`): this machine has no systemd to ask. How journald splits clamd's stdout
into entries is modelled on what real journald 252 did with real clamd 1.4.3 output,
recorded in tests/fixtures/checks/infections/raw/ (record.sh says how).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import tempfile
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from checks import infections, registry
from checks.base import Context, HostFacts, Sections, clean
from checks.infections import (
    _CLAMD_DONE,
    _CLAMSCAN_DONE,
    _WARNINGS,
    JOURNAL_NOISE,
    RECORDS,
    parse_journal,
    parse_logs,
    visible,
)
from raquet.framing import split
from raquet.models import Host
from raquet.policy import Policy
from raquet.script import build

FIXTURES = Path(__file__).parent / "fixtures" / "checks"
NOW = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)
LINUX = Host(name="h", address="192.0.2.1")
WINDOWS = Host(name="w", address="192.0.2.2", os="windows")
HOSTILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
AWKS = [a for a in ("mawk", "gawk", "busybox") if shutil.which(a)] or ["awk"]


# --- running the real snippet ------------------------------------------------------------


def snippet_sections(logs: dict[str, bytes], awk: str = "awk") -> Sections:
    """The infections check's real snippet over `logs` (name -> content, `.1` for a rotated
    file) in a scratch directory the policy's `log_paths` point at, run by /bin/sh with
    `rq` printing a plain marker: the snippet whole, without the frame around it."""
    with tempfile.TemporaryDirectory() as tmp:
        snippet = infections.linux_snippet(_policy(logs, tmp))
        text = f'export LC_ALL=C\nrq() {{ echo "@@rq $1"; }}\n{_with_awk(snippet, awk)}'
        out = subprocess.run(["sh", "-c", text], capture_output=True, timeout=60).stdout
    sections = Sections({"infections.__exit": "0"})
    for chunk in out.decode("utf-8", "replace").split("@@rq ")[1:]:
        name, _, body = chunk.partition("\n")
        sections[name] = body.replace(tmp + "/", "/logs/").strip("\n")
    return sections


def _policy(logs: dict[str, bytes], tmp: str) -> Policy:
    bases = []
    for name, data in logs.items():
        (Path(tmp) / name).write_bytes(data)
        if not name.endswith(".1"):
            bases.append(str(Path(tmp) / name))
    return Policy.model_validate({"infections": {"log_paths": bases}})


def gather(logs: dict[str, bytes], awk: str = "awk") -> Sections:
    """The infections check's real snippet over `logs` (name -> content, `.1` for a rotated
    file), written into a scratch directory that the policy's `log_paths` point at; `awk`
    names the awk its two `awk` commands run (busybox's is an applet)."""
    with tempfile.TemporaryDirectory() as tmp:
        policy = _policy(logs, tmp)
        with patch.object(infections, "RECORDS", _with_awk(RECORDS, awk)):
            script = build([registry()["infections"]], "linux", policy, 60)
        out = subprocess.run(
            ["sh", "-s"], input=script.text.encode(), capture_output=True, timeout=120
        ).stdout
        sections = split(out, script)
        sections["infections.logs"] = sections["infections.logs"].replace(tmp + "/", "/logs/")
    return sections


def _with_awk(text: str, awk: str) -> str:
    return text.replace("awk -v", f"{awk}{' awk' if awk == 'busybox' else ''} -v")


def journal_records(data: bytes, awk: str = "awk") -> str:
    """The snippet's journal pipeline after `journalctl -o json`: drop clamd's noise, then
    `rq_records lines`."""
    noise = shlex.quote(JOURNAL_NOISE)
    script = (
        f"export LC_ALL=C\n{_with_awk(RECORDS, awk)}\ngrep -a -v -E {noise} | rq_records lines\n"
    )
    done = subprocess.run(["sh", "-c", script], input=data, capture_output=True, timeout=60)
    return done.stdout.decode("utf-8", "replace")


def facts(zone: str = "UTC", now: datetime = NOW) -> HostFacts:
    return HostFacts(now=now, zone=zone)


def judged(check: str, sections: Sections, host: Host = LINUX, **kw: Any) -> Any:
    """The check's outcome; `judge` must never raise, whatever the sections hold."""
    sections.setdefault(f"{check}.__exit", "0")
    hostfacts = kw.pop("hostfacts", None) or HostFacts.parse(sections)
    return registry()[check].judge(sections, host, hostfacts, Context(**kw))


# --- clamd's and clamscan's formats, as the tests write them ----------------------------


def ctime(when: datetime, zone: str = "UTC") -> str:
    local = when.astimezone(ZoneInfo(zone))
    return f"{local:%a %b} {local.day:2d} {local:%H:%M:%S %Y}"


_PATH_CHARS = st.characters(
    codec="utf-8", exclude_characters="\n\x00/", exclude_categories=["Cs"]
) | st.sampled_from(["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\\"])
_NAME = st.from_regex(r"[A-Z][a-z]{2,8}\.[A-Za-z]{3,10}\.[A-Za-z0-9-]{1,12}", fullmatch=True)
_STAMPS = st.lists(st.integers(0, 30 * 24 * 3600), min_size=1, max_size=12).map(
    lambda offsets: [NOW - timedelta(seconds=s) for s in sorted(offsets, reverse=True)]
)


def _component() -> st.SearchStrategy[str]:
    return st.text(_PATH_CHARS, min_size=1, max_size=12)


def paths(
    newlines: bool, done: Callable[[str], bool] | None = None, found_free: bool = False
) -> st.SearchStrategy[str]:
    """An absolute path; with `newlines`, components may hold line breaks and whole forged
    clamd / clamscan lines (any date, any name, finished or not). With `done`, no line but
    the last finishes a result the way `done` says its source does: what the parsers need
    to know where a name ends (a crafted line that finishes it early is the residue the
    module's docstring states)."""
    forged = st.builds(
        lambda when, path, name, tail: f"{ctime(when)} -> {path}: {name}{tail}",
        st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)),
        st.sampled_from(["/srv/forged.exe", "/etc/shadow", "/x"]),
        st.sampled_from(["Win.Ransom.WannaCry-FORGED", "Fake"]),
        st.sampled_from([" FOUND", " FOUNDx", "", " OK"]),
    )
    summary = st.sampled_from(
        [
            "----------- SCAN SUMMARY -----------",
            "Infected files: 9",
            "Start Date: 2001:01:01 00:00:00",
            "End Date:   2001:01:01 00:00:00",
            "-" * 79,
            "",
            "b.exe: Eicar FOUND",
            "WARNING: x",
        ]
    )
    piece = _component() | forged | summary if newlines else _component()
    if found_free:
        piece = piece.filter(lambda text: "FOUND" not in text)
    parts = st.lists(piece, min_size=1, max_size=4).map("\n".join) if newlines else piece
    made = st.lists(parts, min_size=1, max_size=3).map(lambda c: "/" + "/".join(c))
    if done is None:
        return made
    return made.map(lambda path: _unfinished(path, done))


def _unfinished(path: str, done: Callable[[str], bool]) -> str:
    lines = path.split("\n")
    return "\n".join([*(line + "~" if done(line) else line for line in lines[:-1]), lines[-1]])


def clamd_done(line: str) -> bool:
    return line.endswith(_CLAMD_DONE)


def clamscan_done(line: str) -> bool:
    return any(done.search(line) for done in (_CLAMSCAN_DONE, *_WARNINGS.values()))


Write = tuple[datetime, str, str | None, str | None]
"""One clamd log call: (time, message, detected path, detection name)."""


@st.composite
def clamd_writes(draw: st.DrawFn, newlines: bool, precise: bool = True) -> list[Write]:
    """clamd's log calls in order. `precise` leaves out what is known to cost a genuine
    detection its place (it becomes a suspicious line instead): a detection the same second
    after a warning that ends in a path (read as the rest of that path), and a warning whose
    path carries line breaks (which may leave a forged, unfinished record open)."""
    writes: list[Write] = []
    for when in draw(_STAMPS):
        kinds = ["found", "found", "warning", "error", "noise", "info"]
        after_warning = writes and writes[-1][1].startswith("WARNING")
        if precise and after_warning and ctime(writes[-1][0]) == ctime(when):
            kinds = kinds[2:]
        kind = draw(st.sampled_from(kinds))
        breaks = newlines and not (precise and kind == "warning")
        path = draw(paths(breaks, clamd_done, found_free=kind == "warning"))
        if kind == "found":
            name = draw(_NAME)
            suffix = draw(st.sampled_from(["", "(44d88612fea8a8f36de82e1278abb02f:68)"]))
            writes.append((when, f"{path}: {name}{suffix} FOUND", path, name + suffix))
        elif kind == "warning":
            writes.append((when, f"WARNING: File path check failure for: {path}", None, None))
        elif kind == "error":
            writes.append((when, f"{path}: Access denied. ERROR", None, None))
        else:
            text = "SelfCheck: Database status OK." if kind == "noise" else "Loaded 1 signatures."
            writes.append((when, text, None, None))
    return writes


def clamd_log(writes: list[Write], zone: str = "UTC") -> bytes:
    return "".join(f"{ctime(w, zone)} -> {m}\n" for w, m, _, _ in writes).encode()


def expected(
    writes: list[Write],
) -> set[tuple[datetime, str, str]]:
    return {(w.replace(microsecond=0), visible(p), n) for w, _, p, n in writes if p and n}


def found(outcome: Any) -> set[tuple[datetime, str, str]]:
    return {(d.detected_at, d.path, d.name) for d in outcome.detections}


def _candidates(raw: str, stamp: re.Pattern[str] | None) -> set[tuple[str, str, str]]:
    """Every run of whole lines of `raw` that is a detection in its source's format:
    (its timestamp text or "", visible path, name)."""
    lines = raw.split("\n")
    out = set()
    for i in range(len(lines)):
        for j in range(i, min(len(lines), i + 40)):
            text = "\n".join(lines[i : j + 1])
            head = stamp.match(text) if stamp else None
            if stamp and not head:
                break
            body = text[head.end() :] if head else text
            body = body.removeprefix("ScanOnAccess: ")
            if not body.endswith(" FOUND"):
                continue
            path, sep, name = body[: -len(" FOUND")].rpartition(": ")
            if sep and name and "\n" not in name:
                out.add((head["stamp"] if head else "", visible(path), name))
    return out


_CLAMD_STAMP = re.compile(
    r"(?P<stamp>[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}) -> "
)


# --- clamd's log ------------------------------------------------------------------------


@HOSTILE
@given(
    st.binary(max_size=600) | clamd_writes(newlines=True).map(clamd_log), st.binary(max_size=200)
)
def test_any_clamd_log_gives_only_detections_it_holds_as_whole_lines(
    log: bytes, rotated: bytes
) -> None:
    outcome = judged(
        "infections",
        snippet_sections({"clamav.log": log, "clamav.log.1": rotated}),
        hostfacts=facts(),
    )
    assert outcome.finding.status in ("pass", "fail", "not_applicable"), outcome.finding
    raw = (rotated + b"\n" + log).decode("utf-8", "replace")
    holds = _candidates(raw, _CLAMD_STAMP)
    for d in outcome.detections:
        assert (ctime(d.detected_at), d.path, d.name) in holds, d


@HOSTILE
@given(clamd_writes(newlines=False), st.sampled_from(["UTC", "Asia/Ho_Chi_Minh", "Europe/Berlin"]))
def test_every_clamd_detection_of_names_without_newlines_is_found_whole(
    writes: list[Write], zone: str
) -> None:
    """Names with \\x0b \\x0c \\x1c-\\x1e \\x85 \\u2028 \\u2029 and backslashes (which
    `str.splitlines` would have cut) are each one detection with the whole path."""
    outcome = judged(
        "infections",
        snippet_sections({"clamav.log": clamd_log(writes, zone)}),
        hostfacts=facts(zone),
    )
    assert found(outcome) == expected(writes)
    assert outcome.finding.evidence["suspicious"] == []


@HOSTILE
@given(clamd_writes(newlines=True))
def test_a_name_with_forged_lines_is_one_detection_at_its_real_time(writes: list[Write]) -> None:
    """A name carrying line breaks and whole forged clamd lines is one detection, the real
    name at the real time under the whole path, flagged; no forged line is a detection."""
    outcome = judged(
        "infections", snippet_sections({"clamav.log": clamd_log(writes)}), hostfacts=facts()
    )
    assert found(outcome) == expected(writes)
    recent = [(w, p) for w, _, p, n in writes if p and n and w >= NOW - timedelta(days=7)]
    odd = {d["path"] for d in outcome.finding.evidence["detections"] if d.get("suspicious_name")}
    assert odd == {visible(p) for _, p in recent if "\n" in p}
    if odd:
        assert outcome.finding.severity == "critical"


@HOSTILE
@given(clamd_writes(newlines=True, precise=False))
def test_a_genuine_clamd_detection_is_never_lost_silently(writes: list[Write]) -> None:
    """Whatever names the writes carry, a genuine detection not read as one leaves the check
    failed as critical, with suspicious lines to look at."""
    outcome = judged(
        "infections", snippet_sections({"clamav.log": clamd_log(writes)}), hostfacts=facts()
    )
    if expected(writes) - found(outcome):
        assert (outcome.finding.status, outcome.finding.severity) == ("fail", "critical")
        assert outcome.finding.evidence["suspicious_count"] > 0


@HOSTILE
@given(clamd_writes(newlines=True), clamd_writes(newlines=True))
def test_clamd_detections_never_go_back_in_time(
    first: list[Write],
    then: list[Write],
) -> None:
    """Two runs of writes appended out of order (the second older): whatever is read as a
    detection is in order in its file, rotated file first, and none is from the future."""
    sections = snippet_sections({"clamav.log.1": clamd_log(first), "clamav.log": clamd_log(then)})
    reading = parse_logs(sections.lines("infections.logs"), UTC, NOW).reading
    times = [d.detected_at for d in reading.detections]
    assert times == sorted(times)
    assert all(t <= NOW + timedelta(hours=1) for t in times)


def test_a_forged_backdated_line_alone_fails_the_check_as_critical() -> None:
    """A name that ends a line and forges a whole, backdated detection after it (the one
    shape a forged line can take in front of clamd's own): not a detection, and the
    check fails even with no genuine detection left."""
    real = NOW - timedelta(hours=1)
    name = f"/nonexistent\n{ctime(NOW - timedelta(days=40))} -> /etc/shadow.exe: Win.Ransom.Forged-2 FOUND"
    log = f"{ctime(real)} -> Loaded 1 signatures.\n{ctime(real)} -> WARNING: File path check failure for: {name}\n"
    outcome = judged("infections", gather({"clamav.log": log.encode()}), hostfacts=facts())
    assert outcome.detections == []
    finding = outcome.finding
    assert (finding.status, finding.severity) == ("fail", "critical")
    assert finding.title == "ClamAV's log holds forged or suspicious lines"
    (line,) = finding.evidence["suspicious"]
    assert line["reason"] == "dated before the record above it (backdated)"
    assert "Win.Ransom.Forged-2" in line["text"]


def test_a_flooded_log_is_suspicious_when_what_was_read_is_recent() -> None:
    """More records than are read, all recent: detections may have been pushed out of reach."""
    records = [
        f"{ctime(NOW - timedelta(seconds=3000 - i))} -> /tmp/x{i}: Access denied. ERROR"
        for i in range(3000)
    ]
    outcome = judged(
        "infections",
        gather({"clamav.log": ("\n".join(records) + "\n").encode()}),
        hostfacts=facts(),
    )
    finding = outcome.finding
    assert (finding.status, finding.severity) == ("fail", "critical")
    (line,) = finding.evidence["suspicious"]
    assert line["reason"].startswith("2000 older record(s) were not read")


def test_a_log_the_host_could_not_read_is_an_error_not_a_pass() -> None:
    """Without awk the host sends a log's name and no records: that proves nothing."""
    sections = Sections(
        {
            "infections.logs": "@file /var/log/clamav/clamav.log\nsh: 1: awk: not found",
            "infections.__exit": "0",
        }
    )
    finding = judged("infections", sections, hostfacts=facts()).finding
    assert finding.status == "error"
    assert "could not read /var/log/clamav/clamav.log" in finding.title


# --- clamscan's log ---------------------------------------------------------------------


@st.composite
def clamscan_runs(draw: st.DrawFn, newlines: bool) -> tuple[bytes, set[tuple[datetime, str, str]]]:
    """A clamscan log of several runs (`--log`), as clamscan 1.4 writes one: its results,
    then a summary that counts them and gives the run's start; and what it detected."""
    out, detections = [], set()
    for when in draw(_STAMPS):
        found_paths = draw(st.lists(paths(newlines, clamscan_done), max_size=4, unique=True))
        out += ["", "-" * 79, ""]
        for path in found_paths:
            name = draw(_NAME)
            out.append(f"{path}: {name} FOUND")
            detections.add((when.replace(microsecond=0), visible(path), name))
            if draw(st.booleans()):
                out.append(f"WARNING: {path}: Not supported file type")
        local = when.astimezone(UTC)
        out += [
            "",
            "----------- SCAN SUMMARY -----------",
            "Known viruses: 1",
            f"Infected files: {len(found_paths)}",
            f"Start Date: {local:%Y:%m:%d %H:%M:%S}",
            f"End Date:   {local:%Y:%m:%d %H:%M:%S}",
        ]
    return ("\n".join(out) + "\n").encode(), detections


@HOSTILE
@given(st.binary(max_size=600) | clamscan_runs(newlines=True).map(lambda r: r[0]))
def test_any_clamscan_log_gives_only_detections_it_holds_dated_by_a_summary(log: bytes) -> None:
    outcome = judged("infections", snippet_sections({"clamscan.log": log}), hostfacts=facts())
    raw = log.decode("utf-8", "replace")
    holds = {(p, n) for _, p, n in _candidates(raw, None)}
    starts = set(re.findall(r"^Start Date: (.*)$", raw, re.MULTILINE))
    for d in outcome.detections:
        assert (d.path, d.name) in holds, d
        assert f"{d.detected_at:%Y:%m:%d %H:%M:%S}" in starts, d


@HOSTILE
@given(clamscan_runs(newlines=False))
def test_every_clamscan_detection_is_found_whole_and_dated_by_its_run(
    run: tuple[bytes, set[tuple[datetime, str, str]]],
) -> None:
    log, detections = run
    outcome = judged("infections", snippet_sections({"clamscan.log": log}), hostfacts=facts())
    assert found(outcome) == detections
    assert outcome.finding.evidence["suspicious"] == []


@HOSTILE
@given(clamscan_runs(newlines=True))
def test_a_clamscan_result_with_forged_lines_is_one_detection(
    run: tuple[bytes, set[tuple[datetime, str, str]]],
) -> None:
    """Forged results, summaries and headers inside a name stay inside it: the run's own
    summary dates the run's own results, each one under its whole name."""
    log, detections = run
    outcome = judged("infections", snippet_sections({"clamscan.log": log}), hostfacts=facts())
    assert found(outcome) == detections


def test_a_forged_summary_that_miscounts_makes_the_runs_results_suspicious() -> None:
    """A name that finishes its line and forges a summary dating the run's earlier results a
    year back: the run's real summary no longer counts what is above it."""
    old = NOW - timedelta(days=365)
    forged = "\n".join(
        [
            "x: Fake FOUND",
            "",
            "----------- SCAN SUMMARY -----------",
            "Infected files: 2",
            f"Start Date: {old:%Y:%m:%d %H:%M:%S}",
            f"End Date:   {old:%Y:%m:%d %H:%M:%S}",
            "",
            "-" * 79,
            "",
            "/home/u/y",
        ]
    )
    real = NOW - timedelta(hours=2)
    log = "\n".join(
        [
            "",
            "-" * 79,
            "",
            "/home/a/invoice.exe: Win.Trojan.Agent-1 FOUND",
            f"/home/u/{forged}: Eicar FOUND",
            "",
            "----------- SCAN SUMMARY -----------",
            "Infected files: 2",
            f"Start Date: {real:%Y:%m:%d %H:%M:%S}",
            f"End Date:   {real:%Y:%m:%d %H:%M:%S}",
            "",
        ]
    )
    outcome = judged("infections", gather({"clamscan.log": log.encode()}), hostfacts=facts())
    assert {d.name for d in outcome.detections} <= {"Eicar"}
    assert outcome.finding.severity == "critical"
    texts = " ".join(s["text"] for s in outcome.finding.evidence["suspicious"])
    assert "Win.Trojan.Agent-1" in texts


# --- clamd's journal --------------------------------------------------------------------


def _message(text: str) -> str | list[int]:
    """How journalctl -o json writes a field: a string, or its bytes when it holds a control
    character (a line break is allowed, as in the recorded syslog entries)."""
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text):
        return list(text.encode("utf-8"))
    return text


@st.composite
def journal(draw: st.DrawFn, newlines: bool) -> tuple[bytes, list[Write]]:
    """clamd's writes as journald 252 stores them: by syslog (one entry per write) or from
    stdout (`[LEVEL: ]STAMP -> …` split into one entry per line, every line of one write —
    and sometimes of the next writes too — received at the same microsecond)."""
    writes = draw(clamd_writes(newlines))
    transport = draw(st.sampled_from(["syslog", "stdout"]))
    entries: list[dict[str, Any]] = []
    received, last = 0, None
    for when, message, _, _ in writes:
        if when != last or draw(st.booleans()):  # writes of one instant may share a read
            received = int(when.timestamp() * 1_000_000) + draw(st.integers(0, 999_999))
        last = when
        if transport == "syslog":
            body = message.removeprefix("WARNING: ")
            entries.append(
                {
                    "MESSAGE": _message(body),
                    "_TRANSPORT": "syslog",
                    "_PID": "812",
                    "__REALTIME_TIMESTAMP": str(received),
                }
            )
            continue
        level = "WARNING: " if message.startswith("WARNING: ") else ""
        line = f"{level}{ctime(when)} -> {message.removeprefix(level)}"
        for part in line.split("\n"):
            entries.append(
                {
                    "MESSAGE": _message(part),
                    "_TRANSPORT": "stdout",
                    "_PID": "812",
                    "__REALTIME_TIMESTAMP": str(received),
                }
            )
    data = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries).encode()
    return data, writes


def _journal(data: bytes, awk: str = "awk") -> Any:
    reading, _ = parse_journal(journal_records(data, awk).split("\n"), UTC, NOW)
    return reading


@HOSTILE
@given(st.binary(max_size=600) | journal(newlines=True).map(lambda j: j[0]))
def test_any_journal_output_never_raises(data: bytes) -> None:
    sections = Sections({"infections.journal": journal_records(data), "infections.logs": ""})
    outcome = judged("infections", sections, hostfacts=facts())
    assert outcome.finding.status in ("pass", "fail", "not_applicable")


@HOSTILE
@given(journal(newlines=False))
def test_every_journal_detection_of_names_without_newlines_is_found(
    case: tuple[bytes, list[Write]],
) -> None:
    data, writes = case
    reading = _journal(data)
    assert {(d.detected_at, d.path, d.name) for d in reading.detections} == expected(writes)
    assert reading.suspicious == []


@HOSTILE
@given(journal(newlines=True))
def test_a_journal_name_with_forged_lines_is_one_detection(
    case: tuple[bytes, list[Write]],
) -> None:
    """A syslog entry is one record whole, whatever it holds; on stdout the lines of one
    write are one record within it, as in the log file."""
    data, writes = case
    reading = _journal(data)
    assert {(d.detected_at, d.path, d.name) for d in reading.detections} == expected(writes)


# --- recorded hostile output: the fixtures are what the snippet makes of it ---------------


def _raw_cases() -> list[Path]:
    return sorted(p for p in (FIXTURES / "infections").glob("*.yml") if "raw" in _load(p))


def _load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return document


@pytest.mark.parametrize("awk", AWKS)
@pytest.mark.parametrize("path", _raw_cases(), ids=lambda p: p.stem)
def test_fixture_sections_are_what_the_snippet_makes_of_the_recorded_logs(
    path: Path, awk: str
) -> None:
    """Each fixture with `raw` keeps the logs as recorded (raw/); its sections must be what
    the snippet sends for them today, with every awk this machine has (mawk is Debian's)."""
    case = _load(path)
    raw = case["raw"]
    logs = {
        Path(name).name: (path.parent / file).read_bytes()
        for name, file in raw.get("logs", {}).items()
    }
    sections = gather(logs, awk)
    text = sections["infections.logs"]
    for name in raw.get("logs", {}):
        text = text.replace(f"/logs/{Path(name).name}", name)
    assert text == case["sections"].get("infections.logs", "").rstrip("\n")
    if "journal" in raw:
        journal_text = journal_records((path.parent / raw["journal"]).read_bytes(), awk)
        assert journal_text.rstrip("\n") == case["sections"]["infections.journal"].rstrip("\n")


# --- the other parsers of host output ----------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=400)
_LINES = st.lists(
    st.text(
        st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\n"),
        max_size=80,
    )
    | st.sampled_from(
        [
            "\t",
            " ",
            "ii\tx",
            "pkg clamav 1.0 ii",
            "Inst openssl [1] (2 Debian-Security:12 [amd64])",
            "file 1700000000 /var/lib/clamav/daily.cvd",
            "header ClamAV-VDB:07 Oct 2024 08-34 -0400:27420:2067990:90:md5:dsig:builder:99999999999999999999",
            "unit clamav-daemon active",
            "bin clamd",
            "required",
            "ID=debian",
            'VERSION_ID="12"',
            "9999999999999999999999 +0700",
            "99999999999999999999",
            "file 99999999999999999999 /var/lib/clamav/main.cvd",
            "1700000000 -9999",
            "Etc/../../x",
        ]
    ),
    max_size=30,
).map("\n".join)


def _sections(prefix: str, names: list[str]) -> st.SearchStrategy[Sections]:
    return st.fixed_dictionaries({f"{prefix}.{n}": _LINES | _TEXT for n in names}).map(Sections)


_CLOCK = st.integers(0, 2**33).map(str) | st.from_regex(r"[0-9]{1,10}", fullmatch=True)
_HOST = st.fixed_dictionaries(
    {
        "host.os_release": _LINES | _TEXT,
        "host.zone": _LINES | _TEXT,
        "host.clock": st.builds(lambda e, z: f"{e} {z}", _CLOCK, _TEXT.map(lambda t: t[:6])),
    }
)


@HOSTILE
@given(_HOST.map(Sections))
def test_host_facts_parse_anything(sections: Sections) -> None:
    host = HostFacts.parse(sections)
    assert host.os_name.isprintable()
    host.tz.utcoffset(NOW)


@pytest.mark.parametrize("clock", ["253402300800 +0000", "9999999999999999999999 +0700"])
def test_host_facts_survive_a_clock_out_of_range(clock: str) -> None:
    """An epoch past what a datetime holds is no clock at all: the jump host's time stands."""
    before = datetime.now(UTC)
    assert HostFacts.parse(Sections({"host.clock": clock})).now >= before


@HOSTILE
@given(_HOST, _sections("software", ["dpkg"]) | _sections("software", ["rpm"]))
def test_package_lists_parse_anything(host: dict[str, str], sections: Sections) -> None:
    sections.update(host)
    outcome = judged("software", sections)
    assert outcome.finding.check == "software"
    state = registry()["software"].parse(sections, HostFacts.parse(sections))
    listed = [
        clean(line.partition("\t")[0], 128)
        for name in ("software.dpkg", "software.rpm")
        for line in sections.lines(name)
    ]
    assert [p.name for p in state.packages] == listed  # one package per line, cleaned
    for package in state.packages:
        assert package.name.isprintable() and package.version.isprintable()


_HUGE = "99999999999999999999"
_SANE_HOST = {"host.os_release": "ID=debian", "host.clock": "1700000000 +0000"}


@HOSTILE
@given(_HOST, _sections("av", ["procs", "clamav", "db", "freshclam_log"]))
@example(
    _SANE_HOST,
    Sections({"av.db": f"file 0 /x.cvd\nheader ClamAV-VDB:07 Oct 2024:1:2:90:md5:dsig:b:{_HUGE}"}),
)
@example(_SANE_HOST, Sections({"av.db": f"file {_HUGE} /var/lib/clamav/main.cvd"}))
def test_av_sections_parse_anything(host: dict[str, str], sections: Sections) -> None:
    sections.update(host)
    assert judged("av", sections).finding.check == "av"


@HOSTILE
@given(
    _HOST,
    _sections("patches", ["apt", "apt_lists", "reboot"])
    | _sections("patches", ["dnf_security", "dnf_updates", "reboot"]),
)
@example(_SANE_HOST, Sections({"patches.apt": "", "patches.apt_lists": _HUGE}))
def test_patches_sections_parse_anything(host: dict[str, str], sections: Sections) -> None:
    sections.update(host)
    assert judged("patches", sections).finding.check == "patches"


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64)
    | st.floats()
    | _TEXT
    | st.sampled_from(
        [
            "/Date(1623020400000)/",
            "/Date(-99999999999999999)/",
            "20240101000000.000000+420",
            "99991231235959.000000-999",
            "2024-01-01T00:00:00Z",
            "file:_C:\\x.exe",
            "9999-12-31T23:59:59-12:00",
        ]
    ),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_TEXT, children, max_size=5),
    max_leaves=30,
)


def _windows_recorded() -> dict[str, Any]:
    """Each check's JSON document as the recorded Windows fixtures hold it."""
    out: dict[str, Any] = {}
    for path in sorted(FIXTURES.glob("*/windows-*.yml")):
        document = _load(path)
        for key, value in document["sections"].items():
            if key.endswith(".json") and key.split(".")[0] == path.parent.name:
                out[path.parent.name] = json.loads(value)
    return out


@st.composite
def mutated(draw: st.DrawFn, value: Any) -> Any:
    """A recorded value with any part of it kept, dropped, or replaced by anything."""
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return draw(_JSON)
    if isinstance(value, dict):
        return {k: draw(mutated(v)) for k, v in value.items() if draw(st.integers(0, 9))}
    if isinstance(value, list):
        return [draw(mutated(v)) for v in value if draw(st.integers(0, 9))]
    return value


WINDOWS_DOCUMENTS = _windows_recorded()
WINDOWS_FACTS = "ID=windows\nVERSION_ID=19045\nVARIANT_ID=workstation"


@pytest.mark.parametrize("check", sorted(WINDOWS_DOCUMENTS))
def test_windows_json_parsers_take_any_document(check: str) -> None:
    @HOSTILE
    @given(mutated(WINDOWS_DOCUMENTS[check]) | _JSON)
    def one(document: Any) -> None:
        text = json.dumps(document, ensure_ascii=False)
        sections = Sections(
            {
                "host.os_release": WINDOWS_FACTS,
                "host.clock": "1623110400 +0700",
                f"{check}.json": text,
            }
        )
        outcome = judged(check, sections, WINDOWS)
        assert outcome.finding.check == check
        if check == "infections" and isinstance(document, dict):
            _defender_detections_are_from(document, outcome.detections)

    one()


@HOSTILE
@given(_TEXT)
def test_windows_json_that_is_not_json_is_an_error_finding(text: str) -> None:
    for check in sorted(WINDOWS_DOCUMENTS):
        sections = Sections({"host.os_release": WINDOWS_FACTS, f"{check}.json": text})
        outcome = judged(check, sections, WINDOWS)
        assert outcome.finding.check == check


def test_a_defender_date_past_any_clock_is_suspicious_not_a_crash() -> None:
    """`9999-12-31T23:59:59-23:59` (PowerShell 7's ISO form) is a date no UTC time holds."""
    rows = [
        {
            "ThreatID": 1,
            "InitialDetectionTime": "9999-12-31T23:59:59-23:59",
            "Resources": ["file:_C:\\x.exe"],
        }
    ]
    text = json.dumps({"Detections": rows, "Threats": []})
    sections = Sections(
        {
            "host.os_release": WINDOWS_FACTS,
            "host.clock": "1623110400 +0700",
            "infections.json": text,
        }
    )
    outcome = judged("infections", sections, WINDOWS)
    assert outcome.detections == []
    assert (outcome.finding.status, outcome.finding.severity) == ("fail", "critical")
    assert outcome.finding.evidence["suspicious"][0]["reason"] == "dated past any clock"


def _defender_detections_are_from(document: dict[str, Any], detections: list[Any]) -> None:
    """Each Defender detection names a threat the document lists (or its ThreatID) and one of
    the resources a detection row lists, each as cleaning leaves it."""
    strings = set(_strings(document))
    names = {clean(t, 256) for t in strings}
    paths = {clean(r, 1024) for r in strings} | {clean(r.partition(":_")[2], 1024) for r in strings}
    for d in detections:
        assert d.name.startswith("ThreatID ") or d.name in names, d
        assert d.path == "" or d.path in paths, d


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
