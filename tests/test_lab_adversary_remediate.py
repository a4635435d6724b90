"""The swept host is the adversary: `raquet remediate` on lab hosts where an unprivileged user,
mallory, has crafted files, names and processes to steer it (items 3, 4 and 5), through the
real command line.

Every attack is made on a real lab host as mallory herself (`Fleet.as_user`), against the
real clamd (she asks it to scan her own files, as any user may) and real sockets, before
the sweep; the hosts-file bytes are what an administrator wrote. Then the fleet is swept,
planned (nothing may change), applied and undone, each stage a module fixture, and each
test asserts what the hosts and the remediation log show afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from raquet.remediation_log import RemediationLog, RemediationRecord
from raquet.store import Store
from remediations import connections, hostsfile
from tests.conftest import SCENARIOS, raquet_cli
from tests.lab import scenario
from tests.lab.fleet import EICAR, Fleet

FEED = Path(__file__).parent / "lab" / "feeds" / "lab.txt"
USER = "mallory"
HOME = f"/home/{USER}"
C2 = "198.51.100.66:443"
QUARANTINE = "/var/lib/raquet/quarantine"

# mallory asks clamd to scan a file of hers, over its socket (mode 666, as Debian ships it);
# clamd logs the detection where the sweep reads it
SCAN = (
    "perl -MIO::Socket::UNIX -e 'for (1 .. 300) { $s = IO::Socket::UNIX->new(Peer =>"
    ' "/run/clamav/clamd.ctl") and last; select(undef, undef, undef, 0.1) } $s or die "no clamd";'
    ' print $s "SCAN $ARGV[0]\\n"; print <$s>\' '
)
# a process that calls itself $ARGV[0], holds a connection to the C2 and writes its pid
# (and, with a third argument, forks a child that shares the socket)
HOLDER = (
    "perl -MIO::Socket::INET -e '$0 = $ARGV[0]; $s = IO::Socket::INET->new($ARGV[1]) or die;"
    ' if ($ARGV[3] && !fork) { $p = "$ARGV[2].child" } else { $p = $ARGV[2] }'
    ' open(F, ">", $p) and print F $$; close F; sleep 3600\''
)
FRESHCLAM_CONF = (
    f"DatabaseDirectory {HOME}/fc\nDatabaseOwner {USER}\nUpdateLogFile {HOME}/fc/log\n"
    "PrivateMirror http://198.51.100.66:443\nConnectTimeout 30\nReceiveTimeout 0\n"
    "MaxAttempts 1\nForeground yes\n"
)
# the administrator's hosts file: C2 names pinned around a Latin-1 comment, a CRLF line, and
# a last line without a newline
HOSTS_TAIL = (
    b"# m\xe1y ch\xfa c\xf4ng ty (Latin-1)\n"
    b"10.9.9.9 cdn.c2-panel.example intranet.so-adv.example\n"
    b"198.51.100.66 update.bad-domain.example\r\n"
    b"10.0.0.7 kho-luu-tru.local   # sau d\xf2ng Latin-1, kh\xf4ng c\xf3 xu\xf4ng d\xf2ng"
)
BIG_HOSTS = 9 * 1024 * 1024
STAT = "stat -c '%i %a %U:%G %s' {0} && sha256sum {0}"


def put(path: str, data: bytes) -> str:
    """Shell that writes `data` to `path` exactly."""
    return f"printf %s {base64.b64encode(data).decode()} | base64 -d > {shlex.quote(path)}"


def scan(path: str) -> str:
    return SCAN + shlex.quote(path)


@dataclass
class Lab:
    fleet: Fleet
    out: Path
    db: str
    swept: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    hosts_file: bytes = b""

    def remediate(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        base = ("remediate", "-i", self.fleet.inventory_path, "--db", self.db)
        return raquet_cli(*base, "--connect-timeout", "5", *args)

    def sweep(self) -> dict[str, dict[str, dict[str, Any]]]:
        target = self.out / "sweep.json"
        proc = raquet_cli(
            "sweep", "-i", self.fleet.inventory_path, "--db", self.db, "--json", target
        )
        assert proc.returncode in (0, 1), proc.stderr
        document = json.loads(target.read_text())
        return {h["name"]: {f["check"]: f for f in h["findings"]} for h in document["hosts"]}

    def records(self, since: datetime) -> dict[tuple[str, str], RemediationRecord]:
        with Store(self.db) as store:
            found = RemediationLog(store).list(limit=1000)
        return {(r.host, r.check): r for r in reversed(found) if r.started_at >= since}

    def read(self, name: str, path: str) -> bytes:
        return base64.b64decode(self.fleet.ssh(name, f"base64 -w0 {shlex.quote(path)}"))

    def alive(self, name: str, pid: int) -> str:
        """The program pid runs now, by its executable, or '' when it is gone."""
        return self.fleet.ssh(name, f"readlink /proc/{pid}/exe || true").strip()


def _stage_quarantine(lab: Lab) -> None:
    """Four hosts, one attack each on the quarantine (the first also has plain malware)."""
    fleet, mine = lab.fleet, f"{HOME}/ok/y"
    fleet.ssh("adv-q-01", f"umask 077; printf 'root only\\n' > /root/x; {STAT.format('/root/x')}")
    steps = {
        "adv-q-01": [
            f"mkdir -p ~/ok ~/dir && {put(mine, EICAR)} && {put(f'{HOME}/dir/x', EICAR)}",
            scan(mine),
            "sleep 1.1",  # the detections' order is their time: hers first
            scan(f"{HOME}/dir/x"),
            "mv ~/dir ~/dir.old && ln -s /root ~/dir",
        ],
        "adv-q-02": [
            f"mkdir -p ~/etc && {put(f'{HOME}/etc/shadow', EICAR)}",
            scan(f"{HOME}/etc/shadow"),
            "mv ~/etc ~/etc.old && ln -s /etc ~/etc",
        ],
        "adv-q-03": [
            f"mkdir -p ~/h && {put(f'{HOME}/h/a', EICAR)} && ln ~/h/a ~/h/b",
            scan(f"{HOME}/h/a"),
        ],
        "adv-q-04": [
            f"mkdir -p ~/s && {put(f'{HOME}/s/z', EICAR)}",
            scan(f"{HOME}/s/z"),
            "printf 'harmless now\\n' > ~/s/z",
        ],
    }
    for name, commands in steps.items():
        out = fleet.as_user(name, USER, " && ".join(commands))
        assert out.count(" FOUND") == sum(c.startswith(SCAN) for c in commands), out
    for name, path in (("adv-q-01", "/root/x"), ("adv-q-02", "/etc/shadow")):
        lab.files[name] = fleet.ssh(name, STAT.format(path))


PIDFILES = {
    "borrower": "borrower.pid",
    "borrower-child": "borrower.pid.child",
    "hostile": "hostile.pid",
    "freshclam": "freshclam.pid",
}


def _stage_processes(lab: Lab) -> None:
    """mallory's processes holding connections to the C2, named to fool a name parser, and
    the AV's own freshclam, run by her against the C2."""
    fleet, name = lab.fleet, "adv-c-01"
    lab.pids["clamd"] = int(fleet.ssh(name, "pgrep -x clamd").split()[0])
    lab.pids["kdevtmpfsi"] = int(fleet.ssh(name, "pgrep -x kdevtmpfsi").split()[0])
    names = {"borrower": f'clamd",pid={lab.pids["clamd"]},f', "hostile": 'a)b"%s%n\x1b[31m'}
    start = [f"printf %s {shlex.quote(FRESHCLAM_CONF)} > ~/fc.conf && mkdir -p ~/fc"]
    for role, process in names.items():
        fork = " fork" if role == "borrower" else ""
        argv = f"{shlex.quote(process)} {C2} {HOME}/{PIDFILES[role]}{fork}"
        start.append(f"setsid {HOLDER} {argv} >/dev/null 2>&1 &")
    start.append(
        f"freshclam --config-file={HOME}/fc.conf >/dev/null 2>&1 & echo $! > ~/freshclam.pid"
    )
    fleet.as_user(name, USER, "\n".join(start))
    for role, pidfile in PIDFILES.items():
        lab.pids[role] = int(_eventually(fleet, name, f"cat {HOME}/{pidfile} 2>/dev/null"))
    held = f"ss -Htn state established dst {C2.split(':')[0]} | wc -l | grep -x 4"
    assert _eventually(fleet, name, held) == "4"  # four sockets: the fork shares one


def _eventually(fleet: Fleet, name: str, command: str, timeout: float = 15) -> str:
    """`command`'s first non-empty output on host `name` within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = fleet.ssh(name, f"{command} || true").strip()
        if answer:
            return answer
        time.sleep(0.1)
    return ""


def _stage_hosts_files(lab: Lab) -> None:
    lab.fleet.ssh("adv-h-01", f"{put('/tmp/tail', HOSTS_TAIL)} && cat /tmp/tail >> /etc/hosts")
    lab.hosts_file = lab.read("adv-h-01", "/etc/hosts")
    filler = f"yes '# {'x' * 60}' | head -c {BIG_HOSTS} >> /etc/hosts"
    lab.fleet.ssh("adv-h-02", f"echo '10.9.9.9 cdn.c2-panel.example' >> /etc/hosts && {filler}")
    lab.files["adv-h-02"] = lab.fleet.ssh("adv-h-02", STAT.format("/etc/hosts"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    workdir = tmp_path_factory.mktemp("adversary")
    with Fleet(scenario.load(SCENARIOS / "adversary_remediate.yml"), workdir / "fleet") as fleet:
        lab = Lab(fleet, workdir, f"sqlite:///{workdir}/s.db")
        imported = raquet_cli("feeds", "import", FEED, "--name", "lab-c2", "--db", lab.db)
        assert imported.returncode == 0, imported.stderr
        _stage_quarantine(lab)
        _stage_processes(lab)
        _stage_hosts_files(lab)
        lab.swept = lab.sweep()
        yield lab


def by_host(plan: str) -> dict[str, str]:
    """The plan's text, per host (a host's block starts at its unindented name)."""
    blocks: dict[str, list[str]] = {}
    current = ""
    for line in plan.splitlines():
        if line and not line.startswith(" "):
            current = line.split()[0]
        blocks.setdefault(current, []).append(line)
    return {name: "\n".join(lines) for name, lines in blocks.items()}


@pytest.fixture(scope="module")
def planned(lab: Lab) -> dict[str, Any]:
    proc = lab.remediate()
    return {"proc": proc, "hosts": by_host(proc.stdout)}


@pytest.fixture(scope="module")
def applied(lab: Lab, planned: dict[str, Any]) -> dict[str, Any]:
    started = datetime.now(UTC)
    proc = lab.remediate("--apply")
    return {"proc": proc, "records": lab.records(started)}


@pytest.fixture(scope="module")
def undone(lab: Lab, applied: dict[str, Any]) -> dict[str, Any]:
    record = applied["records"][("adv-h-01", "connections")]
    plan = lab.remediate("--undo", record.id[:8])
    proc = lab.remediate("--undo", record.id[:8], "--apply")
    return {"plan": plan, "proc": proc, "after": lab.read("adv-h-01", "/etc/hosts")}


def steps(record: RemediationRecord) -> dict[str, tuple[str | None, str]]:
    return {op.name: (op.status, op.error or "") for op in record.operations}


# --- item 3: quarantine never follows a link --------------------------------------------


def test_the_sweep_sees_each_planted_detection(lab: Lab) -> None:
    detected = {
        name: sorted(d["path"] for d in lab.swept[name]["infections"]["evidence"]["detections"])
        for name in ("adv-q-01", "adv-q-02", "adv-q-03", "adv-q-04")
    }
    assert detected == {
        "adv-q-01": [f"{HOME}/dir/x", f"{HOME}/ok/y"],
        "adv-q-02": [f"{HOME}/etc/shadow"],
        "adv-q-03": [f"{HOME}/h/a"],
        "adv-q-04": [f"{HOME}/s/z"],
    }


REFUSALS = {
    "adv-q-01": (f"{HOME}/dir/x", f"not quarantined: {HOME}/dir is a symbolic link"),
    "adv-q-02": (f"{HOME}/etc/shadow", f"not quarantined: {HOME}/etc is a symbolic link"),
    "adv-q-03": (f"{HOME}/h/a", f"not quarantined: {HOME}/h/a has 2 hard links"),
    "adv-q-04": (
        f"{HOME}/s/z",
        f"not quarantined: ClamAV does not detect {HOME}/s/z any more (clamscan exit 0)",
    ),
}


def test_the_plan_refuses_each_attack_with_its_reason(planned: dict[str, Any]) -> None:
    for name, (path, reason) in REFUSALS.items():
        text = planned["hosts"][name]
        assert f"- quarantine the detected files [cannot run]\n        {reason}" in text, text
        assert f"mv -f {path}" not in text
    mine = planned["hosts"]["adv-q-01"]
    assert f"  # quarantine: mv -f {HOME}/ok/y {QUARANTINE}/" in mine  # hers is still moved


def test_apply_moves_her_malware_and_nothing_the_links_pointed_at(
    lab: Lab, applied: dict[str, Any]
) -> None:
    for name, (_, reason) in REFUSALS.items():
        record = applied["records"][(name, "infections")]
        assert record.status == "failed"
        assert steps(record)["quarantine the detected files"] == ("failed", reason)
    for name, path in (("adv-q-01", "/root/x"), ("adv-q-02", "/etc/shadow")):
        assert (
            lab.fleet.ssh(name, STAT.format(path)) == lab.files[name]
        )  # inode, mode, owner, bytes
    listing = lab.fleet.ssh("adv-q-01", f"cat {QUARANTINE}/*.json; ls {QUARANTINE}").splitlines()
    record = json.loads(listing[0])
    assert record["original_path"] == f"{HOME}/ok/y" and record["owner"] == USER
    assert len(listing) == 3  # the record, its .bin and .json: nothing else moved
    for name in ("adv-q-02", "adv-q-03", "adv-q-04"):
        assert lab.fleet.ssh(name, f"ls -A {QUARANTINE} 2>/dev/null || true").strip() == ""
    left = lab.fleet.ssh("adv-q-03", f"stat -c '%h %U' {HOME}/h/a {HOME}/h/b")
    assert left.split() == ["2", USER, "2", USER]


# --- item 4: a process cannot borrow another's pid ---------------------------------------


def test_the_sweep_names_each_socket_by_its_real_owners(lab: Lab) -> None:
    matches = lab.swept["adv-c-01"]["connections"]["evidence"]["matches"]
    owners = {tuple(m["pids"]): m["process"] for m in matches if m["source"] == "socket"}
    p = lab.pids
    assert owners == {
        tuple(sorted((p["borrower"], p["borrower-child"]))): f'clamd",pid={p["clamd"]},'[:15],
        (p["hostile"],): 'a)b"%s%n[31m',
        (p["freshclam"],): "freshclam",
        (p["kdevtmpfsi"],): "kdevtmpfsi",
    }
    assert all(p["clamd"] not in m["pids"] and m["pid"] != p["clamd"] for m in matches)


def test_the_plan_stops_the_real_owners_and_refuses_the_antivirus(
    lab: Lab, planned: dict[str, Any]
) -> None:
    text, p = planned["hosts"]["adv-c-01"], lab.pids
    for role in ("borrower", "borrower-child", "hostile", "kdevtmpfsi"):
        assert f"( pid={p[role]}; remote={C2}; rq_stop ) || rq_failed=1" in text, role
    assert f"(pid {p['clamd']})" not in text and f"pid={p['clamd']};" not in text
    assert 'kill -KILL "$pid"' in text
    refusal = f"not stopped: pid {p['freshclam']} runs freshclam, the antivirus's own program"
    assert f"[cannot run]\n        {refusal}" in text


def test_apply_stops_her_processes_and_never_clamd(lab: Lab, applied: dict[str, Any]) -> None:
    p = lab.pids
    for role in ("borrower", "borrower-child", "hostile", "kdevtmpfsi"):
        assert lab.alive("adv-c-01", p[role]) == "", role
    assert lab.alive("adv-c-01", p["clamd"]) == "/usr/sbin/clamd"
    assert lab.alive("adv-c-01", p["freshclam"]) == "/usr/bin/freshclam"
    record = applied["records"][("adv-c-01", "connections")]
    (stop,) = [op for op in record.operations if op.name.startswith("stop ")]
    refusal = f"not stopped: pid {p['freshclam']} runs freshclam, the antivirus's own program"
    assert (stop.status, stop.error) == ("failed", refusal)
    assert record.status == "failed"  # freshclam's connection is still there: someone must look


def test_the_stop_never_takes_raquets_own_session(lab: Lab) -> None:
    """The command as raquet runs it, for the pid of the sshd session it runs in."""
    script = connections.stop_script([(424242, "198.18.0.1:22")], [])
    script = script.replace("( pid=424242;", "( pid=$PPID;")
    with pytest.raises(subprocess.CalledProcessError) as refused:
        lab.fleet.ssh("adv-c-01", script)
    assert "is raquet's own session" in refused.value.stderr
    assert lab.fleet.ssh("adv-c-01", "echo still here").strip() == "still here"


# --- item 5: files are edited without loss -----------------------------------------------


def test_the_plan_shows_the_hosts_file_edit_as_a_diff(planned: dict[str, Any]) -> None:
    text = planned["hosts"]["adv-h-01"]
    assert "--- /etc/hosts\n          +++ /etc/hosts" in text
    assert " # m\\xe1y ch\\xfa c\\xf4ng ty (Latin-1)" in text  # context, bytes as they are
    assert "-10.9.9.9 cdn.c2-panel.example intranet.so-adv.example" in text
    assert re.search(r"\+0\.0\.0\.0 cdn\.c2-panel\.example  # raquet:[0-9a-f]{12} sinkhole", text)
    assert "base64" not in text


def test_a_hosts_file_raquet_cannot_read_whole_is_not_changed(
    lab: Lab, planned: dict[str, Any], applied: dict[str, Any]
) -> None:
    size = int(lab.files["adv-h-02"].split()[3])
    assert size > BIG_HOSTS
    reason = f"/etc/hosts is {size} bytes, more than raquet edits ({hostsfile.MAX_BYTES})"
    assert reason in planned["hosts"]["adv-h-02"]
    ran = steps(applied["records"][("adv-h-02", "connections")])
    assert ran["sinkhole malicious names in the hosts file"][0] == "failed"
    assert reason in ran["sinkhole malicious names in the hosts file"][1]
    assert lab.fleet.ssh("adv-h-02", STAT.format("/etc/hosts")) == lab.files["adv-h-02"]


def test_apply_keeps_every_line_byte_for_byte_and_backs_the_file_up(
    lab: Lab, applied: dict[str, Any]
) -> None:
    record = applied["records"][("adv-h-01", "connections")]
    assert record.status == "fixed", record
    tag = record.undo["hosts_file"]
    now = lab.read("adv-h-01", "/etc/hosts")
    assert hostsfile.restored(now, tag).new == lab.hosts_file  # nothing lost, nothing reworded
    assert now.endswith(HOSTS_TAIL.rsplit(b"\n", 1)[1])  # the last line, still unterminated
    assert b"0.0.0.0 update.bad-domain.example  # raquet:" in now
    backup = f"/var/lib/raquet/backup/hosts-{tag}"
    assert lab.read("adv-h-01", backup) == lab.hosts_file
    assert lab.fleet.ssh("adv-h-01", f"stat -c '%a %U' {backup} {backup}.sha256").split() == [
        "600",
        "root",
        "600",
        "root",
    ]
    assert hostsfile.digests(lab.read("adv-h-01", f"{backup}.sha256")) == {
        "before": hashlib.sha256(lab.hosts_file).hexdigest(),
        "after": hashlib.sha256(now).hexdigest(),
    }


def test_undo_gives_the_hosts_file_back_exactly(undone: dict[str, Any], lab: Lab) -> None:
    assert undone["plan"].returncode == 4, undone["plan"].stdout + undone["plan"].stderr
    assert "-0.0.0.0 cdn.c2-panel.example  # raquet:" in undone["plan"].stdout
    assert undone["proc"].returncode == 0, undone["proc"].stdout + undone["proc"].stderr
    assert undone["after"] == lab.hosts_file
