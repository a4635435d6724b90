"""`infections` remediation: quarantine the detected files, then scan where they were.

A detected file is moved, never deleted, into a root-only quarantine directory (the
policy's `infections.quarantine_dir`) as `<id>.bin`, readable by root alone, beside
`<id>.json`: original path, owner, group, mode, mtime, size, sha256, detection name and
the remediation's tag; the record's own mtime, by the host's clock, is when. The `infections`
check reads those records, so a detection whose file has been quarantined since counts as
dealt with. A file no longer there needs nothing.

The path came from a log any user can get a line into (ask clamd to scan a file of your
own), and every directory on it below the user's home is the user's to rename: swap one
for a link to `/root` and the path names root's file. So raquet never follows a link. On
the host, the operation's own command enters the path one directory at a time with `cd -P`
from `/`, refuses any that is a link, and checks `pwd -P` is the path: its working
directory is then pinned to the real directory, whatever is renamed afterwards, and the
file is named relative to it. It must be a regular file with one link (another name for
it could be anyone's file) and the file raquet examined (device and inode), and ClamAV
must detect it there and then (`clamscan` without following links). It is renamed into
the quarantine directory first and checked once more there, where no user can reach it:
still a regular file with one link and the same sha256. Only then does it become root's
and the record is written; anything else leaves it aside as `<id>.rejected`, untouched.
Each refusal fails the step with its reason: in the plan (read by a fact that walks the
path the same way) and in the log. The scan costs one `clamscan` start per file.

The scan that follows covers the directories the files were in, bounded by the policy's
`infections.scan_timeout`, logs to clamscan's usual log (where the check reads it) and
runs only when something was quarantined in this run.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime

from pyinfra import host
from pyinfra.api import FactBase, OperationError, QuoteString, StringCommand, operation
from pyinfra.facts.files import Directory
from pyinfra.facts.server import Which
from pyinfra.operations import files

from raquet.models import Finding
from raquet.powershell import quote
from remediations import values
from remediations.base import Remedy, RemedyContext, Step

CHECK = "infections"
SCAN_LOG = "/var/log/clamav/clamscan.log"
CLAMSCAN = "clamscan --no-summary --infected --follow-file-symlinks=0 --follow-dir-symlinks=0"


def entry_id(path: str, digest: str | None) -> str:
    """Stable per (path, content): quarantining the same file twice cannot collide or duplicate."""
    where = hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return f"{where}-{(digest or 'unknown')[:16]}"


def _shown(text: str) -> str:
    """`text` on one printable line, for a message or a comment in a script."""
    return "".join(ch if ch.isprintable() and ch != "\\" else f"\\x{ord(ch):02x}" for ch in text)


def split(path: str) -> tuple[list[str], str]:
    """An absolute path -> (its directories from `/`, its file name); `.` and `..` refused."""
    parts = [p for p in values.absolute_path(path).split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise values.Refused(f"{path!r} is not a path to a file")
    return parts[:-1], parts[-1]


def _walk(path: str) -> str:
    """Shell: enter each directory of `path` without following a link, then check `pwd -P`."""
    folders, name = split(path)
    lines = ["cd -P / || rq_refuse 'cannot enter /'"]
    for depth, folder in enumerate(folders, 1):
        where = _shown("/" + "/".join(folders[:depth]))
        lines += [
            f"c={shlex.quote(folder)}",
            '[ -e "./$c" ] || [ -L "./$c" ] || rq_gone',
            f'[ -L "./$c" ] && rq_refuse {shlex.quote(f"{where} is a symbolic link")}',
            f'cd -P -- "./$c" 2>/dev/null || rq_refuse {shlex.quote(f"cannot enter {where}")}',
        ]
    real = "/" + "/".join(folders)
    moved = f"{_shown(real)} is not where it was: a directory on the path is a link or was moved"
    lines += [
        f'[ "$(pwd -P)" = {shlex.quote(real)} ] || rq_refuse {shlex.quote(moved)}',
        f"n={shlex.quote(name)}",
    ]
    return "\n".join(lines)


def _examine(path: str, timeout: float) -> str:
    """Shell, in the pinned directory: the file's checks and ClamAV's verdict on it."""
    shown = _shown(path)
    return f"""[ -e "./$n" ] || [ -L "./$n" ] || rq_gone
[ -L "./$n" ] && rq_refuse {shlex.quote(f"{shown} is a symbolic link")}
[ -f "./$n" ] || rq_refuse {shlex.quote(f"{shown} is not a regular file")}
set -- $(stat -c '%d:%i %h %a %Y %s %U %G' -- "./$n")
[ "$2" = 1 ] || rq_refuse {shlex.quote(f"{shown} has ")}"$2"' hard links'
command -v clamscan >/dev/null 2>&1 || rq_refuse 'clamscan is not installed: the detection cannot be confirmed'
timeout {max(1, int(timeout))} {CLAMSCAN} -- "./$n" >/dev/null 2>&1
r=$?
[ "$r" = 1 ] || rq_refuse {shlex.quote(f"ClamAV does not detect {shown} any more (clamscan exit ")}"$r"')'"""


_FACT_HELPERS = """set -f
rq_refuse() { printf 'refused %s\\n' "$1"; exit 0; }
rq_gone() { echo gone; exit 0; }
"""


_SUBJECT = ("id", "links", "mode", "mtime", "size", "user", "group", "sha256")
# sha256sum escapes a name holding a backslash or a newline with a leading backslash
_HASH = "h=$(timeout 120 sha256sum -- \"./$n\" | cut -d' ' -f1 | tr -d '\\\\')"


class QuarantineSubject(FactBase[dict[str, str] | None]):
    """The detected file, examined the way the quarantine examines it: None when it is gone,
    `{"refused": why}`, or its identity, metadata and sha256 (ClamAV detects it there)."""

    def command(self, path: str, timeout: float) -> str:
        return f'{_FACT_HELPERS}{_walk(path)}\n{_examine(path, timeout)}\n{_HASH}\necho "ok $* $h"'

    @staticmethod
    def default() -> dict[str, str]:
        """What pyinfra gives when the command failed: never taken for a file that is gone."""
        return {"refused": "the host did not answer"}

    def process(self, output: list[str]) -> dict[str, str] | None:
        last = output[-1]
        kind, _, rest = last.partition(" ")
        fields = rest.split()
        if kind == "gone":
            return None
        if kind != "ok" or len(fields) != len(_SUBJECT):
            return {"refused": rest if kind == "refused" else f"unexpected answer {last[:80]!r}"}
        return dict(zip(_SUBJECT, fields, strict=True))


def _record(path: str, subject: dict[str, str], detection: str, tag: str) -> str:
    mtime = subject["mtime"]
    record = {
        "original_path": path,
        "owner": subject["user"],
        "group": subject["group"],
        "mode": f"{subject['mode']:0>4}",
        "mtime": datetime.fromtimestamp(int(mtime), UTC).isoformat() if mtime.isdigit() else None,
        "size": int(subject["size"]) if subject["size"].isdigit() else None,
        "sha256": subject["sha256"],
        "detection": detection,
        "remediation": tag,
    }
    return json.dumps(record, ensure_ascii=False, sort_keys=True)


_COMMAND_HELPERS = """set -f
umask 077
rq_failed=
rq_refuse() { printf 'not quarantined: %s\\n' "$1" >&2; exit 1; }
rq_gone() { echo 'gone: nothing to quarantine'; exit 0; }
"""


def _move(path: str, subject: dict[str, str], target: str, record: str, timeout: float) -> str:
    """One file's part of the command, in a subshell of its own (its own pinned directory; a
    refusal ends only it), after a comment that says what it does."""
    shown = _shown(path)
    summary = _shown(f"mv -f {shlex.quote(path)} {target}.bin")
    rejected = f"what was moved is not the file ClamAV detected: kept aside as {target}.rejected"
    return f"""# quarantine: {summary}, reached without following a link, if ClamAV still detects it
(
t={shlex.quote(target)}
{_walk(path)}
{_examine(path, timeout)}
[ "$1" = {shlex.quote(subject["id"])} ] || rq_refuse {shlex.quote(f"{shown} is not the file raquet examined")}
mv -f -T -- "./$n" "$t.bin" || rq_refuse {shlex.quote(f"could not move {shown}")}
if [ -L "$t.bin" ] || [ ! -f "$t.bin" ] || [ "$(stat -c %h -- "$t.bin")" != 1 ] ||
   [ "$(sha256sum < "$t.bin" | cut -c1-64)" != {shlex.quote(subject["sha256"])} ]; then
  mv -f -T -- "$t.bin" "$t.rejected"
  rq_refuse {shlex.quote(rejected)}
fi
chown root:root -- "$t.bin" && chmod 0400 -- "$t.bin" || rq_refuse 'could not make the quarantined file root'"'"'s'
printf '%s\\n' {shlex.quote(record)} > "$t.json"
) || rq_failed=1"""


@dataclass(frozen=True)
class Move:
    """A detected file the fact found movable, and where it goes."""

    path: str
    subject: dict[str, str]
    target: str
    record: str


def quarantine_script(moves: list[Move], refused: list[str], timeout: float) -> str:
    """The operation's command: every movable file in turn, each decided again on the host;
    it fails, with every reason, if any file was refused (here or there), but only after the
    others were moved."""
    blocks = [_move(m.path, m.subject, m.target, m.record, timeout) for m in moves]
    blocks += [
        f"printf 'not quarantined: %s\\n' {shlex.quote(r)} >&2; rq_failed=1" for r in refused
    ]
    return _COMMAND_HELPERS + "\n".join(blocks) + '\n[ -z "$rq_failed" ]\n'


@operation()
def quarantined(detected: list[list[str]], directory: str, tag: str, timeout: float = 600):
    """Each detected file (`[path, detection name]`) moved into `directory` if it is still the
    file ClamAV detects there (module docstring). One operation for them all: a file an
    attacker made unmovable must not keep the others where they are, as a failed step would
    keep the steps after it from running."""
    moves, refused = [], []
    for path, detection in detected:
        subject = host.get_fact(QuarantineSubject, path=path, timeout=timeout)
        if subject is None:
            continue
        if "refused" in subject:
            refused.append(subject["refused"])
            continue
        target = f"{directory.rstrip('/')}/{entry_id(path, subject['sha256'])}"
        moves.append(Move(path, subject, target, _record(path, subject, detection, tag)))
    if moves:
        yield from files.directory._inner(path=directory, user="root", group="root", mode="700")
        yield StringCommand(quarantine_script(moves, refused, timeout))
    elif not refused:
        host.noop("the detected files are gone")
    if refused:
        raise OperationError(f"not quarantined: {'; '.join(refused)}")


@operation()
def scanned(directories: list[str], timeout: float):
    """`clamscan` of the directories, at most `timeout` seconds; finding anything fails it."""
    if not host.get_fact(Which, command="clamscan"):
        host.noop("clamscan is not installed (see the av remediation)")
        return
    present = [d for d in directories if host.get_fact(Directory, path=d)]
    if not present:
        host.noop("none of the directories exists any more")
        return
    yield StringCommand(
        "timeout",
        str(max(1, int(timeout))),
        "clamscan -r -i",
        QuoteString(f"--log={SCAN_LOG}"),
        "--",
        *(QuoteString(d) for d in present),
        _success_exit_codes=[0],
    )


@operation()
def windows_scanned(directories: list[str]):
    """Defender quarantines what it detects itself; a custom scan of each directory follows."""
    for directory in directories:
        yield StringCommand(f"Start-MpScan -ScanType CustomScan -ScanPath {quote(directory)}")


def _parent(path: str) -> str:
    parent = path.rsplit("/", 1)[0]
    return parent or "/"


def plan(finding: Finding, ctx: RemedyContext) -> Remedy:
    remedy = Remedy(CHECK, finding)
    detections = [d for d in finding.evidence.get("detections") or [] if isinstance(d, dict)]
    rules = ctx.policy.infections
    if ctx.host.os == "windows":
        folders = sorted(
            {str(d.get("path")).rsplit("\\", 1)[0] for d in detections if d.get("path")}
        )
        remedy.notes.append("Defender quarantines detected files itself")
        if folders:
            remedy.steps.append(
                Step("scan where the files were", windows_scanned, {"directories": folders})
            )
        return remedy
    paths: dict[str, str] = {}
    for detection in detections:
        path = str(detection.get("path"))
        if detection.get("suspicious_name") or "\\" in path:
            # the check shows such names escaped (`\\n`, `\\x0b`…): not the file's real bytes
            remedy.notes.append(
                f"not quarantined: {path} holds a line break, a backslash or a control "
                "character, shown escaped; check it and move it by hand"
            )
            continue
        try:
            split(path)
        except values.Refused as exc:
            remedy.notes.append(f"not quarantined: {exc}")
            continue
        paths.setdefault(path, str(detection.get("name") or "unknown"))
    if paths:
        remedy.steps.append(
            Step(
                "quarantine the detected files",
                quarantined,
                {
                    "detected": [[path, name] for path, name in paths.items()],
                    "directory": rules.quarantine_dir,
                    "tag": ctx.tag,
                    "timeout": rules.scan_timeout,
                },
            )
        )
    if paths:
        remedy.steps.append(
            Step(
                "scan where the files were",
                scanned,
                {"directories": sorted({_parent(p) for p in paths}), "timeout": rules.scan_timeout},
                after_change=True,
            )
        )
    return remedy
