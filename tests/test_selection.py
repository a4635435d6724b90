"""Host selection: Ansible-style `--limit` patterns and the `--unit/--host/--tag` options."""

from __future__ import annotations

from pathlib import Path

import pytest

from raquet.models import Host, Inventory, Unit
from raquet.selection import Selection, SelectionError, limit, terms


def _inventory() -> Inventory:
    def host(name: str, unit: str, *tags: str) -> Host:
        return Host(name=name, address="10.0.0.1", unit=unit, tags=list(tags))

    return Inventory(
        source=Path("inv.yml"),
        units=[
            Unit(
                id="trang-dinh",
                hosts=[host("td-srv-01", "trang-dinh", "db"), host("td-ws-07", "trang-dinh")],
            ),
            Unit(
                id="so-tttt",
                hosts=[
                    host("stttt-web-01", "so-tttt", "web"),
                    host("stttt-db-01", "so-tttt", "db"),
                ],
            ),
        ],
    )


def names(pattern: str) -> list[str]:
    inv = _inventory()
    return [h.name for h in limit(inv.hosts(), pattern, inv)]


def test_globs_units_and_tags_are_a_union() -> None:
    assert names("td-*") == ["td-srv-01", "td-ws-07"]
    assert names("so-tttt,td-ws-07") == ["td-ws-07", "stttt-web-01", "stttt-db-01"]
    assert names("web:td-srv-01") == ["td-srv-01", "stttt-web-01"]
    assert names("all") == ["td-srv-01", "td-ws-07", "stttt-web-01", "stttt-db-01"]


def test_exclusion_and_intersection_apply_after_the_union_whatever_the_order() -> None:
    assert names("!db,all") == ["td-ws-07", "stttt-web-01"]
    assert names("trang-dinh:&db") == ["td-srv-01"]
    assert names("db:!so-tttt") == ["td-srv-01"]
    assert names("!td-*") == ["stttt-web-01", "stttt-db-01"]


def test_regex_terms() -> None:
    assert names("~.*-db-\\d+") == ["stttt-db-01"]
    with pytest.raises(SelectionError, match="not a regular expression"):
        names("~(")


def test_file_of_names(tmp_path: Path) -> None:
    retry = tmp_path / "retry"
    retry.write_text("# failed last time\ntd-ws-07\n\nstttt-db-01  # db\n", encoding="utf-8")
    assert names(f"@{retry}") == ["td-ws-07", "stttt-db-01"]
    assert terms(f"@{retry},!x") == ["td-ws-07", "stttt-db-01", "!x"]
    with pytest.raises(SelectionError, match="No such file"):
        names(f"@{tmp_path / 'missing'}")


def test_a_term_matching_nothing_is_an_error() -> None:
    with pytest.raises(SelectionError, match="'td-srv-1' matches no host"):
        names("td-srv-1")
    with pytest.raises(SelectionError, match="names nothing"):
        names("!")


def test_options_narrow_each_other() -> None:
    inv = _inventory()
    assert [h.name for h in Selection(units=["so-tttt"], tags=["db"]).resolve(inv)] == [
        "stttt-db-01"
    ]
    assert [h.name for h in Selection(hosts=["td-ws-07"], limit="trang-dinh").resolve(inv)] == [
        "td-ws-07"
    ]
    assert len(Selection().resolve(inv)) == 4


def test_unknown_names_are_errors_with_a_suggestion() -> None:
    inv = _inventory()
    with pytest.raises(
        SelectionError, match=r"unknown unit\(s\): trang-din \(did you mean trang-dinh\?\)"
    ):
        Selection(units=["trang-din"]).resolve(inv)
    with pytest.raises(SelectionError, match=r"unknown tag\(s\): dbs"):
        Selection(tags=["dbs"]).resolve(inv)
    with pytest.raises(SelectionError, match="matches no host"):
        Selection(units=["trang-dinh"], tags=["web"]).resolve(inv)
