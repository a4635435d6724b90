"""`patches.max_pending_days`: a pending security update fails only once it has waited too long."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from checks import registry
from checks.base import Context, HostFacts, Sections
from raquet.models import Host
from raquet.policy import PatchPolicy, Policy

CASE = Path(__file__).parent / "fixtures" / "checks" / "patches" / "ubuntu2204-security-pocket.yml"
HOST = Host(name="ws-01", address="192.0.2.1")


def _judge(limit: float, waited_days: float | None) -> Any:
    case = YAML(typ="safe").load(CASE.read_text(encoding="utf-8"))
    sections = Sections({k: str(v).rstrip("\n") for k, v in case["sections"].items()})
    facts = HostFacts.parse(sections)
    asked: list[tuple[str, list[tuple[str, str]]]] = []

    def pending_since(
        host: str, updates: list[tuple[str, str]], now: datetime
    ) -> dict[tuple[str, str], datetime]:
        asked.append((host, updates))
        assert waited_days is not None
        return {u: now - timedelta(days=waited_days) for u in updates}

    ctx = Context(
        policy=Policy(patches=PatchPolicy(max_pending_days=limit)),
        pending_since=pending_since if waited_days is not None else None,
    )
    finding = registry()["patches"].judge(sections, HOST, facts, ctx).finding
    return finding, asked


def test_updates_waiting_longer_than_the_limit_fail() -> None:
    finding, asked = _judge(limit=7, waited_days=10)
    assert finding.status == "fail"
    assert finding.title.startswith("3 security update(s) pending for more than 7 days (")
    assert finding.evidence["overdue_security"] == 3
    assert asked == [
        (
            "ws-01",
            [
                ("libssl3", "3.0.2-0ubuntu1.18"),
                ("openssl", "3.0.2-0ubuntu1.18"),
                ("linux-image-5.15.0-126-generic", "5.15.0-126.136"),
            ],
        )
    ]


def test_updates_within_the_limit_pass_and_say_so() -> None:
    finding, _ = _judge(limit=7, waited_days=2)
    assert finding.status == "pass"
    assert finding.title == "3 security update(s) pending, within the 7-day limit"
    assert [p["since"] for p in finding.evidence["pending_since"]] and finding.evidence[
        "overdue_security"
    ] == 0


def test_the_default_limit_fails_at_once_without_asking_the_store() -> None:
    finding, asked = _judge(limit=0, waited_days=None)
    assert finding.status == "fail" and asked == []
    assert "max_pending_days" not in finding.evidence


def test_without_a_store_updates_count_at_once() -> None:
    finding, _ = _judge(limit=7, waited_days=None)
    assert finding.status == "fail"
    assert finding.title.startswith("3 security update(s) pending (")
