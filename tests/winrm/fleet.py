"""Start the stand-in fleet for a test and write the raquet inventory that reaches it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from ruamel.yaml import YAML

from tests.winrm import pki, scenario

PASSWORD_ENV = "RAQUET_TEST_WINRM_PASSWORD"
PASSWORD = "Rà-quét 2021!"  # non-ASCII on purpose: NTLM and Basic must carry it intact
ROOT = Path(__file__).resolve().parents[2]


class StandInFleet:
    """The stand-in process serving every host of a scenario; ports are known once started."""

    def __init__(self, spec: scenario.FleetSpec, workdir: Path) -> None:
        self.spec, self.workdir = spec, workdir
        self.ca, self.cert, self.key = pki.make(workdir)
        self.journal = workdir / "journal"
        self.journal.mkdir(exist_ok=True)
        self.ports: dict[str, int] = {}
        self.hosts = {h.name: h for h in spec.hosts}
        self._process: subprocess.Popen[bytes] | None = None

    def user(self, host: scenario.HostSpec) -> str:
        return f"rq-{host.name}"

    def __enter__(self) -> StandInFleet:
        users, wiring = [], {}
        for host in self.spec.hosts:
            password = PASSWORD if host.behaviour != "wrong_password" else "another password"
            users.append(f"AGENCY:{self.user(host)}:{password}")
            scheme = "https" if host.transport == "basic" else "http"
            wiring[host.name] = {"scheme": scheme, "user": self.user(host), "password": password}
        (self.workdir / "ntlm_users").write_text("\n".join(users) + "\n", encoding="utf-8")
        scenario_path = self.workdir / "scenario.json"
        scenario_path.write_text(self.spec.model_dump_json())
        ready = self.workdir / "ready.json"
        config = {
            "ntlm_user_file": str(self.workdir / "ntlm_users"),
            "scenario": str(scenario_path),
            "journal": str(self.journal),
            "ready": str(ready),
            "cert": str(self.cert),
            "key": str(self.key),
            "hosts": wiring,
        }
        (self.workdir / "config.json").write_text(json.dumps(config))
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.winrm", str(self.workdir / "config.json")], cwd=ROOT
        )
        deadline = time.monotonic() + 30
        while not ready.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the WinRM stand-in did not start")
            time.sleep(0.05)
        self.ports = json.loads(ready.read_text())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)

    def inventory(self, path: Path, *, ca_bundle: bool = True) -> Path:
        """A raquet inventory of the fleet, grouped by unit, with the stand-in's CA trusted."""
        units: dict[str, list[dict[str, object]]] = {}
        for host in self.spec.hosts:
            entry: dict[str, object] = {
                "name": host.name,
                "address": "127.0.0.1",
                "os": "windows",
                "role": host.role,
                "winrm_transport": host.transport,
                "winrm_port": self.ports[host.name],
                "winrm_user": self.user(host)
                if host.transport == "basic"
                else f"AGENCY\\{self.user(host)}",
                "winrm_password_env": PASSWORD_ENV,
            }
            if host.transport == "basic":
                entry["winrm_scheme"] = "https"
                if ca_bundle:
                    entry["winrm_ca_bundle"] = str(self.ca)
            units.setdefault(host.unit, []).append(entry)
        document = {
            "province": self.spec.province,
            "units": [{"id": unit, "name": unit, "hosts": hosts} for unit, hosts in units.items()],
        }
        with path.open("w", encoding="utf-8") as out:
            YAML().dump(document, out)
        return path

    def last_script(self, host: str) -> str:
        return (self.journal / f"{host}.ps1").read_text(encoding="utf-8")
