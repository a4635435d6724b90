"""The Windows gather script: how it is built, quoted, split back, and what its dates mean."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from checks import registry, select
from checks.base import HostFacts, Sections
from checks.windows.common import parse_date
from raquet import powershell
from raquet.connectors import clixml
from raquet.policy import Policy
from raquet.script import Script, build

NONCE = "0123456789abcdef"
WINDOWS = Script("", "windows", NONCE, ["host", *registry()])


def _output(checks: dict[str, object], nonce: str = NONCE) -> list[str]:
    document = json.dumps({"v": 1, "checks": checks}).encode()
    return ["noise before", f"@@rq:{nonce} {base64.b64encode(document).decode()}", "noise after"]


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("plain", "'plain'"),
        ("it's", "'it''s'"),
        ("$(Remove-Item C:\\ -Recurse)", "'$(Remove-Item C:\\ -Recurse)'"),
        ("a\u2019b", "'a\u2019\u2019b'"),  # PowerShell also ends a string at typographic quotes
        ('`n"', "'`n\"'"),
    ],
)
def test_quote_makes_inert_literals(value: str, literal: str) -> None:
    assert powershell.quote(value) == literal


def test_script_carries_every_check_and_the_nonce() -> None:
    built = build(select(None), "windows", Policy(), 30)
    script = built.text
    names = re.findall(r"^\[void\]\$rq_checks\.Add\(@\('([a-z]+)', \{", script, re.MULTILINE)
    assert names == ["host", *registry()]
    assert f"$rq_marker = '@@rq:{built.nonce}'" in script
    assert "$rq_limit_ms = 30000" in script
    assert "Win32_Product" not in script  # its enumeration reconfigures MSI products
    assert script.count("{") == script.count("}")


def test_table_values_reach_the_script_only_as_literals() -> None:
    script = build(select(["av", "software"]), "windows", Policy(), 30).text
    assert "'AVP*'" in script and "'klnagent'" in script
    assert "@('%ProgramFiles%\\KMSpico'," in script
    assert '"%ProgramFiles%' not in script  # never in an expanding (double-quoted) string


def test_split_reads_the_marked_document_only() -> None:
    lines = _output(
        {
            "av": {"exit": "0", "data": {"MpComputerStatus": {"AMServiceEnabled": True}}},
            "patches": {"exit": "124", "data": None},
            "software": {"exit": "error: System.Exception: boom", "data": None},
        }
    )
    sections = powershell.split(lines, WINDOWS)
    assert json.loads(sections["av.json"]) == {"MpComputerStatus": {"AMServiceEnabled": True}}
    assert sections["patches.__exit"] == "124" and "patches.json" not in sections
    assert sections["software.__exit"] == "error: System.Exception: boom"


@pytest.mark.parametrize(
    "lines",
    [
        [],
        ["@@rq:ffffffffffffffff " + base64.b64encode(b'{"checks":{}}').decode()],  # other nonce
        [f"@@rq:{NONCE} not base64 at all!"],
        [f"@@rq:{NONCE} " + base64.b64encode(b"[1, 2]").decode()],
        [f"@@rq:{NONCE} " + base64.b64encode(b'{"checks": [1]}').decode()],
        [f"@@rq:{NONCE} " + base64.b64encode(b'{"checks": {"av": "x"}}').decode()],
    ],
)
def test_split_survives_garbage(lines: list[str]) -> None:
    sections = powershell.split(lines, WINDOWS)
    assert "host.clock" not in sections and "av.json" not in sections


def _host(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "Caption": "Microsoft Windows 10 Pro",
        "BuildNumber": "19045",
        "ProductType": 1,
        "UBR": 4529,
        "DisplayVersion": "22H2",
        "EditionID": "Professional",
        "Now": "/Date(1623110400000)/",
        "UtcOffsetMinutes": 420,
        "TimeZone": "SE Asia Standard Time",
    }
    return base | fields


@pytest.mark.parametrize(
    ("fields", "os_id", "like", "variant"),
    [
        ({}, "windows", [], "workstation"),
        ({"EditionID": "Enterprise"}, "windows-enterprise", ["windows"], "workstation"),
        (
            {"EditionID": "EnterpriseS"},
            "windows-ltsc",
            ["windows-enterprise", "windows"],
            "workstation",
        ),
        ({"ProductType": 3, "EditionID": "ServerStandard"}, "windows-server", [], "server"),
        ({"ProductType": 2}, "windows-server", [], "server"),
    ],
)
def test_host_facts(fields: dict[str, object], os_id: str, like: list[str], variant: str) -> None:
    sections = Sections(powershell.host_sections(_host(**fields)))
    facts = HostFacts.parse(sections)
    assert (facts.os_id, facts.os_like, facts.variant_id) == (os_id, like, variant)
    assert facts.windows and facts.os_version == "19045"
    assert facts.now == datetime(2021, 6, 8, tzinfo=UTC)
    assert facts.utc_offset_minutes == 420
    assert facts.now.astimezone(facts.tz).hour == 7  # a Windows zone id: the offset is used
    assert "build 19045.4529" in facts.os_name


def test_host_facts_of_the_wrong_types_are_no_facts() -> None:
    assert powershell.host_sections({"ProductType": "three", "UtcOffsetMinutes": []}) == {}
    assert powershell.host_sections(["not", "an", "object"]) == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/Date(1623081600000)/", datetime(2021, 6, 7, 16, tzinfo=UTC)),
        (
            {"value": "/Date(1623081600000)/", "DateTime": "Monday, June 7, 2021"},
            datetime(2021, 6, 7, 16, tzinfo=UTC),
        ),
        ("/Date(1623081600000+0700)/", datetime(2021, 6, 7, 16, tzinfo=UTC)),
        ("20210608070000.000000+420", datetime(2021, 6, 8, tzinfo=UTC)),
        ("2021-06-08T07:00:00+07:00", datetime(2021, 6, 8, tzinfo=UTC)),
        ("/Date(-62135596800000)/", None),  # DateTime.MinValue
        ("/Date(-11644473600000)/", None),  # the FILETIME epoch, 1601
        ("/Date(notanumber)/", None),
        ("", None),
        (12, None),
        (None, None),
    ],
)
def test_dates_as_windows_powershell_writes_them(value: object, expected: datetime | None) -> None:
    assert parse_date(value) == expected


# stderr of `powershell -EncodedCommand` for an unknown command, recorded on Windows (pywinrm)
PYWINRM_CLIXML = (
    (Path(__file__).parent / "fixtures" / "windows" / "clixml-command-not-found.pywinrm.txt")
    .read_text(encoding="utf-8")
    .replace("\n", "\r\n", 1)
)


def test_clixml_reads_as_the_console_would_show_it() -> None:
    text = clixml.decode(PYWINRM_CLIXML)
    assert text.splitlines()[0] == (
        "fake : The term 'fake' is not recognized as the name of a cmdlet, function, script file, "
        "or operable program. Check"
    )
    assert "FullyQualifiedErrorId : CommandNotFoundException" in text
    assert "Preparing modules" not in text and "<" not in text


def test_clixml_edge_cases() -> None:
    assert clixml.decode("plain stderr") == "plain stderr"
    truncated = PYWINRM_CLIXML[: PYWINRM_CLIXML.index("At line")]
    assert clixml.decode(truncated).startswith("fake : The term")
    warning = '#< CLIXML\r\n<Objs><S S="warning">tiếng Việt _xD83D__xDE00_ &amp; more</S></Objs>'
    assert clixml.decode(warning) == "warning: tiếng Việt 😀 & more"
