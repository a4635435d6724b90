"""The hosts file as bytes: whatever the host's file holds (not UTF-8, CRLF, a lone `\\r`, NUL,
no final newline, lines that look like raquet's own), a sinkhole never raises, keeps every
line it does not touch byte for byte, and its undo gives the file back exactly. The command
that writes an edit is run by a real `sh` here against a real file: it must produce exactly
the bytes computed, and refuse, changing nothing, when the file is not the one read.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import raquet  # noqa: F401  (gevent patching first, as in every entry point)
from remediations import hostsfile as h
from remediations.display import printable

TAG = "5fc775ee2022"
DOMAINS = ["c2-panel.example", "bad-domain.example"]
NETS = ["198.51.100.66/32", "2001:db8:bad::/48"]
LATIN1 = b"# m\xe1y ch\xfa c\xf4ng ty\n"

# Lines a hosts file may hold, hostile ones included; glued to arbitrary bytes.
pieces = st.sampled_from(
    [
        b"127.0.0.1\tlocalhost",
        b"198.51.100.66 update.bad-domain.example",
        b"10.9.9.9 cdn.C2-panel.example intranet.local",
        b"2001:db8:bad::7 x.c2-panel.example",
        b"0.0.0.0 cdn.c2-panel.example",
        b"# raquet:0a0de8379842 disabled: 10.1.1.1 old.c2-panel.example",
        b"\xff\xfe 10.0.0.1 n\xe1me",
        b"10.0.0.2\x0bvtab.example\x00",
        b"",
        b"\r",
        b"#",
    ]
)
line_ends = st.sampled_from([b"\n", b"\r\n", b"\r", b""])
files = st.lists(st.tuples(st.one_of(pieces, st.binary(max_size=24)), line_ends), max_size=12).map(
    lambda parts: b"".join(text + end for text, end in parts)
)
domains = st.lists(st.sampled_from([*DOMAINS, "example", "xn--c2-5ka.example"]), max_size=3)
networks = st.lists(st.sampled_from([*NETS, "10.0.0.0/8", "0.0.0.0/32"]), max_size=3)


def nets(texts: list[str]) -> list[h.IpNetwork]:
    return [ipaddress.ip_network(t) for t in texts]


@settings(max_examples=500)
@given(files, domains, networks)
def test_a_sinkhole_keeps_every_other_line_and_its_undo_gives_the_file_back(
    data: bytes, names: list[str], blocked: list[str]
) -> None:
    assume(h.marker(TAG) not in data)
    edit = h.sinkholed(data, set(names), nets(blocked), TAG)
    new = edit.new
    kept = [new[s:e] for s, e in h.lines_of(new)]
    disabled = b"# " + h.marker(TAG) + b" disabled: "
    added = [line for line in kept if h.marker(TAG) in line and not line.startswith(disabled)]
    originals = [line.removeprefix(disabled) for line in kept if line not in added]
    assert originals == [data[s:e] for s, e in h.lines_of(data)]  # all there, in order, exact
    assert h.restored(new, TAG).new == data
    assert not h.sinkholed(new, set(names), nets(blocked), TAG).changed  # a second run: nothing


@settings(max_examples=300)
@given(files, domains, networks)
def test_an_edit_is_only_new_bytes_between_ranges_of_the_old_file(
    data: bytes, names: list[str], blocked: list[str]
) -> None:
    edit = h.sinkholed(data, set(names), nets(blocked), TAG)
    ranges = [p for p in edit.pieces if isinstance(p, tuple)]
    assert all(0 <= s < e <= len(data) for s, e in ranges)
    assert ranges == sorted(ranges)
    assert b"".join(data[s:e] for s, e in ranges) == data  # a sinkhole only ever inserts
    assert printable(edit.diff("/etc/hosts")).isprintable()


@settings(max_examples=300)
@given(st.lists(st.text(max_size=40), max_size=4))
def test_any_answer_to_the_read_is_bytes_none_or_refused(output: list[str]) -> None:
    try:
        found = h.FileBytes().process(output)
    except h.Unreadable:
        return
    assert found is None or isinstance(found, bytes)


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        (["size 20", "data aGVsbG8="], "read 5 of its 20 bytes"),
        ([f"size {h.MAX_BYTES + 1}", "data aGVsbG8="], "more than raquet edits"),
        (["size 5", "data not base64!"], "could not be read"),
        (["problem is not a regular file"], "is not a regular file"),
        (["size 5"], "could not be read"),
    ],
)
def test_a_read_that_is_not_complete_refuses(output: list[str], problem: str) -> None:
    with pytest.raises(h.Unreadable, match=problem):
        h.FileBytes().process(output)
    assert isinstance(h.FileBytes.default(), h.Unreadable)  # a failed command is not "no file"


def run(command: h.FileEdit) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["sh", "-c", command.get_raw_value()], capture_output=True, timeout=30)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(files, domains, networks)
def test_the_shell_builds_exactly_the_computed_bytes(
    tmp_path: Path, data: bytes, names: list[str], blocked: list[str]
) -> None:
    edit = h.sinkholed(data, set(names), nets(blocked), TAG)
    target, backup = tmp_path / "hosts", tmp_path / "backup" / "hosts-x"
    target.write_bytes(data)
    os.chmod(target, 0o644)
    done = run(h.write_command(str(target), edit, str(backup)))
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == edit.new
    assert backup.read_bytes() == data and oct(target.stat().st_mode) == "0o100644"
    record = h.digests(Path(f"{backup}.sha256").read_bytes())
    assert record == {"before": h.sha256(data), "after": h.sha256(edit.new)}


def test_a_file_changed_since_it_was_read_is_not_written(tmp_path: Path) -> None:
    data = LATIN1 + b"10.9.9.9 cdn.c2-panel.example\n"
    edit = h.sinkholed(data, {"c2-panel.example"}, [], TAG)
    target = tmp_path / "hosts"
    target.write_bytes(data + b"10.0.0.9 added.meanwhile\n")
    done = run(h.write_command(str(target), edit, str(tmp_path / "b" / "hosts-x")))
    assert done.returncode == 1 and b"changed since raquet read it" in done.stderr
    assert target.read_bytes() == data + b"10.0.0.9 added.meanwhile\n"
    assert not (tmp_path / ".hosts.raquet-new").exists()


def test_undo_puts_the_backup_back_when_the_file_is_as_raquet_left_it(tmp_path: Path) -> None:
    data = LATIN1 + b"10.9.9.9 cdn.c2-panel.example\r\n1.2.3.4 tail-without-newline"
    edit = h.sinkholed(data, {"c2-panel.example"}, [], TAG)
    target, backup = tmp_path / "hosts", tmp_path / "b" / "hosts-x"
    target.write_bytes(data)
    assert run(h.write_command(str(target), edit, str(backup))).returncode == 0
    back = h.Edit(edit.new, (backup.read_bytes(),))
    done = run(h.restore_command(str(target), back, str(backup), f"{backup}.before-undo"))
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == data
