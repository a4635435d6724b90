"""Benchmark: matching against a million indicators, indexed vs a naive linear scan.

    .venv/bin/python -m bench.feeds_match [--indicators 1000000] [--lookups 100000]

Generates a mixed feed (IPv4 and IPv6 addresses, CIDRs of many prefix lengths, domains),
imports it into a store (a temporary SQLite file, or `--db URL`), loads it back as an
`IndicatorSet`, then times lookups of addresses and host names (a third exact hits, a
third inside a CIDR or below a domain, a third misses) against it and, for a sample, a
linear scan over the same indicators. The scan's answers are checked against the index.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import string
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tabulate import tabulate

from raquet.feeds import Indicator, IndicatorSet, MatchKind
from raquet.store import Store

Row = tuple[MatchKind, str]
T = TypeVar("T")
# Shares of the generated indicators, in order: IPv4, IPv6, IPv4 CIDR, IPv6 CIDR, domain.
MIX = (0.40, 0.05, 0.15, 0.02, 0.38)
# IPv4 prefix lengths drawn for CIDRs: mostly /24 and nearby, as in real blocklists.
PREFIXES = (12, 14, 16, 18, 20, 22, 23, 24, 24, 24, 24, 25, 26, 27, 28, 29, 30)


def generate(count: int, rng: random.Random) -> list[Row]:
    ipv4, ipv6, cidr4, cidr6, _ = (int(count * share) for share in MIX)
    rows: list[Row] = [("ip", str(ipaddress.IPv4Address(rng.getrandbits(32)))) for _ in range(ipv4)]
    rows += [("ip", str(ipaddress.IPv6Address(rng.getrandbits(128)))) for _ in range(ipv6)]
    rows += [("cidr", _network(4, rng.choice(PREFIXES), rng)) for _ in range(cidr4)]
    rows += [("cidr", _network(6, rng.choice((32, 48, 56, 64)), rng)) for _ in range(cidr6)]
    rows += [("domain", _domain(rng)) for _ in range(count - len(rows))]
    return list(dict.fromkeys(rows))  # random addresses and short prefixes repeat


def _network(version: int, prefix: int, rng: random.Random) -> str:
    return str(ipaddress.ip_network((rng.getrandbits(32 if version == 4 else 128), prefix), False))


def _domain(rng: random.Random) -> str:
    labels = [_label(rng) for _ in range(rng.randint(1, 3))]
    return ".".join([*labels, rng.choice(("com", "net", "vn", "xyz", "top", "ru"))])


def _label(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_lowercase + string.digits, k=rng.randint(5, 14)))


def lookups(rows: list[Row], count: int, rng: random.Random) -> list[tuple[str, str]]:
    """(kind of lookup, query): half addresses, half names; hits, near hits and misses."""
    ips = [value for kind, value in rows if kind == "ip" and ":" not in value]
    networks = [value for kind, value in rows if kind == "cidr" and ":" not in value]
    domains = [value for kind, value in rows if kind == "domain"]
    queries = []
    for i in range(count):
        third = i // 2 % 3
        if i % 2 == 0:
            if third == 0:
                address = rng.choice(ips)
            elif third == 1:
                network = ipaddress.IPv4Network(rng.choice(networks))
                offset = rng.randrange(network.num_addresses)
                address = str(network.network_address + offset)
            else:
                address = str(ipaddress.IPv4Address(rng.getrandbits(32)))
            queries.append(("ip", address))
        else:
            name = rng.choice(domains)
            if third == 1:
                name = f"{_label(rng)}.{name}"
            elif third == 2:
                name = _domain(rng)
            queries.append(("domain", name))
    return queries


class LinearScan:
    """The baseline: every indicator, tested one by one (pre-parsed to integers)."""

    def __init__(self, rows: list[Row]) -> None:
        self.networks = []
        self.domains = []
        for kind, value in rows:
            if kind == "domain":
                self.domains.append(value)
            else:
                network = ipaddress.ip_network(value)
                self.networks.append(
                    (network.version, int(network.network_address), int(network.netmask))
                )

    def match_ip(self, address: str) -> int:
        parsed = ipaddress.ip_address(address)
        version, number = parsed.version, int(parsed)
        return sum(
            1
            for net_version, network, mask in self.networks
            if net_version == version and number & mask == network
        )

    def match_domain(self, name: str) -> int:
        return sum(1 for domain in self.domains if name == domain or name.endswith("." + domain))


def timed(function: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--indicators", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--scan-sample", type=int, default=200, help="lookups for the scan")
    parser.add_argument("--db", help="store URL (default: a temporary SQLite file)")
    parser.add_argument("--seed", type=int, default=2021)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    rows = generate(args.indicators, rng)
    queries = lookups(rows, args.lookups, rng)
    steps: list[tuple[str, float]] = []
    seconds, indicators = timed(lambda: [Indicator(kind=k, value=v) for k, v in rows])
    steps.append((f"validate {len(rows):,} Indicator models", seconds))
    with tempfile.TemporaryDirectory() as tmp, Store(args.db or str(Path(tmp) / "b.db")) as store:
        seconds, _ = timed(lambda: store.import_feed("bench", "generated", "txt", indicators))
        steps.append((f"import_feed into {store.url.split(':')[0]}", seconds))
        seconds, loaded = timed(lambda: store.indicator_set(["bench"]))
        steps.append(("indicator_set (read + index)", seconds))
    seconds, index = timed(lambda: _build(rows))
    steps.append(("IndicatorSet from rows in memory", seconds))
    assert len(loaded) == len(rows)

    seconds, hits = timed(lambda: _match_all(index, queries))
    indexed_rate = len(queries) / seconds
    sample = queries[: args.scan_sample]
    scan = LinearScan(rows)
    scan_seconds, scan_hits = timed(lambda: _scan_all(scan, sample))
    scan_rate = len(sample) / scan_seconds
    assert scan_hits == _match_all(index, sample), "the index and the scan disagree"

    print(tabulate(steps, headers=["step", "seconds"], floatfmt=".2f"))
    print()
    print(
        tabulate(
            [
                ("IndicatorSet (index)", len(queries), f"{indexed_rate:,.0f}", hits),
                ("linear scan (baseline)", len(sample), f"{scan_rate:,.1f}", scan_hits),
            ],
            headers=["matcher", "lookups", "lookups/s", "hits"],
        )
    )
    print(f"\nindex / scan: {indexed_rate / scan_rate:,.0f}x faster")


def _build(rows: list[Row]) -> IndicatorSet:
    index = IndicatorSet()
    for kind, value in rows:
        index.add(kind, value, "bench")
    return index


def _match_all(index: IndicatorSet, queries: list[tuple[str, str]]) -> int:
    return sum(
        len(index.match_ip(q) if kind == "ip" else index.match_domain(q)) for kind, q in queries
    )


def _scan_all(scan: LinearScan, queries: list[tuple[str, str]]) -> int:
    return sum(scan.match_ip(q) if kind == "ip" else scan.match_domain(q) for kind, q in queries)


if __name__ == "__main__":
    main()
