"""The stand-in fleet's known state, one entry per Windows host (YAML, like tests/lab/scenarios).

Each field says what the host *is* (Defender in passive mode, a hotfix installed 40 days
ago, KMSpico's folder present…), in the terms a test asserts on; `windows.py` turns it
into what the gather script would print there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from ruamel.yaml import YAML


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OsSpec(_Spec):
    caption: str = "Microsoft Windows 10 Pro"
    build: int = 19045
    ubr: int = 4529
    display_version: str | None = "22H2"
    edition: str = "Professional"
    product_type: Literal[1, 2, 3] = 1  # 1 workstation, 2 domain controller, 3 server
    zone: str = "SE Asia Standard Time"
    utc_offset_minutes: int = 420

    @property
    def server(self) -> bool:
        return self.product_type != 1


class DefenderSpec(_Spec):
    mode: str | None = "Normal"  # AMRunningMode; None on builds that predate the field
    am_service: bool = True
    antivirus: bool = True
    realtime: bool = True
    signature_age_days: float = 0.5
    tamper_protected: bool = True


class AvProductSpec(_Spec):
    name: str  # as SecurityCenter2 displays it
    enabled: bool = True
    up_to_date: bool = True
    services: list[str] = Field(default_factory=list)  # running services (Server SKUs)
    management: list[str] = Field(default_factory=list)  # management agent services running


class HotfixSpec(_Spec):
    id: str
    description: str = "Security Update"
    installed_days_ago: int | None = 10


class PendingSpec(_Spec):
    title: str
    kb: str
    severity: str | None = None  # MsrcSeverity: Critical, Important, Moderate, Low
    categories: list[str] = Field(default_factory=lambda: ["Updates"])


class PatchSpec(_Spec):
    hotfixes: list[HotfixSpec] = Field(default_factory=list)
    last_install_days_ago: float | None = 10
    search: Literal["ok", "denied"] = "ok"
    pending: list[PendingSpec] = Field(default_factory=list)
    reboot: list[Literal["cbs", "wu", "rename", "file_rename"]] = Field(default_factory=list)


class ProgramSpec(_Spec):
    name: str
    version: str = "1.0"
    publisher: str = ""
    hive: str = "HKLM"  # HKLM (64-bit view), HKLM32 (WOW6432Node), HKU:<SID>


class ActivationSpec(_Spec):
    status: int = 1  # SoftwareLicensingProduct.LicenseStatus
    channel: str = "Retail"
    kms_host: str | None = None  # KeyManagementServiceMachine
    kms_registry: str | None = None  # KeyManagementServiceName in the SPP key


class TracesSpec(_Spec):
    paths: list[str] = Field(default_factory=list)  # entries of the activator table present
    tasks: list[str] = Field(default_factory=list)
    ifeo_hook: bool = False
    services: list[str] = Field(default_factory=list)


class TcpSpec(_Spec):
    remote: str
    port: int
    state: str = "Established"
    pid: int = 4242
    process: str = "chrome"


class DnsSpec(_Spec):
    name: str
    data: str
    type: int = 1  # A


class DetectionSpec(_Spec):
    threat: str
    path: str
    days_ago: float = 1
    status: int = 3  # ThreatStatusID: 3 quarantined
    severity: int = 5
    category: int = 8
    action_success: bool = True


class HostSpec(_Spec):
    name: str
    unit: str
    role: Literal["server", "workstation"] = "workstation"
    transport: Literal["ntlm", "basic"] = "ntlm"
    behaviour: Literal["normal", "hang", "silent", "ps2", "wrong_password"] = "normal"
    os: OsSpec = Field(default_factory=OsSpec)
    defender: DefenderSpec | None = Field(default_factory=DefenderSpec)
    av: list[AvProductSpec] = Field(default_factory=list)
    patches: PatchSpec = Field(default_factory=PatchSpec)
    software: list[ProgramSpec] = Field(default_factory=list)
    activation: ActivationSpec = Field(default_factory=ActivationSpec)
    traces: TracesSpec = Field(default_factory=TracesSpec)
    tcp: list[TcpSpec] = Field(default_factory=list)
    netstat: bool = False  # no Get-NetTCPConnection (Windows 7): the script falls back to netstat
    dns: list[DnsSpec] = Field(default_factory=list)
    hosts_file: list[str] = Field(default_factory=list)
    detections: list[DetectionSpec] = Field(default_factory=list)
    slow_checks: list[str] = Field(default_factory=list)  # still running at the deadline
    failing_checks: dict[str, str] = Field(default_factory=dict)  # check -> exception text


class FleetSpec(_Spec):
    province: str = "Lạng Sơn"
    hosts: list[HostSpec]


def load(path: Path) -> FleetSpec:
    return FleetSpec.model_validate(YAML(typ="safe").load(path.read_text(encoding="utf-8")))
