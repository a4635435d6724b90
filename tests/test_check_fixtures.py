"""Every check's parser and judgement, from recorded host outputs kept as fixture files.

Each `tests/fixtures/checks/<check>/<case>.yml` holds the sections a host sent and the
finding they must give: status, title and the evidence keys listed (others may be added).
`vulns:` names the data sets of tests/fixtures/vulns/ the case's store would hold;
`policy:` is the policy the case is judged by (default: the shipped one).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from checks import registry
from checks.base import Context, HostFacts, Sections
from raquet.feeds import IndicatorSet
from raquet.models import Host
from raquet.policy import Policy
from raquet.vulns import VulnIndex, load_index

FIXTURES = Path(__file__).parent / "fixtures" / "checks"
CASES = sorted(FIXTURES.glob("*/*.yml"))


def test_every_check_has_fixtures() -> None:
    assert {p.parent.name for p in CASES} == set(registry())


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture(path: Path) -> None:
    case: dict[str, Any] = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    check = registry()[path.parent.name]
    sections = Sections({k: str(v).rstrip("\n") for k, v in case["sections"].items()})
    host = Host(name="fixture", address="192.0.2.1", **case["host"])
    ctx = Context(
        policy=Policy.model_validate(case.get("policy") or {}),
        indicators=_indicators(case.get("indicators")),
        vulns=_vulns(tuple(case["vulns"])) if "vulns" in case else None,
    )
    finding = check.judge(sections, host, HostFacts.parse(sections), ctx).finding
    expect = case["expect"]
    assert (finding.status, finding.title) == (expect["status"], expect["title"])
    for key, value in expect["evidence"].items():
        assert finding.evidence[key] == value, key
    _assert_clean(finding.evidence)


def _indicators(listed: list[dict[str, str]] | None) -> IndicatorSet | None:
    """The fixture's own indicators, indexed as a sweep indexes imported feeds."""
    if listed is None:
        return None
    indicators = IndicatorSet()
    for entry in listed:
        indicators.add(entry["kind"], entry["value"], entry["feed"], entry.get("reference"))  # type: ignore[arg-type]
    return indicators


@cache
def _vulns(names: tuple[str, ...]) -> VulnIndex:
    """The named data sets of tests/fixtures/vulns/, indexed as a store holding them is."""
    folder = Path(__file__).parent / "fixtures" / "vulns"
    index, _ = load_index([folder / name for name in names])
    return index


def _assert_clean(value: object) -> None:
    """No control character from a host survives into the evidence."""
    if isinstance(value, str):
        assert value.isprintable(), repr(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            _assert_clean(k)
            _assert_clean(v)
    elif isinstance(value, list):
        for v in value:
            _assert_clean(v)
