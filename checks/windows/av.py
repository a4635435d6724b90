"""`av` on Windows: Microsoft Defender, and third-party products through Security Center or services.

Defender reports itself (`Get-MpComputerStatus`). Other products register with
`root\\SecurityCenter2` on workstations, whose undocumented `productState` says whether
the product is on and its signatures current (bits 12-15: on; bits 4-7: out of date).
Server SKUs have no Security Center ("Invalid namespace"), so there a product counts as
running when one of its services from `data/windows_av.yml` runs. Defender in passive
mode beside another active product is the normal, supported arrangement.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, Field

from checks.base import Context, HostFacts, Sections, load_data
from checks.windows.common import (
    flag,
    load,
    number,
    objects,
    parse_date,
    running_services,
    text,
)
from raquet.models import Finding, Severity
from raquet.powershell import quote_list

DEFENDER = "Microsoft Defender Antivirus"
MP_FIELDS = (
    "AMServiceEnabled, AntivirusEnabled, AntispywareEnabled, RealTimeProtectionEnabled, "
    "OnAccessProtectionEnabled, BehaviorMonitorEnabled, IoavProtectionEnabled, "
    "AntivirusSignatureVersion, AntivirusSignatureLastUpdated, AntivirusSignatureAge, "
    "AMRunningMode, AMProductVersion, AMEngineVersion, IsTamperProtected"
)


class Product(BaseModel):
    name: str
    display_names: list[str]
    services: list[str]
    management: list[str] = Field(default_factory=list)

    def named(self, display_name: str) -> bool:
        return any(fnmatchcase(display_name.lower(), g.lower()) for g in self.display_names)

    def running(self, services: dict[str, bool], names: list[str]) -> bool:
        return any(
            up and fnmatchcase(name, glob.lower())
            for name, up in services.items()
            for glob in names
        )


@cache
def products() -> list[Product]:
    table: Any = load_data("windows_av.yml")
    return [Product.model_validate(p) for p in table["products"]]


def snippet() -> str:
    names = sorted({n for p in products() for n in (*p.services, *p.management)})
    return rf"""
$r = @{{}}
try {{
  $r.MpComputerStatus = Get-MpComputerStatus | Select-Object {MP_FIELDS}
}} catch {{ $r.MpComputerStatusError = Rq-Error $_ }}
try {{
  $r.AntiVirusProduct = @(Get-CimInstance -Namespace 'root/SecurityCenter2' -ClassName AntiVirusProduct |
    Select-Object displayName, instanceGuid, pathToSignedProductExe, pathToSignedReportingExe, productState, timestamp)
}} catch {{ $r.AntiVirusProductError = Rq-Error $_ }}
$r.Services = @(Get-Service -Name {quote_list(names)} -ErrorAction SilentlyContinue |
  Select-Object Name, DisplayName, Status)
$r
"""


class Defender(BaseModel):
    am_service: bool | None = None
    antivirus: bool | None = None
    realtime: bool | None = None
    mode: str | None = None
    signature_version: str = ""
    signature_time: datetime | None = None
    signature_age_days: int | None = None
    tamper_protected: bool | None = None

    @property
    def passive(self) -> bool:
        mode = (self.mode or "").lower()
        return "passive" in mode or "edr block" in mode

    @property
    def active(self) -> bool:
        return bool(self.am_service and self.antivirus) and not self.passive


class Registered(BaseModel):
    """One `AntiVirusProduct` instance, its productState decoded."""

    display_name: str
    state: int
    product: str | None

    @property
    def enabled(self) -> bool:
        return self.state & 0xF000 == 0x1000

    @property
    def up_to_date(self) -> bool:
        return self.state & 0xF0 == 0


class WindowsAvState(BaseModel):
    defender: Defender | None = None
    defender_error: str | None = None
    registered: list[Registered] | None = None
    security_center_error: str | None = None
    services: dict[str, bool] = Field(default_factory=dict)


def parse(sections: Sections, facts: HostFacts) -> WindowsAvState:
    data = load(sections, "av")
    state = WindowsAvState(
        defender_error=text(data.get("MpComputerStatusError"), 300) or None,
        security_center_error=text(data.get("AntiVirusProductError"), 300) or None,
        services=running_services(data.get("Services")),
    )
    mp = data.get("MpComputerStatus")
    if isinstance(mp, dict):
        state.defender = Defender(
            am_service=flag(mp.get("AMServiceEnabled")),
            antivirus=flag(mp.get("AntivirusEnabled")),
            realtime=flag(mp.get("RealTimeProtectionEnabled")),
            mode=text(mp.get("AMRunningMode"), 64) or None,
            signature_version=text(mp.get("AntivirusSignatureVersion"), 64),
            signature_time=parse_date(mp.get("AntivirusSignatureLastUpdated")),
            signature_age_days=number(mp.get("AntivirusSignatureAge")),
            tamper_protected=flag(mp.get("IsTamperProtected")),
        )
    if "AntiVirusProduct" in data:
        state.registered = []
        for entry in objects(data["AntiVirusProduct"]):
            name = text(entry.get("displayName"), 128)
            known = next((p.name for p in products() if p.named(name)), None)
            state.registered.append(
                Registered(
                    display_name=name, state=number(entry.get("productState")) or 0, product=known
                )
            )
    return state


def evaluate(state: WindowsAvState, facts: HostFacts, ctx: Context) -> Finding:
    others = _third_party(state)
    defender = state.defender
    age, signed_at = _signature_age(defender, facts)
    enabled = [p for p in others if p["enabled"]]
    defender_on = defender is not None and defender.active
    evidence: dict[str, Any] = {
        "product": enabled[0]["name"] if enabled else (DEFENDER if defender_on else None),
        "installed": bool(others) or defender is not None,
        "running": bool(enabled) or defender_on,
        "realtime": bool(enabled) or bool(defender_on and defender and defender.realtime),
        "signature_age_days": age if not enabled else None,
        "signature_time": signed_at.isoformat() if signed_at and not enabled else None,
        "signature_source": "defender" if signed_at and not enabled else None,
        "products_running": [p["name"] for p in enabled] + ([DEFENDER] if defender_on else []),
        "managed": any(p["managed"] for p in enabled)
        or (defender_on and _managed(state, DEFENDER)),
        "products": others,
        "defender": _defender_evidence(defender, state.defender_error),
        "security_center": "not available (Server SKU)"
        if state.registered is None and _no_namespace(state.security_center_error)
        else state.security_center_error or "available",
    }
    limit = ctx.policy.av.max_signature_age_days

    def finding(status: Literal["pass", "fail"], severity: Severity, title: str) -> Finding:
        return Finding(check="av", status=status, severity=severity, title=title, evidence=evidence)

    if enabled:
        current = [p for p in enabled if p["up_to_date"] is not False]
        if not current:
            return finding("fail", "high", f"{enabled[0]['name']} signatures are out of date")
        return finding("pass", "info", f"{current[0]['name']} is running")
    if defender is not None and defender_on:
        if not defender.realtime:
            return finding("fail", "high", "Microsoft Defender real-time protection is off")
        if age is None:
            return finding("fail", "high", "Microsoft Defender has no signature update date")
        if age > limit:
            return finding(
                "fail",
                "high",
                f"Microsoft Defender signatures are {age:g} days old (limit {limit:g})",
            )
        return finding(
            "pass", "info", f"Microsoft Defender is running; signatures {age:g} days old"
        )
    if others:
        return finding("fail", "high", f"{others[0]['name']} is installed but not enabled")
    if defender is not None and defender.passive:
        return finding(
            "fail", "high", "Microsoft Defender is in passive mode and no other antivirus is active"
        )
    if defender is not None:
        return finding(
            "fail", "high", "Microsoft Defender is turned off and no other antivirus runs"
        )
    return finding("fail", "high", "No antivirus is installed")


def _third_party(state: WindowsAvState) -> list[dict[str, Any]]:
    """Products other than Defender: from Security Center where it exists, else by service."""
    found = []
    if state.registered is not None:
        for entry in state.registered:
            if entry.product == DEFENDER:
                continue
            found.append(
                {
                    "name": entry.product or entry.display_name,
                    "display_name": entry.display_name,
                    "source": "security_center",
                    "product_state": entry.state,
                    "enabled": entry.enabled,
                    "up_to_date": entry.up_to_date,
                    "managed": _managed(state, entry.product),
                }
            )
        return found
    for product in products():
        if product.name != DEFENDER and product.running(state.services, product.services):
            found.append(
                {
                    "name": product.name,
                    "display_name": product.name,
                    "source": "services",
                    "enabled": True,
                    "up_to_date": None,  # no vendor-neutral way to read it: unknown, not guessed
                    "managed": product.running(state.services, product.management),
                }
            )
    return found


def _managed(state: WindowsAvState, name: str | None) -> bool:
    product = next((p for p in products() if p.name == name), None)
    return product is not None and product.running(state.services, product.management)


def _signature_age(
    defender: Defender | None, facts: HostFacts
) -> tuple[float | None, datetime | None]:
    if defender is None:
        return None, None
    if defender.signature_time is not None:
        days = (facts.now - defender.signature_time) / timedelta(days=1)
        return round(max(days, 0.0), 1), defender.signature_time
    if defender.signature_age_days is not None and defender.signature_age_days < 65535:
        return float(defender.signature_age_days), None
    return None, None


def _defender_evidence(defender: Defender | None, error: str | None) -> dict[str, Any]:
    if defender is None:
        return {"present": False, "reason": error}
    return {"present": True, **defender.model_dump(mode="json"), "passive": defender.passive}


def _no_namespace(error: str | None) -> bool:
    return error is not None and (
        "invalid namespace" in error.lower() or "0x8004100e" in error.lower()
    )
