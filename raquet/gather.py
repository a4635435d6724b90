"""The sweep's one remote command, as a pyinfra fact: a command (the joined script) plus a parser.

The engine sends this fact's script itself (`raquet.channel`: on stdin, under the jump
host's byte cap, keeping exit status and stderr as evidence, which `host.get_fact` would
swallow); `deploys/sweep.py` uses it through plain `host.get_fact`, where pyinfra puts the
script on the command line and reads its output unbounded. The frame needs no secret, so
both paths gather and judge exactly the same way; only the sweep bounds what it reads.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import TYPE_CHECKING

from pyinfra.api import FactBase, StringCommand

from checks import select as select_checks
from checks.base import Check, Context, HostFacts, Sections
from raquet import framing, powershell, waivers
from raquet.feeds import IndicatorSet
from raquet.models import Detection, Finding, Host, OsName
from raquet.policy import Policy
from raquet.script import Script, build

if TYPE_CHECKING:
    from raquet.store import Store
    from raquet.vulns import VulnIndex


class ComplianceState(FactBase[Sections]):
    """Every selected check's sections from one run of the gather script."""

    script = Script("")

    def command(
        self,
        checks: list[str],
        timeout: int = 60,
        policy: Policy | None = None,
        os: OsName = "linux",
    ) -> StringCommand:
        self.script = build(select_checks(checks), os, policy or Policy(), timeout)
        return StringCommand(self.script.text)

    def process(self, output: list[str]) -> Sections:
        return split(self.script, "\n".join(output).encode() + b"\n")

    @staticmethod
    def default() -> Sections:
        return Sections()


def split(script: Script, stdout: bytes) -> Sections:
    """The host's answer to `script`, in sections."""
    if script.os == "windows":
        return powershell.split(stdout.decode("utf-8", "replace").split("\n"), script)
    return framing.split(stdout, script)


def judge(
    selected: list[Check], sections: Sections, host: Host, ctx: Context
) -> tuple[list[Finding], list[Detection]]:
    """Every selected check's finding from one host's sections, and the detections they read.

    Waivers are applied here, where findings are made, so that the stored finding, the
    `--json` document, the summary and the reports all see the same `waived` verdict."""
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
        finding = outcome.finding
        if ctx.waivers:
            finding = waivers.apply(finding, host, ctx.waivers, date.today())
        findings.append(finding)
        detections.extend(outcome.detections)
    return findings, detections


def sweep_context(store: Store, policy: Policy, checks: list[str]) -> Context:
    """The policy; the indicator index of the store's feeds when `connections` will run; the
    store's record of pending updates when `patches` has a `max_pending_days` to judge; the
    store's vulnerability data, indexed, when `vulns` will run."""
    indicators = None
    if "connections" in checks:
        indicators = store.indicator_set(policy.connections.feeds) or None
    pending_since = None
    if "patches" in checks and policy.patches.max_pending_days > 0:
        pending_since = store.pending_since
    vulns = store.vuln_index() if "vulns" in checks else None
    return Context(policy=policy, indicators=indicators, pending_since=pending_since, vulns=vulns)


@cache
def stored_indicators(db: str | None, feeds: tuple[str, ...] | None) -> IndicatorSet | None:
    """The store's feeds indexed once per process, for callers that judge host by host."""
    from raquet.store import Store

    with Store(db) as store:
        indicators = store.indicator_set(list(feeds) if feeds is not None else None)
    return indicators if len(indicators) else None


@cache
def stored_vulns(db: str | None) -> VulnIndex | None:
    """The store's vulnerability data indexed once per process (`deploys/sweep.py`)."""
    from raquet.store import Store

    with Store(db) as store:
        return store.vuln_index()
