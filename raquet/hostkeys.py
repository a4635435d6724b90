"""known_hosts looked up by name instead of scanned: the cost of a connection must not
grow with the fleet.

paramiko's `HostKeys.lookup` compares the host with every entry of the file (an HMAC
per hashed entry), and each connection looks up about three times: with 10,000 hosts in
one known_hosts that was 1.6 ms per lookup, a third of raquet's CPU per host (issue 12's
10,000-host bench). pyinfra loads each known_hosts file once into one HostKeys shared by
every connection; raquet has it build this subclass instead, which indexes plain entries
by name and scans only the hashed ones (whose names cannot be indexed). Answers are the
same entries in the same order as paramiko's own lookup.
"""

from __future__ import annotations

from typing import Any, cast

from paramiko.hostkeys import HostKeyEntry, HostKeys


class IndexedHostKeys(HostKeys):
    """HostKeys with a name index, rebuilt whenever entries were added or removed."""

    def __init__(self, filename: str | None = None) -> None:
        self._index: dict[str, list[tuple[int, HostKeyEntry]]] = {}
        self._hashed: list[tuple[int, HostKeyEntry]] = []
        self._indexed_entries = 0
        super().__init__(filename)

    def lookup(self, hostname: str) -> Any:
        self._refresh()
        found = {position: entry for position, entry in self._index.get(hostname, [])}
        for position, entry in self._hashed:
            if position not in found and cast(Any, self)._hostname_matches(hostname, entry):
                found[position] = entry
        if not found:
            return None
        # paramiko's own answer (its SubDict) over just the matching entries, in file order
        view = HostKeys()
        entries = [found[position] for position in sorted(found)]
        cast(Any, view)._entries = entries
        if _SubDict.cls is None:  # paramiko defines that class anew in every lookup
            answer = HostKeys.lookup(view, hostname)
            _SubDict.cls = type(answer)
            return answer
        return _SubDict.cls(hostname, entries, view)

    def _refresh(self) -> None:
        """Index the entries added since the last lookup (all of them if any went away)."""
        entries = _entries(self)
        if len(entries) < self._indexed_entries:
            self._index, self._hashed, self._indexed_entries = {}, [], 0
        for position in range(max(0, self._indexed_entries), len(entries)):
            entry = entries[position]
            for name in entry.hostnames:
                if name.startswith("|1|"):
                    self._hashed.append((position, entry))
                else:
                    self._index.setdefault(name, []).append((position, entry))
        self._indexed_entries = len(entries)


class _SubDict:
    """The class of paramiko's lookup answer, kept from the first lookup: paramiko's
    `lookup` makes it again each time (a class with ABC machinery: 2 % of a sweep's CPU)."""

    cls: Any = None


def _entries(keys: HostKeys) -> list[HostKeyEntry]:
    """paramiko's entry list (private; its stubs do not name it)."""
    return cast(list[HostKeyEntry], vars(keys)["_entries"])


def use_indexed_host_keys() -> None:
    """Make pyinfra's SSH connector load known_hosts files into IndexedHostKeys."""
    import paramiko.client
    from pyinfra.connectors.sshuserclient import client

    client.HostKeys = IndexedHostKeys  # type: ignore[misc, assignment]
    # the SSHClient's own (system) host keys, empty, looked up first on every connect
    paramiko.client.HostKeys = IndexedHostKeys  # type: ignore[attr-defined, assignment]
