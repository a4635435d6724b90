"""Which 198.18.N.0/24 a lab fleet takes, and the record each lab keeps of what it made.

A fleet takes N only if nothing on the machine uses 198.18.N.0/24 or fd18:N::/64 yet: no
address or route in the root namespace or in a named namespace that is not a lab's, no
bridge `rqlabN`, no other lab's record. Routes broader than the whole lab block (a default
route, a VPN's 0.0.0.0/1) do not count: the lab's more specific routes only narrow them.
N is chosen and its bridge created under an exclusive lock, so two labs started at the same
moment by two processes never take the same N; a lab of older code, which takes no lock,
still cannot collide: `ip link add` fails with EEXIST on its bridge and N counts as taken.

A lab's record, /run/raquet-lab/N.json, names its checkout, its owner process, its workdir
and every bridge, namespace, veth and root route it made, each written *before* the thing
is made, so `python -m tests.lab down` can remove a crashed lab completely, and only the
labs of its own checkout.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.lab import netns

RUN = Path(os.environ.get("RAQUET_LAB_RUN", "/run/raquet-lab"))
CHECKOUT = Path(__file__).resolve().parents[2]
V4_BLOCK = ipaddress.ip_network("198.18.0.0/16")  # every 198.18.N.0/24, N < 256
V6_BLOCK = ipaddress.ip_network("fd18::/24")  # every fd18:N::/64, N < 256
LAB_NAMESPACE = re.compile(r"rql\d+-.+")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def v4(net: int) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(f"198.18.{net}.0/24")


def v6(net: int) -> ipaddress.IPv6Network:
    return ipaddress.IPv6Network(f"fd18:{net:x}::/64")


@dataclass
class Record:
    """What one lab made; written whole (atomically) each time it grows."""

    net: int
    checkout: str
    workdir: str
    owner: int = field(default_factory=os.getpid)
    owner_started: str = ""  # the owner's start time: a reused pid is not the owner
    bridge: str = ""
    namespaces: list[str] = field(default_factory=list)
    veths: list[str] = field(default_factory=list)
    routes: list[list[str]] = field(default_factory=list)  # `ip` arguments that delete each
    pids: list[int] = field(default_factory=list)  # processes started (all in its namespaces)

    def __post_init__(self) -> None:
        self.bridge = self.bridge or f"rqlab{self.net}"
        self.owner_started = self.owner_started or _started(self.owner)

    @property
    def path(self) -> Path:
        return RUN / f"{self.net}.json"

    def save(self) -> None:
        temporary = self.path.with_suffix(f".tmp{os.getpid()}")
        temporary.write_text(json.dumps(asdict(self), indent=1))
        os.replace(temporary, self.path)

    def owner_alive(self) -> bool:
        return _started(self.owner) == self.owner_started

    @classmethod
    def load(cls, path: Path) -> Record:
        return cls(**json.loads(path.read_text()))


def records() -> Iterator[Record]:
    for path in sorted(RUN.glob("*.json")):
        with contextlib.suppress(OSError, ValueError, TypeError):
            yield Record.load(path)


@contextlib.contextmanager
def lock() -> Iterator[None]:
    """The machine's lab lock: whoever holds it may choose an N and make its bridge."""
    RUN.mkdir(parents=True, exist_ok=True)
    with open(RUN / "lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        yield


def claim(checkout: Path, workdir: Path) -> Record:
    """A free N, its record saved and its bridge created, both under the lab lock."""
    with lock():
        taken = used()
        for net in range(256):
            if net in taken:
                continue
            record = Record(net, str(checkout), str(workdir))
            record.save()
            if _add_bridge(record.bridge):
                return record
            record.path.unlink()
    raise RuntimeError(
        "no free lab network in 198.18.0.0/16: every 198.18.N.0/24 is in use here "
        "(`python -m tests.lab down` removes this checkout's dead labs)"
    )


def used() -> set[int]:
    """Every N some lab, bridge, address or route on this machine already stands on."""
    taken = {r.net for r in records()}
    taken |= {int(b[5:]) for b in bridges() if b[5:].isdigit()}
    networks = _networks(None)
    for name in netns.names():
        if not LAB_NAMESPACE.fullmatch(name):
            networks += _networks(name)
    for net in range(256):
        if any(n.overlaps(v4(net)) or n.overlaps(v6(net)) for n in networks):
            taken.add(net)
    return taken


def bridges() -> list[str]:
    """The lab bridges (`rqlabN`) on this machine, a lab of any checkout's."""
    links = netns.ip_json("link", "show", "type", "bridge")
    return [str(link["ifname"]) for link in links if str(link["ifname"]).startswith("rqlab")]


def _networks(namespace: str | None) -> list[Network]:
    """The addresses and routes of a namespace (the root's if None), as networks."""
    where = ["-n", namespace] if namespace else []
    found: list[Network] = []
    for link in netns.ip_json(*where, "addr"):
        for info in link.get("addr_info", []):  # type: ignore[attr-defined]
            address = ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}")
            broad = _broader_than_block(address.network)
            found.append(ipaddress.ip_network(address.ip) if broad else address.network)
    for family in ("-4", "-6"):
        for route in netns.ip_json(*where, family, "route", "show", "table", "all"):
            with contextlib.suppress(ValueError):
                network = ipaddress.ip_network(str(route["dst"]), strict=False)
                if not _broader_than_block(network):
                    found.append(network)
    return found


def _broader_than_block(network: Network) -> bool:
    block = V4_BLOCK if network.version == 4 else V6_BLOCK
    return network.prefixlen < block.prefixlen and block.subnet_of(network)  # type: ignore[arg-type]


def _add_bridge(name: str) -> bool:
    """Creates the bridge; False if it already exists (another lab's, maybe older code's)."""
    made = subprocess.run(
        ["ip", "link", "add", name, "type", "bridge"], capture_output=True, text=True
    )
    if made.returncode == 0:
        return True
    if "File exists" in made.stderr:
        return False
    raise RuntimeError(f"ip link add {name} type bridge: {made.stderr.strip()}")


def remove(record: Record) -> None:
    """Kills every process in the lab's namespaces, deletes what the record names, then the
    record. Processes are found by namespace, never by a recorded pid (a pid may be reused)."""
    netns.kill(record.namespaces)
    for veth in record.veths:
        netns.ip("link", "del", veth, check=False)
    for name in record.namespaces:
        netns.ip("netns", "del", name, check=False)
    for route in record.routes:
        netns.ip(*route, check=False)
    netns.ip("link", "del", record.bridge, check=False)
    with contextlib.suppress(FileNotFoundError):
        record.path.unlink()


def down(checkout: Path, force: bool = False) -> list[str]:
    """Removes the labs of `checkout` whose owner is dead (every one with `force`); one line
    per lab bridge on the machine, saying what was done with it and why."""
    said, recorded = [], set()
    for record in records():
        recorded.add(record.bridge)
        if Path(record.checkout).resolve() != checkout.resolve():
            said.append(f"{record.bridge}: a lab of {record.checkout}, left alone")
        elif record.owner_alive() and not force:
            said.append(
                f"{record.bridge}: running (pid {record.owner}), left alone; --force removes it"
            )
        else:
            remove(record)
            said.append(f"{record.bridge}: removed (its workdir {record.workdir} is kept)")
    for bridge in sorted(set(bridges()) - recorded):
        said.append(f"{bridge}: no record (older code's lab?), left alone")
    return said


def _started(pid: int) -> str:
    """A process's start time (field 22 of /proc/PID/stat), or "" if there is no such process
    or it is dead (a zombie: an owner killed and not yet reaped, or never, by a lax init)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return ""
    return "" if fields[0] in {"Z", "X"} else fields[19]
