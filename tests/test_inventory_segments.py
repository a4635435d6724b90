"""Network segments (issue 13): a unit or a host names the segment it is reached from, in
every inventory format, with the precedence of every other setting (host > unit/group >
defaults); hosts that name none are in `default`; a bad name is refused at its file, line and
field; `raquet inventory check` counts hosts per segment, and its JSON says each host's."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from raquet.errors import InputError
from raquet.inventory import describe_segments, load_inventory, uses_segments
from raquet.models import DEFAULT_SEGMENT, Host
from tests.conftest import ROOT, raquet_cli

EXAMPLE = ROOT / "inventory" / "segments.example.yml"
RELATIVE = EXAMPLE.relative_to(ROOT)
"""As a sysadmin types it from the clone (where `raquet_cli` runs), so the heading fits 80."""
SEGMENT = (
    "expected a segment name of at most 64 lowercase letters a-z, digits, '-' or '_', "
    "starting with a letter or digit"
)

# The same fleet in each format: the province-wide default is `core`, unit `td` is reached
# from `td-lan` except host `b` (its own `dmz`), unit `cl` names nothing and takes `core`.
# Where a format has two spellings, group and host use different ones.
SAME_FLEET = {
    "fleet.yml": """\
defaults:
  segment: core
units:
  - id: td
    segment: td-lan
    hosts:
      - {name: a, address: 10.0.0.1}
      - {name: b, address: 10.0.0.2, segment: dmz}
  - id: cl
    hosts:
      - {name: c, address: 10.0.0.3}
""",
    "fleet.ini": """\
[all:vars]
segment=core
[td]
a ansible_host=10.0.0.1
b ansible_host=10.0.0.2 segment=dmz
[td:vars]
raquet_segment=td-lan
[cl]
c ansible_host=10.0.0.3
""",
    "ansible.yml": """\
all:
  vars:
    raquet_segment: core
  children:
    td:
      vars:
        segment: td-lan
      hosts:
        a: {ansible_host: 10.0.0.1}
        b: {ansible_host: 10.0.0.2, raquet_segment: dmz}
    cl:
      hosts:
        c: {ansible_host: 10.0.0.3}
""",
    "fleet.py": """\
all = (["a", "b", "c"], {"segment": "core"})
td = (["a", ("b", {"raquet_segment": "dmz"})], {"segment": "td-lan"})
cl = ["c"]
""",
}


def _segments(hosts: list[Host]) -> dict[str, tuple[str, str]]:
    return {host.name: (host.unit, host.segment) for host in hosts}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(InputError) as caught:
        load_inventory(path)
    return [str(problem) for problem in caught.value.problems]


@pytest.mark.parametrize("name", sorted(SAME_FLEET))
def test_every_format_sets_inherits_and_overrides_the_segment(tmp_path: Path, name: str) -> None:
    inventory = load_inventory(_write(tmp_path, name, SAME_FLEET[name]))
    assert _segments(inventory.hosts()) == {
        "a": ("td", "td-lan"),  # the unit's (group's)
        "b": ("td", "dmz"),  # its own, over its unit's
        "c": ("cl", "core"),  # the defaults' (`all`)
    }
    assert {s: [h.name for h in hosts] for s, hosts in inventory.segments().items()} == {
        "core": ["c"],
        "dmz": ["b"],
        "td-lan": ["a"],
    }


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("plain.yml", "units:\n  - id: td\n    hosts:\n      - {name: a, address: 10.0.0.1}\n"),
        ("plain.ini", "[td]\na ansible_host=10.0.0.1\n"),
        ("plain.py", 'td = [("a", {"ssh_hostname": "10.0.0.1"})]\n'),
    ],
)
def test_a_host_that_names_no_segment_is_in_default(tmp_path: Path, name: str, text: str) -> None:
    inventory = load_inventory(_write(tmp_path, name, text))
    assert [host.segment for host in inventory.hosts()] == [DEFAULT_SEGMENT] == ["default"]
    assert not uses_segments(inventory)


def test_ansible_segment_follows_group_depth_then_host(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "nested.ini",
        "[lang_son:children]\ntd\n[lang_son:vars]\nsegment=core\n"
        "[td:vars]\nsegment=td-lan\n[td]\na\nb raquet_segment=dmz\n"
        "[lang_son]\nprovincial\n",
    )
    assert _segments(load_inventory(path).hosts()) == {
        "a": ("td", "td-lan"),  # the child group over its parent
        "b": ("td", "dmz"),
        "provincial": ("lang_son", "core"),
    }


def test_raquet_yaml_segment_errors_name_line_and_field(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "bad.yml",
        """\
defaults:
  segment: Core
units:
  - id: td
    segment: Tràng Định
    hosts:
      - {name: a, address: 10.0.0.1}
      - name: b
        address: 10.0.0.2
        segment: 5
      - name: c
        address: 10.0.0.3
        segmnet: dmz
      - name: d
        address: 10.0.0.4
        segment: td.lan
  - id: cl
    segmen: cl-lan
    hosts:
      - {name: e, address: 10.0.0.5, segment: "%s"}
"""
        % ("x" * 65),
    )
    assert _problems(path) == [
        f"{path}:2: defaults.segment: {SEGMENT}, such as 'core'; got 'Core'",
        f"{path}:5: units[0].segment: {SEGMENT}, such as 'trang-dinh'; got 'Tràng Định'",
        f"{path}:10: units[0].hosts[1].segment: expected text; got 5 "
        "(put it in quotes to make it text)",
        f"{path}:13: units[0].hosts[2].segmnet: unknown key 'segmnet' (did you mean 'segment'?)",
        f"{path}:16: units[0].hosts[3].segment: {SEGMENT}, such as 'td-lan'; got 'td.lan'",
        f"{path}:18: units[1].segmen: unknown key 'segmen' (did you mean 'segment'?)",
        f"{path}:20: units[1].hosts[0].segment: {SEGMENT}; got '{'x' * 65}'",
    ]


def test_ansible_segment_errors_name_line_and_variable(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "bad.ini",
        """\
[td]
a ansible_host=10.0.0.1 segment="TD LAN"
b ansible_host=10.0.0.2 raquet_segmnt=dmz
c ansible_host=10.0.0.3 segment=dmz raquet_segment=lan
[td:vars]
raquet_segment=-td
""",
    )
    assert _problems(path) == [
        f"{path}:2: a.segment: {SEGMENT}, such as 'td-lan'; got 'TD LAN'",
        f"{path}:3: b.raquet_segmnt: unknown raquet variable 'raquet_segmnt'; "
        "did you mean 'raquet_segment'?",
        f"{path}:4: c.raquet_segment: 'lan' here, but 'segment' (line 4) says 'dmz'; keep one",
        f"{path}:6: [td:vars].raquet_segment: {SEGMENT}, such as 'td'; got '-td'",
    ]


def test_ansible_yaml_segment_errors_name_line_and_path(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "bad.yml",
        "all:\n  children:\n    td:\n      vars:\n        segment: [td-lan]\n"
        "      hosts:\n        a:\n          raquet_segment: TD\n        b:\n",
    )
    assert _problems(path) == [
        f"{path}:5: all.children.td.vars.segment: expected text; got a list",
        f"{path}:8: all.children.td.hosts.a.raquet_segment: {SEGMENT}, such as 'td'; got 'TD'",
    ]


def test_pyinfra_segment_errors_name_line_and_key(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "bad.py",
        """\
td = (
    [
        ("a", {"segment": "td lan"}),
        ("b", {"raquet_segmnet": "dmz"}),
        "c",
    ],
    {"raquet_segment": "TD"},
)
""",
    )
    assert _problems(path) == [
        f"{path}:1: td.raquet_segment: {SEGMENT}, such as 'td'; got 'TD'",
        f"{path}:3: td[0].segment: {SEGMENT}, such as 'td-lan'; got 'td lan'",
        f"{path}:4: td[1].raquet_segmnet: unknown raquet variable 'raquet_segmnet'; "
        "did you mean 'raquet_segment'?",
    ]


def test_the_shipped_example_has_two_segments_and_a_host_back_in_default() -> None:
    inventory = load_inventory(EXAMPLE)
    segments = {s: [h.name for h in hosts] for s, hosts in inventory.segments().items()}
    assert segments == {
        "default": ["stttt-web-01", "stttt-ws-03", "td-web-01"],
        "td-lan": ["td-srv-01", "td-ws-07"],
    }
    assert describe_segments(inventory) == [
        {"segment": "default", "units": 2, "hosts": 3, "linux": 2, "windows": 1},
        {"segment": "td-lan", "units": 1, "hosts": 2, "linux": 1, "windows": 1},
    ]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAQUET_")}
    return {**env, **extra}


def test_inventory_check_prints_hosts_per_segment_within_80_columns() -> None:
    proc = raquet_cli("inventory", "check", "-i", RELATIVE, env=_env(COLUMNS="80"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].endswith(": Lạng Sơn, 2 units, 5 hosts, 2 segments")
    start = next(i for i, line in enumerate(lines) if line.startswith("segment"))
    assert lines[start].split() == ["segment", "units", "hosts", "linux", "windows"]
    assert [line.split() for line in lines[start + 2 :]] == [
        ["default", "2", "3", "2", "1"],
        ["td-lan", "1", "2", "1", "1"],
    ]
    assert max(len(line) for line in lines) <= 80


def test_inventory_check_without_segments_prints_no_segments_table() -> None:
    proc = raquet_cli("inventory", "check", "-i", ROOT / "inventory" / "example.yml")
    assert proc.returncode == 0, proc.stderr
    assert "segment" not in proc.stdout
    assert proc.stdout.splitlines()[0].endswith(": Lạng Sơn, 3 units, 5 hosts")


def test_inventory_check_json_has_each_hosts_segment_and_counts_per_segment() -> None:
    proc = raquet_cli("inventory", "check", "-i", EXAMPLE, "--json", "-")
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["segments"] == [
        {"segment": "default", "units": 2, "hosts": 3, "linux": 2, "windows": 1},
        {"segment": "td-lan", "units": 1, "hosts": 2, "linux": 1, "windows": 1},
    ]
    hosts = {h["name"]: h for h in document["hosts"]}
    assert hosts["td-ws-07"] == {
        "name": "td-ws-07",
        "unit": "trang-dinh",
        "address": "10.0.1.27",
        "os": "windows",
        "role": "workstation",
        "segment": "td-lan",
    }
    assert hosts["td-web-01"]["segment"] == "default"
    assert sum(s["hosts"] for s in document["segments"]) == document["total"]["hosts"]
    assert "segment" in proc.stderr  # the table went to people, on stderr


def test_inventory_check_json_without_segments_still_says_default() -> None:
    proc = raquet_cli("inventory", "check", "-i", ROOT / "inventory" / "example.yml", "--json", "-")
    document = json.loads(proc.stdout)
    assert [s["segment"] for s in document["segments"]] == ["default"]
    assert {h["segment"] for h in document["hosts"]} == {"default"}
