"""Benchmark: the weekly provincial letter from a store of 100 units, 5,000 hosts, 52 sweeps.

    python -m bench.report_letter [--db PATH] [--format html] [--lang vi] [--runs 3]

The store is generated once into PATH (default: bench-report.db in the temp directory)
and reused. Sweep results are written in bulk straight into the store's tables (260,000
`record_host` transactions would take many minutes and measure nothing a report reads
differently); detections go through `Store.record_detections`, as a sweep writes them:
about 60 infected hosts and 3,600 detections a week, like seed 000's province.

Then the letter for the newest week is rendered `--runs` times in this process, each
from a freshly opened Store, and each run prints its wall time split into reading the
store (`collect`) and everything after it (figures, layout, writing the file). Targets
(docs/benchmarks.md): HTML under 0.5 s, DOCX and XLSX under 2 s, PDF under 5 s.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from raquet.models import Detection, Finding
from raquet.store import Store
from raquet.store.schema import FindingRow, HostResultRow, PlannedHostRow, SweepRow
from reports.aggregate import build
from reports.collect import Selection, collect
from reports.document import layout
from reports.formats import Format, write
from reports.weeks import IsoWeek

UNITS, HOSTS_PER_UNIT, WEEKS = 100, 50, 52
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
FIRST_SWEEP = datetime(2024, 1, 7, 11, 0, tzinfo=UTC)  # Sunday 18:00 in Hà Nội
CHECKS = ["av", "patches", "software", "connections", "infections"]
MALWARE = [f"W32.Family{i:02d}.{kind}" for i, kind in enumerate(["Worm", "Trojan", "Miner"] * 15)]


def _findings(rng: random.Random, found: list[Detection]) -> list[Finding]:
    av_ok, patched = rng.random() < 0.85, rng.random() < 0.7
    return [
        Finding(
            check="av",
            status="pass" if av_ok else "fail",
            severity="high",
            title="ClamAV running" if av_ok else "ClamAV database is 41 days old",
            evidence={"product": "ClamAV", "running": True, "signature_age_days": 2.5},
        ),
        Finding(
            check="patches",
            status="pass" if patched else "fail",
            severity="high",
            title="up to date" if patched else "3 pending security updates",
            evidence={"pending": 3, "pending_security": 0 if patched else 3},
        ),
        Finding(check="software", status="pass", title="no banned software"),
        Finding(check="connections", status="pass", title="no listed address"),
        Finding(
            check="infections",
            status="fail" if found else "pass",
            severity="critical" if found else "info",
            title=f"{len(found)} detections" if found else "no detection",
            evidence={"detections": [d.model_dump(mode="json") for d in found]},
        ),
    ]


def _week(
    rng: random.Random, hosts: list[tuple[str, str]], started: datetime
) -> dict[int, list[Detection]]:
    """Which hosts are infected this week (by index) and their detections."""
    infected = rng.sample(range(len(hosts)), 40 + rng.randrange(40))
    return {
        index: [
            Detection(
                name=rng.choice(MALWARE),
                path=f"C:\\Users\\can-bo\\AppData\\Local\\Temp\\{n}.exe",
                detected_at=started - timedelta(minutes=rng.randrange(6 * 24 * 60)),
                source="bkav",
                action="quarantined",
            )
            for n in range(1 + rng.randrange(120))
        ]
        for index in infected
    }


def generate(store: Store, rng: random.Random) -> None:
    units = {f"unit-{u:03d}": f"Đơn vị số {u}" for u in range(UNITS)}
    hosts = [(f"h-{u:03d}-{h:02d}", unit) for u, unit in enumerate(units) for h in range(50)]
    options: dict[str, Any] = {
        "timezone": ZONE.key,
        "issuer": "UBND TỈNH LẠNG SƠN\nSỞ KHOA HỌC VÀ CÔNG NGHỆ",
        "units": units,
    }
    host_id = finding_id = 0
    for week in range(WEEKS):
        started = FIRST_SWEEP + timedelta(weeks=week)
        sweep_id = f"bench-{week:03d}"
        found = _week(rng, hosts, started)
        host_rows: list[dict[str, Any]] = []
        finding_rows: list[dict[str, Any]] = []
        for index, (name, unit) in enumerate(hosts):
            host_id += 1
            swept = rng.random() >= 0.03
            host_rows.append(
                {
                    "id": host_id,
                    "sweep_id": sweep_id,
                    "host": name,
                    "unit": unit,
                    "os": "windows",
                    "role": "workstation",
                    "address": f"10.{index // 250}.{index % 250}.1",
                    "status": "swept" if swept else "unreachable",
                    "error": None if swept else "timed out",
                    "started_at": started,
                    "finished_at": started + timedelta(seconds=30),
                }
            )
            for finding in _findings(rng, found.get(index, [])) if swept else []:
                finding_id += 1
                finding_rows.append(
                    {"id": finding_id, "host_result_id": host_id, **finding.model_dump()}
                )
        with store._sessions.begin() as session:  # the bulk path, see the module docstring
            session.execute(
                insert(SweepRow),
                [
                    {
                        "id": sweep_id,
                        "started_at": started,
                        "finished_at": started + timedelta(hours=1),
                        "inventory": "bench.yml",
                        "province": "Lạng Sơn",
                        "checks": CHECKS,
                        "options": options,
                        "status": "finished",
                    }
                ],
            )
            session.execute(
                insert(PlannedHostRow),
                [
                    {"sweep_id": sweep_id, "host": name, "unit": unit, "position": i}
                    for i, (name, unit) in enumerate(hosts)
                ],
            )
            session.execute(insert(HostResultRow), host_rows)
            session.execute(insert(FindingRow), finding_rows)
        for index, detections in found.items():
            name, unit = hosts[index]
            store.record_detections(sweep_id, name, unit, detections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "bench-report.db")
    parser.add_argument("--format", type=Format, default=Format.html)
    parser.add_argument("--lang", choices=["vi", "en"], default="vi")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    url = f"sqlite:///{args.db}"
    with Store(url) as store:
        if len(store.history(limit=WEEKS)) < WEEKS:
            started = time.monotonic()
            generate(store, random.Random(6))
            print(f"generated {args.db} in {time.monotonic() - started:.0f} s")
    week = IsoWeek.containing(FIRST_SWEEP + timedelta(weeks=WEEKS - 1), ZONE)
    out = Path(tempfile.gettempdir()) / f"bench-letter.{args.format.value}"
    for run in range(args.runs):
        started = time.monotonic()
        with Store(url) as store:
            now = datetime.now(UTC)
            data = collect(store, Selection(week=week), now)
            read = time.monotonic()
            write(args.format, layout(build(data, None, args.lang, now), None), out)
        done = time.monotonic()
        print(
            f"run {run + 1}: {args.format.value} letter of {week} in {done - started:.2f} s "
            f"(store reads {read - started:.2f} s, the rest {done - read:.2f} s) -> {out}"
        )


if __name__ == "__main__":
    main()
