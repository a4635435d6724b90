"""Matching addresses and names against every imported indicator, in constant time.

A province imports national lists of a million indicators and a sweep asks about every
remote address and host name of thousands of machines, so nothing here scans: exact IPs
are one hash lookup; CIDRs are grouped by prefix length, each group a hash of masked
network integers, so an address costs one lookup per prefix length in use (at most 33
for IPv4, 129 for IPv6); a name costs one lookup per label (`a.b.example.com` is looked
up as itself, `b.example.com`, `example.com`, `com`), which is how a domain indicator
matches its subdomains.

Values are expected canonical (as stored from `Indicator`), which lets building read
them with `inet_pton` instead of the much slower `ipaddress` objects.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from raquet.feeds.addresses import BITS, MASKS, ip_number, ip_text
from raquet.feeds.values import ascii_domain

MatchKind = Literal["ip", "cidr", "domain"]
Source = tuple[str, str | None]
"""(feed, reference): where an indicator came from."""


class Hit(BaseModel):
    """One indicator an address or a name matched, and the feed that listed it."""

    model_config = ConfigDict(frozen=True)

    kind: MatchKind
    indicator: str
    feed: str
    reference: str | None = None


class IndicatorSet:
    """The IP, CIDR and domain indicators of some feeds, indexed for lookups.

    URL indicators are not matched here: sweeps see connections and host names, not
    requested URLs (a URL on a bare IP is also stored as that IP).
    """

    def __init__(self) -> None:
        self._ips: dict[int, dict[int, tuple[Source, ...]]] = {4: {}, 6: {}}
        self._networks: dict[int, dict[int, dict[int, tuple[Source, ...]]]] = {4: {}, 6: {}}
        self._lengths: dict[int, list[int]] = {4: [], 6: []}
        self._domains: dict[str, tuple[Source, ...]] = {}
        # Most indicators share a handful of (feed, reference) pairs: one tuple each.
        self._shared: dict[Source, tuple[Source, ...]] = {}
        self._count = 0

    def __len__(self) -> int:
        """How many indicators were added (one listed by two feeds counts twice)."""
        return self._count

    def add(self, kind: MatchKind, value: str, feed: str, reference: str | None = None) -> None:
        """Index one canonical indicator; raises ValueError for a value that is not one."""
        source = (feed, reference)
        if kind == "domain":
            self._put(self._domains, value, source)
        elif kind == "ip":
            version, number = _address(value)
            self._put(self._ips[version], number, source)
        else:
            address, _, length = value.partition("/")
            version, number = _address(address, unmap=False)
            prefix = int(length)
            if not 0 <= prefix <= BITS[version]:
                raise ValueError(f"{value!r} is not a CIDR network")
            groups = self._networks[version]
            if prefix not in groups:
                groups[prefix] = {}
                self._lengths[version] = sorted(groups, reverse=True)
            self._put(groups[prefix], number & MASKS[version][prefix], source)
        self._count += 1

    def _put(self, index: dict[Any, tuple[Source, ...]], key: int | str, source: Source) -> None:
        listed = index.get(key)
        if listed is None:
            shared = self._shared.get(source)
            if shared is None:
                shared = self._shared[source] = (source,)
            index[key] = shared
        elif source not in listed:
            index[key] = (*listed, source)

    def match_ip(self, address: str) -> list[Hit]:
        """Indicators naming this address: the IP itself, then containing CIDRs, narrowest first.

        Takes IPv4 or IPv6 text as `ss` prints it (brackets and a `%zone` are dropped,
        `::ffff:a.b.c.d` is the IPv4 address); text that is no address matches nothing.
        """
        try:
            version, number = _address(address.strip().strip("[]").partition("%")[0])
        except ValueError:
            return []
        hits = [
            Hit(kind="ip", indicator=ip_text(version, number), feed=feed, reference=reference)
            for feed, reference in self._ips[version].get(number, ())
        ]
        groups, masks = self._networks[version], MASKS[version]
        for prefix in self._lengths[version]:
            network = number & masks[prefix]
            for feed, reference in groups[prefix].get(network, ()):
                indicator = f"{ip_text(version, network)}/{prefix}"
                hits.append(Hit(kind="cidr", indicator=indicator, feed=feed, reference=reference))
        return hits

    def match_domain(self, name: str) -> list[Hit]:
        """Indicators naming this host name or a domain above it, the most specific first.

        Case and a trailing dot do not matter; Unicode names are matched by their
        punycode form, as domain indicators are stored. A non-name matches nothing.
        """
        found = ascii_domain(name.strip().rstrip("."))
        if found is None:
            return []
        name = found
        hits: list[Hit] = []
        while name:
            for feed, reference in self._domains.get(name, ()):
                hits.append(Hit(kind="domain", indicator=name, feed=feed, reference=reference))
            name = name.partition(".")[2]
        return hits


def _address(text: str, *, unmap: bool = True) -> tuple[int, int]:
    found = ip_number(text, unmap=unmap)
    if found is None:
        raise ValueError(f"{text!r} is not an IP address")
    return found
