"""From a failing finding to the operations that fix it: what each remediation plans, and what
it refuses to plan from evidence that came from hosts and feeds."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import raquet  # noqa: F401  (gevent patching first, as in every entry point)
from raquet.models import Finding, Host
from raquet.policy import Policy
from remediations import av, connections, firewall, hostsfile, infections, patches, software
from remediations import values as v
from remediations.base import Remedy, RemedyContext

TAG = "5fc775ee2022"


def plan(module: Any, evidence: dict[str, Any], os: str = "linux", **options: Any) -> Remedy:
    host = Host(name="h1", address="198.18.0.10", os=os, unit="u")  # type: ignore[arg-type]
    policy = Policy.model_validate(options.pop("policy", {}))
    ctx = RemedyContext(host=host, policy=policy, tag=TAG, **options)
    finding = Finding(check=module.CHECK, status="fail", title="t", evidence=evidence)
    remedy: Remedy = module.plan(finding, ctx)
    return remedy


def ops(remedy: Remedy) -> list[str]:
    return [step.op.__name__ for step in remedy.steps]


def socket(indicator: str, kind: str = "ip", **extra: Any) -> dict[str, Any]:
    remote = f"{indicator.split('/')[0]}:443"
    return {"kind": kind, "indicator": indicator, "source": "socket", "remote": remote, **extra}


def pinned(indicator: str, remote: str, kind: str = "ip") -> dict[str, Any]:
    return {"kind": kind, "indicator": indicator, "source": "hosts_file", "remote": remote}


def test_connections_block_then_sinkhole_then_stop() -> None:
    remedy = plan(
        connections,
        {
            "matches": [
                socket("198.51.100.66", pid=812, pids=[812, 815], process="kdevtmpfsi"),
                socket("100.64.77.0/24", "cidr", pid=812, process="kdevtmpfsi"),
                socket("100.64.77.0/24", "cidr", pid=None, process=None),
                socket("2001:db8:bad::/48", "cidr", pid=77, pids=[77], process=None),
                pinned("198.51.100.66", "198.51.100.66 update.bad-domain.example"),
                pinned("c2-panel.example", "10.9.9.9 cdn.c2-panel.example", "domain"),
            ]
        },
    )
    assert ops(remedy) == ["block", "sinkhole", "processes_stopped"]
    block, sinkhole, stop = remedy.steps
    assert block.kwargs == {
        "networks": ["100.64.77.0/24", "198.51.100.66/32", "2001:db8:bad::/48"],
        "tag": TAG,
    }
    assert sinkhole.kwargs["domains"] == ["c2-panel.example", "update.bad-domain.example"]
    assert (block.undo, sinkhole.undo) == ({"firewall": TAG}, {"hosts_file": TAG})
    assert stop.kwargs == {
        "targets": [
            [812, "198.51.100.66:443", "kdevtmpfsi"],
            [815, "198.51.100.66:443", "kdevtmpfsi"],
            [77, "[2001:db8:bad::]:443", "(unnamed)"],
        ]
    }
    assert stop.title == "stop kdevtmpfsi (pid 812), kdevtmpfsi (pid 815), (unnamed) (pid 77)"
    assert stop.undo is None and not remedy.notes


def test_connections_refuses_what_must_not_be_acted_on() -> None:
    remedy = plan(
        connections,
        {
            "matches": [
                socket("0.0.0.0/0", "cidr", pid=1, process="systemd"),
                socket("127.0.0.1", pid="812; reboot", process="x"),
                pinned("-x.example", "10.0.0.1 --help", "domain"),
            ]
        },
    )
    assert remedy.steps == []
    assert len(remedy.notes) == 5, remedy.notes
    assert any("too wide" in n for n in remedy.notes)
    assert any("loopback" in n for n in remedy.notes)


def test_windows_hosts_get_windows_operations() -> None:
    remedy = plan(
        connections,
        {"matches": [socket("198.51.100.66", pid=4312, process="svchost32.exe")]},
        os="windows",
    )
    assert ops(remedy) == ["windows_block", "windows_processes_stopped"]
    assert ops(plan(av, {}, os="windows")) == [
        "defender_service",
        "defender_realtime",
        "defender_signatures",
    ]


def test_patches_installs_only_security_updates_and_checks_each_name() -> None:
    evidence = {
        "package_manager": "apt",
        "updates": [
            {"name": "openssl", "available": "3.0.15-1~deb12u1", "security": True},
            {"name": "rqlab-tools", "available": "1.1-1", "security": False},
            {"name": "-oAPT::Get::Foo=1", "available": "1", "security": True},
            {"name": "sudo", "available": "1.9.13p3-1+deb12u1; reboot", "security": True},
        ],
        "reboot_required": True,
        "os_eol_reached": True,
        "os": "Debian GNU/Linux 10 (buster)",
    }
    remedy = plan(patches, evidence)
    assert ops(remedy) == ["apt_security_updates"]
    assert remedy.steps[0].kwargs == {"updates": [("openssl", "3.0.15-1~deb12u1")]}
    assert sum("skipped" in n for n in remedy.notes) == 2
    assert any("raquet reboots only with --reboot" in n for n in remedy.notes)
    assert any("Debian GNU/Linux 10 (buster) is past its end of life" in n for n in remedy.notes)
    assert ops(plan(patches, evidence, reboot=True)) == [
        "apt_security_updates",
        "reboot_if_required",
    ]


def test_patches_without_anything_to_install_plans_nothing() -> None:
    remedy = plan(patches, {"package_manager": "dnf", "updates": [], "reboot_required": False})
    assert remedy.steps == [] and remedy.notes == []


def test_software_removes_banned_packages_only() -> None:
    evidence = {
        "package_manager": "rpm",
        "banned": [{"name": "xmrig"}, {"name": "anydesk"}, {"name": "x y"}],
        "not_allowed_count": 12,
    }
    remedy = plan(software, evidence)
    assert ops(remedy) == ["packages_removed"]
    assert remedy.steps[0].kwargs == {"packages": ["anydesk", "xmrig"], "manager": "dnf"}
    assert any("12 package(s) not on the allowlist" in n for n in remedy.notes)
    assert any("'x y'" in n for n in remedy.notes)


def test_av_refreshes_from_the_source_the_policy_names() -> None:
    shared = plan(av, {}, policy={"av": {"update": {"share": "/mnt/sigs"}}})
    assert ops(shared) == ["clamav_installed", "signatures_fresh", "clamd_running"]
    assert shared.steps[1].kwargs == {"max_age_days": 7, "mirror": None, "share": "/mnt/sigs"}
    online = plan(av, {}, policy={"av": {"update": {"mirror": "http://m.example/c"}}})
    assert ops(online)[-1] == "updater_running"


def test_infections_never_move_a_name_the_check_shows_escaped() -> None:
    """A name with a line break or control character reaches raquet escaped (`\\n`): those
    are not its bytes, so moving "it" could only miss or, worse, hit another file."""
    evidence = {
        "detections": [
            {"name": "Eicar", "path": "/home/u/a\\nRQ1 end\\nb", "suspicious_name": True},
            {"name": "Eicar", "path": "/home/u/v\\x0bw"},
            {"name": "Eicar", "path": "/home/u/plain"},
        ]
    }
    remedy = plan(infections, evidence)
    assert remedy.steps[0].kwargs["detected"] == [["/home/u/plain", "Eicar"]]
    refused = [n for n in remedy.notes if n.startswith("not quarantined")]
    assert len(refused) == 2 and all("move it by hand" in n for n in refused)


def test_infections_quarantine_each_file_once_then_scan_after_a_change() -> None:
    evidence = {
        "detections": [
            {"name": "Win.Trojan.Agent-1", "path": "/home/a/x.exe"},
            {"name": "Win.Trojan.Agent-1", "path": "/home/a/x.exe"},
            {"name": "Unix.Trojan.Mirai", "path": "/tmp/.x/y.sh"},
            {"name": "Eicar", "path": "relative/path"},
            {"name": "Eicar", "path": "/home/a/./x"},
        ]
    }
    remedy = plan(infections, evidence, policy={"infections": {"scan_timeout": 30}})
    assert ops(remedy) == ["quarantined", "scanned"]
    quarantine, scan = remedy.steps
    assert quarantine.kwargs == {
        "detected": [
            ["/home/a/x.exe", "Win.Trojan.Agent-1"],
            ["/tmp/.x/y.sh", "Unix.Trojan.Mirai"],
        ],
        "directory": "/var/lib/raquet/quarantine",
        "tag": TAG,
        "timeout": 30,
    }
    assert scan.after_change and scan.kwargs == {
        "directories": ["/home/a", "/tmp/.x"],
        "timeout": 30,
    }
    assert remedy.notes == [
        "not quarantined: 'relative/path' is not an absolute path",
        "not quarantined: '/home/a/./x' is not a path to a file",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("198.51.100.66", "198.51.100.66/32"),
        ("100.64.77.9/24", "100.64.77.0/24"),
        ("::ffff:198.51.100.66", "198.51.100.66/32"),
        ("2001:db8:bad::/48", "2001:db8:bad::/48"),
    ],
)
def test_networks_are_normalised(text: str, expected: str) -> None:
    assert str(v.network(text)) == expected


@pytest.mark.parametrize(
    "text", ["10.0.0.0/7", "::/0", "127.0.0.1", "fe80::1", "224.0.0.1", "0.0.0.0", "x"]
)
def test_networks_a_block_must_never_cover(text: str) -> None:
    with pytest.raises(v.Refused):
        v.network(text)


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (lambda x: v.package(x, "deb"), "-oDebug::pkgProblemResolver=1"),
        (lambda x: v.version(x, "deb"), "1.0 --force-yes"),
        (v.domain, "bad..example"),
        (v.absolute_path, "/srv/../etc/shadow"),
        (v.msi_product_code, "{not-a-guid}"),
        (v.process_id, True),
    ],
)
def test_values_outside_their_grammar_are_refused(check: Any, value: Any) -> None:
    with pytest.raises(v.Refused):
        check(value)


HOSTS = (
    b"127.0.0.1\tlocalhost\n"
    b"198.51.100.66 update.bad-domain.example  # pinned\n"
    b"10.9.9.9 cdn.c2-panel.example intranet\n"
    b"# 10.9.9.9 old.c2-panel.example\n"
)


def test_sinkhole_is_undone_exactly_and_is_not_repeated() -> None:
    nets = [ipaddress.ip_network("198.51.100.66/32")]
    once = hostsfile.sinkholed(HOSTS, {"c2-panel.example"}, nets, TAG).new
    assert once != HOSTS
    assert b"\n10.9.9.9 intranet  # raquet:5fc775ee2022 kept\n" in once
    assert hostsfile.restored(once, TAG).new == HOSTS
    assert not hostsfile.sinkholed(once, {"c2-panel.example"}, nets, "0a0de8379842").changed
    assert not hostsfile.restored(once, "0a0de8379842").changed


def test_nft_blocks_are_read_from_the_json_ruleset() -> None:
    ruleset = {
        "nftables": [
            {"metainfo": {"json_schema_version": 1}},
            {"table": {"family": "inet", "name": "filter", "handle": 1}},
            {"table": {"family": "inet", "name": "raquet_5fc775ee2022", "handle": 2}},
            {"table": {"family": "ip", "name": "raquet_spoofed", "handle": 3}},
            {
                "set": {
                    "family": "inet",
                    "table": "raquet_5fc775ee2022",
                    "name": "v4",
                    "elem": [
                        "198.51.100.66",
                        {"prefix": {"addr": "100.64.77.0", "len": 24}},
                        {"range": ["10.0.0.0", "10.0.0.3"]},
                        {"elem": {"val": "192.0.2.9", "comment": "x"}},
                    ],
                }
            },
        ]
    }
    blocks = firewall.NftBlocks().process([json.dumps(ruleset)])
    assert blocks == {
        "raquet_5fc775ee2022": ["198.51.100.66", "100.64.77.0/24", "10.0.0.0/30", "192.0.2.9"]
    }
    assert firewall.NftBlocks().process(["not json"]) == {}


def test_only_what_no_block_covers_is_blocked_again() -> None:
    blocked = [ipaddress.ip_network("100.64.77.0/24")]
    wanted = [v.network(n) for n in ("100.64.77.9", "198.51.100.66", "198.51.100.67")]
    assert [str(n) for n in firewall.uncovered(wanted, blocked)] == [
        "198.51.100.66/31",
    ]


names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1
).filter(lambda n: n not in (".", ".."))


@settings(max_examples=200, deadline=None)
@given(names)
def test_no_file_name_breaks_out_of_the_quarantine_script(name: str) -> None:
    path = f"/home/u/{name}"
    subject = {"id": "1:2", "sha256": "0" * 64, "user": "u", "group": "u", "mode": "644"}
    subject |= {"mtime": "0", "size": "1", "links": "1"}
    moves = [infections.Move(path, subject, "/q/x", "{}")]
    script = infections.quarantine_script(moves, [f"{path} is a symbolic link"], 60)
    lines = script.split("\n")
    comment = next(i for i, line in enumerate(lines) if line.startswith("# quarantine: mv -f "))
    assert lines[comment + 1] == "("  # the name stayed on its comment's line
    checked = subprocess.run(["sh", "-n"], input=script.encode(), capture_output=True)
    assert checked.returncode == 0, checked.stderr


def walk(path: Path) -> dict[str, str] | None:
    """The quarantine fact's verdict on `path`, by the real shell. `clamscan` here is a stand-in
    that detects everything (the lab runs the real one): what it decides is the walk's."""
    bin_dir = path.parent.parent / "bin"
    if not (bin_dir / "clamscan").exists():
        bin_dir.mkdir(exist_ok=True)
        (bin_dir / "clamscan").write_text("#!/bin/sh\nexit 1\n")
        (bin_dir / "clamscan").chmod(0o755)
    command = infections.QuarantineSubject().command(path=str(path), timeout=10)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    done = subprocess.run(["sh", "-c", command], capture_output=True, timeout=30, env=env)
    return infections.QuarantineSubject().process(done.stdout.decode().splitlines())


X_SHA256 = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"


@settings(max_examples=50, deadline=None)
@given(names)
def test_the_walk_reaches_a_file_whatever_its_name(name: str) -> None:
    with tempfile.TemporaryDirectory() as top:
        target = Path(top) / "dir" / name
        target.parent.mkdir()
        target.write_bytes(b"x")
        subject = walk(target)
        assert subject is not None and subject["sha256"] == X_SHA256, subject
        assert (subject["links"], subject["size"]) == ("1", "1")


def test_the_walk_never_follows_a_link_nor_takes_a_second_name(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "x").write_bytes(b"x")
    (tmp_path / "dir").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "y").symlink_to("/etc/shadow")
    os.link(tmp_path / "real" / "x", tmp_path / "real" / "z")
    assert walk(tmp_path / "dir" / "x") == {"refused": f"{tmp_path}/dir is a symbolic link"}
    assert walk(tmp_path / "real" / "y") == {"refused": f"{tmp_path}/real/y is a symbolic link"}
    assert walk(tmp_path / "real" / "z") == {"refused": f"{tmp_path}/real/z has 2 hard links"}
    assert walk(tmp_path / "real" / "gone") is None
    assert walk(tmp_path / "nowhere" / "x") is None
