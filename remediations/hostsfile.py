"""Sinkholing malicious names in the hosts file, edited as bytes and undone exactly.

A line that names a malicious domain (or its subdomain), or pins any name to a malicious
address, is kept but commented out (`# raquet:<tag> disabled: <line>`); its harmless
names stay on their address (`… # raquet:<tag> kept`); each malicious name is pointed at
the unspecified addresses `0.0.0.0` and `::` (`… # raquet:<tag> sinkhole`), both, so an
IPv6-only lookup cannot fall through to DNS.

The file is whatever bytes the host has (a Latin-1 comment, CRLF line ends, no final
newline), so it is never read as text. It is read whole, base64-encoded, by a fact of
its own, and a read that is not complete (fewer bytes than `stat` says, or more than
`MAX_BYTES`) refuses the edit. An edit is kept as pieces, byte ranges of the old file and
new bytes (a sinkhole only inserts, its undo only removes what it inserted), so every line
it does not touch stays byte for byte and the command that writes it sends only the new
bytes. On the host the command
checks the file is still the one read (sha256), copies it to a root-only backup
(`/var/lib/raquet/backup/hosts-<tag>`) with the digests before and after the edit beside
it (`….sha256`), builds the new file from the backup and the pieces, checks the result's
sha256 against the one computed here, and only then renames it over the old file (same
owner, mode and SELinux label). `raquet remediate --undo` puts the backup back when the
file is exactly as raquet left it (and the backup is what was saved), and otherwise removes
this tag's lines alone, so what others changed since stays. The plan shows each edit as a
unified diff.

Windows sends the whole new file, base64, checked by SHA-256 in PowerShell the same way.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import ipaddress
import re
import shlex
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from pyinfra import host
from pyinfra.api import FactBase, OperationError, StringCommand, operation

from raquet.powershell import quote
from remediations.values import IpNetwork

PATH = "/etc/hosts"
BACKUP_DIR = "/var/lib/raquet/backup"
WINDOWS_PATH = r"C:\Windows\System32\drivers\etc\hosts"
SINKHOLES = (b"0.0.0.0", b"::")
MAX_BYTES = 8 * 1024 * 1024
MAX_DIFF_LINES = 200
_TAG = re.compile(r"^[A-Za-z0-9]{1,64}$")

Piece = tuple[int, int] | bytes
"""A byte range `(start, end)` of the old file, kept as it is, or new bytes."""


def marker(tag: str) -> bytes:
    return f"raquet:{tag}".encode("ascii")


def lines_of(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each line, its `\\n` included; a last line without one is a line too.
    Only `\\n` ends a line, as for the resolver: a lone `\\r` or `\\x0b` is part of it."""
    spans, start = [], 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end + 1
        spans.append((start, end))
        start = end
    return spans


def _text(line: bytes) -> bytes:
    """A line without its line end (`\\n` or `\\r\\n`)."""
    return line.removesuffix(b"\n").removesuffix(b"\r")


@dataclass(frozen=True)
class Edit:
    """A file's new content: pieces of the old one and new bytes, in order."""

    old: bytes
    pieces: tuple[Piece, ...]

    @property
    def new(self) -> bytes:
        return b"".join(p if isinstance(p, bytes) else self.old[p[0] : p[1]] for p in self.pieces)

    @property
    def changed(self) -> bool:
        return self.new != self.old

    def diff(self, path: str) -> str:
        """A unified diff, for people: bytes that are not UTF-8 shown as `\\xNN`."""
        lines = difflib.diff_bytes(
            difflib.unified_diff,
            [self.old[s:e] for s, e in lines_of(self.old)],
            [self.new[s:e] for s, e in lines_of(self.new)],
            path.encode(),
            path.encode(),
            n=1,
        )
        shown = [line.decode("utf-8", "backslashreplace").rstrip("\r\n") for line in lines]
        if len(shown) > MAX_DIFF_LINES:
            shown = [*shown[:MAX_DIFF_LINES], f"… {len(shown) - MAX_DIFF_LINES} more diff lines"]
        return "\n".join(shown)


class _Builder:
    """Collects pieces, merging neighbouring ranges and neighbouring new bytes."""

    def __init__(self) -> None:
        self.pieces: list[Piece] = []

    def keep(self, start: int, end: int) -> None:
        if start >= end:
            return
        last = self.pieces[-1] if self.pieces else None
        if isinstance(last, tuple) and last[1] == start:
            self.pieces[-1] = (last[0], end)
        else:
            self.pieces.append((start, end))

    def add(self, data: bytes) -> None:
        if not data:
            return
        last = self.pieces[-1] if self.pieces else None
        if isinstance(last, bytes):
            self.pieces[-1] = last + data
        else:
            self.pieces.append(data)


def _line_end(data: bytes) -> bytes:
    """The file's own line end for added lines: CRLF if its first line has one."""
    first = data.find(b"\n")
    return b"\r\n" if first > 0 and data[first - 1 : first] == b"\r" else b"\n"


def _named(name: bytes, domains: set[str]) -> bool:
    text = name.decode("latin-1").lower().rstrip(".")
    return any(text == d or text.endswith("." + d) for d in domains)


def _pinned(address: bytes, networks: list[IpNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address.decode("ascii").split("%")[0])
    except (ValueError, UnicodeDecodeError):
        return False
    return any(ip in net for net in networks)


def _bad_names(
    data: bytes, domains: set[str], networks: list[IpNetwork]
) -> tuple[dict[int, tuple[list[bytes], list[bytes]]], list[bytes]]:
    """Line index -> (its fields, its malicious names); and the names to sinkhole, in order,
    less those some line already points nowhere."""
    found: dict[int, tuple[list[bytes], list[bytes]]] = {}
    done: set[bytes] = set()
    wanted: list[bytes] = []
    for index, (start, end) in enumerate(lines_of(data)):
        fields = _text(data[start:end]).split(b"#", 1)[0].split()
        if len(fields) < 2:
            continue
        if fields[0] in SINKHOLES:
            done.update(n.lower() for n in fields[1:])
            continue
        pinned = _pinned(fields[0], networks)
        bad = [n for n in fields[1:] if pinned or _named(n, domains)]
        if bad:
            found[index] = (fields, bad)
            wanted += [n.lower() for n in bad]
    return found, [n for n in dict.fromkeys(wanted) if n not in done]


def sinkholed(data: bytes, domains: set[str], networks: list[IpNetwork], tag: str) -> Edit:
    """The hosts file with this tag's sinkhole applied; no change when there is nothing to do.

    New lines never follow a last line that has no line end: they go before it, so that line
    stays exactly as it was."""
    mark, eol = marker(tag), _line_end(data)
    found, names = _bad_names(data, domains, networks)
    added = b"".join(
        s + b" " + n + b"  # " + mark + b" sinkhole" + eol for n in names for s in SINKHOLES
    )
    spans = lines_of(data)
    build = _Builder()
    for index, (start, end) in enumerate(spans):
        open_end = index == len(spans) - 1 and not data.endswith(b"\n")
        if open_end:
            build.add(added)
            added = b""
        if index not in found:
            build.keep(start, end)
            continue
        fields, bad = found[index]
        kept = [n for n in fields[1:] if n not in bad]
        extra = b" ".join([fields[0], *kept]) + b"  # " + mark + b" kept" + eol if kept else b""
        build.add(extra if open_end else b"")
        build.add(b"# " + mark + b" disabled: ")
        build.keep(start, end)
        build.add(b"" if open_end else extra)
    build.add(added)
    return Edit(data, tuple(build.pieces))


def restored(data: bytes, tag: str) -> Edit:
    """The hosts file without this tag's edits: its added lines dropped, its disabled lines
    given back as they were."""
    mark = marker(tag)
    disabled = b"# " + mark + b" disabled: "
    build = _Builder()
    for start, end in lines_of(data):
        line = data[start:end]
        if line.startswith(disabled):
            build.keep(start + len(disabled), end)
        elif (
            not _text(line)
            .rstrip()
            .endswith((b"# " + mark + b" kept", b"# " + mark + b" sinkhole"))
        ):
            build.keep(start, end)
    return Edit(data, tuple(build.pieces))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Unreadable(ValueError):
    """The file could not be read whole: it must not be changed."""


class FileBytes(FactBase[bytes | Unreadable | None]):
    """A regular file's bytes (None when there is none), read base64 with the size `stat`
    gives, so that a short read shows; an incomplete read raises `Unreadable`."""

    @staticmethod
    def default() -> Unreadable:
        """What pyinfra gives when the command failed: never taken for a missing file."""
        return Unreadable("could not be read (the command failed)")

    def command(self, path: str) -> StringCommand:
        return StringCommand(
            f"f={shlex.quote(path)}\n"
            'if [ ! -e "$f" ] && [ ! -L "$f" ]; then echo missing; exit 0; fi\n'
            '[ -f "$f" ] || { echo "problem is not a regular file"; exit 0; }\n'
            's=$(stat -L -c %s -- "$f"); echo "size $s"\n'
            f'[ "$s" -le {MAX_BYTES} ] || exit 0\n'
            f"printf 'data '; head -c {MAX_BYTES + 1} -- \"$f\" | base64 -w 0; echo"
        )

    def process(self, output: list[str]) -> bytes | None:
        fields = dict(line.partition(" ")[::2] for line in output)
        if "missing" in fields:
            return None
        if "problem" in fields:
            raise Unreadable(fields["problem"])
        return complete(fields.get("size", ""), fields.get("data"))


def complete(size: str, encoded: str | None) -> bytes:
    """The bytes read, if they are the whole file (`size` is what `stat` said)."""
    if not (size.isascii() and size.isdigit()):
        raise Unreadable("could not be read")
    if int(size) > MAX_BYTES:
        raise Unreadable(f"is {size} bytes, more than raquet edits ({MAX_BYTES})")
    try:
        data = base64.b64decode(encoded or "", validate=True) if encoded is not None else None
    except (binascii.Error, ValueError):
        data = None
    if data is None:
        raise Unreadable("could not be read")
    if len(data) != int(size):
        raise Unreadable(f"read {len(data)} of its {size} bytes")
    return data


def _read(path: str, fact: type[FactBase[bytes | Unreadable | None]] = FileBytes) -> bytes | None:
    """The file's bytes (None when there is none), or OperationError when not read whole."""
    try:
        found = host.get_fact(fact, path=path)
    except Unreadable as exc:
        found = exc
    if isinstance(found, Unreadable):
        raise OperationError(f"{path} {found}: not changed")
    return found


class FileEdit(StringCommand):
    """A command that writes a file; the plan and the log show `preview` (the diff), not the
    command, whose new bytes are base64."""

    def __init__(self, command: str, preview: str) -> None:
        super().__init__(command)
        self.preview = preview


def _preview(path: str, edit: Edit, backup: str) -> str:
    head = (
        f"(write {len(edit.new)} bytes to {path}, after a backup to {backup}; sha256 "
        f"{sha256(edit.old)[:12]}… -> {sha256(edit.new)[:12]}…)"
    )
    return f"{head}\n{edit.diff(path)}"


# Every edit: the file must still be the one read; a root-only backup of it, checked, with
# the digests before and after beside it (`$b.sha256`), before anything else.
_SH_PROLOGUE = r"""set -f
umask 077
rq_sha() { sha256sum < "$1" | cut -c1-64; }
rq_fail() { rm -f -- "$t"; printf '%s\n' "$1" >&2; exit 1; }
[ "$(rq_sha "$f")" = "$old" ] || rq_fail "$f changed since raquet read it: not changed"
mkdir -p -- "${b%/*}" && cp -- "$f" "$b" && [ "$(rq_sha "$b")" = "$old" ] || rq_fail "could not back $f up to $b: not changed"
printf 'before %s\nafter %s\n' "$old" "$new" > "$b.sha256" || rq_fail "could not record the backup's sha256: not changed"
rm -f -- "$t"
"""

# ... and the new file is renamed over the old one only once it is exactly what was computed.
_SH_EPILOGUE = r"""[ "$(rq_sha "$t")" = "$new" ] || rq_fail "the new $f is not what raquet computed: not changed"
chown --reference="$f" -- "$t" && chmod --reference="$f" -- "$t" || rq_fail "could not give the new $f its owner and mode"
chcon --reference="$f" -- "$t" 2>/dev/null || :
mv -f -T -- "$t" "$f" || rq_fail "could not replace $f"
"""


def _variables(path: str, backup: str, edit: Edit) -> str:
    folder, _, name = path.rpartition("/")
    temporary = f"{folder}/.{name}.raquet-new"
    pairs = {
        "f": path,
        "b": backup,
        "t": temporary,
        "old": sha256(edit.old),
        "new": sha256(edit.new),
    }
    return "".join(f"{k}={shlex.quote(v)}\n" for k, v in pairs.items())


def _piece_commands(pieces: Iterable[Piece]) -> Iterator[str]:
    for piece in pieces:
        if isinstance(piece, bytes):
            yield f"printf '%s' {base64.b64encode(piece).decode()} | base64 -d"
        else:
            yield f'tail -c +{piece[0] + 1} -- "$b" | head -c {piece[1] - piece[0]}'


def write_command(path: str, edit: Edit, backup: str) -> FileEdit:
    """The shell command that makes `edit` on the host (see the module docstring): the old
    bytes it keeps come from the backup it has just made and checked."""
    pieces = "\n".join(_piece_commands(edit.pieces)) or ":"  # an empty file is a file too
    build = f'{{\n{pieces}\n}} > "$t" || rq_fail "could not write the new $f"\n'
    script = _variables(path, backup, edit) + _SH_PROLOGUE + build + _SH_EPILOGUE
    return FileEdit(script, _preview(path, edit, backup))


def restore_command(path: str, edit: Edit, saved: str, backup: str) -> FileEdit:
    """The shell command that puts the earlier backup `saved` (whose bytes are `edit.new`)
    back, itself after a backup of the file as it is."""
    build = f'cp -- {shlex.quote(saved)} "$t" || rq_fail "could not copy the backup"\n'
    script = _variables(path, backup, edit) + _SH_PROLOGUE + build + _SH_EPILOGUE
    return FileEdit(script, _preview(path, edit, backup))


def _checked_tag(tag: str) -> str:
    """A tag from the store names a file: nothing but letters and digits."""
    if not _TAG.match(tag):
        raise OperationError(f"{tag!r} is not a remediation tag")
    return tag


def backup_path(tag: str, suffix: str = "") -> str:
    return f"{BACKUP_DIR}/hosts-{_checked_tag(tag)}{suffix}"


def windows_backup(tag: str, suffix: str = "") -> str:
    return f"{WINDOWS_PATH}.raquet-{_checked_tag(tag)}{suffix}"


def digests(record: bytes | None) -> dict[str, str]:
    """`before SHA` / `after SHA` lines of a backup's `.sha256` record."""
    found = {}
    for line in (record or b"").decode("ascii", "replace").split("\n"):
        key, _, value = line.strip().partition(" ")
        if key in ("before", "after") and re.fullmatch(r"[0-9a-f]{64}", value):
            found[key] = value
    return found


def _undo_edit(
    current: bytes, tag: str, backup: str, read: Callable[[str], bytes | None]
) -> tuple[Edit, bool]:
    """What the undo writes, and whether it is the backup: the backup when the file is exactly
    as the sinkhole left it (and the backup is what was saved), else the file without this
    tag's lines."""
    recorded = digests(read(f"{backup}.sha256"))
    if recorded.get("after") != sha256(current):
        return restored(current, tag), False
    saved = read(backup)
    if saved is None or sha256(saved) != recorded.get("before"):
        raise OperationError(f"the backup {backup} is missing or not what was saved: not changed")
    return Edit(current, (saved,)), True


@operation()
def sinkhole(domains: list[str], networks: list[str], tag: str, path: str = PATH):
    """Malicious names pointed nowhere in `path`, after a backup (see the module docstring)."""
    found = _read(path)
    if found is None:
        host.noop(f"{path} does not exist")
        return
    nets = [ipaddress.ip_network(n) for n in networks]
    edit = sinkholed(found, set(domains), nets, tag)
    if not edit.changed:
        host.noop(f"{path} needs no change")
        return
    yield write_command(path, edit, backup_path(tag))


@operation()
def unsinkhole(tag: str, path: str = PATH):
    """The sinkhole of `tag` taken back (see `_undo_edit`)."""
    current = _read(path)
    if current is None:
        host.noop(f"{path} does not exist")
        return
    saved = backup_path(tag)
    edit, from_backup = _undo_edit(current, tag, saved, _read)
    if not edit.changed:
        host.noop(f"{path} needs no change")
    elif from_backup:
        yield restore_command(path, edit, saved, backup_path(tag, ".before-undo"))
    else:
        yield write_command(path, edit, backup_path(tag, ".before-undo"))


class WindowsFileBytes(FileBytes):
    """The Windows counterpart of `FileBytes`."""

    def command(self, path: str) -> StringCommand:
        return StringCommand(
            f"$p = {quote(path)}\n"
            "if (-not (Test-Path -LiteralPath $p -PathType Leaf)) { 'missing'; return }\n"
            '$size = (Get-Item -LiteralPath $p).Length; "size $size"\n'
            f"if ($size -gt {MAX_BYTES}) {{ return }}\n"
            "'data ' + [Convert]::ToBase64String([IO.File]::ReadAllBytes($p))"
        )

    def process(self, output: list[str]) -> bytes | None:
        return super().process([line.strip() for line in output if line.strip()])


def _windows_read(path: str) -> bytes | None:
    return _read(path, WindowsFileBytes)


def windows_write_command(edit: Edit, backup: str) -> FileEdit:
    """PowerShell: check the file is the one read, back it up with both digests beside it,
    then write the new bytes once they are what was computed."""
    old, new = sha256(edit.old), sha256(edit.new)
    script = (
        f"$p = {quote(WINDOWS_PATH)}; $bak = {quote(backup)}\n"
        "$sha = [Security.Cryptography.SHA256]::Create()\n"
        "function Rq-Sha($b) { ([BitConverter]::ToString($sha.ComputeHash($b)) -replace '-','').ToLower() }\n"
        "$was = [IO.File]::ReadAllBytes($p)\n"
        f"if ((Rq-Sha $was) -ne '{old}') {{ throw \"$p changed since raquet read it: not changed\" }}\n"
        "[IO.File]::WriteAllBytes($bak, $was)\n"
        f"[IO.File]::WriteAllText($bak + '.sha256', \"before {old}`nafter {new}`n\")\n"
        f"$now = [Convert]::FromBase64String('{base64.b64encode(edit.new).decode()}')\n"
        f"if ((Rq-Sha $now) -ne '{new}') {{ throw 'the new hosts file is not what raquet computed' }}\n"
        "[IO.File]::WriteAllBytes($p, $now)"
    )
    return FileEdit(script, _preview(WINDOWS_PATH, edit, backup))


@operation()
def windows_sinkhole(domains: list[str], networks: list[str], tag: str):
    found = _windows_read(WINDOWS_PATH)
    if found is None:
        host.noop("the hosts file does not exist")
        return
    nets = [ipaddress.ip_network(n) for n in networks]
    edit = sinkholed(found, set(domains), nets, tag)
    if not edit.changed:
        host.noop("the hosts file needs no change")
        return
    yield windows_write_command(edit, windows_backup(tag))


@operation()
def windows_unsinkhole(tag: str):
    current = _windows_read(WINDOWS_PATH)
    if current is None:
        host.noop("the hosts file does not exist")
        return
    edit, _ = _undo_edit(current, tag, windows_backup(tag), _windows_read)
    if not edit.changed:
        host.noop("the hosts file needs no change")
        return
    yield windows_write_command(edit, windows_backup(tag, ".before-undo"))
