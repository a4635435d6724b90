"""A lab scenario: data that says what every host of a test fleet is like.

Tests derive what a sweep must find from the same file, so the fleet's known state and
the expectations can never drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from ruamel.yaml import YAML

from tests.lab import repo


class Connection(BaseModel):
    """A process on the host holding a TCP connection to `address` (bound on the host's own loopback)."""

    model_config = ConfigDict(extra="forbid")

    address: str
    port: int = 443
    process: str = "kdevtmpfsi"


class PlantedDetection(BaseModel):
    """A ClamAV detection written into the host's logs, `days_ago` before the fleet starts."""

    model_config = ConfigDict(extra="forbid")

    days_ago: float
    path: str
    name: str
    via: Literal["clamd", "clamscan"] = "clamd"
    on_disk: bool = False  # the detected file (the EICAR test file) is still there


class HostScenario(BaseModel):
    """One lab host. `kind` other than `debian` makes a host that cannot be swept."""

    model_config = ConfigDict(extra="forbid")

    name: str
    role: Literal["server", "workstation"] = "server"
    kind: Literal["debian", "dead", "tarpit", "refused"] = "debian"
    clamav: Literal["absent", "stopped", "running"] = "running"
    db_age_days: float = 1.0
    db_age_from: Literal["mtime", "freshclam_log"] = "mtime"
    other_av: str | None = None  # process name of another AV product, e.g. kesl (Kaspersky)
    packages: list[str] = Field(default_factory=list)  # lab packages at their old version
    upgraded: list[str] = Field(default_factory=list)  # lab packages at their newer version
    stale_lists: bool = False  # apt sees only the release suite: no update is offered
    reboot_required: bool = False
    os_version: str | None = None  # overrides VERSION_ID in /etc/os-release
    auth: Literal["key", "none"] = "key"
    host_key: Literal["known", "mismatch"] = "known"
    hang: bool = False  # apt-get never returns on this host
    timezone: str | None = None  # IANA zone of the host (default: UTC)
    connections: list[Connection] = Field(default_factory=list)
    hosts_entries: list[str] = Field(default_factory=list)  # lines appended to /etc/hosts
    detections: list[PlantedDetection] = Field(default_factory=list)
    user: str = "root"  # the SSH user; any other user gets NOPASSWD sudo
    firewall: Literal["none", "nftables", "iptables"] = "none"  # what the host already runs
    broken_apt: bool = False  # apt-get fails at once, as with a held dpkg lock
    signature_share: bool = False  # fresh ClamAV signatures in /srv/clamav-share
    eicar_files: list[str] = Field(default_factory=list)  # the EICAR test file, for on-demand scans
    users: list[str] = Field(
        default_factory=list
    )  # unprivileged local accounts (attackers in tests)
    # for the lab's own tests: this host's init hangs before sshd on its first boot or on all
    stall_boot: Literal["never", "once", "always"] = "never"

    @property
    def pending_security(self) -> list[str]:
        return sorted(p for p in self._updatable if repo.is_security(p))

    @property
    def pending_regular(self) -> list[str]:
        return sorted(p for p in self._updatable if not repo.is_security(p))

    @property
    def _updatable(self) -> list[str]:
        """Installed lab packages whose newer version the host's lists offer."""
        return [] if self.stale_lists else [p for p in self.packages if repo.has_update(p)]


class UnitScenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    hosts: list[HostScenario]


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    province: str = "Lạng Sơn"
    units: list[UnitScenario]

    def hosts(self) -> list[tuple[UnitScenario, HostScenario]]:
        return [(unit, host) for unit in self.units for host in unit.hosts]

    def host(self, name: str) -> HostScenario:
        return next(h for _, h in self.hosts() if h.name == name)


def load(path: Path) -> Scenario:
    return Scenario.model_validate(YAML(typ="safe").load(path.read_text(encoding="utf-8")))
