"""Reading data set files in bounded memory: capped byte streams, gzip, zip members one by
one, and JSON streamed item by item (ijson) with every failure turned into a `Problem`.

A data set file comes from outside, so it may be truncated, not JSON at all, a zip that
inflates a thousandfold, or nested a million levels deep. Every byte read goes through
`Capped`, which stops at a bound; ijson builds one item at a time (one NVD CVE, one
Debian source package, one MSRC vulnerability), so memory follows the largest item, not
the file. A JSON error ends that file (the stream cannot be resynchronised) with a problem
at the item it was in; a directory or zip goes on with its next file.

Positions are JSON pointers (`/vulnerabilities/17/cve/configurations/0`) in the
`Problem`'s field, the line left empty: a streaming parser does not count lines.
"""

from __future__ import annotations

import gzip
import io
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import accumulate
from pathlib import Path
from typing import IO, Any, cast

import ijson

from raquet.errors import Problem

MAX_FILE_BYTES = 4 << 30
"""Largest JSON data set read, after decompression: NVD's yearly files and Debian's tracker
export are well under 1 GiB; reading is streamed, so this bounds time, not memory."""
MAX_RECORD_BYTES = 32 << 20
"""Largest single record file (one OSV JSON file, a zip member): OSV's biggest, a kernel
CVE enumerating every affected version, is a few MiB."""
MAX_MEMBERS = 2_000_000
"""Files of a directory or zip read: the whole OSV Debian export has about 150,000."""
MAX_ITEMS = 5_000_000
"""Items of one streamed array or object (NVD CVEs, tracker packages, MSRC CVEs)."""
MAX_TEXT = 4096
"""Longest identifier, name or version string kept from a record."""
MAX_DEPTH = 64
"""Deepest nesting read: NVD's CVEs need eight levels. ijson's cost per event grows with the
depth (each event carries its path), so a file of `[[[[…` would otherwise take hours."""
MAX_STRING = 1 << 20
"""Longest JSON string the depth check carries over between reads (descriptions are KiB)."""
_GZIP = b"\x1f\x8b"
_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_DELTA = [0] * 256
_DELTA[ord("[")] = _DELTA[ord("{")] = 1
_DELTA[ord("]")] = _DELTA[ord("}")] = -1
_ZIP = b"PK\x03\x04"


class TooLarge(Exception):
    """The stream went past its bound."""


class Capped(io.RawIOBase):
    """A binary stream that refuses to give more than `limit` bytes."""

    def __init__(self, inner: IO[bytes], limit: int) -> None:
        self._inner = inner
        self._left = limit
        self.limit = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        data = self._inner.read(min(len(view), self._left + 1))
        if len(data) > self._left:
            raise TooLarge(f"the file goes on past {self.limit:,} bytes")
        self._left -= len(data)
        view[: len(data)] = data
        return len(data)


class DepthChecked(io.RawIOBase):
    """A JSON byte stream that refuses (`TooLarge`) to nest deeper than MAX_DEPTH.

    Brackets are counted outside strings; a string cut by the end of a read is carried
    into the next one (up to MAX_STRING)."""

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner
        self._depth = 0
        self._carry = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        data = self._inner.read(len(view))
        self._scan(data)
        view[: len(data)] = data
        return len(data)

    def _scan(self, data: bytes) -> None:
        """Count the brackets of `data` outside strings, in C-speed steps: complete strings
        removed by one substitution, the brackets left kept by `translate`, their running
        depth summed by `accumulate`."""
        text = self._carry + data
        self._carry = b""
        stripped = _STRINGS.sub(b"", text)
        cut = stripped.find(b'"')
        if cut >= 0:  # a string the read cut: it starts at the last unescaped quote
            start = _last_quote(text)
            self._carry = text[start:]
            if len(self._carry) > MAX_STRING:
                raise TooLarge(f"a string longer than {MAX_STRING:,} bytes")
            stripped = stripped[:cut]
        brackets = stripped.translate(None, _NOT_BRACKETS)
        if not brackets:
            return
        levels = list(accumulate(map(_DELTA.__getitem__, brackets), initial=self._depth))
        if max(levels) > MAX_DEPTH:
            raise TooLarge(f"nested more than {MAX_DEPTH} levels deep")
        self._depth = levels[-1]


def _last_quote(text: bytes) -> int:
    """Where the last quote not escaped by a backslash is."""
    end = len(text)
    while True:
        found = text.rfind(b'"', 0, end)
        slashes = 0
        while found - slashes - 1 >= 0 and text[found - slashes - 1] == 0x5C:
            slashes += 1
        if found <= 0 or slashes % 2 == 0:
            return max(found, 0)
        end = found


def sniff(path: Path) -> bytes:
    """The first bytes of a file (b"" for what cannot be read)."""
    try:
        with path.open("rb") as handle:
            return handle.read(4096)
    except OSError:
        return b""


@contextmanager
def open_json(path: Path, limit: int = MAX_FILE_BYTES) -> Iterator[IO[bytes]]:
    """A file's bytes, gunzipped when it is gzip, capped at `limit`."""
    with path.open("rb") as raw:
        inner: IO[bytes] = raw
        if raw.read(2) == _GZIP:
            raw.seek(0)
            inner = cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
        else:
            raw.seek(0)
        capped = cast(IO[bytes], Capped(inner, limit))
        yield cast(IO[bytes], io.BufferedReader(DepthChecked(capped), 1 << 16))


def is_zip(head: bytes) -> bool:
    return head.startswith(_ZIP)


def zip_members(path: Path) -> Iterator[tuple[str, IO[bytes]] | Problem]:
    """Each `.json` member of a zip, one open stream at a time (capped at
    MAX_RECORD_BYTES of inflated data whatever the header claims)."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, ValueError) as err:
        yield Problem(str(path), None, "", f"not a readable zip: {err}")
        return
    with archive:
        count = 0
        for info in archive.infolist():
            if info.is_dir() or not info.filename.lower().endswith(".json"):
                continue
            count += 1
            name = f"{path}!{info.filename}"
            if count > MAX_MEMBERS:
                yield Problem(
                    str(path), None, "", f"more than {MAX_MEMBERS:,} files: not read further"
                )
                return
            if info.file_size > MAX_RECORD_BYTES:
                yield Problem(
                    name, None, "", f"{info.file_size:,} bytes: larger than a record can be"
                )
                continue
            try:
                with archive.open(info) as member:
                    yield name, cast(IO[bytes], io.BufferedReader(Capped(member, MAX_RECORD_BYTES)))
            except (
                OSError,
                zipfile.BadZipFile,
                NotImplementedError,
                RuntimeError,
                ValueError,
            ) as err:
                yield Problem(name, None, "", f"cannot be read from the zip: {err}")


def read_bounded(handle: IO[bytes], file: str) -> bytes | Problem:
    """All of a record's bytes, or the problem that stopped them."""
    try:
        return handle.read()
    except TooLarge as err:
        return Problem(file, None, "", f"{err}: larger than a record can be")
    except (OSError, EOFError, zipfile.BadZipFile, ValueError) as err:
        return Problem(file, None, "", f"cannot be read: {err}")


def stream(
    handle: IO[bytes], prefix: str, file: str, pointer: str, *, pairs: bool = False
) -> Iterator[tuple[str, Any] | Problem]:
    """(JSON pointer, item) for each item under `prefix` (ijson's `a.item` or, with `pairs`,
    each key of the object at `prefix`), then a problem if the JSON breaks off."""
    count = 0
    where = pointer
    try:
        found: Iterator[Any] = (
            ijson.kvitems(handle, prefix, use_float=True)
            if pairs
            else ijson.items(handle, prefix, use_float=True)
        )
        for item in found:
            if count >= MAX_ITEMS:
                yield Problem(
                    file, None, pointer, f"more than {MAX_ITEMS:,} items: not read further"
                )
                return
            if pairs:
                key, value = item
                where = f"{pointer}/{escape(str(key))}"
                yield where, (key, value)
            else:
                where = f"{pointer}/{count}"
                yield where, item
            count += 1
    except TooLarge as err:
        yield Problem(
            file, None, where, f"the file goes on past its bound ({err}): not read further"
        )
    except (ijson.JSONError, ValueError, OverflowError, RecursionError, MemoryError) as err:
        after = f" after {where}" if count else ""
        yield Problem(
            file, None, pointer, f"invalid JSON{after}: {_short(err)}; the rest is not read"
        )
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        yield Problem(file, None, where, f"cannot be read: {_short(err)}")


def escape(key: str) -> str:
    """A key as a JSON pointer segment (RFC 6901: `~` -> `~0`, `/` -> `~1`)."""
    return key.replace("~", "~0").replace("/", "~1")[:200]


def _short(err: BaseException) -> str:
    text = (str(err) or type(err).__name__).strip().splitlines()[0]
    return text if len(text) <= 200 else text[:200] + "…"


def text(value: object) -> str | None:
    """A non-empty string of at most MAX_TEXT characters, stripped; None for anything else."""
    if isinstance(value, str):
        value = value.strip()
        if value and len(value) <= MAX_TEXT:
            return value
    return None


def items(value: object) -> list[Any]:
    """A JSON array's items; [] for anything else."""
    return value if isinstance(value, list) else []


def mapping(value: object) -> dict[str, Any]:
    """A JSON object; {} for anything else."""
    return value if isinstance(value, dict) else {}
