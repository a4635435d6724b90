"""The `--json` document of a sweep takes the results the sweep itself stored as
`record_results` left them, instead of decoding every finding's evidence back from the
store: the document is the same either way, odd values and all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from raquet.models import Finding, HostResult
from raquet.store import Store

T0 = datetime(2021, 6, 8, 1, 0, tzinfo=UTC)


def _result(name: str, **evidence: object) -> HostResult:
    return HostResult(
        name=name,
        unit="u",
        os="linux",
        role="server",
        address="192.0.2.1\x00",
        status="swept",
        error="nul\x00 and a lone surrogate \udce9",
        started_at=T0,
        finished_at=T0 + timedelta(seconds=3),
        findings=[
            Finding(check="av", status="fail", title="t\x00itle", evidence=dict(evidence)),
            Finding(check="patches", status="pass", title="ok"),
        ],
    )


def test_the_document_from_what_was_kept_is_the_one_read_back(tmp_path: Path) -> None:
    with Store(str(tmp_path / "store.db")) as store:
        results = [
            _result("b", age=float("nan"), raw=b"\xff", when=T0, pair=(1, "a"), text="x\x00y"),
            _result("a\x00", decoded=b"caf\xe9".decode("utf-8", "surrogateescape")),
            _result("c"),
        ]
        sweep_id = store.begin_sweep(
            "inv.yml", "", ["av", "patches"], [(n, "u") for n in "abc"], {}
        )
        store.record_results(sweep_id, results[:2])
        store.record_results(sweep_id, results[2:])
        read_back = store.sweep_result(sweep_id)
        kept = store.sweep_result(sweep_id, known={r.name: r for r in results[:2]})
    assert kept.model_dump(mode="json") == read_back.model_dump(mode="json")
    assert kept.model_dump() == read_back.model_dump()
    assert [h.name for h in kept.hosts] == ["a", "b", "c"]
    assert kept.hosts[0] is results[1] and kept.hosts[2] is not results[2]
