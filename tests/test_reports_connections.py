"""Connection figures count what is on the machine, whatever the number of feeds.

Feeds go in through the real `raquet feeds` commands (a list imported twice, the second
time without --name, and a second list that overlaps it); the findings are the real
`connections` check's judgement of sockets and hosts-file lines against the store's
indicators, recorded through the Store API as a sweep records them; the letter and the
unit report come from the real `raquet report`.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from checks.base import Context, HostFacts
from checks.connections import CHECK, ConnectionsState, HostsEntry, Socket
from raquet.models import Host, HostResult
from raquet.store import Store
from tests.conftest import raquet_cli
from tests.fixtures.reports.province import W22_MONDAY

FEED = Path(__file__).parent / "lab" / "feeds" / "lab.txt"
AT = W22_MONDAY + timedelta(days=2)
SOCKETS = {  # host -> its sockets to listed addresses (process, remote ip, port)
    "a-01": [("kdevtmpfsi", "198.51.100.66", 443), ("svchost32", "100.64.77.9", 8443)],
    "a-02": [],
    "b-01": [("kdevtmpfsi", "2001:db8:bad::7", 443)],
}
HOSTS_LINES = {  # host -> /etc/hosts lines pointing at listed addresses or names
    "a-01": [("198.51.100.66", ["update.bad-domain.example"])],
    "a-02": [
        ("10.9.9.9", ["cdn.c2-panel.example"]),
        ("198.51.100.66", ["c2-panel.example", "www.c2-panel.example"]),
    ],
    "b-01": [],
}
UNITS = {"a-01": "unit-a", "a-02": "unit-a", "b-01": "unit-b", "b-02": "unit-b"}


def _finding(host: str, ctx: Context) -> Any:
    state = ConnectionsState(
        sockets=[
            Socket(
                proto="tcp",
                state="ESTAB",
                local="10.0.0.5:40000",
                remote_ip=ip,
                remote_port=port,
                pid=700 + n,
                process=name,
                pids=[700 + n],
            )
            for n, (name, ip, port) in enumerate(SOCKETS.get(host, []))
        ],
        hosts=[HostsEntry(address=a, names=n) for a, n in HOSTS_LINES.get(host, [])],
    )
    return CHECK.evaluate(state, _host(host), HostFacts(), ctx)


def _host(name: str) -> Host:
    return Host.model_validate({"name": name, "unit": UNITS[name], "address": "10.0.0.5"})


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("connections")
    url = f"sqlite:///{folder / 'r.db'}"
    extra = folder / "overlap.txt"  # a second list: a CIDR over one address, a subdomain
    extra.write_text("198.51.100.0/24\ncdn.c2-panel.example\n2001:db8:bad::7\n")
    twice = folder / "lab.txt"
    twice.write_text(FEED.read_text())
    for args in (["--name", "lab-c2"], []):  # the same list again, under its file's name
        imported = raquet_cli("feeds", "import", twice, *args, "--db", url)
        assert imported.returncode == 0, imported.stderr
    assert "holds exactly the indicators of feed lab-c2" in imported.stderr
    assert raquet_cli("feeds", "import", extra, "--db", url).returncode == 0
    with Store(url) as store:
        ctx = Context(indicators=store.indicator_set())
        sweep = store.begin_sweep(
            "inv.yml",
            "Lạng Sơn",
            ["connections"],
            [(h, u) for h, u in UNITS.items()],
            {"timezone": "Asia/Ho_Chi_Minh", "units": {"unit-a": "Sở A", "unit-b": "Sở B"}},
            started_at=AT,
        )
        for host in UNITS:
            store.record_host(
                sweep,
                HostResult.model_validate(
                    {
                        "name": host,
                        "unit": UNITS[host],
                        "os": "linux",
                        "role": "workstation",
                        "address": "10.0.0.5",
                        "status": "swept",
                        "started_at": AT,
                        "findings": [_finding(host, ctx)],
                    }
                ),
            )
        store.finish_sweep(sweep, AT + timedelta(hours=1))
    return url


def _report(url: str, out: Path, *args: str) -> dict[str, Any]:
    proc = raquet_cli("report", "--week", "2021-W22", "-f", "json", "-o", out, *args, "--db", url)
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(out.read_text("utf-8"))
    return data


def test_letter_counts_distinct_sockets_entries_and_machines(
    store_url: str, tmp_path: Path
) -> None:
    data = _report(store_url, tmp_path / "letter.json")
    live = sum(len(s) for s in SOCKETS.values())
    entries = sum(len(lines) for lines in HOSTS_LINES.values())
    machines = sum(1 for h in UNITS if SOCKETS.get(h) or HOSTS_LINES.get(h))
    assert data["connection_counts"] == {
        "live": live,
        "hosts_entries": entries,
        "dns_names": 0,
        "machines": machines,
    }
    assert len(data["connections"]) == live + entries
    first = next(c for c in data["connections"] if c["remote"] == "198.51.100.66:443")
    assert first["feeds"] == ["lab", "lab-c2", "overlap"]  # every list that names it
    assert first["pid"] == 700  # numbers as numbers
    assert first["indicators"] == ["198.51.100.66", "198.51.100.0/24"]
    line = next(c for c in data["connections"] if c["remote"] == "10.9.9.9 cdn.c2-panel.example")
    assert line["indicators"] == ["cdn.c2-panel.example", "c2-panel.example"]


def test_the_letter_says_the_counts(store_url: str, tmp_path: Path) -> None:
    out = tmp_path / "letter.md"
    proc = raquet_cli("report", "--week", "2021-W22", "-f", "md", "-o", out, "--db", store_url)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text("utf-8")
    assert (
        "Số kết nối đang hoạt động đến địa chỉ độc hại: **3**; số dòng tệp hosts trỏ đến địa "
        "chỉ độc hại: **3**; số máy có kết nối hoặc cấu hình trỏ đến địa chỉ độc hại: **3** máy."
    ) in text


def test_unit_finding_titles_count_the_same(store_url: str, tmp_path: Path) -> None:
    data = _report(store_url, tmp_path / "unit.json", "--unit", "unit-a")
    titles = {f["host"]: f["title"] for f in data["failing"]}
    assert titles == {
        "a-01": "2 kết nối đang hoạt động đến địa chỉ độc hại; "
        "1 dòng tệp hosts trỏ đến địa chỉ độc hại",
        "a-02": "2 dòng tệp hosts trỏ đến địa chỉ độc hại",
    }
    english = _report(store_url, tmp_path / "unit.en.json", "--unit", "unit-a", "--lang", "en")
    assert {f["host"]: f["title"] for f in english["failing"]}["a-02"] == (
        "2 hosts-file entries pointing to malicious addresses"
    )
    evidence = next(f for f in data["failing"] if f["host"] == "a-01")["evidence"]
    assert len(evidence["matches"]) > 3  # the check's own evidence keeps every match


def test_feeds_show_and_remove(store_url: str, tmp_path: Path) -> None:
    shown = raquet_cli("feeds", "show", "overlap", "--db", store_url)
    assert shown.returncode == 0, shown.stderr
    assert "indicators: 3 (cidr 1, domain 1, ip 1); 0 entries skipped" in shown.stdout
    assert "cdn.c2-panel.example" in shown.stdout
    copy = tmp_path / "copy.db"
    copy.write_bytes(Path(store_url.removeprefix("sqlite:///")).read_bytes())
    url = f"sqlite:///{copy}"
    removed = raquet_cli("feeds", "remove", "lab", "--db", url)
    assert (removed.returncode, removed.stdout) == (0, "removed feed lab (6 indicators)\n")
    listed = raquet_cli("feeds", "list", "--db", url).stdout
    assert "lab-c2" in listed and "\nlab " not in listed
    again = raquet_cli("feeds", "remove", "lab", "--db", url)
    assert again.returncode == 2 and "no feed 'lab'" in again.stderr
    assert raquet_cli("feeds", "show", "nope", "--db", url).returncode == 2
