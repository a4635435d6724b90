"""How long pending security updates have waited, for `patches.max_pending_days` (SPEC §2).

A package manager does not say since when an update is pending, so the store keeps the
first sweep that saw each (package, version) on each host; the sweep engine hands that
lookup to the checks through `Context.pending_since`. With the default limit of 0, or
without a store (a plain pyinfra deploy), every pending security update counts at once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from checks.base import Context, HostFacts
from raquet.models import Host


def overdue(
    host: Host, updates: list[tuple[str, str]], facts: HostFacts, ctx: Context
) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """The (package, version) pairs pending longer than the policy allows, and the evidence
    of since when each has waited."""
    limit = ctx.policy.patches.max_pending_days
    if limit <= 0 or ctx.pending_since is None or not updates:
        return updates, {}
    since = ctx.pending_since(host.name, updates, facts.now)
    late = [u for u in updates if facts.now - since[u] > timedelta(days=limit)]
    evidence = {
        "max_pending_days": limit,
        "pending_since": [
            {"package": name, "version": version, "since": since[(name, version)].isoformat()}
            for name, version in updates[:200]
        ],
        "overdue_security": len(late),
    }
    return late, evidence
