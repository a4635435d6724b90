"""A fleet of real Debian hosts on this machine, each in its own namespaces, running real sshd.

Each host is `ip netns` + `unshare --mount --uts --pid` over an overlay of the cached
image layers plus an upper directory of its own (keys, scenario files). Hosts sit on a
bridge at 198.18.N.0/24 (RFC 2544 benchmarking space) that exists only while the fleet
runs; nothing is routed off this machine. N is one nothing on the machine uses yet, taken
under a lock, and the lab records all it makes in /run/raquet-lab/N.json (see `claim`).
The far ends of the scenario's malicious connections live in one more namespace on the
bridge (the fleet's "internet"), so a host sees only its own end of a connection, as it
would with a real C2 server.

A host not ready (no SSH banner, or its scenario connections not up) `host_timeout` after
it booted is booted once more; one still not ready when `ready_timeout` runs out fails the
start with what its processes were doing, or, with `allow_stalled`, is left out of the
inventory and named in `fleet.stalled`.

An isolated fleet (`isolated=True`) is one segment of a distributed sweep: the root
namespace cannot reach its hosts (no address on the bridge, an `unreachable` route for the
segment), and its jump namespace `fleet.jump_netns` reaches them (198.18.N.3 on the
bridge) and one address of the root namespace, `fleet.service_address`, over a link of
its own: the segment's top /30, 198.18.N.252/30 (root .253, jump .254), which no host
uses. The jump forwards nothing, so hosts cannot reach the root. Needs root.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ruamel.yaml import YAML

from tests.lab import claim, image, netns, repo
from tests.lab.scenario import HostScenario, Scenario

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_MD5 = "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n"
# what a SOC's signature share holds: today's signatures, more than the hosts have
SHARE_MD5 = EICAR_MD5 + "8c4a7d8e0f3b9a1c2d5e6f708192a3b4:12:Raquet.Lab.Share-1\n"
BROKEN_APT = (
    "#!/bin/sh\necho 'E: Could not get lock /var/lib/dpkg/lock-frontend. "
    "It is held by process 4242 (apt-get)' >&2\nexit 100\n"
)
NFT_FIREWALL = """table inet filter {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 22 accept
  }
}
"""
LISTENER = (
    "import socket,time\n"
    "s=socket.socket(socket.AF_INET6 if ':' in '{addr}' else socket.AF_INET)\n"
    "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
    "s.bind(('{addr}',{port})); s.listen(64); held=[]\n"
    "while True: held.append(s.accept()[0])\n"
)
TARPIT = (
    "import socket,time\n"
    "s=socket.socket(socket.AF_INET6 if ':' in '{addr}' else socket.AF_INET)\n"
    "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
    "s.bind(('{addr}',22)); s.listen(64); held=[]\n"
    "while True: held.append(s.accept()[0])\n"
)
FIRST_HOST = 10  # hosts are 198.18.N.10 and up: .1 root, .2 internet, .3 jump
MAX_HOSTS = 242  # up to .251: 198.18.N.252/30 is an isolated segment's link to the root


@dataclass
class LabHost:
    unit: str
    spec: HostScenario
    address: str
    netns: str | None = None
    process: subprocess.Popen[bytes] | None = None
    public_key: str = ""
    boots: int = 0
    booted_at: float = 0.0  # time.monotonic() of the last boot


@dataclass
class Fleet:
    """Start with `Fleet(scenario, workdir).start()`; always `stop()` (or use `with`).

    `checkout` is the repository the lab's record names (this one unless a test says
    otherwise): `python -m tests.lab down` removes only the labs of its own checkout."""

    scenario: Scenario
    workdir: Path
    isolated: bool = False
    checkout: Path = claim.CHECKOUT
    net: int = -1
    hosts: dict[str, LabHost] = field(default_factory=dict)
    listeners: list[subprocess.Popen[bytes]] = field(default_factory=list)
    jump_processes: list[subprocess.Popen[Any]] = field(default_factory=list)
    stalled: dict[str, str] = field(default_factory=dict)  # host: what it was doing
    record: claim.Record | None = None

    @property
    def bridge(self) -> str:
        return f"rqlab{self.net}"

    @property
    def internet(self) -> str:
        """The namespace holding the far ends of every scenario connection."""
        return f"rql{self.net}-inet"

    @property
    def gateway(self) -> tuple[str, str]:
        """The internet namespace's IPv4 and IPv6 addresses on the bridge."""
        return f"198.18.{self.net}.2", f"fd18:{self.net:x}::2"

    @property
    def jump_netns(self) -> str:
        """An isolated fleet's jump namespace: its hosts and `service_address`, nothing else."""
        self._need_isolated()
        return f"rql{self.net}-jump"

    @property
    def service_address(self) -> str:
        """The root namespace's address that the jump namespace (only it) reaches: where
        the services of a distributed sweep (redis, PostgreSQL) listen for this segment."""
        self._need_isolated()
        return f"198.18.{self.net}.253"

    @property
    def inventory_path(self) -> Path:
        return self.workdir / "inventory.yml"

    @property
    def known_hosts(self) -> Path:
        return self.workdir / "known_hosts"

    @property
    def client_key(self) -> Path:
        return self.workdir / "id_ed25519"

    def __enter__(self) -> Fleet:
        """Starts the fleet unless it is started already (`with fleet.start(...) as fleet`)."""
        return self if self.record else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(
        self,
        ready_timeout: float = 30,
        host_timeout: float | None = None,
        allow_stalled: bool = False,
    ) -> Fleet:
        """Brings every host up within `ready_timeout`; a host not ready `host_timeout`
        after it booted (default: half of `ready_timeout`, so the second boot has as long
        as the first) is booted once more."""
        if len(self.scenario.hosts()) > MAX_HOSTS:
            raise ValueError(f"a lab fleet holds at most {MAX_HOSTS} hosts: use several fleets")
        self.workdir.mkdir(parents=True, exist_ok=True)
        _keygen(self.client_key, "raquet-lab-client")
        self.record = claim.claim(self.checkout, self.workdir)
        self.net = self.record.net
        try:
            self._root_side()
            self._internet()
            if self.isolated:
                self._jump()
            self._hosts()
            self._write_known_hosts()
            self._write_inventory()
            self._save()
            host_timeout = ready_timeout / 2 if host_timeout is None else host_timeout
            self._wait_ready(ready_timeout, host_timeout, allow_stalled)
            self._save()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Kills what the fleet started, then removes all its record names (a lab that
        `down --force` already removed, its N maybe since taken by another, is left alone)."""
        for worker in self.jump_processes:
            if worker.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        for process in [*(h.process for h in self.hosts.values()), *self.listeners]:
            if process and process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait()
        if self.record and self._still_ours():
            claim.remove(self.record)
        self.record = None

    def ssh(self, name: str, command: str, timeout: float = 60) -> str:
        """`command`'s output on lab host `name`, run as root (through sudo for another user);
        from the jump namespace if the fleet is isolated (the root cannot reach the host)."""
        host = self.hosts[name]
        user = host.spec.user
        if user != "root":
            command = f"sudo -n sh -c {shlex.quote(command)}"
        options = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=5"]
        options += ["-o", f"UserKnownHostsFile={self.known_hosts}", "-i", str(self.client_key)]
        where = ["ip", "netns", "exec", self.jump_netns] if self.isolated else []
        return subprocess.run(
            [*where, "ssh", "-q", *options, f"{user}@{host.address}", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        ).stdout

    def as_user(self, name: str, user: str, command: str, timeout: float = 60) -> str:
        """`command` run on lab host `name` as the unprivileged account `user` (an attacker
        with a shell on the host); background it with `setsid ... >/dev/null 2>&1 &`."""
        return self.ssh(
            name, f"runuser -u {shlex.quote(user)} -- sh -c {shlex.quote(command)}", timeout
        )

    def jump_popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """`argv` started in the jump namespace (a sweep worker, say), in a session of its
        own; `stop()` kills its whole process group. Keyword arguments go to Popen."""
        kwargs.setdefault("start_new_session", True)
        process = subprocess.Popen(["ip", "netns", "exec", self.jump_netns, *argv], **kwargs)
        self.jump_processes.append(process)
        self._save()
        return process

    def _need_isolated(self) -> None:
        if not self.isolated:
            raise AttributeError("only an isolated fleet (isolated=True) has a jump namespace")

    def _save(self) -> None:
        """The record, brought up to date with the processes started so far."""
        assert self.record
        started = [h.process for h in self.hosts.values()] + self.listeners + self.jump_processes
        self.record.pids = [p.pid for p in started if p]
        self.record.save()

    def _made(self, namespace: str | None = None, veths: tuple[str, ...] = ()) -> None:
        """Records a namespace and veths before they are made, so no crash leaves one unnamed."""
        assert self.record
        if namespace:
            self.record.namespaces.append(namespace)
        self.record.veths += veths
        self.record.save()

    def _still_ours(self) -> bool:
        assert self.record
        try:
            on_disk = claim.Record.load(self.record.path)
        except (OSError, ValueError):
            return False
        mine = (self.record.owner, self.record.owner_started)
        return (on_disk.owner, on_disk.owner_started) == mine and on_disk.workdir == str(
            self.workdir
        )

    def _root_side(self) -> None:
        """The root namespace's side of the bridge: its address 198.18.N.1, or for an isolated
        fleet no address at all (IPv6 link-local included, and no answer to a host's ARP) and
        `unreachable` routes, so the root's packets for the segment fail at once instead of
        leaving by the default route."""
        assert self.record
        if self.isolated:
            self.record.routes += [
                ["route", "del", "unreachable", str(claim.v4(self.net))],
                ["-6", "route", "del", "unreachable", str(claim.v6(self.net))],
            ]
            self.record.save()
            _ip("route", "add", "unreachable", str(claim.v4(self.net)))
            _ip("-6", "route", "add", "unreachable", str(claim.v6(self.net)))
            netns.sysctl(f"net/ipv6/conf/{self.bridge}/disable_ipv6", "1")
            netns.sysctl(f"net/ipv4/conf/{self.bridge}/arp_ignore", "8")
        else:
            _ip("addr", "add", f"198.18.{self.net}.1/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def _hosts(self) -> None:
        for index, (unit, spec) in enumerate(self.scenario.hosts()):
            host = LabHost(unit.id, spec, f"198.18.{self.net}.{FIRST_HOST + index}")
            self.hosts[spec.name] = host
            if spec.kind != "dead":
                host.netns = f"rql{self.net}-{index}"
                v6 = f"fd18:{self.net:x}::{FIRST_HOST + index:x}"
                self._plug(host.netns, f"rqv{self.net}x{index}", host.address, v6)
            if spec.kind == "tarpit":
                host.process = _netns_popen(
                    host, ["python3", "-c", TARPIT.format(addr=host.address)]
                )
            elif spec.kind == "debian":
                self._route(host)
                self._boot(host)

    def _plug(self, namespace: str, veth: str, v4: str, v6: str) -> None:
        """A network namespace with loopback up and one veth on the fleet's bridge, `eth0`."""
        self._made(namespace, (veth,))
        _ip("netns", "add", namespace)
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        if self.isolated:  # no IPv6 link-local on the root's end: the root reaches no host
            netns.sysctl(f"net/ipv6/conf/{veth}/disable_ipv6", "1")
        _ip("link", "set", veth, "master", self.bridge, "up")
        _ip("-n", namespace, "addr", "add", f"{v4}/24", "dev", "eth0")
        _ip("-n", namespace, "-6", "addr", "add", f"{v6}/64", "dev", "eth0", "nodad")
        _ip("-n", namespace, "link", "set", "eth0", "up")
        _ip("-n", namespace, "link", "set", "lo", "up")

    def _internet(self) -> None:
        """The far end of every scenario connection: its address on the internet namespace's
        loopback and a listener on it that accepts and holds connections."""
        v4, v6 = self.gateway
        self._plug(self.internet, f"rqv{self.net}net", v4, v6)
        ends = {(c.address, c.port) for _, h in self.scenario.hosts() for c in h.connections}
        for address in sorted({a for a, _ in ends}):
            if ":" in address:
                _ip("-n", self.internet, "addr", "add", f"{address}/128", "dev", "lo", "nodad")
            else:
                _ip("-n", self.internet, "addr", "add", f"{address}/32", "dev", "lo")
        for address, port in sorted(ends):
            listener = LISTENER.format(addr=address, port=port)
            self.listeners.append(_popen(self.internet, ["python3", "-c", listener]))

    def _jump(self) -> None:
        """The jump namespace: on the bridge at 198.18.N.3, and at .254 on a veth whose root
        end is the service address .253 (a /30 no host uses). Forwarding off: a host's packet
        for the root stops here."""
        jump, link = self.jump_netns, f"rqv{self.net}svc"
        self._plug(jump, f"rqv{self.net}jmp", f"198.18.{self.net}.3", f"fd18:{self.net:x}::3")
        self._made(veths=(link,))
        _ip("link", "add", link, "type", "veth", "peer", "name", "svc0", "netns", jump)
        netns.sysctl(f"net/ipv6/conf/{link}/disable_ipv6", "1")
        _ip("addr", "add", f"{self.service_address}/30", "dev", link)
        _ip("link", "set", link, "up")
        _ip("-n", jump, "addr", "add", f"198.18.{self.net}.254/30", "dev", "svc0")
        _ip("-n", jump, "link", "set", "svc0", "up")
        forwarding = ["net.ipv4.ip_forward=0", "net.ipv6.conf.all.forwarding=0"]
        subprocess.run(["ip", "netns", "exec", jump, "sysctl", "-qw", *forwarding], check=True)

    def _route(self, host: LabHost) -> None:
        """Routes from the host to its connections' far ends, through the internet namespace."""
        v4, v6 = self.gateway
        for conn in host.spec.connections:
            if ":" in conn.address:
                _ip("-n", host.netns or "", "-6", "route", "add", f"{conn.address}/128", "via", v6)
            else:
                _ip("-n", host.netns or "", "route", "add", f"{conn.address}/32", "via", v4)

    def _boot(self, host: LabHost) -> None:
        """Mount the host's overlay in its own mount namespace and exec its init there."""
        spec = host.spec
        lower = image.host_layers(spec.clamav != "absent", spec.packages, spec.upgraded)
        root = self.workdir / "hosts" / spec.name
        shutil.rmtree(root, ignore_errors=True)
        upper, work, merged = root / "upper", root / "work", root / "merged"
        for d in (upper, work, merged):
            d.mkdir(parents=True)
        stall = spec.stall_boot == "always" or (spec.stall_boot == "once" and host.boots == 0)
        host.public_key = _populate(upper, spec, self.client_key, stall)
        lowerdir = ":".join(str(p) for p in reversed(lower))
        script = (
            f"mount -t overlay overlay -o lowerdir={lowerdir},upperdir={upper},workdir={work} {merged}"
            f" && mount -t proc proc {merged}/proc && mount --rbind /dev {merged}/dev"
            f" && hostname {spec.name} && exec chroot {merged} /bin/sh /etc/raquet-lab/init.sh"
        )
        command = [
            "unshare",
            "--mount",
            "--uts",
            "--pid",
            "--fork",
            "--kill-child=SIGKILL",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
        ]
        host.boots += 1
        host.booted_at = time.monotonic()
        with open(root / "console.log", "wb") as console:
            host.process = _netns_popen(host, command, stdout=console)

    def _halt(self, host: LabHost) -> None:
        """Kills every process of the host (its init first) and waits until none is left."""
        if host.process and host.process.poll() is None:
            host.process.kill()
        if host.process:
            host.process.wait()
        assert host.netns
        for _ in range(400):  # SIGKILLed processes are gone in milliseconds; 20 s at most
            if not netns.kill([host.netns]):
                return
            time.sleep(0.05)

    def _restart(self, host: LabHost) -> None:
        """Boots a host that is not ready again, from a fresh upper layer (a new host key)."""
        self._halt(host)
        self._boot(host)
        self._write_known_hosts()
        self._save()

    def _write_known_hosts(self) -> None:
        lines = []
        for host in self.hosts.values():
            if host.spec.name in self.stalled:
                continue
            key = host.public_key
            if host.spec.host_key == "mismatch" or not key:
                key = _keygen(self.workdir / "impostor" / host.spec.name, "impostor")
            lines.append(f"{host.address} {' '.join(key.split()[:2])}\n")
        self.known_hosts.write_text("".join(lines))

    def _write_inventory(self) -> None:
        def entry(h: HostScenario) -> dict[str, object]:
            fields: dict[str, object] = {
                "name": h.name,
                "address": self.hosts[h.name].address,
                "os": "linux",
                "role": h.role,
            }
            if h.user != "root":
                fields.update(ssh_user=h.user, sudo=True)
            return fields

        document = {
            "province": self.scenario.province,
            "defaults": {
                "ssh_user": "root",
                "ssh_key": str(self.client_key),
                "known_hosts": str(self.known_hosts),
            },
            "units": [
                {
                    "id": unit.id,
                    "name": unit.name,
                    "hosts": [entry(h) for h in unit.hosts if h.name not in self.stalled],
                }
                for unit in self.scenario.units
            ],
        }
        yaml = YAML()
        yaml.default_flow_style = False
        with open(self.inventory_path, "w", encoding="utf-8") as out:
            yaml.dump(document, out)

    def _wait_ready(self, timeout: float, host_timeout: float, allow_stalled: bool) -> None:
        """Until every booted host is ready; a host not ready `host_timeout` after its first
        boot is booted again, once. A host whose init exits is a lab bug and fails at once."""
        waiting = {h.spec.name: h for h in self.hosts.values() if h.spec.kind == "debian"}
        deadline = time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            for name, host in list(waiting.items()):
                if host.process and host.process.poll() is not None:
                    raise RuntimeError(f"lab host {name} exited: {self._console(host)}")
                if self._ready(host):
                    del waiting[name]
                elif host.boots == 1 and time.monotonic() - host.booted_at > host_timeout:
                    self._restart(host)
            time.sleep(0.05)
        if waiting:
            self._stalled(waiting, timeout, allow_stalled)

    def _ready(self, host: LabHost) -> bool:
        """sshd answers with its banner (seen from where sweeps connect) and every scenario
        connection of the host is up."""
        where = self.jump_netns if self.isolated else None
        return _banner(host.address, where) and _connected(host)

    def _stalled(self, waiting: dict[str, LabHost], timeout: float, allow: bool) -> None:
        """Fails the start naming each stalled host and what it was doing, or (`allow`) kills
        them and leaves them out of the inventory, noted in `self.stalled`."""
        doing = {name: self._doing(host) for name, host in waiting.items()}
        if not allow:
            report = "\n\n".join(f"{name}: {text}" for name, text in sorted(doing.items()))
            raise RuntimeError(f"lab hosts not ready after {timeout}s:\n\n{report}")
        for name, host in waiting.items():
            self._halt(host)
            self.stalled[name] = doing[name]
        self._write_known_hosts()
        self._write_inventory()

    def _doing(self, host: LabHost) -> str:
        """A stalled host's boots, processes (in its namespace) and console."""
        assert host.netns
        members = netns.pids([host.netns]).get(host.netns, [])
        return (
            f"booted {host.boots} times, not ready; its processes:\n"
            f"{netns.processes(members)}\nits console: {self._console(host) or '(empty)'}"
        )

    def _console(self, host: LabHost) -> str:
        log = self.workdir / "hosts" / host.spec.name / "console.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""


def _populate(upper: Path, spec: HostScenario, client_key: Path, stall: bool = False) -> str:
    """Writes the scenario's state into a host's upper layer; returns its public host key.
    `stall`: this boot's init hangs before sshd (see `HostScenario.stall_boot`)."""
    now = datetime.now(UTC)
    (upper / "etc/ssh").mkdir(parents=True)
    public = _keygen(upper / "etc/ssh/ssh_host_ed25519_key", spec.name)
    (upper / "etc/hostname").write_text(spec.name + "\n")
    if spec.auth == "key":
        ssh_dir = upper / ("root" if spec.user == "root" else f"home/{spec.user}") / ".ssh"
        ssh_dir.mkdir(parents=True, mode=0o700)
        (ssh_dir / "authorized_keys").write_text(client_key.with_suffix(".pub").read_text())
        (ssh_dir / "authorized_keys").chmod(0o600)
    if spec.clamav != "absent":
        db = upper / "var/lib/clamav"
        db.mkdir(parents=True)
        (db / "lab.hdb").write_text(EICAR_MD5)
        age = timedelta(days=spec.db_age_days)
        stamp = now - (age if spec.db_age_from == "mtime" else timedelta(days=90))
        os.utime(db / "lab.hdb", (stamp.timestamp(), stamp.timestamp()))
        if spec.db_age_from == "freshclam_log":
            _freshclam_log(upper / "var/log/clamav/freshclam.log", now - age)
    if spec.reboot_required:
        (upper / "run").mkdir(exist_ok=True)
        (upper / "run/reboot-required").write_text("*** System restart required ***\n")
        (upper / "run/reboot-required.pkgs").write_text("linux-image-amd64\n")
    if spec.os_version:
        (upper / "etc/os-release").write_text(_os_release(spec.os_version))
    if spec.stale_lists:  # lists last refreshed before any update: only the release suite
        (upper / "etc/apt").mkdir(parents=True, exist_ok=True)
        (upper / "etc/apt/sources.list").write_text(repo.sources_list().split("\n")[0] + "\n")
    if spec.hang:
        _script(upper / "usr/local/bin/apt-get", "#!/bin/sh\nexec sleep 3600\n")
    if spec.broken_apt:
        _script(upper / "usr/local/bin/apt-get", BROKEN_APT)
    if spec.signature_share:
        share = upper / "srv/clamav-share"
        share.mkdir(parents=True)
        (share / "lab.hdb").write_text(SHARE_MD5)
    for planted in spec.detections:
        if planted.on_disk:
            target = upper / planted.path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(EICAR)
            stamp = (now - timedelta(days=planted.days_ago)).timestamp()
            os.utime(target, (stamp, stamp))
    if spec.timezone:
        (upper / "etc/timezone").write_text(spec.timezone + "\n")
        (upper / "etc/localtime").symlink_to(f"/usr/share/zoneinfo/{spec.timezone}")
    hosts = (
        f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{spec.name}\n"
    )
    (upper / "etc/hosts").write_text(hosts + "".join(f"{e}\n" for e in spec.hosts_entries))
    for path in spec.eicar_files:
        target = upper / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(EICAR)
    if spec.detections:
        _detection_logs(upper / "var/log/clamav", spec, now)
    _script(upper / "etc/raquet-lab/init.sh", _init(spec, stall))
    return public


def _os_release(version: str) -> str:
    """An os-release of an older Debian (the files differ only in these lines)."""
    codename = {"9": "stretch", "10": "buster", "11": "bullseye"}.get(version, "")
    return (
        f'PRETTY_NAME="Debian GNU/Linux {version} ({codename})"\nNAME="Debian GNU/Linux"\n'
        f'VERSION_ID="{version}"\nVERSION="{version} ({codename})"\nVERSION_CODENAME={codename}\n'
        "ID=debian\n"
    )


def _freshclam_log(path: Path, when: datetime) -> None:
    """freshclam's own log format: local time (the lab hosts run in UTC), then the event."""
    earlier = when - timedelta(days=3)
    lines = []
    for stamp, event in (
        (
            earlier,
            "daily.cld updated (version: 27400, sigs: 2066000, f-level: 90, builder: raynman)",
        ),
        (
            when,
            "daily.cld database is up-to-date (version: 27456, sigs: 2067000, "
            "f-level: 90, builder: raynman)",
        ),
    ):
        text = stamp.strftime("%a %b %d %H:%M:%S %Y")
        lines += [
            f"{text} -> --------------------------------------",
            f"{text} -> ClamAV update process started at {text}",
            f"{text} -> {event}",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _detection_logs(logdir: Path, spec: HostScenario, now: datetime) -> None:
    """clamd's log (`DATE -> PATH: NAME FOUND`) and a clamscan log dated by its scan summary,
    both in the host's local time, as ClamAV writes them."""
    zone = ZoneInfo(spec.timezone or "UTC")
    clamd, clamscan = [], []
    for planted in sorted(spec.detections, key=lambda d: -d.days_ago):
        local = (now - timedelta(days=planted.days_ago)).astimezone(zone)
        if planted.via == "clamd":
            stamp = local.strftime("%a %b %d %H:%M:%S %Y")
            clamd.append(f"{stamp} -> {planted.path}: {planted.name} FOUND")
        else:
            clamscan += [
                f"{planted.path}: {planted.name} FOUND",
                "",
                "----------- SCAN SUMMARY -----------",
                "Infected files: 1",
                f"Start Date: {local:%Y:%m:%d %H:%M:%S}",
                f"End Date:   {local:%Y:%m:%d %H:%M:%S}",
            ]
    logdir.mkdir(parents=True, exist_ok=True)
    if clamd:
        (logdir / "clamav.log").write_text("\n".join(clamd) + "\n")
    if clamscan:
        (logdir / "clamscan.log").write_text("\n".join(clamscan) + "\n")


def _init(spec: HostScenario, stall: bool = False) -> str:
    """PID 1 of the host: start the scenario's daemons, then become sshd (which reaps orphans).
    `stall`: init waits forever on a child before sshd, as it did when clamd's parent hung in
    wait4 (the lab's own tests make a host stall so)."""
    lines = ["mkdir -p /run/sshd"]
    for name in spec.users:
        lines.append(f"useradd -m -s /bin/sh {shlex.quote(name)} 2>/dev/null")
    if spec.user != "root":
        user = shlex.quote(spec.user)
        lines += [
            f"useradd -m -s /bin/sh {user} 2>/dev/null",
            f"chown -R {user}: /home/{user}",
            f"echo {shlex.quote(spec.user + ' ALL=(ALL) NOPASSWD: ALL')} > /etc/sudoers.d/lab",
        ]
    if spec.firewall == "nftables":
        lines.append(f"printf '%s' {shlex.quote(NFT_FIREWALL)} | nft -f -")
    elif spec.firewall == "iptables":
        lines += [
            "rm -f /usr/sbin/nft",
            "iptables -A INPUT -p tcp --dport 22 -j ACCEPT",
            "ip6tables -A INPUT -p tcp --dport 22 -j ACCEPT",
        ]
    if spec.clamav == "running":
        lines += [
            "mkdir -p /run/clamav /var/log/clamav",
            "chown -R clamav:clamav /run/clamav /var/lib/clamav /var/log/clamav",
            "/etc/init.d/clamav-daemon start || echo 'clamd failed to start' >&2",
        ]
    if spec.other_av:
        lines += [
            f"cp /bin/sleep /usr/local/sbin/{spec.other_av}",
            f"/usr/local/sbin/{spec.other_av} infinity &",
        ]
    for conn in spec.connections:
        target = f"/dev/tcp/{conn.address}/{conn.port}"
        program = shlex.quote(f"/usr/local/bin/{conn.process}")
        client = (
            f"while ! {{ exec 3<>{target}; }} 2>/dev/null; do sleep 0.2; done; "
            "while read -r -u 3 _; do :; done; sleep infinity"
        )
        lines += [f"cp /bin/bash {program}", f"{program} -c {shlex.quote(client)} &"]
    if stall:
        lines.append("sleep infinity")
    lines.append("exec /usr/sbin/sshd -D -e")
    return "#!/bin/sh\n" + "\n".join(lines) + "\n"


def _script(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


def _keygen(path: Path, comment: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
            check=True,
        )
    return path.with_suffix(".pub").read_text().strip()


def _ip(*args: str, check: bool = True) -> None:
    netns.ip(*args, check=check)


def _netns_popen(host: LabHost, command: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
    assert host.netns
    return _popen(host.netns, command, **kwargs)


def _popen(namespace: str, command: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
    kwargs.setdefault("stdout", subprocess.DEVNULL)
    return subprocess.Popen(
        ["ip", "netns", "exec", namespace, *command],  # type: ignore[call-overload]
        stderr=subprocess.STDOUT,
        start_new_session=True,
        **kwargs,
    )


def _connected(host: LabHost) -> bool:
    """Every scenario connection of the host is established (checked from its own namespace)."""
    if not host.spec.connections:
        return True
    listing = ["ip", "netns", "exec", host.netns or "", "ss", "-Htn", "state", "established"]
    peers = {
        line.split()[-1]
        for line in subprocess.run(listing, capture_output=True, text=True).stdout.splitlines()
    }
    wanted = {
        f"[{c.address}]:{c.port}" if ":" in c.address else f"{c.address}:{c.port}"
        for c in host.spec.connections
    }
    return wanted <= peers


def _banner(address: str, namespace: str | None = None) -> bool:
    """sshd at `address` sends its banner, to a connection from `namespace` (the root's if None)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        conn = netns.socket_in(namespace, family) if namespace else socket.socket(family)
        with conn:
            conn.settimeout(0.5)
            conn.connect((address, 22))
            return conn.recv(8).startswith(b"SSH-")
    except OSError:
        return False
