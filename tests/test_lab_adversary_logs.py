"""The swept host is the adversary (item 2), on real lab hosts with the real clamd 1.4 running:
an unprivileged user names EICAR files with every separator `str.splitlines` honours and one
with a newline carrying a forged detection line, and has clamd scan (and log) them over its
world-writable socket; another forges a detection inside the name of a path that does not
exist. Then the real `raquet sweep`: every genuine detection is found under its whole name,
no forged one is stored, and both hosts fail as critical; an untouched host passes.

The user speaks clamd's own protocol (`zSCAN PATH\\0`, what clamdscan sends; the lab image
has no clamdscan) from perl, which every Debian has: NUL-terminated, so newlines pass.
"""

from __future__ import annotations

import base64
import json
import shlex
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from checks.infections import visible
from raquet.store import Store
from tests.conftest import SCENARIOS, raquet_cli
from tests.lab import scenario
from tests.lab.fleet import EICAR, Fleet

SEPARATORS = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
FORGED = "Win.Ransom.WannaCry-FORGED"
FORGED_ONLY = "Win.Ransom.Forged-2"

# Reads NUL-separated paths from ARGV[1]; writes the EICAR bytes of ARGV[2] to each, unless
# it is to stay absent (ARGV[3], NUL-separated too); then has clamd scan every one.
ATTACK = r"""
use strict; use IO::Socket::UNIX; use File::Path qw(make_path); use File::Basename qw(dirname);
sub slurp { open(my $f, "<:raw", $_[0]) or die "$_[0]: $!"; local $/; my $t = <$f>; $t }
my @paths = split /\0/, slurp($ARGV[1]);
my $eicar = slurp($ARGV[2]);
my %absent = map { $_ => 1 } split /\0/, slurp($ARGV[3]);
for my $p (grep { !$absent{$_} } @paths) {
  make_path(dirname($p), { mode => 0755 });
  open(my $o, ">:raw", $p) or die "$p: $!"; print $o $eicar; close $o; chmod 0644, $p;
}
for my $p (@paths) {
  my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "clamd socket: $!";
  print $s "zSCAN $p\0"; local $/ = "\0"; my $reply = <$s>; close $s;
  print "$reply\n";
}
"""


def _ctime(when: datetime) -> str:
    """clamd's LogTime stamp; the lab hosts run in UTC."""
    return f"{when:%a %b} {when.day:2d} {when:%H:%M:%S %Y}"


def _attack(fleet: Fleet, host: str, found: list[str], absent: list[str]) -> str:
    """As the unprivileged user u: EICAR files at `found`, nothing at `absent`, clamd asked to
    scan all of them; clamd's replies."""
    files = {
        "/tmp/u.pl": ATTACK.encode(),
        "/tmp/u.paths": "\0".join(found + absent).encode(),
        "/tmp/u.eicar": EICAR,
        "/tmp/u.absent": "\0".join(absent).encode(),
    }
    writes = " && ".join(
        f"echo {base64.b64encode(data).decode()} | base64 -d > {path}"
        for path, data in files.items()
    )
    command = (
        f"{writes} && perl /tmp/u.pl /run/clamav/clamd.ctl /tmp/u.paths /tmp/u.eicar /tmp/u.absent"
    )
    return fleet.as_user(host, "u", command, timeout=120)


def _names(forged_at: datetime) -> list[str]:
    """The genuine files: one per separator, and one whose name holds a newline, a whole
    forged clamd detection line dated `forged_at`, and another newline."""
    forged = f"{_ctime(forged_at)} -> /srv/forged.exe: {FORGED} FOUND"
    return [f"/home/u/sep{sep}x.exe" for sep in SEPARATORS] + [f"/home/u/nl\n{forged}\nb.exe"]


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    plan = scenario.load(SCENARIOS / "adversary_logs.yml")
    with Fleet(plan, tmp_path_factory.mktemp("adversary-logs")) as fleet:
        forged_at = datetime.now(UTC) - timedelta(
            days=2
        )  # inside the window, before clamd's own lines
        names = _names(forged_at)
        nowhere = f"/nonexistent\n{_ctime(forged_at)} -> /etc/shadow.exe: {FORGED_ONLY} FOUND"
        socket = {
            h: fleet.ssh(h, "stat -c '%F %a' /run/clamav/clamd.ctl").strip() for h in fleet.hosts
        }
        replies = _attack(fleet, "adv-names", names, [])
        _attack(fleet, "adv-forge-only", [], [nowhere])
        logs = {
            h: fleet.ssh(h, "cat /var/log/clamav/clamav.log")
            for h in ("adv-names", "adv-forge-only")
        }
        out = tmp_path_factory.mktemp("adversary-logs-sweep")
        db = f"sqlite:///{out}/s.db"
        proc = raquet_cli(
            "sweep", "-i", fleet.inventory_path, "--db", db, "--check", "infections",
            "--json", out / "sweep.json",
        )  # fmt: skip
        document = json.loads((out / "sweep.json").read_text())
        with Store(db) as store:
            stored = store.detections()
        yield {
            "fleet": fleet,
            "names": names,
            "socket": socket,
            "replies": replies,
            "logs": logs,
            "proc": proc,
            "stored": stored,
            "findings": {h["name"]: h["findings"][0] for h in document["hosts"]},
        }


def test_any_user_may_have_clamd_scan_and_log_their_names(attacked: dict[str, Any]) -> None:
    """The premise, checked on the hosts: clamd's socket is world-writable, and the names
    reach its log raw, so the forged lines stand in it as lines of their own."""
    assert set(attacked["socket"].values()) == {"socket 666"}
    assert attacked["replies"].count("Eicar-Test-Signature") == len(attacked["names"])
    log = attacked["logs"]["adv-names"].split("\n")
    assert any(line.endswith(f"/srv/forged.exe: {FORGED} FOUND") for line in log)
    assert any(line.startswith("b.exe: Eicar-Test-Signature") for line in log)
    forged_only = attacked["logs"]["adv-forge-only"].split("\n")
    assert any(line.endswith(f"/etc/shadow.exe: {FORGED_ONLY} FOUND") for line in forged_only)


def test_every_real_detection_is_found_whole_and_no_forged_one_stored(
    attacked: dict[str, Any],
) -> None:
    assert attacked["proc"].returncode == 1, attacked["proc"].stderr
    finding = attacked["findings"]["adv-names"]
    assert (finding["status"], finding["severity"]) == ("fail", "critical"), finding["title"]
    assert finding["title"].endswith("ClamAV's log holds forged or suspicious lines")
    shown = {d["path"]: d for d in finding["evidence"]["detections"]}
    assert set(shown) == {visible(name) for name in attacked["names"]}
    assert all(d["name"].startswith("Eicar-Test-Signature") for d in shown.values())
    newline = visible(attacked["names"][-1])
    assert shown[newline].get("suspicious_name") is True
    assert [p for p, d in shown.items() if d.get("suspicious_name")] == [newline]
    now = datetime.now(UTC)
    for d in shown.values():
        assert abs(datetime.fromisoformat(d["detected_at"]) - now) < timedelta(minutes=10), d

    stored = [d for d in attacked["stored"] if d.host == "adv-names"]
    assert sorted(d.path for d in stored) == sorted(shown)
    assert not [d for d in attacked["stored"] if "FORGED" in d.name or "Forged" in d.name]


def test_a_forged_detection_alone_fails_as_critical_and_is_not_stored(
    attacked: dict[str, Any],
) -> None:
    finding = attacked["findings"]["adv-forge-only"]
    assert (finding["status"], finding["severity"]) == ("fail", "critical")
    assert finding["title"] == "ClamAV's log holds forged or suspicious lines"
    assert finding["evidence"]["detections"] == []
    lines = finding["evidence"]["suspicious"]  # clamd may warn twice (`for:` and `on:`)
    assert lines and all(FORGED_ONLY in line["text"] for line in lines), lines
    assert {line["reason"] for line in lines} == {"dated before the record above it (backdated)"}
    assert not [d for d in attacked["stored"] if d.host == "adv-forge-only"]


def test_an_untouched_host_with_the_same_clamav_passes(attacked: dict[str, Any]) -> None:
    finding = attacked["findings"]["adv-quiet"]
    assert (finding["status"], finding["title"]) == (
        "pass",
        "No malware detected in the last 7 days",
    )
    assert finding["evidence"]["suspicious"] == []


def test_the_recorded_raw_logs_are_what_this_clamd_writes(attacked: dict[str, Any]) -> None:
    """The fixtures' raw clamd log (raw/record.sh, the same image's clamd) has the shape this
    lab's clamd gives the same attack: one line per separator name, the newline name's three
    lines, the absent path's warning and its forged line."""
    raw = Path(__file__).parent / "fixtures/checks/infections/raw/clamd-1.4.3-hostile-names.log"

    def shape(text: str) -> list[str]:
        kept = [line for line in text.split("\n") if "/u/" in line or "FOUND" in line]
        return [
            _strip_stamp(line).replace("/home/u/", "/U/").replace("/tmp/u/", "/U/") for line in kept
        ]

    recorded = shape(raw.read_text(encoding="utf-8"))
    here = shape(attacked["logs"]["adv-names"] + attacked["logs"]["adv-forge-only"])
    assert sorted(set(here)) == sorted(set(recorded))


def _strip_stamp(line: str) -> str:
    """A clamd line without its timestamps, so two runs' lines compare."""
    head, sep, rest = line.partition(" -> ")
    return f"STAMP -> {rest}" if sep and len(head) == 24 else line


def test_attack_names_reach_the_hosts_unchanged(attacked: dict[str, Any]) -> None:
    """The names on disk are the names the test meant (the shell carried them as bytes)."""
    listing = attacked["fleet"].ssh(
        "adv-names", "find /home/u -type f -name '*.exe' -print0 | base64 -w0"
    )
    on_disk = set(base64.b64decode(listing).decode("utf-8").split("\0")) - {""}
    assert on_disk == set(attacked["names"]), shlex.quote(str(on_disk))
