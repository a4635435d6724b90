"""The `connections` parser against hosts that lie: any text in any section never breaks it,
and no process name can make a socket belong to a pid that does not hold it.

A socket's owners are the pids whose `/proc/PID/fd` links name its inode (section
`connections.owners`); names live in a section of their own and are only shown. So the
property generates a host the way the Linux snippet reports it — sockets with inodes,
each held by some pids, every pid named by its owner with whatever it likes (quotes,
`pid=`, `)`, `ino:`, `/proc/1/fd socket:[…]`, a real pid's number) — and checks each
parsed socket's pids are exactly the pids that hold its inode.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from checks.base import Context, HostFacts, Sections
from checks.connections import CHECK, parse_names, parse_owners, parse_ss
from raquet.feeds import IndicatorSet
from raquet.models import Host

# What a process may call itself: up to 15 bytes, no newline (the snippet reads one line of
# /proc/PID/comm), and the pieces that fooled `ss -p`'s format.
TRICKS = ['",pid=', ",fd=3)", '("', "))", " ino:", "socket:[", "/proc/1/fd ", "%s%n", "\x1b[2J"]
names = st.lists(
    st.one_of(st.sampled_from(TRICKS), st.text(st.characters(exclude_characters="\n"), max_size=4)),
    max_size=4,
).map(lambda parts: "".join(parts)[:15])
pids = st.integers(min_value=2, max_value=4_194_304)


@st.composite
def hosts(draw: Any) -> dict[str, Any]:
    """Sockets to 198.51.100.66 (some held by nobody, some by forked pids), and names; each
    socket's cgroup path (a user may name cgroups) ends in another socket's `ino:`."""
    owners: dict[int, list[int]] = {}
    lines = []
    ports = draw(st.lists(st.integers(1024, 65535), min_size=1, max_size=6, unique=True))
    inodes = draw(
        st.lists(st.integers(1, 2**32), min_size=len(ports), max_size=len(ports), unique=True)
    )
    for port, inode in zip(ports, inodes, strict=True):
        held = sorted(set(draw(st.lists(pids, max_size=3))))
        owners[inode] = held
        uid = draw(st.sampled_from(["", "uid:1000 "]))
        lines.append(
            f"tcp ESTAB 0 0 198.18.0.10:{port} 198.51.100.66:443 {uid}ino:{inode} sk:1 "
            f"cgroup:/{draw(names)} ino:{draw(st.sampled_from(inodes))} <->"
        )
    every = sorted({p for held in owners.values() for p in held})
    named = {pid: draw(names) for pid in every}
    return {"owners": owners, "ss": lines, "named": named}


def sections(host: dict[str, Any]) -> Sections:
    owner_lines = [
        f"/proc/{pid}/fd socket:[{inode}]" for inode, held in host["owners"].items() for pid in held
    ]
    return Sections(
        {
            "connections.ss": "\n".join(host["ss"]),
            "connections.owners": "\n".join(owner_lines),
            "connections.names": "\n".join(f"{pid} {name}" for pid, name in host["named"].items()),
            "connections.hosts": "",
            "connections.__exit": "0",
        }
    )


@settings(max_examples=300)
@given(hosts())
def test_a_socket_belongs_only_to_the_pids_that_hold_its_inode(host: dict[str, Any]) -> None:
    state = CHECK.parse(sections(host), HostFacts())
    assert len(state.sockets) == len(host["ss"])
    for sock, held in zip(state.sockets, host["owners"].values(), strict=True):
        assert sock.pids == held
        assert sock.pid == (held[0] if held else None)


@settings(max_examples=200)
@given(hosts())
def test_the_finding_names_only_real_owners(host: dict[str, Any]) -> None:
    indicators = IndicatorSet()
    indicators.add("ip", "198.51.100.66", "lab-c2", None)
    ctx = Context(indicators=indicators)
    target = Host(name="h", address="192.0.2.1", os="linux")
    finding = CHECK.judge(sections(host), target, HostFacts(), ctx).finding
    holders = {p for held in host["owners"].values() for p in held}
    for match in finding.evidence["matches"]:
        assert set(match["pids"]) <= holders
        assert match["pid"] is None or match["pid"] in match["pids"]


@settings(max_examples=300)
@given(
    st.lists(st.text(), max_size=8),
    st.lists(st.text(), max_size=8),
    st.lists(st.text(), max_size=8),
)
def test_any_text_in_any_section_parses(ss: list[str], owners: list[str], named: list[str]) -> None:
    parse_ss(ss, parse_owners(owners), parse_names(named))
    found = CHECK.parse(
        Sections(
            {
                "connections.ss": "\n".join(ss),
                "connections.owners": "\n".join(owners),
                "connections.names": "\n".join(named),
                "connections.hosts": "\n".join(named),
            }
        ),
        HostFacts(),
    )
    for sock in found.sockets:
        assert sock.process is None or sock.process.isprintable()


@given(st.from_regex(r"/proc/[0-9]{1,30}/fd socket:\[[0-9]{1,30}\]", fullmatch=True))
def test_owner_lines_with_absurd_numbers_do_not_raise(line: str) -> None:
    parse_owners([line])
