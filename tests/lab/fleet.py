"""A fleet of real Debian hosts on this machine, each in its own namespaces, running real sshd.

Each host is `ip netns` + `unshare --mount --uts --pid` over an overlay of the cached
image layers plus an upper directory of its own (keys, scenario files). Hosts sit on a
bridge at 198.18.N.0/24 (RFC 2544 benchmarking space) that exists only while the fleet
runs; nothing is routed off this machine. The far ends of the scenario's malicious
connections live in one more namespace on the bridge (the fleet's "internet"), so a host
sees only its own end of a connection, as it would with a real C2 server. Needs root.
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
from zoneinfo import ZoneInfo

from ruamel.yaml import YAML

from tests.lab import image
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


@dataclass
class LabHost:
    unit: str
    spec: HostScenario
    address: str
    netns: str | None = None
    process: subprocess.Popen[bytes] | None = None
    public_key: str = ""


@dataclass
class Fleet:
    """Start with `Fleet(scenario, workdir).start()`; always `stop()` (or use `with`)."""

    scenario: Scenario
    workdir: Path
    net: int = -1
    hosts: dict[str, LabHost] = field(default_factory=dict)
    listeners: list[subprocess.Popen[bytes]] = field(default_factory=list)
    veths: list[str] = field(default_factory=list)

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
    def inventory_path(self) -> Path:
        return self.workdir / "inventory.yml"

    @property
    def known_hosts(self) -> Path:
        return self.workdir / "known_hosts"

    @property
    def client_key(self) -> Path:
        return self.workdir / "id_ed25519"

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, ready_timeout: float = 30) -> Fleet:
        self.workdir.mkdir(parents=True, exist_ok=True)
        _keygen(self.client_key, "raquet-lab-client")
        self.net = _free_net()
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"198.18.{self.net}.1/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        try:
            self._internet()
            for index, (unit, spec) in enumerate(self.scenario.hosts()):
                host = LabHost(unit.id, spec, f"198.18.{self.net}.{10 + index}")
                self.hosts[spec.name] = host
                if spec.kind != "dead":
                    self._plug(host, index)
                if spec.kind == "tarpit":
                    host.process = _netns_popen(
                        host, ["python3", "-c", TARPIT.format(addr=host.address)]
                    )
                elif spec.kind == "debian":
                    self._route(host)
                    self._boot(host)
            self._write_known_hosts()
            self._write_inventory()
            self._wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for process in [*(h.process for h in self.hosts.values()), *self.listeners]:
            if process and process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait()
        # a namespace goes away asynchronously; deleting our end of each veth pair does not
        for veth in self.veths:
            _ip("link", "del", veth, check=False)
        for host in self.hosts.values():
            if host.netns:
                _ip("netns", "del", host.netns, check=False)
        if self.net >= 0:
            _ip("netns", "del", self.internet, check=False)
            _ip("link", "del", self.bridge, check=False)

    def ssh(self, name: str, command: str, timeout: float = 60) -> str:
        """`command`'s output on lab host `name`, run as root (through sudo for another user)."""
        host = self.hosts[name]
        user = host.spec.user
        if user != "root":
            command = f"sudo -n sh -c {shlex.quote(command)}"
        options = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=5"]
        options += ["-o", f"UserKnownHostsFile={self.known_hosts}", "-i", str(self.client_key)]
        return subprocess.run(
            ["ssh", "-q", *options, f"{user}@{host.address}", command],
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

    def _plug(self, host: LabHost, index: int) -> None:
        """A network namespace with one veth on the fleet's bridge."""
        host.netns = f"rql{self.net}-{index}"
        veth = f"rqv{self.net}x{index}"
        _ip("netns", "add", host.netns)
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
        self.veths.append(veth)
        _ip("link", "set", veth, "master", self.bridge, "up")
        _ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
        v6 = f"fd18:{self.net:x}::{10 + index:x}/64"
        _ip("-n", host.netns, "-6", "addr", "add", v6, "dev", "eth0", "nodad")
        _ip("-n", host.netns, "link", "set", "eth0", "up")
        _ip("-n", host.netns, "link", "set", "lo", "up")

    def _internet(self) -> None:
        """The far end of every scenario connection: its address on the internet namespace's
        loopback and a listener on it that accepts and holds connections."""
        v4, v6 = self.gateway
        _ip("netns", "add", self.internet)
        veth = f"rqv{self.net}net"
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", self.internet)
        self.veths.append(veth)
        _ip("link", "set", veth, "master", self.bridge, "up")
        _ip("-n", self.internet, "addr", "add", f"{v4}/24", "dev", "eth0")
        _ip("-n", self.internet, "-6", "addr", "add", f"{v6}/64", "dev", "eth0", "nodad")
        _ip("-n", self.internet, "link", "set", "eth0", "up")
        _ip("-n", self.internet, "link", "set", "lo", "up")
        ends = {(c.address, c.port) for _, h in self.scenario.hosts() for c in h.connections}
        for address in sorted({a for a, _ in ends}):
            if ":" in address:
                _ip("-n", self.internet, "addr", "add", f"{address}/128", "dev", "lo", "nodad")
            else:
                _ip("-n", self.internet, "addr", "add", f"{address}/32", "dev", "lo")
        for address, port in sorted(ends):
            listener = LISTENER.format(addr=address, port=port)
            self.listeners.append(_popen(self.internet, ["python3", "-c", listener]))

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
        lower = image.host_layers(spec.clamav != "absent", spec.packages)
        root = self.workdir / "hosts" / spec.name
        shutil.rmtree(root, ignore_errors=True)
        upper, work, merged = root / "upper", root / "work", root / "merged"
        for d in (upper, work, merged):
            d.mkdir(parents=True)
        host.public_key = _populate(upper, spec, self.client_key)
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
        with open(root / "console.log", "wb") as console:
            host.process = _netns_popen(host, command, stdout=console)

    def _write_known_hosts(self) -> None:
        lines = []
        for host in self.hosts.values():
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
                    "hosts": [entry(h) for h in unit.hosts],
                }
                for unit in self.scenario.units
            ],
        }
        yaml = YAML()
        yaml.default_flow_style = False
        with open(self.inventory_path, "w", encoding="utf-8") as out:
            yaml.dump(document, out)

    def _wait_ready(self, timeout: float) -> None:
        """Until every booted host's sshd sends its banner; a host that never does is a lab bug."""
        waiting = {h.spec.name: h for h in self.hosts.values() if h.spec.kind == "debian"}
        deadline = time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            for name, host in list(waiting.items()):
                if host.process and host.process.poll() is not None:
                    log = (self.workdir / "hosts" / name / "console.log").read_text(
                        errors="replace"
                    )
                    raise RuntimeError(f"lab host {name} exited: {log[-2000:]}")
                if _banner(host.address) and _connected(host):
                    del waiting[name]
            time.sleep(0.05)
        if waiting:
            raise RuntimeError(f"lab hosts not ready after {timeout}s: {sorted(waiting)}")


def _populate(upper: Path, spec: HostScenario, client_key: Path) -> str:
    """Writes the scenario's state into a host's upper layer; returns its public host key."""
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
    _script(upper / "etc/raquet-lab/init.sh", _init(spec))
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


def _init(spec: HostScenario) -> str:
    """PID 1 of the host: start the scenario's daemons, then become sshd (which reaps orphans)."""
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
    subprocess.run(["ip", *args], check=check, stderr=None if check else subprocess.DEVNULL)


def _netns_popen(host: LabHost, command: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
    assert host.netns
    return _popen(host.netns, command, **kwargs)


def _popen(netns: str, command: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
    kwargs.setdefault("stdout", subprocess.DEVNULL)
    return subprocess.Popen(
        ["ip", "netns", "exec", netns, *command],  # type: ignore[call-overload]
        stderr=subprocess.STDOUT,
        start_new_session=True,
        **kwargs,
    )


def remove_all() -> None:
    """Kills every process in a lab namespace and removes all lab namespaces and bridges."""
    for line in subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True
    ).stdout.splitlines():
        name = line.split()[0]
        if name.startswith("rql"):
            pids = subprocess.run(
                ["ip", "netns", "pids", name], capture_output=True, text=True
            ).stdout
            for pid in pids.split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            _ip("netns", "del", name, check=False)
    bridges = subprocess.run(
        ["ip", "-o", "link", "show", "type", "bridge"], capture_output=True, text=True
    )
    for line in bridges.stdout.splitlines():
        name = line.split(":")[1].strip()
        if name.startswith("rqlab"):
            _ip("link", "del", name, check=False)


def _free_net() -> int:
    """The first 198.18.N.0/24 no other fleet on this machine is using."""
    used = subprocess.run(
        ["ip", "-o", "link", "show", "type", "bridge"], capture_output=True, text=True, check=True
    ).stdout
    for net in range(256):
        if f" rqlab{net}:" not in used:
            return net
    raise RuntimeError("no free lab network: remove stale rqlab* bridges")


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


def _banner(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=0.5) as conn:
            conn.settimeout(0.5)
            return conn.recv(8).startswith(b"SSH-")
    except OSError:
        return False
