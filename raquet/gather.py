"""The sweep's one remote command, as a pyinfra fact: a command (the joined script) plus a parser.

The engine runs this fact's command itself (to keep exit status, stderr and timeouts as
evidence, which `host.get_fact` would swallow); `deploys/sweep.py` uses it through plain
`host.get_fact`, so both paths gather exactly the same way.
"""

from __future__ import annotations

from pyinfra.api import FactBase, StringCommand

from checks import select as select_checks
from checks.base import Check, Context, HostFacts, Sections
from raquet.models import Detection, Finding, Host, OsName
from raquet.policy import Policy
from raquet.script import build, new_nonce, split


class ComplianceState(FactBase[Sections]):
    """Every selected check's sections from one run of the gather script."""

    nonce = ""

    def command(
        self,
        checks: list[str],
        timeout: int = 60,
        policy: Policy | None = None,
        os: OsName = "linux",
    ) -> StringCommand:
        self.nonce = new_nonce()
        script = build(select_checks(checks), os, policy or Policy(), self.nonce, timeout)
        return StringCommand(script)

    def process(self, output: list[str]) -> Sections:
        return split(output, self.nonce)

    @staticmethod
    def default() -> Sections:
        return Sections()


def judge(
    selected: list[Check], sections: Sections, host: Host, ctx: Context
) -> tuple[list[Finding], list[Detection]]:
    """Every selected check's finding from one host's sections, and the detections they read."""
    facts = HostFacts.parse(sections)
    findings: list[Finding] = []
    detections: list[Detection] = []
    for check in selected:
        if check.snippet(host.os, ctx.policy) is None:
            findings.append(
                check.not_applicable(f"{check.title} is not checked on {host.os} hosts yet")
            )
            continue
        outcome = check.judge(sections, host, facts, ctx)
        findings.append(outcome.finding)
        detections.extend(outcome.detections)
    return findings, detections
