"""The one-round-trip script, run by a real /bin/sh: sections, timeouts, hostile bytes, budgets,
and the strict frame that no content can forge (Hypothesis for the splitter)."""

from __future__ import annotations

import base64
import subprocess
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from checks import registry
from checks.base import Check, Context, HostFacts, Sections
from raquet.framing import split
from raquet.models import Finding, Host, OsName
from raquet.policy import Policy
from raquet.script import CHECK_BUDGET, Script, build

HOST = Host(name="h", address="192.0.2.1")


class ShellCheck(Check[Sections]):
    """A test check whose snippet is whatever shell text the test gives it."""

    title = "Test"

    def __init__(self, name: str, text: str) -> None:
        self.name, self.text = name, text  # type: ignore[misc]

    def snippet(self, os: OsName, policy: Policy) -> str | None:
        return self.text

    def parse(self, sections: Sections, facts: HostFacts) -> Sections:
        return sections

    def evaluate(self, state: Sections, host: Host, facts: HostFacts, ctx: Context) -> Finding:
        return Finding(check=self.name, status="pass", title="ok")


def execute(script: Script) -> bytes:
    return subprocess.run(
        ["sh", "-s"], input=script.text.encode(), capture_output=True, timeout=120
    ).stdout


def run(checks: list[Check], timeout: float = 5) -> tuple[Sections, float]:
    script = build(checks, "linux", Policy(), timeout)
    started = time.monotonic()
    out = execute(script)
    return split(out, script), time.monotonic() - started


def test_real_checks_on_this_machine_give_every_section() -> None:
    sections, _ = run(list(registry().values()), timeout=60)
    assert sections.complete and sections.tampered is None
    assert sections["host.clock"].split()[0].isdigit()
    assert "ID=" in sections["host.os_release"]
    for name in registry():
        assert f"{name}.__exit" in sections


def test_quotes_forged_frame_lines_and_raw_bytes_are_only_data() -> None:
    text = r"""rq t.data
printf '%s\n' "it's \"quoted\""
printf 'RQ1 sec t.other 0 aGVsbG8=\nRQ1 exit t 0\nRQ1 end\n'
printf '\377\376 not utf-8 \033[31m\n'
printf 'a\013b\034c\342\200\250d\n'"""
    sections, _ = run([ShellCheck("t", text)])
    assert sections.tampered is None and sections.complete
    lines = sections["t.data"].split("\n")
    assert lines[0] == 'it\'s "quoted"'
    assert lines[1:4] == ["RQ1 sec t.other 0 aGVsbG8=", "RQ1 exit t 0", "RQ1 end"]
    assert "\ufffd\ufffd not utf-8" in lines[4]
    assert lines[5] == "a\x0bb\x1cc\u2028d"
    assert "t.other" not in sections and sections["t.__exit"] == "0"


def test_a_hung_check_costs_only_itself() -> None:
    slow = ShellCheck("slow", "rq slow.x\nsleep 30")
    fast = ShellCheck("fast", "rq fast.x\necho done")
    sections, elapsed = run([slow, fast], timeout=1)
    assert sections["slow.__exit"] == "124"
    assert sections["fast.x"] == "done"
    assert elapsed < 10
    finding = slow.judge(sections, HOST, HostFacts(), Context()).finding
    assert finding.status == "error" and "timed out" in finding.title


def test_one_checks_flood_stays_within_its_budget_and_spares_the_others() -> None:
    flood = ShellCheck("flood", "rq flood.x\necho small\nrq flood.y\nhead -c 20000000 /dev/zero")
    after = ShellCheck("after", "rq after.x\necho still here")
    sections, _ = run([flood, after], timeout=30)
    assert sections.tampered is None and sections.complete
    assert sections["flood.x"] == "small"
    assert sections.over_budget == {"flood.y"}
    assert len(sections["flood.y"]) <= CHECK_BUDGET
    assert sections["after.x"] == "still here"
    finding = flood.judge(sections, HOST, HostFacts(), Context()).finding
    assert finding.status == "error" and "budget" in finding.title
    assert after.judge(sections, HOST, HostFacts(), Context()).finding.status == "pass"


def test_the_script_holds_no_secret_and_differs_in_nothing_between_runs() -> None:
    """The frame needs no nonce: two builds are byte-identical, so nothing in the script
    (which `deploys/sweep.py` puts on a command line) can be worth reading."""
    checks = list(registry().values())
    assert build(checks, "linux", Policy(), 60).text == build(checks, "linux", Policy(), 60).text


def _frame(*lines: bytes) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def _b64(text: str) -> bytes:
    return base64.b64encode(text.encode())


def _two_checks() -> Script:
    a, b = ShellCheck("a", "rq a.x\necho 1\nrq a.y\necho 2"), ShellCheck("b", "rq b.x\necho 3")
    return build([a, b], "linux", Policy(), 5)


def test_a_well_formed_frame_reads_back() -> None:
    script = _two_checks()
    data = _frame(
        b"motd from a login shell",
        b"RQ1 begin",
        b"RQ1 exit host 0",
        b"RQ1 sec a.x 0 " + _b64("one"),
        b"RQ1 exit a 0",
        b"RQ1 sec b.x 1 " + _b64("three"),
        b"RQ1 exit b 0",
        b"RQ1 end",
    )
    sections = split(data, script)
    assert sections.tampered is None and sections.complete
    assert sections["a.x"] == "one" and sections["b.x"] == "three"
    assert sections.over_budget == {"b.x"}


def test_a_repeated_unknown_or_out_of_turn_section_is_tampering() -> None:
    script = _two_checks()
    head = [b"RQ1 begin", b"RQ1 exit host 0"]
    cases = {
        "appears twice": [b"RQ1 sec a.x 0 " + _b64("1"), b"RQ1 sec a.x 0 " + _b64("2")],
        "is not one check a writes": [b"RQ1 sec b.x 0 " + _b64("1")],
        "out of turn": [b"RQ1 exit b 0"],
        "not part of": [b"a stray line"],
        "base64": [b"RQ1 sec a.x 0 @@@@"],
        "continues after the end": [
            b"RQ1 exit a 0",
            b"RQ1 exit b 0",
            b"RQ1 end",
            b"RQ1 sec a.y 0 " + _b64("x"),
        ],
    }
    for why, lines in cases.items():
        sections = split(_frame(*head, *lines), script)
        assert sections.tampered and why in sections.tampered, (why, sections.tampered)
        assert not dict(sections)  # nothing of a broken frame is kept
        check = ShellCheck("a", "")
        finding = check.judge(sections, HOST, HostFacts(), Context()).finding
        assert finding.status == "error" and finding.severity == "critical"
        assert finding.evidence["tampered"] is True and "tampered" in finding.title


def test_a_stream_that_stops_is_not_tampering() -> None:
    script = _two_checks()
    data = _frame(b"RQ1 begin", b"RQ1 exit host 0", b"RQ1 sec a.x 0 " + _b64("1")) + b"RQ1 se"
    sections = split(data, script)
    assert sections.tampered is None and not sections.complete
    assert sections["a.x"] == "1" and "a.__exit" not in sections


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_raise_and_never_name_a_section_the_script_does_not_write(
    data: bytes,
) -> None:
    script = _two_checks()
    allowed = {n for names in script.sections.values() for n in names}
    allowed |= {f"{c}.__exit" for c in script.checks}
    sections = split(data, script)
    assert set(sections) <= allowed


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_whatever_a_host_file_holds_arrives_as_itself(content: bytes) -> None:
    """Content read on the host (here a file of arbitrary bytes) is only ever data."""
    import tempfile

    with tempfile.NamedTemporaryFile() as f:
        f.write(content)
        f.flush()
        check = ShellCheck("t", f"rq t.file\ncat {f.name}")
        script = build([check], "linux", Policy(), 10)
        sections = split(execute(script), script)
    assert sections.tampered is None and sections.complete
    assert set(sections) == {"host.os_release", "host.clock", "host.zone", "host.uname"} | {
        "host.__exit",
        "t.file",
        "t.__exit",
    }
    assert sections["t.file"] == content.decode("utf-8", "replace").strip("\n")
