"""What a remediation is: the pyinfra operations that would fix one failing finding on one host.

Planning never touches a host. From a finding read back from the store (untrusted: its
evidence came from the host and from indicator feeds) and the policy, a remediation module
returns operation calls. The engine adds them to a pyinfra State, and pyinfra's own facts
decide at prepare and at execute time what actually has to run, so every operation is
idempotent: it yields nothing when the host is already fixed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from raquet.models import Finding, Host
from raquet.policy import Policy


@dataclass(frozen=True)
class Step:
    """One pyinfra operation call.

    Every remediation changes the system, so its operations run under sudo when the
    inventory says the SSH user needs it (`sudo: true`); the facts they read that any
    user may read are read without it. `after_change` steps run only when an earlier step
    of the same remedy changed something (a scan after a quarantine), so a second run
    stays a no-op. `undo` says what to remove to take the step back; it is recorded only
    when the step changed the host.
    """

    title: str
    op: Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)
    after_change: bool = False
    undo: dict[str, str] | None = None


@dataclass
class Remedy:
    """The steps that fix one finding, and what raquet will not do about it (said, never hidden)."""

    check: str
    finding: Finding
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    verified: Callable[[Finding | None], list[str]] | None = None
    """After an apply: what the re-swept finding says of each thing this remedy was to fix
    (`vulns`: per package, whether the fixed version was reached), as lines to show."""
    outcome: list[str] = field(default_factory=list)
    """Those lines, once the re-sweep is in."""


@dataclass(frozen=True)
class RemedyContext:
    """What a plan may use besides the finding.

    `tag` is short and unique per remediation; whatever the remediation creates on the
    host that can be undone (a firewall table, marked hosts-file lines) carries it.
    """

    host: Host
    policy: Policy
    tag: str
    reboot: bool = False
