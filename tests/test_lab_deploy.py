"""`pyinfra INVENTORY deploys/sweep.py` judges the lab fleet exactly as `raquet sweep` does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from checks import registry
from tests.conftest import ROOT, raquet_cli
from tests.lab.fleet import Fleet

UNIT = "so-tttt"


def test_plain_pyinfra_deploy_agrees_with_raquet_sweep(spine_fleet: Fleet, tmp_path: Path) -> None:
    hosts = [h for h in spine_fleet.hosts.values() if h.unit == UNIT]
    entries = ",\n".join(
        f"    ({h.spec.name!r}, {{'ssh_hostname': {h.address!r}, 'ssh_user': 'root', "
        f"'ssh_key': {str(spine_fleet.client_key)!r}, "
        f"'ssh_known_hosts_file': {str(spine_fleet.known_hosts)!r}, "
        f"'ssh_strict_host_key_checking': 'yes', 'role': {h.spec.role!r}}})"
        for h in hosts
    )
    inventory = tmp_path / "fleet.py"
    inventory.write_text(f"{UNIT.replace('-', '_')} = [\n{entries}\n]\n")
    pyinfra = Path(sys.executable).with_name("pyinfra")
    proc = subprocess.run(
        [str(pyinfra), "-y", str(inventory), "deploys/sweep.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    from_deploy = {
        tuple(line.split(": ", 3)[:3])
        for line in proc.stdout.splitlines()
        if line.split(": ")[0] in {h.spec.name for h in hosts}
    }

    swept = raquet_cli(
        "sweep",
        "-i",
        spine_fleet.inventory_path,
        "--unit",
        UNIT,
        "--db",
        f"sqlite:///{tmp_path}/s.db",
        "--json",
        tmp_path / "s.json",
    )
    document = json.loads((tmp_path / "s.json").read_text())
    from_raquet = {
        (h["name"], f["check"], f["status"]) for h in document["hosts"] for f in h["findings"]
    }
    assert swept.returncode in (0, 1), swept.stderr
    assert from_deploy == from_raquet
    assert len(from_raquet) == len(registry()) * len(hosts)
