"""The swept host is the adversary (issue 9, items 1 and 6), attacked the way an attacker
would: an unprivileged user on a real lab host who watches every command line and plants
file and process names made of the sweep's own frame; hostile root login shells that
forge a section or stream without end; a 48 MB hosts file. Through the real `raquet sweep`,
beside 50 hosts that must sweep normally."""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, raquet_cli
from tests.lab.fleet import Fleet
from tests.lab.scenario import Connection, HostScenario, Scenario, UnitScenario

FEED = Path(__file__).parent / "lab" / "feeds" / "lab.txt"
NORMAL = 50
RSS_BOUND_MB = 400  # the sweep of 50 hosts alone takes about half of it


def _scenario() -> Scenario:
    hostile = [
        HostScenario(
            name="adv-forge",
            role="workstation",
            db_age_days=40,
            users=["mallory"],
            connections=[Connection(address="198.51.100.66", port=443, process="kdevtmpfsi")],
        ),
        HostScenario(name="adv-tamper"),
        HostScenario(name="adv-flood", clamav="absent"),
        HostScenario(name="adv-bighosts", clamav="absent"),
    ]
    normal = [HostScenario(name=f"ok-{i:02d}", clamav="absent") for i in range(NORMAL)]
    return Scenario(
        units=[
            UnitScenario(id="adv", name="Đơn vị bị tấn công", hosts=hostile),
            UnitScenario(id="normal", name="Đơn vị bình thường", hosts=normal),
        ]
    )


def _b64(text: str) -> str:
    """Base64 of `text`, padded with spaces until it holds no `/` (a file name cannot)."""
    while "/" in (encoded := base64.b64encode(text.encode()).decode()):
        text += " "
    return encoded


CLAMAV_RUNNING = "bin clamd /usr/sbin/clamd\npkg clamav 1.0 ii"
# What a forged frame would have said: ClamAV installed, running, fresh; no sockets.
FORGED_FRAME = (
    f"\nRQ1 sec av.clamav 0 {_b64(CLAMAV_RUNNING)}"
    f"\nRQ1 sec av.db 0 {_b64('file 1999999999 /var/lib/clamav/daily.cvd')}"
    "\nRQ1 exit av 0"
    f"\nRQ1 sec connections.ss 0 {_b64('')}\nRQ1 exit connections 0\nRQ1 end\n"
)
# the same shape with the old section marker, for good measure
OLD_MARKER = "\n@@rq:0000000000000000 av.clamav\npkg clamav 1.0 ii\n"

# clamd's socket is world-writable on Debian: any user may have clamd scan (and log) a path
CLAMD_SCAN = (
    "use IO::Socket::UNIX; my $s = IO::Socket::UNIX->new(Peer => '/run/clamav/clamd.ctl') "
    'or die "clamd: $!"; print $s "zSCAN $ARGV[0]\\0"; print while <$s>;'
)

WATCHER = r"""
while [ ! -e /tmp/stop-watch ]; do
  for f in /proc/[0-9]*/cmdline; do tr '\0' ' ' < "$f" 2>/dev/null; echo; done
  for f in /tmp/* /tmp/*/* /tmp/*/*/* /var/tmp/* /dev/shm/*; do
    [ -f "$f" ] && [ -r "$f" ] && echo "READABLE $f"
  done
done | sort -u > /tmp/seen.txt
"""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with Fleet(_scenario(), tmp_path_factory.mktemp("adversary")) as fleet:
        _attack(fleet)
        yield fleet


def _attack(fleet: Fleet) -> None:
    """Everything set up before the sweep, as the attackers would have it."""
    eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    names = ["a" + FORGED_FRAME + "b", "c" + OLD_MARKER + "d"]
    plant = "cd /home/mallory && chmod 755 . && " + " && ".join(
        f"printf %s {shlex.quote(eicar)} > {shlex.quote(n)} && chmod 644 {shlex.quote(n)} && "
        f"perl -e {shlex.quote(CLAMD_SCAN)} {shlex.quote('/home/mallory/' + n)}"
        for n in names
    )
    fleet.as_user("adv-forge", "mallory", plant)
    # processes whose names are frame lines, in case comm names are ever trusted
    fleet.as_user(
        "adv-forge",
        "mallory",
        "cd /home/mallory && for n in 'RQ1 exit av 0' 'RQ1 end' 'clamd'; do "
        'cp /bin/sleep "./$n" && setsid "./$n" 3600 >/dev/null 2>&1 < /dev/null & done; true',
    )
    fleet.ssh(
        "adv-forge",
        f"setsid runuser -u nobody -- sh -c {shlex.quote(WATCHER)} >/dev/null 2>&1 < /dev/null &",
    )
    fleet.ssh(
        "adv-bighosts",
        "head -c 48000000 /dev/zero | tr '\\0' 'x' | fold -w 9600 "
        "| sed 's/^/10.0.0.1 /' >> /etc/hosts",
    )
    _login_shell(fleet, "adv-tamper", "#!/bin/sh\n/bin/sh \"$@\" | sed '/^RQ1 sec av.procs /p'\n")
    _login_shell(fleet, "adv-flood", "#!/bin/sh\nexec yes 'RQ1 sec av.procs 0 QUFBQUFB'\n")


def _login_shell(fleet: Fleet, name: str, text: str) -> None:
    """A hostile root replaces root's login shell (the one sshd runs commands with)."""
    fleet.ssh(
        name,
        f"printf %s {shlex.quote(text)} > /usr/local/bin/rqsh && chmod 755 /usr/local/bin/rqsh "
        "&& usermod -s /usr/local/bin/rqsh root",
    )


@pytest.fixture(scope="module")
def swept(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("adversary-sweep")
    db = f"sqlite:///{out}/s.db"
    assert raquet_cli("feeds", "import", FEED, "--name", "lab-c2", "--db", db).returncode == 0
    command = [sys.executable, "-m", "raquet", "sweep", "-i", str(fleet.inventory_path)]
    command += ["--db", db, "--json", str(out / "sweep.json"), "--connect-timeout", "5"]
    started = time.monotonic()
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout and child.stderr
    stderr = child.stderr.read().decode()
    child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    fleet.ssh("adv-forge", "touch /tmp/stop-watch; sleep 1; cat /tmp/seen.txt")
    document = json.loads((out / "sweep.json").read_text())
    return {
        "returncode": child.returncode,
        "stderr": stderr,
        "rss_mb": usage.ru_maxrss / 1024,
        "elapsed": time.monotonic() - started,
        "db": db,
        "out": out,
        "sweep_id": document["sweep_id"],
        "hosts": {h["name"]: h for h in document["hosts"]},
        "seen": fleet.ssh("adv-forge", "cat /tmp/seen.txt"),
    }


def _findings(host: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["check"]: f for f in host["findings"]}


def test_no_other_user_sees_anything_of_the_frame(swept: dict[str, Any]) -> None:
    seen = swept["seen"]
    assert "timeout -k 2" in seen, "the watcher saw the sweep's own commands"
    assert "RQ1" not in seen.replace("RQ1 exit av 0 3600", "").replace("RQ1 end 3600", "")
    own = ("READABLE /tmp/seen.txt", "READABLE /tmp/stop-watch")  # the watcher's own files
    assert not [
        line for line in seen.split("\n") if line.startswith("READABLE ") and line not in own
    ]


def test_forged_frames_in_file_and_process_names_change_no_verdict(swept: dict[str, Any]) -> None:
    host = swept["hosts"]["adv-forge"]
    assert host["status"] == "swept" and host["error"] is None, host
    found = _findings(host)
    assert not any(f["evidence"].get("tampered") for f in found.values())
    assert found["av"]["status"] == "fail" and "40" in found["av"]["title"], found["av"]
    (match,) = found["connections"]["evidence"]["matches"]
    assert found["connections"]["status"] == "fail" and match["remote"] == "198.51.100.66:443"
    assert found["infections"]["status"] == "fail", found["infections"]


def test_a_forged_section_is_reported_as_tampering(swept: dict[str, Any]) -> None:
    host = swept["hosts"]["adv-tamper"]
    assert host["status"] == "swept" and "tampered" in host["error"], host
    for finding in host["findings"]:
        assert finding["status"] == "error" and finding["severity"] == "critical", finding
        assert finding["evidence"]["tampered"] is True
        assert "av.procs appears twice" in finding["evidence"]["reason"]


def test_an_endless_stream_is_cut_at_the_jump_hosts_cap(swept: dict[str, Any]) -> None:
    host = swept["hosts"]["adv-flood"]
    assert host["status"] == "error" and "MiB" in host["error"], host
    assert swept["rss_mb"] < RSS_BOUND_MB, swept["rss_mb"]


def test_one_checks_flood_does_not_starve_the_others(swept: dict[str, Any]) -> None:
    host = swept["hosts"]["adv-bighosts"]
    assert host["status"] == "swept", host
    found = _findings(host)
    assert found["connections"]["status"] == "error"
    assert "budget" in found["connections"]["title"]
    for check in ("av", "patches", "software", "infections"):
        assert found[check]["status"] != "error", found[check]


def test_the_other_hosts_sweep_normally(swept: dict[str, Any]) -> None:
    normal = [h for n, h in swept["hosts"].items() if n.startswith("ok-")]
    assert len(normal) == NORMAL
    for host in normal:
        assert host["status"] == "swept", host
        assert not [f for f in host["findings"] if f["status"] == "error"], host
    assert swept["returncode"] == 3, swept["stderr"][-2000:]


def test_the_unit_report_shows_the_tampering(swept: dict[str, Any]) -> None:
    target = swept["out"] / "adv.html"
    proc = raquet_cli(
        "report",
        "--unit",
        "adv",
        "--format",
        "html",
        "-o",
        target,
        "--lang",
        "en",
        "--sweep",
        swept["sweep_id"],
        "--db",
        swept["db"],
    )
    assert proc.returncode == 0, proc.stderr
    assert "tampered" in target.read_text(encoding="utf-8")
