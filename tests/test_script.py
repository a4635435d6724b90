"""The one-round-trip script, run by a real /bin/sh: sections, timeouts, hostile bytes, size limit."""

from __future__ import annotations

import subprocess
import time

from checks import registry
from checks.base import Check, Context, HostFacts, Sections
from raquet.models import Finding, Host, OsName
from raquet.policy import Policy
from raquet.script import MAX_OUTPUT, build, new_nonce, split


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


def run(checks: list[Check], timeout: float = 5) -> tuple[Sections, float]:
    nonce = new_nonce()
    script = build(checks, "linux", Policy(), nonce, timeout)
    started = time.monotonic()
    out = subprocess.run(["sh", "-c", script], capture_output=True, timeout=60).stdout
    return split(out.decode("ascii").splitlines(), nonce), time.monotonic() - started


def test_real_checks_on_this_machine_give_every_section() -> None:
    sections, _ = run(list(registry().values()), timeout=60)
    assert sections["host.clock"].split()[0].isdigit()
    assert "ID=" in sections["host.os_release"]
    for name in registry():
        assert f"{name}.__exit" in sections


def test_quotes_and_forged_markers_and_raw_bytes_survive() -> None:
    text = r"""rq t.data
printf '%s\n' "it's \"quoted\""
printf '@@rq:0123456789abcdef t.forged\n'
printf '\377\376 not utf-8 \033[31m\n'"""
    sections, _ = run([ShellCheck("t", text)])
    lines = sections["t.data"].splitlines()
    assert lines[0] == 'it\'s "quoted"'
    assert lines[1] == "@@rq:0123456789abcdef t.forged"  # another nonce: just data
    assert "\ufffd\ufffd not utf-8" in lines[2]
    assert sections["t.__exit"] == "0"


def test_a_hung_check_costs_only_itself() -> None:
    slow = ShellCheck("slow", "rq slow.x\nsleep 30")
    fast = ShellCheck("fast", "rq fast.x\necho done")
    sections, elapsed = run([slow, fast], timeout=1)
    assert sections["slow.__exit"] == "124"
    assert sections["fast.x"] == "done"
    assert elapsed < 10
    finding = slow.judge(
        sections, Host(name="h", address="192.0.2.1"), HostFacts(), Context()
    ).finding
    assert finding.status == "error" and "timed out" in finding.title


def test_output_is_bounded() -> None:
    flood = ShellCheck("flood", "rq flood.x\nhead -c 20000000 /dev/zero | tr '\\0' 'a'")
    sections, _ = run([flood], timeout=30)
    assert sections.truncated
    assert len(sections["flood.x"]) <= MAX_OUTPUT
    assert "flood.__exit" not in sections  # so the check reports an error, not a verdict
