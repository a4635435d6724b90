"""Waivers: the file refuses mistakes by line and field; a waiver turns exactly the failure it
covers into `waived` until its expiry, and after it the finding fails again and says so."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from raquet.errors import InputError
from raquet.models import Finding, Host, HostResult
from raquet.waivers import Waiver, apply, load_waivers
from tests.conftest import raquet_cli
from tests.lab.fleet import Fleet

TODAY = date(2024, 3, 4)
HOST = Host(name="tt-srv-02", address="10.0.0.2", unit="so-tttt")
BANNED = Finding(
    check="software",
    status="fail",
    title="2 banned packages",
    evidence={
        "banned": [
            {"name": "anydesk", "rule": "anydesk*"},
            {"name": "xmrig", "rule": "xmrig*"},
        ]
    },
)


def _waiver(**fields: Any) -> Waiver:
    base = {"check": "software", "unit": "so-tttt", "reason": "r", "approved_by": "a"}
    return Waiver.model_validate({**base, "expires": TODAY, **fields})


def test_a_waiver_of_one_item_leaves_the_other_failing() -> None:
    one = _waiver(item="anydesk")
    assert apply(BANNED, HOST, [one], TODAY).status == "fail"
    both = [one, _waiver(item="xmrig*")]
    waived = apply(BANNED, HOST, both, TODAY)
    assert waived.status == "waived"
    assert [w["item"] for w in waived.evidence["waivers"]] == ["anydesk", "xmrig*"]


def test_a_waiver_applies_through_its_expiry_day_and_not_after() -> None:
    waiver = _waiver()
    assert apply(BANNED, HOST, [waiver], TODAY).status == "waived"
    after = apply(BANNED, HOST, [waiver], TODAY + timedelta(days=1))
    assert after.status == "fail"
    assert "waiver expired 2024-03-04" in after.title
    assert after.evidence["waiver_expired"][0]["approved_by"] == "a"


def test_errors_other_checks_and_other_hosts_are_not_waived() -> None:
    waiver = _waiver()
    error = BANNED.model_copy(update={"status": "error"})
    assert apply(error, HOST, [waiver], TODAY).status == "error"
    other_check = BANNED.model_copy(update={"check": "av"})
    assert apply(other_check, HOST, [waiver], TODAY).status == "fail"
    elsewhere = HOST.model_copy(update={"unit": "trang-dinh"})
    assert apply(BANNED, elsewhere, [waiver], TODAY).status == "fail"
    by_host = _waiver(unit=None, hosts=["tt-srv-02"])
    assert apply(BANNED, HOST, [by_host], TODAY).status == "waived"


def test_a_waived_host_is_compliant() -> None:
    result = HostResult(
        name="h",
        unit="u",
        os="linux",
        role="server",
        status="swept",
        findings=[BANNED.model_copy(update={"status": "waived"})],
    )
    assert result.compliant


def test_the_file_names_every_mistake_by_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yml"
    path.write_text(
        "waivers:\n"
        "  - unit: so-tttt\n"
        "    check: sofware\n"
        "    reason: test\n"
        "    approved_by: Nguyễn Văn A\n"
        "    expires: next month\n"
        "  - check: av\n"
        "    reason: no scope\n"
        "    aproved_by: B\n"
        "    expires: 2024-01-01\n"
        "  - unit: so-tttt\n"
        "    check: av\n"
        "    item: clamd\n"
        "    reason: x\n"
        "    approved_by: C\n"
        "    expires: 2024-01-01\n"
    )
    with pytest.raises(InputError) as caught:
        load_waivers(path)
    text = str(caught.value)
    assert f"{path}:3: waivers[0].check: " in text and "unknown check 'sofware'" in text
    assert f"{path}:6: waivers[0].expires" in text
    assert f"{path}:9: waivers[1].aproved_by" in text
    assert "did you mean 'approved_by'" in text
    assert f"{path}:11: waivers[2]" in text and "no items to waive" in text


def test_the_example_file_loads() -> None:
    example = Path(__file__).parent.parent / "inventory" / "waivers.example.yml"
    assert load_waivers(example)


def _sweep(fleet: Fleet, out: Path, waivers: Path) -> dict[str, Any]:
    target = out / f"{waivers.stem}.json"
    proc = raquet_cli(
        "sweep",
        "-i",
        fleet.inventory_path,
        "--db",
        f"sqlite:///{out}/s.db",
        "--unit",
        "so-tttt",
        "--check",
        "av",
        "--waivers",
        waivers,
        "--json",
        target,
    )
    assert proc.returncode in (0, 1), proc.stderr
    document = json.loads(target.read_text())
    hosts: dict[str, Any] = {h["name"]: h for h in document["hosts"]}
    hosts["sweep_id"] = document["sweep_id"]
    return hosts


def _unit_report(out: Path, sweep_id: str) -> str:
    page = out / f"{sweep_id}.html"
    db = f"sqlite:///{out}/s.db"
    proc = raquet_cli(
        "report", "--unit", "so-tttt", "--sweep", sweep_id, "--format", "html", "-o", page,
        "--lang", "en", "--db", db,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return " ".join(page.read_text(encoding="utf-8").split())


def test_a_waiver_before_and_after_its_expiry_on_the_fleet(
    spine_fleet: Fleet, tmp_path: Path
) -> None:
    """tt-ws-05's clamd is stopped (av fails). Waived until tomorrow, the sweep reports it
    waived and the host compliant; with the waiver expired yesterday it fails again and
    says its waiver expired. The other hosts' verdicts are the same both times."""

    def waivers(name: str, expires: date) -> Path:
        path = tmp_path / f"{name}.yml"
        path.write_text(
            "waivers:\n"
            "  - hosts: [tt-ws-05]\n"
            "    check: av\n"
            "    reason: clamd replaced by the vendor's EDR, being rolled out\n"
            "    approved_by: Trưởng phòng CNTT\n"
            f"    expires: {expires.isoformat()}\n"
        )
        return path

    today = date.today()
    active = _sweep(spine_fleet, tmp_path, waivers("active", today + timedelta(days=1)))
    expired = _sweep(spine_fleet, tmp_path, waivers("expired", today - timedelta(days=1)))
    av_active = active["tt-ws-05"]["findings"][0]
    av_expired = expired["tt-ws-05"]["findings"][0]
    assert av_active["status"] == "waived"
    assert av_active["evidence"]["waivers"][0]["approved_by"] == "Trưởng phòng CNTT"
    assert av_expired["status"] == "fail"
    assert "waiver expired" in av_expired["title"]
    assert "waiver_expired" in av_expired["evidence"]
    active_page = _unit_report(tmp_path, active.pop("sweep_id"))
    expired_page = _unit_report(tmp_path, expired.pop("sweep_id"))
    assert "Waivers" in active_page and "Trưởng phòng CNTT" in active_page
    assert "in force" in active_page and "expired: the finding counts again" not in active_page
    assert "expired: the finding counts again" in expired_page
    for name in active:
        if name != "tt-ws-05":
            assert active[name]["findings"][0]["status"] == expired[name]["findings"][0]["status"]
    shown = raquet_cli("show", "tt-ws-05", "--db", f"sqlite:///{tmp_path}/s.db")
    assert "waived" in shown.stdout and "fail" in shown.stdout
