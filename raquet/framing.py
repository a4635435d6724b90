"""The host's answer to the Linux gather script, read back strictly into Sections.

The grammar (`raquet.script`) is line-based and closed:

    RQ1 begin
    RQ1 sec NAME 0|1 BASE64        (any number, then)
    RQ1 exit CHECK STATUS          (once per check, in the script's order)
    RQ1 end

Bytes before `RQ1 begin` are a login shell's chatter and are ignored. After it, any line
outside the grammar, a section the check's snippet does not write, a section repeated, a
check reporting out of turn, or bytes after `RQ1 end` means somebody other than the
script wrote into the stream: every check of the host is then judged `tampered`, because
once the frame is broken nothing in it can be attributed with confidence. A stream that
simply stops (a deadline, the jump host's cap) is not tampering: the checks that reported
keep their sections, the others have none.
"""

from __future__ import annotations

import base64
import binascii
import re

from checks.base import Sections
from raquet.script import Script

_NAME = re.compile(rb"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+")
_STATUS = re.compile(rb"[0-9]{1,3}")


class Tampered(ValueError):
    """The output does not follow the script's frame."""


def split(data: bytes, script: Script) -> Sections:
    """Sections of `data`; `sections.tampered` says why when the frame was broken."""
    sections = Sections()
    start = data.find(b"RQ1 begin\n")
    if start > 0 and data[start - 1 : start] != b"\n":
        start = data.find(b"\nRQ1 begin\n") + 1 or -1
    if start < 0:
        sections.fatal = _fatal(data)
        return sections
    try:
        _read(data[start:].split(b"\n")[1:], script, sections)
    except Tampered as exc:
        kept = Sections()
        kept.tampered = str(exc)
        return kept
    return sections


def _fatal(data: bytes) -> str | None:
    """The script's own reason for giving up (`RQ1 fatal …`), if it said one."""
    for line in data.split(b"\n"):
        if line.startswith(b"RQ1 fatal "):
            text = line[len(b"RQ1 fatal ") :][:200].decode("ascii", "replace")
            return "".join(ch for ch in text if ch.isprintable())
    return None


def _read(lines: list[bytes], script: Script, sections: Sections) -> None:
    """Every whole line strictly; the bytes after the last newline are a line the stream
    stopped in the middle of (deadline or cap), which is not tampering."""
    *whole, partial = lines
    order = iter(script.checks)
    current = next(order, None)
    for number, line in enumerate(whole, 2):
        if sections.complete:
            raise Tampered(f"line {number}: output continues after the end")
        if line == b"RQ1 end":
            if current is not None:
                raise Tampered(f"line {number}: the end came before check {current} reported")
            sections.complete = True
        elif current is None:
            raise Tampered(f"line {number}: output after the last check")
        elif line.startswith(b"RQ1 sec "):
            _section(line, number, current, script, sections)
        elif line.startswith(b"RQ1 exit "):
            _exit(line, number, current, sections)
            current = next(order, None)
        else:
            raise Tampered(f"line {number}: not part of the script's output")
    if sections.complete and partial:
        raise Tampered("output continues after the end")


def _section(line: bytes, number: int, check: str, script: Script, sections: Sections) -> None:
    parts = line.split(b" ")
    if len(parts) != 5 or not _NAME.fullmatch(parts[2]) or parts[3] not in (b"0", b"1"):
        raise Tampered(f"line {number}: a malformed section line")
    name = parts[2].decode("ascii")
    if name not in script.sections.get(check, frozenset()):
        raise Tampered(f"line {number}: section {name} is not one check {check} writes")
    if name in sections:
        raise Tampered(f"line {number}: section {name} appears twice")
    try:
        body = base64.b64decode(parts[4], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Tampered(f"line {number}: section {name} is not valid base64") from exc
    sections[name] = body.decode("utf-8", errors="replace").strip("\n")
    if parts[3] == b"1":
        sections.over_budget.add(name)


def _exit(line: bytes, number: int, check: str, sections: Sections) -> None:
    parts = line.split(b" ")
    if len(parts) != 4 or parts[2] != check.encode() or not _STATUS.fullmatch(parts[3]):
        raise Tampered(f"line {number}: an exit line out of turn (expected check {check})")
    sections[f"{check}.__exit"] = parts[3].decode("ascii")
