"""Inputs built to hang, crash or exhaust raquet, each through the real command line.

Every attack must end in exit code 2 with one problem naming the file, the line (where a
file has lines) and the field, in bounded time (pytest-timeout fails a hung command) and
bounded memory: the child runs under RLIMIT_AS, so a blow-up ends in a MemoryError (a
traceback, exit 1) instead of an answer, and the test fails. Before these bounds a billion
laughs hung for minutes, a 5,000-digit number or deep nesting ended in a traceback, an
Ansible range took 8 GB and a zip bomb 8 GB.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest

from raquet.feeds import limits
from raquet.inventory import MAX_ENTRIES
from raquet.store import Store
from raquet.yamlfile import MAX_BYTES
from tests.conftest import ROOT, raquet_cli
from tests.fixtures.reports import forged

pytestmark = pytest.mark.timeout(90)

MEMORY = 1 << 30
"""Address space of each child: raquet needs about 150 MiB, every blow-up here many GiB."""
LOCAL = ROOT / "inventory" / "local.yml"
NO_CONTROL = (
    "expected text without line breaks, tabs, control characters or bidirectional overrides"
)


def _bounded() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def run(*args: str | Path, db: Path) -> subprocess.CompletedProcess[str]:
    """`raquet ARGS` as a user runs it (store `db`), in a child whose memory is bounded."""
    env = {**os.environ, "RAQUET_DB": f"sqlite:///{db}"}
    return raquet_cli(*args, env=env, preexec_fn=_bounded)


def refused(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The problems of a command that must have refused its input (exit 2, no traceback)."""
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    return result.stderr.splitlines()


def _laughs(top: str) -> str:
    """A billion laughs: ten levels of ten aliases, 10^10 values once expanded."""
    lines = [f"{top}lol0: &lol0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 10):
        lines.append(f"{top}lol{level}: &lol{level} [{', '.join([f'*lol{level - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


# Aliases add 110 + 1,110 + 11,110 + 111,110 values through lol4, then 111,111 each in
# lol5: the eighth one (lol5[7]) passes 1,000,000. lol0 is on line 2, lol5 on line 7.
LAUGHS_AT = (7, "lol5[7]", "aliases here expand to more than 1,000,000 values")
DEEP = "[" * 100_000 + "]" * 100_000
DEEP_AT = "[0][0][0][0][0][0]…: nested more than 64 levels deep"
LONG_NUMBER = "1" * 5000
LONG_AT = "a number of 5,000 digits; at most 64 are read"


def _inventory(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


HOST = "units:\n  - id: u\n    hosts:\n      - name: h\n        address: 10.0.0.1\n"

INVENTORIES = {
    "laughs.yml": (
        "province: x\n" + _laughs("") + "units:\n  - id: u\n    name: *lol9\n",
        [f"{LAUGHS_AT[0]}: {LAUGHS_AT[1]}: {LAUGHS_AT[2]}"],
    ),
    "deep.yml": (f"province: {DEEP}\n{HOST}", [f"1: province{DEEP_AT}"]),
    "number.yml": (
        HOST + f"        ssh_port: {LONG_NUMBER}\n",
        [f"6: units[0].hosts[0].ssh_port: {LONG_AT}"],
    ),
    "itself.yml": (
        "units: &u\n  - id: u\n    hosts: *u\n",
        ["3: units[0].hosts: an alias inside the anchor it names"],
    ),
    "range.ini": (
        "[u]\nh[0:99][0:99][0:99][0:99] ansible_host=10.0.0.1\n",
        [
            "2: h[0:99][0:99][0:99][0:99]: this range names 100,000,000 hosts: more than "
            f"{MAX_ENTRIES:,} host entries in one inventory"
        ],
    ),
    "number.ini": (
        f"[u]\nh ansible_host=10.0.0.1 ansible_port={LONG_NUMBER}\n",
        [
            "2: h.ansible_port: unable to parse input string as an integer, exceeded maximum "
            f"size; got '{LONG_NUMBER[:80]}…'"
        ],
    ),
    "number.py": (
        "u = [('h', {'ssh_hostname': '10.0.0.1', 'ssh_port': 10**5000})]\n",
        [
            "1: u[0].ssh_port: expected a number of at most 65535; got a number of about 5,001 digits"
        ],
    ),
    "exits.py": ("import sys\nsys.exit(0)\n", ["2: running the inventory failed: SystemExit: 0"]),
    "hosts.py": (
        "u = ['h%d' % n for n in range(1_000_000)]\n",
        [f"1: u: the groups list 1,000,000 hosts: more than {MAX_ENTRIES:,} host entries"],
    ),
}


@pytest.mark.parametrize("name", INVENTORIES)
def test_a_hostile_inventory_is_refused_at_its_line_and_field(tmp_path: Path, name: str) -> None:
    text, expected = INVENTORIES[name]
    path = _inventory(tmp_path, name, text)
    result = run("inventory", "check", "-i", path, db=tmp_path / "db")
    assert refused(result) == [f"{path}:{line}" for line in expected]


def test_an_inventory_past_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yml"
    padding = "# padding\n" * (MAX_BYTES // 10 + 1000)
    path.write_text(padding + HOST, encoding="utf-8")
    line = padding[:MAX_BYTES].count("\n") + 1
    result = run("inventory", "check", "-i", path, db=tmp_path / "db")
    assert refused(result) == [
        f"{path}:{line}: the file goes on past 8 MiB, more than any inventory or policy"
    ]


def test_thousands_of_nested_ansible_groups_are_read_without_recursion(tmp_path: Path) -> None:
    chain = "".join(f"[g{n}:children]\n{f'g{n - 1}' if n else 'u'}\n" for n in range(3000))
    path = _inventory(tmp_path, "chain.ini", f"[u]\nh ansible_host=10.0.0.1\n{chain}")
    result = run("inventory", "check", "-i", path, db=tmp_path / "db")
    assert result.returncode == 0, result.stderr
    assert "1 units, 1 hosts" in result.stdout


# --- names: nothing in an inventory can carry a line break or a bidirectional override ----

NAMES = {
    "names.yml": (
        'province: "Lạng\\nSơn"\nissuer: ["UBND", "Sở\\u202eTT"]\n'
        "units:\n  - id: u\n    hosts:\n      - name: h\n        address: 10.0.0.1\n"
        '        tags: ["a\\tb"]\n',
        [
            f"1: province: {NO_CONTROL}; found '\\n' at character 5; got 'Lạng\\nSơn'",
            f"2: issuer: line 2: {NO_CONTROL}; found '\\u202e' at character 3; got a list",
            f"8: units[0].hosts[0].tags[0]: {NO_CONTROL}; found '\\t' at character 2; got 'a\\tb'",
        ],
    ),
    "names.ini": (
        "[u]\nh ansible_host=10.0.0.1 ansible_user=root\x1b\n[Huyện\u2028A]\nh2\n",
        [
            f"2: h.ansible_user: {NO_CONTROL}; found '\\x1b' at character 5; got 'root\\x1b'",
            f"3: [Huyện\\u2028A]: {NO_CONTROL}; found '\\u2028' at character 6; "
            "got 'Huyện\\u2028A'",
        ],
    ),
    "names.py": (
        "province = 'Lạng\\rSơn'\nu = [('h', {'ssh_hostname': '10.0.0.1', 'tags': ['\\x85']})]\n",
        [
            f"1: province: {NO_CONTROL}; found '\\r' at character 5; got 'Lạng\\rSơn'",
            f"2: u[0].tags[0]: {NO_CONTROL}; found '\\x85' at character 1; got '\\x85'",
        ],
    ),
    "ansible.yml": (
        'all:\n  children:\n    "Huyện\\u2029A":\n      hosts:\n        h:\n'
        "          ansible_host: 10.0.0.1\n",
        [
            f"3: all.children.Huyện\\u2029A: {NO_CONTROL}; found '\\u2029' at character 6; "
            "got 'Huyện\\u2029A'"
        ],
    ),
}


@pytest.mark.parametrize("name", NAMES)
def test_names_with_control_characters_are_refused_in_every_format(
    tmp_path: Path, name: str
) -> None:
    text, expected = NAMES[name]
    path = _inventory(tmp_path, name, text)
    result = run("inventory", "check", "-i", path, db=tmp_path / "db")
    assert refused(result) == [f"{path}:{line}" for line in expected]


# --- policies ----------------------------------------------------------------------------

POLICIES = {
    "laughs": (
        _laughs("") + "software:\n  allowlist: *lol9\n",
        LAUGHS_AT[0] - 1,
        LAUGHS_AT[1],
        LAUGHS_AT[2],
    ),
    "deep": (f"av: {DEEP}\n", 1, "av" + DEEP_AT.split(":")[0], DEEP_AT.split(": ")[1]),
    "number": (
        f"av:\n  max_signature_age_days: {LONG_NUMBER}\n",
        2,
        "av.max_signature_age_days",
        LONG_AT,
    ),
    "1e308": (
        "infections:\n  lookback_days: 1e308\n",
        2,
        "infections.lookback_days",
        "expected a number of at most 3650; got 1e+308",
    ),
    "nan": (
        "av:\n  max_signature_age_days: .nan\n",
        2,
        "av.max_signature_age_days",
        "expected a finite number; got nan",
    ),
    "inf": (
        "infections:\n  scan_timeout: .inf\n",
        2,
        "infections.scan_timeout",
        "expected a finite number; got inf",
    ),
    "-inf": (
        "patches:\n  max_pending_days: -.inf\n",
        2,
        "patches.max_pending_days",
        "expected a finite number; got -inf",
    ),
    "zero timeout": (
        "infections:\n  scan_timeout: 0.5\n",
        2,
        "infections.scan_timeout",
        "expected a number of at least 1; got 0.5",
    ),
}


@pytest.mark.parametrize("command", ["sweep", "remediate"])
@pytest.mark.parametrize("name", POLICIES)
def test_a_hostile_policy_is_refused_by_every_command_that_reads_one(
    tmp_path: Path, name: str, command: str
) -> None:
    text, line, field, message = POLICIES[name]
    path = _inventory(tmp_path, "policy.yml", text)
    result = run(command, "-i", LOCAL, "-p", path, "--check", "av", db=tmp_path / "db")
    assert refused(result) == [f"{path}:{line}: {field}: {message}"]


@pytest.mark.parametrize(
    "command", [["inventory", "check"], ["sweep", "--check", "av"], ["remediate"]]
)
def test_a_hostile_inventory_is_refused_by_every_command_that_reads_one(
    tmp_path: Path, command: list[str]
) -> None:
    text, expected = INVENTORIES["laughs.yml"]
    path = _inventory(tmp_path, "laughs.yml", text)
    result = run(*command, "-i", path, db=tmp_path / "db")
    assert refused(result) == [f"{path}:{line}" for line in expected]


# --- feeds -------------------------------------------------------------------------------


def _workbook(path: Path, parts: dict[str, bytes | int]) -> Path:
    """A real workbook (sheet IOC: "ip", 1.2.3.4) with `parts` added or replaced; an int
    part is that many bytes of "A" streamed in, for inflating sizes no test could hold."""
    plain = io.BytesIO()
    book = openpyxl.Workbook()
    book.active.title = "IOC"
    book.active.append(["ip"])
    book.active.append(["1.2.3.4"])
    book.save(plain)
    source = zipfile.ZipFile(plain)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        for name in source.namelist():
            if name not in parts:
                out.writestr(name, source.read(name))
        for name, part in parts.items():
            if isinstance(part, bytes):
                out.writestr(name, part)
                continue
            with out.open(name, "w", force_zip64=True) as member:
                chunk = b"A" * (1 << 20)
                for _ in range(part >> 20):
                    member.write(chunk)
    return path


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 14 MB that inflate to 3 GiB: a sheet of one 3 GiB cell."""
    return _workbook(
        tmp_path_factory.mktemp("bomb") / "ioc.xlsx", {"xl/worksheets/sheet1.xml": 3 << 30}
    )


def test_a_zip_bomb_workbook_is_refused_before_it_is_inflated(
    zip_bomb: Path, tmp_path: Path
) -> None:
    assert zip_bomb.stat().st_size < 20 << 20
    result = run("feeds", "import", zip_bomb, db=tmp_path / "db")
    assert refused(result) == [
        f"{zip_bomb}: xl/worksheets/sheet1.xml: the workbook inflates to more than 256 MiB "
        "(a zip bomb?)"
    ]


def test_a_workbook_part_compressed_a_thousandfold_is_refused(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "ioc.xlsx", {"xl/media/image1.bin": 64 << 20})
    result = run("feeds", "import", path, db=tmp_path / "db")
    (problem,) = refused(result)
    assert problem.startswith(f"{path}: xl/media/image1.bin: compressed ")
    assert problem.endswith(
        f"times (spreadsheets: 10 to 30; at most {limits.MAX_XLSX_RATIO}): a zip bomb?"
    )


def test_a_workbook_entity_bomb_is_refused_by_the_xml_parser(tmp_path: Path) -> None:
    entities = "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))
    sheet = (
        f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">{entities}]>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row>'
        "</sheetData></worksheet>"
    )
    path = _workbook(tmp_path / "ioc.xlsx", {"xl/worksheets/sheet1.xml": sheet.encode()})
    result = run("feeds", "import", path, db=tmp_path / "db")
    (problem,) = refused(result)
    assert problem.startswith(f"{path}: not a readable XLSX workbook: ")
    # expat's own amplification limit, or defusedxml refusing entities when installed
    assert "limit on input amplification factor" in problem or "EntitiesForbidden" in problem


def test_a_sheet_claiming_every_row_and_column_is_read_in_bounded_time(tmp_path: Path) -> None:
    rows = "".join(
        f'<row r="{n}"><c r="XFD{n}" t="inlineStr"><is><t>10.0.0.{n % 250}</t></is></c></row>'
        for n in range(2, 50_000)
    )
    sheet = (
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<dimension ref="A1:XFD1048576"/><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>ip</t></is></c></row>'
        f'{rows}<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>1.2.3.4</t></is></c></row>'
        "</sheetData></worksheet>"
    )
    path = _workbook(tmp_path / "ioc.xlsx", {"xl/worksheets/sheet1.xml": sheet.encode()})
    result = run("feeds", "import", path, db=tmp_path / "db")
    assert result.returncode == 0, result.stderr
    assert "feed ioc: 1 indicators" in result.stdout  # column XFD is past MAX_COLUMNS


def test_a_feed_past_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    row = b"ip,comment\n" + b"10.1.2.3,C2 may chu dieu khien\n" * 2
    with path.open("wb") as handle:
        handle.write(row * (limits.MAX_BYTES // len(row) + 1000))
    line = (row * (limits.MAX_BYTES // len(row) + 1000))[: limits.MAX_BYTES].count(b"\n") + 1
    result = run("feeds", "import", path, db=tmp_path / "db")
    assert refused(result) == [f"{path}:{line}: the file goes on past 128 MiB: split the feed"]


def test_a_feed_of_too_many_lines_is_refused_before_any_is_read(tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    path.write_bytes(b"ip\n" + b"1.2.3.4\n" * limits.MAX_ENTRIES)
    result = run("feeds", "import", path, db=tmp_path / "db")
    assert refused(result) == [
        f"{path}:{limits.MAX_ENTRIES + 1}: more than 2,000,000 lines: split the feed"
    ]


JSON_FEEDS = {
    "deep.json": (
        '{"Event": {"info": "x",\n "Attribute": ' + DEEP + "}}",
        ["2: nested more than 64 levels deep"],
    ),
    "number.json": (
        '{"Event": {"info": "x",\n "Attribute": [\n {"type": "ip-dst", "value": "1.2.3.4", '
        f'"timestamp": {LONG_NUMBER}}}]}}}}',
        ["3: a number of more than 64 digits"],
    ),
}


@pytest.mark.parametrize("name", JSON_FEEDS)
def test_a_hostile_json_feed_is_refused_at_its_line(tmp_path: Path, name: str) -> None:
    text, expected = JSON_FEEDS[name]
    path = _inventory(tmp_path, name, text)
    result = run("feeds", "import", path, db=tmp_path / "db")
    assert refused(result) == [f"{path}:{line}" for line in expected]


def test_a_stix_pattern_nested_or_too_long_is_skipped_with_its_field(tmp_path: Path) -> None:
    nested = "(" * 1000 + "[ipv4-addr:value = '1.2.3.4']" + ")" * 1000  # 2,030 characters
    alternatives = (f"[ipv4-addr:value = '10.0.{n // 250}.{n % 250}']" for n in range(200))
    objects = [
        {"type": "indicator", "pattern": nested},
        {"type": "indicator", "pattern": " OR ".join(alternatives)},
    ]
    path = _inventory(tmp_path, "bundle.json", json.dumps({"type": "bundle", "objects": objects}))
    result = run("feeds", "import", path, db=tmp_path / "db")
    assert refused(result) == [
        f"{path}: objects[0].pattern: not a valid STIX pattern: nested too deeply",
        f"{path}: objects[1].pattern: longer than 4,096 characters",
        f"{path}: no IP, CIDR, domain or URL indicator found",
    ]


@pytest.mark.timeout(15)
def test_a_csv_that_makes_the_dialect_sniffer_quadratic_is_answered_at_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sniff"
    path.write_text("ip,domain\n" + ',"' * 32_000 + "\n", encoding="utf-8")  # 20 s at 64 KiB
    result = run("feeds", "import", path, db=tmp_path / "db")
    assert refused(result)[-1] == f"{path}: no IP, CIDR, domain or URL indicator found"


# --- report templates --------------------------------------------------------------------

TEMPLATES = {
    "syntax": ("[subject]\n{% if report.kind %}\nV/v {{ report.unit.name }\n", 3),
    "undefined": ("[subject]\n\nV/v {{ report.no_such_field }}\n", 3),
}


@pytest.mark.parametrize("name", TEMPLATES)
def test_a_broken_report_template_is_refused_at_its_line(tmp_path: Path, name: str) -> None:
    db = tmp_path / "raquet.db"
    with Store(f"sqlite:///{db}") as store:
        forged.build(store, forged.PLAIN_NAME, forged.PLAIN_PROVINCE)
    text, line = TEMPLATES[name]
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "text.vi.j2").write_text(text, encoding="utf-8")
    out = tmp_path / "letter.html"
    args = ["report", "--week", "2021-W22", "-f", "html", "-o", out, "--templates", templates]
    (problem,) = refused(run(*args, db=db))
    assert problem.startswith(f"{templates / 'text.vi.j2'}:{line}: template error: ")
    assert not out.exists()
