"""The store against SQLite and a real PostgreSQL: every test runs on both backends."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import gevent.pool
import pytest
from sqlalchemy import create_engine, text

import raquet.store.sweeps
from raquet.feeds import Hit, Indicator
from raquet.feeds.values import classify
from raquet.models import Detection, Finding, HostResult
from raquet.store import FeedNotFound, Store, SweepNotFound, resolve_url
from tests.pg import pg_server, pg_url  # noqa: F401 (fixtures, requested by name)

REPO = Path(__file__).resolve().parents[1]
ICT = timezone(timedelta(hours=7))
T0 = datetime(2021, 6, 8, 8, 0, tzinfo=ICT)
HOSTILE = [
    "<script>alert(document.cookie)</script>",
    "\x1b[31mred\x1b[0m\x07\r\x08",
    "before\x00after",
    "\U0001f608 \U0001d54f \U0010fffd",
    "Huyện Tràng Định: phát hiện mã độc",
    "'; DROP TABLE findings; --",
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'raquet.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store(db_url) as opened:
        yield opened


def _host(name: str, unit: str = "u", **changes: Any) -> HostResult:
    values: dict[str, Any] = {"name": name, "unit": unit, "os": "linux", "role": "server"}
    values["status"] = "swept"
    return HostResult.model_validate(values | changes)


def _failing(check: str = "av") -> Finding:
    return Finding(check=check, status="fail", severity="high", title="failed")


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    return value


def _count(db_url: str, table: str) -> int:
    engine = create_engine(resolve_url(db_url))
    try:
        with engine.connect() as connection:
            return int(connection.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
    finally:
        engine.dispose()


def test_round_trip_keeps_findings_and_hostile_evidence(store: Store) -> None:
    evidence = {
        "product": "ClamAV",
        "signature_age_days": 41.2,
        "running": True,
        "pid": 812,
        "missing": None,
        "hostile": HOSTILE,
        "detections": [{"name": text, "path": f"/home/a/{text}"} for text in HOSTILE],
        HOSTILE[2]: {HOSTILE[0]: HOSTILE[1]},
    }
    linux = _host(
        "td-srv-01",
        "trang-dinh",
        address="10.0.1.10",
        started_at=T0,
        finished_at=T0 + timedelta(seconds=9),
        findings=[
            Finding(check="av", status="fail", severity="high", title=t, evidence=evidence)
            for t in HOSTILE
        ]
        + [Finding(check="patches", status="pass", title="up to date")],
    )
    windows = _host("td-ws-07", "trang-dinh", os="windows", role="workstation", status="error")
    windows = windows.model_copy(update={"error": "\n".join(HOSTILE)})
    other = _host("bg-srv-01", "bac-giang", status="unreachable", error="timed out")
    hosts = [linux, windows, other]
    sweep_id = store.begin_sweep(
        "inv.yml", "Lạng Sơn", ["av", "patches"], [(h.name, h.unit) for h in hosts], {}
    )
    for host in (windows, other, linux):
        store.record_host(sweep_id, host)
    store.finish_sweep(sweep_id, T0 + timedelta(minutes=5))

    result = store.sweep_result(sweep_id)

    assert result.sweep_id == sweep_id
    assert result.finished_at == T0 + timedelta(minutes=5)
    assert (result.inventory, result.checks) == ("inv.yml", ["av", "patches"])
    expected = [other, linux, windows]  # by unit, then name
    assert [h.model_dump() for h in result.hosts] == [
        _without_nul(h.model_dump()) for h in expected
    ]
    assert "\x00" not in result.model_dump_json()
    assert json.loads(result.model_dump_json())["hosts"][1]["findings"][0]["title"] == HOSTILE[0]


def test_unstorable_values_in_evidence_do_not_crash(store: Store) -> None:
    """NaN, bytes and lone surrogates (non-UTF-8 output) have no JSON form: null or text."""
    evidence = {
        "age": float("nan"),
        "limit": float("inf"),
        "raw": b"\xff\xfeok",
        "decoded": b"caf\xe9".decode("utf-8", "surrogateescape"),
        "when": T0,
        "tuple": (1, "a"),
    }
    finding = Finding(check="av", status="error", title="odd", evidence=evidence)
    sweep_id = store.begin_sweep("inv.yml", "", ["av"], [("h", "u")], {})
    store.record_host(sweep_id, _host("h", findings=[finding]))

    stored = store.sweep_result(sweep_id).hosts[0].findings[0].evidence

    assert stored == {
        "age": None,
        "limit": None,
        "raw": "\\xff\\xfeok",
        "decoded": "caf\\udce9",
        "when": "2021-06-08T08:00:00+07:00",
        "tuple": [1, "a"],
    }


def test_record_host_twice_replaces_the_first_result(store: Store, db_url: str) -> None:
    sweep_id = store.begin_sweep("inv.yml", "", ["av"], [("h1", "u"), ("h2", "u")], {})
    store.record_host(sweep_id, _host("h1", findings=[_failing("av"), _failing("patches")]))
    retried = _host("h1", findings=[Finding(check="av", status="pass", title="ok")])
    store.record_host(sweep_id, retried)

    assert store.sweep_result(sweep_id).hosts == [retried]
    assert _count(db_url, "findings") == 1
    assert store.sweep_info(sweep_id).compliant == 1


def test_pending_hosts_are_what_a_resume_sweeps(store: Store) -> None:
    planned = [(f"h{i}", "a" if i < 3 else "b") for i in range(5)]
    sweep_id = store.begin_sweep("inv.yml", "", ["av"], planned, {})
    store.record_host(sweep_id, _host("h3", "b"))
    store.record_host(sweep_id, _host("h0", "a", status="unreachable", error="no route"))

    assert store.pending_hosts(sweep_id) == [("h1", "a"), ("h2", "a"), ("h4", "b")]
    info = store.sweep_info(sweep_id)
    assert (info.planned, info.swept, info.unreachable, info.error, info.compliant) == (
        5,
        1,
        1,
        0,
        1,
    )
    for name, unit in store.pending_hosts(sweep_id):
        store.record_host(sweep_id, _host(name, unit, findings=[_failing()]))
    assert store.pending_hosts(sweep_id) == []
    assert store.sweep_info(sweep_id).compliant == 1


def test_greenlets_record_hosts_concurrently(store: Store) -> None:
    """The sweep engine records from many greenlets of one thread at once."""
    planned = [(f"h{i:03}", "u") for i in range(60)]
    sweep_id = store.begin_sweep("inv.yml", "", ["av"], planned, {})
    pool = gevent.pool.Pool(30)
    for name, unit in planned:
        pool.spawn(store.record_host, sweep_id, _host(name, unit, findings=[_failing()]))
    pool.join(raise_error=True)

    assert store.pending_hosts(sweep_id) == []
    assert store.sweep_info(sweep_id).swept == 60


def test_latest_unfinished_is_the_newest_running_sweep(store: Store) -> None:
    assert store.latest_unfinished() is None
    older = store.begin_sweep("a.yml", "", [], [], {}, started_at=T0)
    newer = store.begin_sweep("b.yml", "", [], [], {}, started_at=T0 + timedelta(hours=1))
    done = store.begin_sweep("a.yml", "", [], [], {}, started_at=T0 + timedelta(hours=2))
    store.finish_sweep(done, T0 + timedelta(hours=3))

    assert store.latest_unfinished() == newer
    assert store.latest_unfinished("a.yml") == older
    assert store.latest_unfinished("c.yml") is None
    store.finish_sweep(newer, T0 + timedelta(hours=4))
    assert store.latest_unfinished() == older
    assert store.sweep_info(newer).status == "finished"


def test_resolve_sweep_by_id_prefix_and_latest(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SweepNotFound, match="no sweep recorded yet"):
        store.resolve_sweep("latest")
    ids = iter(["abcd1234-0000-4000-8000-000000000000", "abcd5678-0000-4000-8000-000000000000"])
    monkeypatch.setattr(raquet.store.sweeps, "uuid4", lambda: UUID(next(ids)))
    first = store.begin_sweep("inv.yml", "", [], [], {}, started_at=T0)
    second = store.begin_sweep("inv.yml", "", [], [], {}, started_at=T0 + timedelta(days=7))

    assert store.resolve_sweep(first) == first
    assert store.resolve_sweep("abcd1") == first
    assert store.resolve_sweep(" abcd5 ") == second
    assert store.resolve_sweep("latest") == second
    with pytest.raises(KeyError, match="ambiguous"):
        store.resolve_sweep("abcd")
    with pytest.raises(KeyError, match="at least 4"):
        store.resolve_sweep("abc")
    with pytest.raises(KeyError, match="no sweep 'ab%d'") as raised:
        store.resolve_sweep("ab%d")
    assert str(raised.value).startswith("no sweep 'ab%d' in ")


def test_history_is_newest_first_and_counts_only_the_selected_hosts(store: Store) -> None:
    plan = [("a-1", "a"), ("a-2", "a"), ("b-1", "b")]
    both = store.begin_sweep("inv.yml", "", ["av"], plan, {}, started_at=T0)
    for name, unit in plan:
        store.record_host(both, _host(name, unit, findings=[] if name == "a-1" else [_failing()]))
    only_a = store.begin_sweep("inv.yml", "", ["av"], plan[:2], {}, started_at=T0 + timedelta(1))
    store.record_host(only_a, _host("a-1", "a"))
    only_b = store.begin_sweep("inv.yml", "", ["av"], plan[2:], {}, started_at=T0 + timedelta(2))

    assert [s.id for s in store.history()] == [only_b, only_a, both]
    assert [s.id for s in store.history(limit=1)] == [only_b]
    unit_a = store.history(unit="a")
    assert [s.id for s in unit_a] == [only_a, both]
    assert (unit_a[1].planned, unit_a[1].swept, unit_a[1].compliant) == (2, 2, 1)
    host_b = store.history(host="b-1")
    assert [s.id for s in host_b] == [only_b, both]
    assert [(s.planned, s.swept, s.compliant) for s in host_b] == [(1, 0, 0), (1, 1, 0)]
    assert [s.id for s in store.history(unit="a", host="b-1")] == []
    assert store.history(unit="nowhere") == []
    everything = store.history()[2]
    assert (everything.planned, everything.swept, everything.compliant) == (3, 3, 1)


def test_datetimes_come_back_aware_utc(store: Store) -> None:
    sweep_id = store.begin_sweep("inv.yml", "", [], [("h", "u")], {}, started_at=T0)
    store.record_host(sweep_id, _host("h", started_at=T0, finished_at=T0 + timedelta(seconds=3)))
    store.finish_sweep(sweep_id, datetime(2021, 6, 7, 21, 5, tzinfo=timezone(timedelta(hours=-5))))

    result = store.sweep_result(sweep_id)
    host = result.hosts[0]
    info = store.sweep_info(sweep_id)
    for value in (result.started_at, result.finished_at, host.started_at, host.finished_at):
        assert value is not None and value.tzinfo is UTC
    assert result.started_at == T0 and result.started_at.hour == 1
    assert result.finished_at == datetime(2021, 6, 8, 2, 5, tzinfo=UTC)
    assert info.started_at.tzinfo is UTC and info.finished_at == result.finished_at


def test_naive_datetimes_are_refused(store: Store) -> None:
    naive = datetime(2021, 6, 8, 8, 0)
    with pytest.raises(ValueError, match="naive"):
        store.begin_sweep("inv.yml", "", [], [], {}, started_at=naive)
    sweep_id = store.begin_sweep("inv.yml", "", [], [("h", "u")], {})
    with pytest.raises(ValueError, match="naive"):
        store.record_host(sweep_id, _host("h", started_at=naive))
    with pytest.raises(ValueError, match="naive"):
        store.finish_sweep(sweep_id, naive)
    assert store.pending_hosts(sweep_id) == [("h", "u")]


def test_unknown_sweeps_and_bad_plans_are_clear_errors(store: Store) -> None:
    with pytest.raises(SweepNotFound, match="no sweep 'nope'"):
        store.record_host("nope", _host("h"))
    with pytest.raises(SweepNotFound):
        store.pending_hosts("nope")
    with pytest.raises(SweepNotFound):
        store.sweep_result("nope")
    with pytest.raises(ValueError, match=r"planned twice.*: h$"):
        store.begin_sweep("inv.yml", "", [], [("h", "u"), ("h", "v"), ("g", "u")], {})


def test_secrets_in_options_are_not_stored(store: Store) -> None:
    options = {"forks": 50, "winrm_password": "hunter2", "nested": {"api_key": "k", "user": "x"}}
    sweep_id = store.begin_sweep("inv.yml", "", [], [], options)

    assert store.sweep_info(sweep_id).options == {
        "forks": 50,
        "winrm_password": "***",
        "nested": {"api_key": "***", "user": "x"},
    }


_CRASHING_SWEEP = """
import os, signal, sys
from raquet.models import HostResult
from raquet.store import Store

store = Store(sys.argv[1])
hosts = [(f"h{i}", "u") for i in range(5)]
sweep_id = store.begin_sweep("inv.yml", "", ["av"], hosts, {})
for name, unit in hosts[:3]:
    result = HostResult(name=name, unit=unit, os="linux", role="server", status="swept")
    store.record_host(sweep_id, result)
print(sweep_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_sweep_loses_no_recorded_host(db_url: str) -> None:
    """Another process opening the store sees every host recorded before the kill."""
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    env = os.environ | {"PYTHONPATH": path}
    child = subprocess.run(
        [sys.executable, "-c", _CRASHING_SWEEP, db_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    sweep_id = child.stdout.strip()

    with Store(db_url) as reopened:
        assert reopened.latest_unfinished("inv.yml") == sweep_id
        assert reopened.pending_hosts(sweep_id) == [("h3", "u"), ("h4", "u")]


def test_sqlite_reader_does_not_block_the_sweep(tmp_path: Path) -> None:
    path = tmp_path / "raquet.db"
    with Store(str(path)) as writer:
        sweep_id = writer.begin_sweep("inv.yml", "", [], [("h1", "u"), ("h2", "u")], {})
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM host_results").fetchone() == (0,)

        started = time.monotonic()
        writer.record_host(sweep_id, _host("h1"))
        assert time.monotonic() - started < 5

        with Store(f"sqlite:///{path}") as report:
            assert report.pending_hosts(sweep_id) == [("h2", "u")]
        assert reader.execute("SELECT count(*) FROM host_results").fetchone() == (0,)
        reader.execute("COMMIT")
        assert reader.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        reader.close()


def test_url_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RAQUET_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    with Store() as default:
        assert default.url == f"sqlite:///{tmp_path}/xdg/raquet/raquet.db"
    assert (tmp_path / "xdg" / "raquet" / "raquet.db").is_file()

    monkeypatch.setenv("RAQUET_DB", str(tmp_path / "env.db"))
    assert resolve_url().database == str(tmp_path / "env.db")
    assert resolve_url("sqlite:///x.db").database == "x.db"
    monkeypatch.chdir(tmp_path)
    assert resolve_url("rel/x.db").database == str(tmp_path / "rel" / "x.db")
    postgres = resolve_url("postgres://u:s3cret@db.example/raquet")
    assert postgres.drivername == "postgresql+psycopg"
    assert postgres.render_as_string(hide_password=True) == (
        "postgresql+psycopg://u:***@db.example/raquet"
    )


@pytest.mark.postgres
def test_printed_postgres_url_hides_the_password(request: pytest.FixtureRequest) -> None:
    url = resolve_url(request.getfixturevalue("pg_url"))
    password = url.password or "s3cret"  # the throwaway server trusts any password
    with Store(url.set(password=password).render_as_string(hide_password=False)) as store:
        assert str(password) not in store.url
        assert ":***@" in store.url


# --- indicator feeds -------------------------------------------------------------------

JUNE_8 = datetime(2021, 6, 8, tzinfo=UTC)


def _indicators(*values: str, **fields: Any) -> list[Indicator]:
    found = [(kind, value) for raw in values for kind, value in classify(raw)]
    return [Indicator(kind=kind, value=value, **fields) for kind, value in found]


def test_import_feed_then_list_and_match(store: Store) -> None:
    ncsc = store.import_feed(
        "ncsc",
        "/srv/feeds/cv-1234.xlsx",
        "xlsx",
        _indicators("103.15.48[.]7", "185.220.101.0/24", "evil.com", reference="CV 1234"),
        problems=2,
        imported_at=T0,
    )
    misp = store.import_feed("misp-1842", "event.json", "misp", _indicators("evil.com"))

    assert ncsc.model_dump() == {
        "name": "ncsc",
        "source": "/srv/feeds/cv-1234.xlsx",
        "format": "xlsx",
        "imported_at": T0,
        "indicators": 3,
        "problems": 2,
    }
    assert store.feeds() == [misp, ncsc]
    assert misp.imported_at.tzinfo is UTC and misp.problems == 0
    indicators = store.indicator_set()
    assert len(indicators) == 4
    assert indicators.match_ip("185.220.101.77") == [
        Hit(kind="cidr", indicator="185.220.101.0/24", feed="ncsc", reference="CV 1234")
    ]
    assert [(h.feed, h.reference) for h in indicators.match_domain("cdn.EVIL.com")] == [
        ("misp-1842", None),
        ("ncsc", "CV 1234"),
    ]
    only_misp = store.indicator_set(["misp-1842"])
    assert only_misp.match_ip("103.15.48.7") == [] and len(only_misp) == 1
    assert len(store.indicator_set([])) == 0


def test_import_feed_again_replaces_its_indicators(store: Store, db_url: str) -> None:
    store.import_feed("ncsc", "old.txt", "txt", _indicators("192.0.2.1", "old.example"))
    store.import_feed("other", "x.txt", "txt", _indicators("192.0.2.1"))
    replaced = store.import_feed("ncsc", "new.csv", "csv", _indicators("198.51.100.7"))

    assert (replaced.source, replaced.format, replaced.indicators) == ("new.csv", "csv", 1)
    assert [feed.name for feed in store.feeds()] == ["ncsc", "other"]
    indicators = store.indicator_set()
    assert [h.feed for h in indicators.match_ip("192.0.2.1")] == ["other"]
    assert indicators.match_domain("old.example") == []
    assert [h.feed for h in indicators.match_ip("198.51.100.7")] == ["ncsc"]
    assert _count(db_url, "indicators") == 2


def test_indicator_set_skips_what_expired_and_urls(store: Store, db_url: str) -> None:
    deadline = JUNE_8 + timedelta(days=30)
    store.import_feed(
        "ncsc",
        "f.txt",
        "txt",
        _indicators("10.0.0.0/8", expires=deadline)
        + _indicators("hxxp://1.2.3.4/x", "evil.com")
        + _indicators("stale.example", expires=datetime(2021, 6, 1, tzinfo=ICT)),
    )

    assert _count(db_url, "indicators") == 5  # the URL is kept, with the IP it names
    before = store.indicator_set(at=deadline - timedelta(seconds=1))
    assert [h.indicator for h in before.match_ip("10.9.9.9")] == ["10.0.0.0/8"]
    assert before.match_domain("stale.example") == []
    assert len(before) == 3  # 10.0.0.0/8, 1.2.3.4, evil.com: URLs are not matched
    at_deadline = store.indicator_set(at=deadline)
    assert at_deadline.match_ip("10.9.9.9") == []
    assert [h.indicator for h in at_deadline.match_ip("1.2.3.4")] == ["1.2.3.4"]
    assert [h.indicator for h in store.indicator_set().match_domain("evil.com")] == ["evil.com"]
    assert store.indicator_set(at=datetime(2021, 5, 1, tzinfo=ICT)).match_domain("stale.example")
    with pytest.raises(ValueError, match="naive"):
        store.indicator_set(at=datetime(2021, 6, 8))


def test_unknown_feed_names_and_empty_names_are_errors(store: Store) -> None:
    store.import_feed("ncsc", "f.txt", "txt", _indicators("192.0.2.1"))

    with pytest.raises(FeedNotFound) as raised:
        store.indicator_set(["ncsc", "nope", "also-nope"])
    assert str(raised.value).startswith("no feed also-nope, nope in ")
    assert str(raised.value).endswith(" (known: ncsc)")
    assert isinstance(raised.value, KeyError)
    with pytest.raises(ValueError, match="a feed needs a name"):
        store.import_feed(" \x00", "f.txt", "txt", [])


def test_hostile_feed_text_is_stored_as_data(store: Store) -> None:
    hostile = "\n".join(HOSTILE)
    store.import_feed(
        HOSTILE[0], hostile, "txt", _indicators("evil.com", reference=hostile, comment=hostile)
    )

    info = store.feeds()[0]
    assert (info.name, info.source) == (HOSTILE[0], _without_nul(hostile))
    assert store.indicator_set([HOSTILE[0]]).match_domain("evil.com")[0].reference == _without_nul(
        hostile
    )


def test_a_large_feed_imports_and_loads_in_one_go(store: Store, db_url: str) -> None:
    """Many batches in one transaction; replacing it removes every row of the old import."""
    many = [
        Indicator(kind="ip", value=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
        for i in range(50_000)
    ]

    store.import_feed("big", "big.txt", "txt", many)
    store.import_feed("big", "big.txt", "txt", many)

    assert _count(db_url, "indicators") == 50_000
    indicators = store.indicator_set()
    assert len(indicators) == 50_000
    assert [h.indicator for h in indicators.match_ip("10.0.195.79")] == ["10.0.195.79"]
    assert indicators.match_ip("10.1.0.0") == []


# --- detections ------------------------------------------------------------------------


def _detection(name: str, path: str, when: datetime, **fields: Any) -> Detection:
    return Detection(name=name, path=path, detected_at=when, source="clamd", **fields)


def test_detections_are_stored_once_across_sweeps(store: Store) -> None:
    first = store.begin_sweep("inv.yml", "", ["infections"], [("h", "u")], {})
    eicar = _detection("Eicar-Signature", "/home/a/eicar.com", T0, action="moved")
    miner = _detection("Multios.Coinminer.Miner-6781728-2", "/tmp/xmrig", T0 + timedelta(hours=1))
    assert store.record_detections(first, "h", "u", [eicar, miner, eicar]) == 2

    second = store.begin_sweep("inv.yml", "", ["infections"], [("h", "u")], {})
    same_instant = eicar.model_copy(update={"detected_at": T0.astimezone(UTC)})
    later = _detection("Eicar-Signature", "/home/a/eicar.com", T0 + timedelta(days=1))
    assert store.record_detections(second, "h", "u", [same_instant, miner, later]) == 1
    assert store.record_detections(second, "other-host", "u", [eicar]) == 1
    assert store.record_detections(second, "h", "u", []) == 0

    stored = store.detections()
    assert [(d.host, d.name, d.detected_at, d.first_sweep_id) for d in stored] == [
        ("h", "Eicar-Signature", T0, first),
        ("other-host", "Eicar-Signature", T0, second),
        ("h", "Multios.Coinminer.Miner-6781728-2", T0 + timedelta(hours=1), first),
        ("h", "Eicar-Signature", T0 + timedelta(days=1), second),
    ]
    assert stored[0].model_dump() == {
        "host": "h",
        "unit": "u",
        "name": "Eicar-Signature",
        "path": "/home/a/eicar.com",
        "detected_at": T0,
        "source": "clamd",
        "action": "moved",
        "first_sweep_id": first,
    }
    assert all(d.detected_at.tzinfo is UTC for d in stored)


def test_detections_filter_by_window_unit_and_host(store: Store) -> None:
    sweep_id = store.begin_sweep("inv.yml", "", [], [], {})
    monday = datetime(2021, 6, 7, tzinfo=ICT)
    times = [
        monday - timedelta(seconds=1),
        monday,
        monday + timedelta(days=6, hours=23),
        monday + timedelta(days=7),
    ]
    for host, unit in (("td-ws-07", "trang-dinh"), ("bg-ws-01", "bac-giang")):
        store.record_detections(
            sweep_id, host, unit, [_detection("X", f"/{host}", t) for t in times]
        )

    week = store.detections(since=monday, until=monday + timedelta(days=7))
    assert [(d.host, d.detected_at) for d in week] == [
        ("td-ws-07", monday),
        ("bg-ws-01", monday),
        ("td-ws-07", times[2]),
        ("bg-ws-01", times[2]),
    ]
    assert [d.detected_at for d in store.detections(since=monday, unit="bac-giang")] == times[1:]
    assert [d.detected_at for d in store.detections(until=monday, host="td-ws-07")] == times[:1]
    assert store.detections(unit="bac-giang", host="td-ws-07") == []
    with pytest.raises(ValueError, match="naive"):
        store.detections(since=datetime(2021, 6, 7))


def test_hostile_detections_are_kept_and_still_deduplicated(store: Store) -> None:
    """Paths and names come from hosts: longer than an index entry, NUL, markup, escapes."""
    sweep_id = store.begin_sweep("inv.yml", "", [], [], {})
    long_path = "/home/a/" + "đường-dẫn/" * 2000 + "payload.exe"
    detections = [_detection(text, f"/tmp/{text}", T0) for text in HOSTILE]
    detections.append(_detection("Win.Trojan.Agent", long_path, T0))

    assert store.record_detections(sweep_id, "h", "u", detections) == len(HOSTILE) + 1
    assert store.record_detections(sweep_id, "h", "u", detections) == 0
    stored = store.detections()
    assert sorted(d.name for d in stored) == sorted(_without_nul(d.name) for d in detections)
    assert long_path in [d.path for d in stored]


def test_detections_need_a_recorded_sweep(store: Store) -> None:
    with pytest.raises(SweepNotFound, match="no sweep 'nope'"):
        store.record_detections("nope", "h", "u", [_detection("X", "/x", T0)])
    with pytest.raises(SweepNotFound):
        store.record_detections("nope", "h", "u", [])
    sweep_id = store.begin_sweep("inv.yml", "", [], [], {})
    with pytest.raises(ValueError, match="naive"):
        store.record_detections(sweep_id, "h", "u", [_detection("X", "/x", datetime(2021, 6, 8))])


def test_workers_recording_the_same_detections_store_each_once(db_url: str) -> None:
    """Greenlets on two stores (two jump hosts sharing a database) race on the same rows."""
    detections = [_detection("X", f"/tmp/{i}", T0 + timedelta(minutes=i)) for i in range(40)]
    with Store(db_url) as one, Store(db_url) as two:
        sweep_id = one.begin_sweep("inv.yml", "", [], [("h", "u")], {})
        pool = gevent.pool.Pool(8)
        jobs = [
            pool.spawn(store.record_detections, sweep_id, "h", "u", detections[i::3])
            for store in (one, two)
            for i in range(3)
        ] + [pool.spawn(one.record_detections, sweep_id, "h", "u", detections)]
        pool.join(raise_error=True)

        assert sum(job.value for job in jobs) == 40
        assert len(one.detections()) == 40


def test_pending_updates_keep_the_first_time_they_were_seen(store: Store) -> None:
    first = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    later = first + timedelta(days=9)
    assert store.pending_since("h1", [("openssl", "3.0.13-1")], first) == {
        ("openssl", "3.0.13-1"): first
    }
    seen = store.pending_since("h1", [("openssl", "3.0.13-1"), ("sudo", "1.9.13p3-1")], later)
    assert seen == {("openssl", "3.0.13-1"): first, ("sudo", "1.9.13p3-1"): later}
    # another host, or a newer version of the same package, starts its own clock
    assert store.pending_since("h2", [("openssl", "3.0.13-1")], later) == {
        ("openssl", "3.0.13-1"): later
    }
    assert store.pending_since("h1", [("openssl", "3.0.14-1")], later) == {
        ("openssl", "3.0.14-1"): later
    }
    assert store.pending_since("h1", [], later) == {}
