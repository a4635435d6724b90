"""The sweep as a plain pyinfra deploy: `pyinfra INVENTORY deploys/sweep.py` (add `-y` to skip the prompt).

It gathers with the same one-command fact as `raquet sweep` and judges with the same
checks, printing one line per finding; it keeps no history (use `raquet sweep` for the
store, reports and resume). Environment: RAQUET_CHECKS=av,patches to choose checks,
RAQUET_POLICY=FILE for a policy, RAQUET_TIMEOUT=SECONDS per check, RAQUET_DB=URL for the
store whose indicator feeds `connections` matches against (loaded once per run).
"""

import os
from pathlib import Path

from pyinfra import host

from checks import select
from checks.base import Context
from raquet.gather import ComplianceState, judge, stored_indicators, stored_vulns
from raquet.models import Host
from raquet.policy import load_policy

selected = select([n for n in os.environ.get("RAQUET_CHECKS", "").split(",") if n])
policy = load_policy(Path(os.environ["RAQUET_POLICY"]) if os.environ.get("RAQUET_POLICY") else None)
names = [c.name for c in selected]
target_os = host.data.get("os") or "linux"
sections = host.get_fact(
    ComplianceState,
    checks=names,
    timeout=int(os.environ.get("RAQUET_TIMEOUT", "120")),
    policy=policy,
    os=target_os,
)
target = Host(
    name=host.name.lstrip("@").replace("/", "-") or "host",
    address=host.data.get("ssh_hostname") or host.data.get("winrm_hostname") or "127.0.0.1",
    os=target_os,
    role=host.data.get("role") or "server",
    unit=host.data.get("unit") or (host.groups[0] if host.groups else ""),
)
feeds = tuple(policy.connections.feeds) if policy.connections.feeds is not None else None
indicators = (
    stored_indicators(os.environ.get("RAQUET_DB"), feeds) if "connections" in names else None
)
vulns = stored_vulns(os.environ.get("RAQUET_DB")) if "vulns" in names else None
findings, _ = judge(
    selected, sections, target, Context(policy=policy, indicators=indicators, vulns=vulns)
)
for finding in findings:
    print(f"{host.name}: {finding.check}: {finding.status}: {finding.title}")
