"""`raquet show`, `diff` and `prune` through the real command line, on a store written as a
sweep writes it (no fleet needed): the facts printed are the facts stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from raquet.models import Detection, Finding, HostResult
from raquet.store import Store
from tests.conftest import raquet_cli

MONDAY = datetime(2024, 3, 4, 3, 0, tzinfo=UTC)  # ISO week 2024-W10, 10:00 in Hà Nội


def _host(name: str, **checks: str) -> HostResult:
    return HostResult(
        name=name,
        unit="so-tttt",
        os="linux",
        role="server",
        status="swept",
        findings=[Finding(check=c, status=s, title=f"{c} {s}") for c, s in checks.items()],  # type: ignore[arg-type]
    )


def _sweep(store: Store, when: datetime, *hosts: HostResult) -> str:
    sweep_id = store.begin_sweep(
        "inv.yml",
        "Lạng Sơn",
        ["av", "patches"],
        [(h.name, h.unit) for h in hosts],
        {},
        started_at=when,
    )
    for host in hosts:
        store.record_host(sweep_id, host)
    store.finish_sweep(sweep_id, when + timedelta(minutes=5))
    return sweep_id


@pytest.fixture
def history(tmp_path: Path) -> dict[str, Any]:
    db = f"sqlite:///{tmp_path}/s.db"
    with Store(db) as store:
        a = _sweep(
            store,
            MONDAY,
            _host("h1", av="fail", patches="pass"),
            _host("h2", av="pass", patches="pass"),
            _host("h3", av="fail"),
            HostResult(
                name="h4",
                unit="so-tttt",
                os="linux",
                role="server",
                status="swept",
                findings=[Finding(check="av", status="fail", title="no av")],
            ),
        )
        unreachable = HostResult(
            name="h4",
            unit="so-tttt",
            os="linux",
            role="server",
            status="unreachable",
            error="connection refused",
        )
        b = _sweep(
            store,
            MONDAY + timedelta(days=3),
            _host("h1", av="pass", patches="pass"),
            _host("h2", av="fail", patches="pass"),
            _host("h3", av="fail", patches="fail"),
            unreachable,
        )
    return {"db": db, "a": a, "b": b}


def _json(*args: str) -> dict[str, Any]:
    proc = raquet_cli(*args, "--json", "-")
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def test_diff_classifies_every_changed_check(history: dict[str, Any]) -> None:
    document = _json("diff", history["a"], history["b"], "--db", history["db"])
    changes = {(c["host"], c["check"]): c["change"] for c in document["changes"]}
    assert changes == {
        ("h1", "av"): "fixed",
        ("h2", "av"): "regressed",
        ("h3", "av"): "persisting",
        ("h3", "patches"): "new",
        ("h4", "av"): "not rechecked",
    }
    assert document["reachability"] == [
        {"host": "h4", "before": "swept", "after": "unreachable", "reason": "connection refused"}
    ]
    assert document["counts"] == {
        "new": 1,
        "fixed": 1,
        "persisting": 1,
        "regressed": 1,
        "not rechecked": 1,
    }


def test_diff_prints_full_ids_and_accepts_prefixes(history: dict[str, Any]) -> None:
    proc = raquet_cli("diff", history["a"][:6], "latest", "--db", history["db"])
    assert proc.returncode == 0, proc.stderr
    assert history["a"] in proc.stdout and history["b"] in proc.stdout
    assert "regressed" in proc.stdout and "h2" in proc.stdout


def test_unknown_sweep_is_a_usage_error(history: dict[str, Any]) -> None:
    proc = raquet_cli("diff", "ffffffff", history["b"], "--db", history["db"])
    assert proc.returncode == 2
    assert "no sweep 'ffffffff'" in proc.stderr


def test_show_sweep_lists_every_host_and_finding(history: dict[str, Any]) -> None:
    document = _json("show", history["b"][:8], "--db", history["db"])
    assert document["sweep"]["id"] == history["b"]
    hosts = {h["name"]: h for h in document["hosts"]}
    assert set(hosts) == {"h1", "h2", "h3", "h4"}
    assert [f["status"] for f in hosts["h3"]["findings"]] == ["fail", "fail"]
    text = raquet_cli("show", history["b"], "--db", history["db"]).stdout
    assert "h4 [unreachable]: connection refused" in text
    assert "fail           av" in text


def test_show_host_lists_its_sweeps_newest_first(history: dict[str, Any]) -> None:
    document = _json("show", "h2", "--db", history["db"])
    assert [e["sweep"]["id"] for e in document["sweeps"]] == [history["b"], history["a"]]
    assert [e["result"]["findings"][0]["status"] for e in document["sweeps"]] == ["fail", "pass"]


def test_prune_keeps_the_week_before_and_every_detection(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/s.db"
    with Store(db) as store:
        old = _sweep(store, MONDAY - timedelta(weeks=3), _host("h1", av="fail"))
        store.record_detections(
            old,
            "h1",
            "so-tttt",
            [
                Detection(
                    name="Eicar",
                    path="/tmp/x",
                    detected_at=MONDAY - timedelta(weeks=3),
                    source="clamd",
                )
            ],
        )
        older = _sweep(store, MONDAY - timedelta(weeks=4), _host("h1", av="fail"))
        week_before = _sweep(store, MONDAY - timedelta(weeks=1), _host("h1", av="pass"))
        kept = _sweep(store, MONDAY + timedelta(days=1), _host("h1", av="pass"))
        store.pending_since("h1", [("openssl", "3.0.1")], MONDAY - timedelta(weeks=4))
    proc = raquet_cli("prune", "--before", "2024-03-06", "--db", db)
    assert proc.returncode == 0, proc.stderr
    assert "2 host results" in proc.stdout and "1 sweeps deleted" in proc.stdout
    with Store(db) as store:
        ids = {info.id for info in store.history()}
        assert ids == {old, week_before, kept}  # `old` stays: a detection names it
        assert older not in ids
        assert store.sweep_result(old).hosts == []
        assert len(store.sweep_result(week_before).hosts) == 1
        assert [d.first_sweep_id for d in store.detections()] == [old]
        first = store.pending_since("h1", [("openssl", "3.0.1")], MONDAY)
        assert first[("openssl", "3.0.1")] == MONDAY - timedelta(weeks=4)
