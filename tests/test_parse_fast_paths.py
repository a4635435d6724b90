"""The parsers' fast paths give what the slow ones gave (Hypothesis), and a parsed state holds
no pydantic model per package, socket or line: host output becomes a model only at the
boundary (the Finding, and a Detection, which is stored)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from ruamel.yaml import YAML

from checks import registry
from checks.base import CTIME, HostFacts, Sections, clean, ctime
from raquet.models import Detection

MANY = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIXTURES = Path(__file__).parent / "fixtures" / "checks"


def _strptime(text: str) -> datetime | str:
    try:
        return datetime.strptime(" ".join(text.split()), CTIME)
    except ValueError:
        return "ValueError"


def _ctime(text: str) -> datetime | str:
    try:
        return ctime(text)
    except ValueError:
        return "ValueError"


PART = {
    "weekday": st.sampled_from(["Mon", "Tue", "Sun", "Xyz", "MON", "mon", "Mo"]),
    "month": st.sampled_from(["Jan", "Feb", "Dec", "Foo", "DEC", "dec"]),
    "day": st.sampled_from(["1", " 2", "02", "29", "30", "31", "00", "0", "32", "9", "٣"]),
    "hour": st.sampled_from(["00", "09", "23", "24", "7", "99"]),
    "minute": st.sampled_from(["00", "59", "60", "5"]),
    "second": st.sampled_from(["00", "59", "60", "61", "7"]),
    "year": st.sampled_from(["2026", "2024", "1900", "0000", "9999", "202", "٢٠٢٦"]),
}
SPACE = st.sampled_from([" ", " ", " ", "  ", "\t", "\u2028"])


@st.composite
def ctime_texts(draw: st.DrawFn) -> str:
    p = {k: draw(v) for k, v in PART.items()}
    text = (
        f"{p['weekday']}{draw(SPACE)}{p['month']}{draw(SPACE)}{p['day']}{draw(SPACE)}"
        f"{p['hour']}:{p['minute']}:{p['second']}{draw(SPACE)}{p['year']}"
    )
    return draw(st.sampled_from(["", " "])) + text + draw(st.sampled_from(["", " ", "x"]))


@MANY
@given(st.one_of(ctime_texts(), st.text(max_size=30)))
@example("Mon Feb 29 12:00:00 2024")
@example("Tue Feb 29 12:00:00 2026")
@example("Wed Dec  2 03:13:26 2026")
@example("Sun Dec 31 23:59:60 2026")
def test_ctime_is_strptime(text: str) -> None:
    assert _ctime(text) == _strptime(text)


def _old_clean(text: str, limit: int = 512) -> str:
    kept = "".join(ch for ch in text if ch.isprintable() or ch == " ")
    return kept if len(kept) <= limit else kept[: limit - 1] + "…"


@MANY
@given(st.text(), st.integers(1, 40))
def test_clean_is_what_it_was(text: str, limit: int) -> None:
    assert clean(text, limit) == _old_clean(text, limit)


def _models(value: Any, path: str = "state") -> list[str]:
    """Where in `value` a pydantic model sits (a Detection is the boundary: it is stored)."""
    if isinstance(value, Detection):
        return []
    if isinstance(value, BaseModel):
        return [f"{path}: {type(value).__name__}"]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [
            m for f in dataclasses.fields(value) for m in _models(getattr(value, f.name), f.name)
        ]
    if isinstance(value, dict):
        return [m for v in value.values() for m in _models(v, path)]
    if isinstance(value, list | tuple | set):
        return [m for v in value for m in _models(v, f"{path}[]")]
    return []


PER_ITEM = ["software", "patches", "connections", "infections", "vulns"]


@pytest.mark.parametrize(
    "path",
    sorted(p for c in PER_ITEM for p in (FIXTURES / c).glob("*.yml")),
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_states_hold_no_model_per_item(path: Path) -> None:
    case: dict[str, Any] = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    sections = Sections({k: str(v).rstrip("\n") for k, v in case["sections"].items()})
    state = registry()[path.parent.name].parse(sections, HostFacts.parse(sections))
    assert _models(state) == []


def test_linux_script_built_once_per_sweep() -> None:
    """Every Linux host of a sweep is sent the same script (built once); another policy or
    time-out is another script, and each Windows host gets its own nonce."""
    from checks import select
    from raquet.policy import Policy
    from raquet.script import build

    checks, policy = select(None), Policy()
    first = build(checks, "linux", policy, 120)
    assert build(checks, "linux", policy, 120) is first
    assert build(list(checks), "linux", policy, 120.5) is first  # whole seconds reach the host
    other = Policy.model_validate({"infections": {"log_paths": ["/var/log/elsewhere.log"]}})
    assert build(checks, "linux", other, 120).text != first.text
    assert build(checks, "linux", policy, 60).text != first.text
    assert build(checks[:1], "linux", policy, 120).checks == ["host", checks[0].name]
    windows = [build(checks, "windows", policy, 120) for _ in range(2)]
    assert windows[0].nonce != windows[1].nonce
