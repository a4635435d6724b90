"""known_hosts looked up by index answers exactly what paramiko's scan answers."""

from __future__ import annotations

from pathlib import Path

import paramiko
from hypothesis import given, settings
from hypothesis import strategies as st
from paramiko.hostkeys import HostKeys

from raquet.hostkeys import IndexedHostKeys, use_indexed_host_keys

KEYS = [paramiko.ECDSAKey.generate(bits=bits) for bits in (256, 384, 521)]
NAMES = ["10.0.0.1", "[10.0.0.1]:2222", "td-srv-01", "td-srv-01.lan", "198.18.3.10", "fd18::10"]

name = st.sampled_from(NAMES)
line = st.tuples(
    st.lists(st.tuples(name, st.booleans()), min_size=1, max_size=3),  # (name, hashed?)
    st.integers(0, len(KEYS) - 1),
)


def _known_hosts(lines: list[tuple[list[tuple[str, bool]], int]]) -> str:
    text = []
    for names, key in lines:
        shown = ",".join(HostKeys.hash_host(n) if hashed else n for n, hashed in names)
        pkey = KEYS[key]
        text.append(f"{shown} {pkey.get_name()} {pkey.get_base64()}")
    return "\n".join(text) + "\n"


def _answer(keys: HostKeys, host: str) -> dict[str, str] | None:
    found = keys.lookup(host)
    return None if found is None else {kind: found[kind].get_base64() for kind in found}


@settings(max_examples=200, deadline=None)
@given(st.lists(line, max_size=12), st.lists(name | st.text(max_size=8), min_size=1, max_size=5))
def test_same_answers_as_paramiko(tmp_path_factory, lines, hosts) -> None:  # type: ignore[no-untyped-def]
    path = Path(tmp_path_factory.mktemp("kh")) / "known_hosts"
    path.write_text(_known_hosts(lines))
    plain, indexed = HostKeys(str(path)), IndexedHostKeys(str(path))
    for host in hosts:
        assert _answer(indexed, host) == _answer(plain, host)
        for key in KEYS:
            assert indexed.check(host, key) == plain.check(host, key)


def test_entries_added_later_are_found(tmp_path: Path) -> None:
    keys = IndexedHostKeys()
    assert keys.lookup("td-srv-01") is None
    keys.add("td-srv-01", KEYS[0].get_name(), KEYS[0])
    assert keys.check("td-srv-01", KEYS[0]) and not keys.check("td-srv-01", KEYS[1])


def test_pyinfra_loads_known_hosts_into_the_index() -> None:
    from pyinfra.connectors.sshuserclient import client

    use_indexed_host_keys()
    assert client.HostKeys is IndexedHostKeys
