"""A raquet YAML inventory written as JSON (as ones generated from an asset database are)
is read by the C JSON parser, with exactly the result ruamel gives; anything to report is
read again by ruamel, which names file, line and field as for any YAML."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from raquet import inventory as inventories
from raquet.errors import InputError
from raquet.inventory import load_inventory

DOCUMENT: dict[str, Any] = {
    "province": "Lạng Sơn",
    "defaults": {"ssh_user": "root", "tags": ["weekly"]},
    "units": [
        {
            "id": "so-tc",
            "name": "Sở Tài chính",
            "segment": "td-lan",
            "hosts": [
                {"name": "tc-srv-01", "address": "10.1.0.1", "ssh_port": 2222},
                {"name": "tc-pc-01", "address": "10.1.0.2", "role": "workstation"},
            ],
        },
        {
            "id": "ubnd",
            "name": "UBND tỉnh",
            "hosts": [{"name": "ub-win-01", "address": "10.2.0.1", "os": "windows"}],
        },
    ],
}


def _problems(path: Path) -> list[str]:
    with pytest.raises(InputError) as err:
        load_inventory(path)
    return [str(p) for p in err.value.problems]


def _no_ruamel(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(path: Path) -> Any:
        raise AssertionError("read by ruamel")

    monkeypatch.setattr(inventories, "load_yaml", refused)


@pytest.mark.parametrize("indent", [None, 2])
def test_a_json_inventory_is_what_ruamel_reads_without_ruamel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, indent: int | None
) -> None:
    as_json = tmp_path / "fleet.yml"
    as_json.write_text(json.dumps(DOCUMENT, indent=indent, ensure_ascii=False))
    as_yaml = tmp_path / "fleet-flow.yml"
    as_yaml.write_text("# a comment, so that it is not JSON\n" + as_json.read_text())
    expected = load_inventory(as_yaml).model_dump()
    expected["source"] = as_json
    _no_ruamel(monkeypatch)
    assert load_inventory(as_json).model_dump() == expected


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda d: d["units"][1]["hosts"][0].update(os="solaris"), "units[1].hosts[0].os"),
        (lambda d: d["units"][0]["hosts"][1].update(name="tc-srv-01"), "duplicate host name"),
        (lambda d: d["units"][0]["hosts"][0].update(ssh_password="x"), "ssh_password"),
        (lambda d: d["units"][0].update(id="Sở TC"), "units[0].id"),
    ],
)
def test_what_is_wrong_in_json_is_named_with_its_line(tmp_path: Path, change, said: str) -> None:
    document = json.loads(json.dumps(DOCUMENT))
    change(document)
    path = tmp_path / "fleet.yml"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False))
    (found,) = [p for p in _problems(path) if said in p]
    assert found.startswith(f"{path}:") and found.split(":")[1].isdigit()


def test_a_repeated_key_in_json_is_refused_as_in_yaml(tmp_path: Path) -> None:
    text = json.dumps(DOCUMENT, indent=2).replace(
        '"ssh_port": 2222', '"ssh_port": 22, "ssh_port": 2'
    )
    path = tmp_path / "fleet.yml"
    path.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if '"ssh_port": 22,' in t)
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}:{line}:") and "duplicate key" in problem


def test_json_past_the_limits_is_refused_as_in_yaml(tmp_path: Path) -> None:
    deep = json.loads(json.dumps(DOCUMENT))
    nested: Any = "x"
    for _ in range(70):
        nested = [nested]
    deep["units"][0]["hosts"][0]["data"] = {"deep": nested}
    path = tmp_path / "deep.yml"
    path.write_text(json.dumps(deep))
    assert any("levels deep" in p for p in _problems(path))
    big = json.loads(json.dumps(DOCUMENT))
    big["units"][0]["hosts"][0]["ssh_port"] = 10**70
    path.write_text(json.dumps(big))
    assert any("digits" in p for p in _problems(path))


def test_shared_addresses_in_json_are_warned_of_with_their_lines(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    document = json.loads(json.dumps(DOCUMENT))
    document["units"][0]["hosts"][1]["address"] = "10.1.0.9"
    document["units"][1]["hosts"][0]["address"] = "10.1.0.9"
    path = tmp_path / "fleet.yml"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False))
    with caplog.at_level(logging.WARNING, logger="raquet"):
        load_inventory(path)
    (warning,) = [r.getMessage() for r in caplog.records if "share the address" in r.getMessage()]
    assert warning.startswith(f"{path}:") and "(line " in warning
