"""Benchmark: importing real-size vulnerability data and matching a fleet against it,
indexed vs a naive linear scan.

    .venv/bin/python -m bench.vulns_match [--cves 300000] [--osv 40000] [--hosts 1000]
                                           [--packages 2000] [--scan-sample 20]

Generates, in a temporary directory and in a child process (so that the figures below
are the importer's own), NVD CVE JSON 2.0 yearly files of `--cves` CVEs (descriptions,
CVSS metrics, 1-4 cpeMatch entries each over a long-tailed product list, AND nodes with
`vulnerable: false` platforms, ranges of every bound kind and exact versions) and an OSV
Debian `all.zip` of `--osv` records over 4,000 source packages. Then, in this process:
parse + index every file (time and peak RSS), match `--hosts` Debian 12 hosts of
`--packages` packages and 20 applications each through `VulnIndex.match`, and match
`--scan-sample` packages of one host by a linear scan over every record (extrapolated to
the whole fleet, and said so); the scan's answers are checked against the index's.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import random
import resource
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from tabulate import tabulate

from raquet.vulns import Application, Installed, Package, Vulnerability, VulnIndex, load_index
from raquet.vulns.names import application_cpes
from raquet.vulns.versions import version_key

PER_FILE = 20_000
SOURCES = 4_000
APPS = [
    "Google Chrome",
    "Mozilla Firefox",
    "Microsoft Edge",
    "Cốc Cốc",
    "7-Zip",
    "WinRAR",
    "AnyDesk",
    "Opera Stable",
    "VLC media player",
    "Notepad++",
]
APP_CPES = [
    "google:chrome",
    "mozilla:firefox",
    "microsoft:edge_chromium",
    "coccoc:coc_coc_browser",
    "7-zip:7-zip",
    "rarlab:winrar",
    "anydesk:anydesk",
    "opera:opera_browser",
    "videolan:vlc_media_player",
    "notepad-plus-plus:notepad++",
]


def _version(rng: random.Random) -> str:
    return f"{rng.randint(1, 130)}.{rng.randint(0, 9)}.{rng.randint(0, 6000)}.{rng.randint(0, 300)}"


def _deb_version(rng: random.Random, base: int) -> str:
    epoch = "1:" if base % 7 == 0 else ""
    return f"{epoch}{base % 40}.{rng.randint(0, 20)}.{rng.randint(0, 9)}-{rng.randint(1, 5)}+deb12u{rng.randint(1, 9)}"


def _cpe_match(rng: random.Random, product: str) -> dict[str, Any]:
    vendor_product = product
    kind = rng.random()
    entry: dict[str, Any] = {"vulnerable": True, "matchCriteriaId": f"{rng.getrandbits(64):016X}"}
    if kind < 0.15:
        entry["criteria"] = f"cpe:2.3:a:{vendor_product}:{_version(rng)}:*:*:*:*:*:*:*"
        return entry
    entry["criteria"] = f"cpe:2.3:a:{vendor_product}:*:*:*:*:*:*:*:*"
    if kind < 0.55:
        entry["versionEndExcluding"] = _version(rng)
    elif kind < 0.75:
        entry["versionEndIncluding"] = _version(rng)
    elif kind < 0.9:
        entry["versionStartIncluding"] = "1.0"
        entry["versionEndExcluding"] = _version(rng)
    else:
        entry["versionStartExcluding"] = "2.0"
        entry["versionEndIncluding"] = _version(rng)
    return entry


def _products(rng: random.Random) -> list[str]:
    """20,000 vendor:products; the browsers and archivers first (the most CVEs)."""
    return APP_CPES + [f"vendor{i % 5000}:product{i}" for i in range(20_000 - len(APP_CPES))]


def generate(folder: Path, cves: int, osv: int, seed: int) -> None:
    rng = random.Random(seed)
    products = _products(rng)
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(products))]
    cumulative = list(itertools.accumulate(weights))
    written = 0
    year = 1999
    while written < cves:
        count = min(PER_FILE, cves - written)
        with (folder / f"nvdcve-2.0-{year}.json").open("w") as out:
            out.write(
                f'{{"resultsPerPage": {count}, "startIndex": 0, "totalResults": {count}, "format": "NVD_CVE", "version": "2.0", "timestamp": "2024-06-01T00:00:00.000", "vulnerabilities": [\n'
            )
            for i in range(count):
                chosen = rng.choices(products, cum_weights=cumulative, k=rng.randint(1, 4))
                nodes: list[dict[str, Any]] = [
                    {
                        "operator": "OR",
                        "negate": False,
                        "cpeMatch": [_cpe_match(rng, p) for p in chosen],
                    }
                ]
                configuration: dict[str, Any] = {"nodes": nodes}
                if rng.random() < 0.2:
                    configuration["operator"] = "AND"
                    nodes.append(
                        {
                            "operator": "OR",
                            "negate": False,
                            "cpeMatch": [
                                {
                                    "vulnerable": False,
                                    "criteria": "cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*",
                                    "matchCriteriaId": "A2572D17-1DE6-457B-99CC-64AFD54487EA",
                                }
                            ],
                        }
                    )
                score = round(rng.uniform(2, 10), 1)
                cve = {
                    "cve": {
                        "id": f"CVE-{year}-{10000 + i}",
                        "sourceIdentifier": "cve@mitre.org",
                        "published": f"{year}-05-14T15:44:14.340",
                        "lastModified": "2024-07-03T02:07:53.637",
                        "vulnStatus": "Analyzed",
                        "descriptions": [
                            {
                                "lang": "en",
                                "value": "Use after free in a component allowed a remote attacker to potentially exploit heap corruption via a crafted HTML page. "
                                * 2,
                            }
                        ],
                        "metrics": {
                            "cvssMetricV31": [
                                {
                                    "source": "nvd@nist.gov",
                                    "type": "Primary",
                                    "cvssData": {
                                        "version": "3.1",
                                        "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H",
                                        "baseScore": score,
                                        "baseSeverity": "HIGH",
                                    },
                                    "exploitabilityScore": 2.8,
                                    "impactScore": 5.9,
                                }
                            ]
                        },
                        "weaknesses": [
                            {
                                "source": "nvd@nist.gov",
                                "type": "Primary",
                                "description": [{"lang": "en", "value": "CWE-416"}],
                            }
                        ],
                        "configurations": [configuration],
                        "references": [
                            {
                                "url": f"https://example.org/advisories/{year}/{i}",
                                "source": "cve@mitre.org",
                            }
                        ],
                    }
                }
                out.write(json.dumps(cve))
                out.write(",\n" if i < count - 1 else "\n")
            out.write("]}\n")
        written += count
        year += 1
    with zipfile.ZipFile(
        folder / "debian-all.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=1
    ) as archive:
        for i in range(osv):
            source = f"src{rng.randrange(SOURCES)}"
            base = int(source[3:])
            affected = [
                {
                    "package": {
                        "ecosystem": "Debian:12",
                        "name": source,
                        "purl": f"pkg:deb/debian/{source}?arch=source",
                    },
                    "ranges": [
                        {
                            "type": "ECOSYSTEM",
                            "events": [{"introduced": "0"}, {"fixed": _deb_version(rng, base)}],
                        }
                    ],
                }
            ]
            if rng.random() < 0.5:
                affected.append(
                    {
                        "package": {"ecosystem": "Debian:11", "name": source},
                        "ranges": [
                            {
                                "type": "ECOSYSTEM",
                                "events": [{"introduced": "0"}, {"fixed": _deb_version(rng, base)}],
                            }
                        ],
                    }
                )
            record = {
                "schema_version": "1.6.0",
                "id": f"DEBIAN-CVE-2024-{i:06d}",
                "upstream": [f"CVE-2024-{i:06d}"],
                "modified": "2024-06-01T00:00:00Z",
                "details": "An issue was discovered.",
                "affected": affected,
            }
            archive.writestr(f"DEBIAN-CVE-2024-{i:06d}.json", json.dumps(record))


def hosts(count: int, packages: int, seed: int) -> list[Installed]:
    """Debian 12 hosts: `packages` binary packages from 6,000 (source among 4,000 names, a
    third not in any data set), and 20 applications."""
    rng = random.Random(seed + 1)
    binaries = [(f"bin{i}", f"src{i % (SOURCES * 3 // 2)}") for i in range(6_000)]
    versions = {
        source: [_deb_version(rng, int(source[3:])) for _ in range(4)] for _, source in binaries
    }
    fleet = []
    for _ in range(count):
        chosen = rng.sample(binaries, packages)
        installed = [Package(name, rng.choice(versions[source]), source) for name, source in chosen]
        apps = [Application(rng.choice(APPS), _version(rng)) for _ in range(20)]
        fleet.append(
            Installed(
                os=("debian", "12"), packages=installed, applications=apps, platform="windows"
            )
        )
    return fleet


class LinearScan:
    """The baseline: for one package, every record's every affected entry and range."""

    def __init__(self, records: list[Vulnerability]) -> None:
        self.records = records

    def match(self, space: str, name: str, version: str, scheme: str) -> set[tuple[str, str]]:
        key = version_key(scheme, version)  # type: ignore[arg-type]
        found: set[tuple[str, str]] = set()
        for record in self.records:
            for affected in record.affected:
                if affected.space != space or affected.package != name:
                    continue
                for bounds in affected.ranges:
                    if bounds.start is not None:
                        start = version_key(scheme, bounds.start)  # type: ignore[arg-type]
                        if key < start or (key == start and not bounds.start_inclusive):
                            continue
                    if bounds.end is not None:
                        end = version_key(scheme, bounds.end)  # type: ignore[arg-type]
                        if key > end or (key == end and not bounds.end_inclusive):
                            continue
                    found.update((cve, record.dataset) for cve in record.cves or (record.id,))
                if any(version_key(scheme, v) == key for v in affected.versions):  # type: ignore[arg-type]
                    found.update((cve, record.dataset) for cve in record.cves or (record.id,))
        return found


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cves", type=int, default=300_000)
    parser.add_argument("--osv", type=int, default=40_000)
    parser.add_argument("--hosts", type=int, default=1_000)
    parser.add_argument("--packages", type=int, default=2_000)
    parser.add_argument("--scan-sample", type=int, default=20, help="packages matched by the scan")
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        child = multiprocessing.get_context("spawn").Process(
            target=generate, args=(folder, args.cves, args.osv, args.seed)
        )
        child.start()
        child.join()
        assert child.exitcode == 0, "generating the data set failed"
        generated = time.perf_counter() - started
        files = sorted(folder.iterdir())
        size = sum(f.stat().st_size for f in files)
        rss_before = _rss_mib()

        index = VulnIndex()
        started, cpu = time.perf_counter(), time.process_time()
        _, problems = load_index(files, index)
        imported, imported_cpu = time.perf_counter() - started, time.process_time() - cpu
        rss_after = _rss_mib()
        assert not problems, problems[:3]

    fleet = hosts(args.hosts, args.packages, args.seed)
    started, cpu = time.perf_counter(), time.process_time()
    total = 0
    for host in fleet:
        total += len(index.match(host))
    matched_wall, matched = time.perf_counter() - started, time.process_time() - cpu
    lookups = sum(len(h.packages) + len(h.applications) for h in fleet)

    records = list(index.vulnerabilities())
    scan = LinearScan(records)
    sample = [p for p in fleet[0].packages if isinstance(p, Package)][: args.scan_sample]
    cpu = time.process_time()
    scanned = [scan.match("debian:12", p.source or p.name, p.version, "dpkg") for p in sample]
    scan_seconds = time.process_time() - cpu
    one = Installed(os=("debian", "12"), packages=sample)
    by_index = {(m.component, m.cve, m.dataset) for m in index.match(one)}
    by_scan = {
        (p.name, cve, ds) for p, hits in zip(sample, scanned, strict=True) for cve, ds in hits
    }
    assert by_index == by_scan, "the index and the scan disagree"
    app = next(a for a in fleet[0].applications if isinstance(a, Application))
    cpe = application_cpes(app.name)[0][0]
    assert {(m.cve, m.dataset) for m in index.match(Installed(applications=[app]))} == scan.match(
        "cpe", cpe, app.version, "dotted"
    )

    per_scan = scan_seconds / len(sample)
    print(
        f"data set: {len(files)} files, {size / 2**20:,.0f} MiB ({args.cves:,} NVD CVEs + {args.osv:,} OSV records), generated in {generated:.0f} s (child process)"
    )
    print(
        tabulate(
            [
                (
                    "parse + index (load_index)",
                    f"{imported_cpu:.1f} CPU ({imported:.1f} wall)",
                    f"{len(index):,} records indexed",
                ),
                ("peak RSS before import", f"{rss_before:,.0f} MiB", ""),
                (
                    "peak RSS after import",
                    f"{rss_after:,.0f} MiB",
                    f"+{rss_after - rss_before:,.0f} MiB",
                ),
            ],
            headers=["import", "seconds / MiB", ""],
        )
    )
    print()
    print(
        tabulate(
            [
                (
                    "VulnIndex.match (measured)",
                    f"{args.hosts:,} hosts",
                    f"{lookups:,}",
                    f"{matched:.1f} CPU ({matched_wall:.1f} wall)",
                    f"{lookups / matched:,.0f}",
                    f"{total:,}",
                ),
                (
                    "linear scan (measured sample)",
                    "1 host",
                    f"{len(sample):,}",
                    f"{scan_seconds:.1f} CPU",
                    f"{len(sample) / scan_seconds:,.2f}",
                    f"{sum(map(len, scanned)):,}",
                ),
                (
                    "linear scan (extrapolated)",
                    f"{args.hosts:,} hosts",
                    f"{lookups:,}",
                    f"{per_scan * lookups:,.0f} CPU",
                    "",
                    "—",
                ),
            ],
            headers=["matcher", "fleet", "lookups", "seconds", "lookups/s", "matches"],
        )
    )
    print(
        "\nseconds are this process's CPU time (the machine may be shared); "
        f"the scan's figure for the fleet is extrapolated from {len(sample)} packages ({per_scan:.2f} s each); index / scan: {per_scan * lookups / matched:,.0f}x faster"
    )


if __name__ == "__main__":
    main()
