"""Every kind of failing finding the checks produce, in the unit report's language.

The findings come from the checks' own judgement (`evaluate` on states of every shape,
Linux and Windows, `error` and `tampered`), are stored as a sweep stores them, and the
unit report is written by the real `raquet report`. Each title and statement must be in
the report's language: no English sentence, no Python value or repr, no "(s)" plurals.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from checks.av import CHECK as AV
from checks.av import AvState, DbFile
from checks.base import Context, HostFacts
from checks.connections import CHECK as CONNECTIONS
from checks.connections import ConnectionsState, HostsEntry, Socket
from checks.infections import CHECK as INFECTIONS
from checks.infections import InfectionsState, SuspiciousLine
from checks.patches import CHECK as PATCHES
from checks.patches import PatchState, Update
from checks.software import CHECK as SOFTWARE
from checks.software import Package, SoftwareState
from checks.vulns import CHECK as VULNS
from checks.vulns import InstalledPackage, LinuxVulnState
from checks.windows import av as windows_av
from checks.windows import patches as windows_patches
from checks.windows import software as windows_software
from checks.windows import vulns as windows_vulns
from raquet.feeds import IndicatorSet
from raquet.models import Detection, Finding, Host, HostResult
from raquet.policy import Policy
from raquet.store import Store
from raquet.vulns import VulnIndex, load_index
from tests.conftest import raquet_cli
from tests.fixtures.reports.page import Page
from tests.fixtures.reports.province import W22_MONDAY

NOW = W22_MONDAY + timedelta(days=3, hours=10)
FIXTURES_VULNS = Path(__file__).parent / "fixtures" / "vulns"
LINUX = HostFacts(os_id="debian", os_version="10", os_name="Debian GNU/Linux 10", now=NOW)
WINDOWS = HostFacts(os_id="windows", os_name="Windows 10 Pro", now=NOW)
HOST = Host.model_validate({"name": "h", "unit": "so-a", "address": "10.0.0.1"})
# English that must not be left in a Vietnamese statement (the checks' own wording); a
# word inside a name, path or address from the host (update.bad-domain.example) is data.
ENGLISH = re.compile(
    r"(?<![\w./\\-])(the|is|are|of|and|not|days?|old|limit|pending|updates?|installed|running|"
    r"signatures?|connections?|entr(y|ies)|malware|detections?|checks?|could|host|found|"
    r"program|package|banned|traces|activated|reboot|required|reached|life|tampered|"
    r"output|timed|out|none|true|false)(?![\w./\\-])",
    re.IGNORECASE,
)
PRODUCTS = re.compile(r"Windows Update|Microsoft Defender")  # names, in any language
REPR = re.compile(r"\bTrue\b|\bFalse\b|\bNone\b|[{}\[\]]|\(s\)|\(y/ies\)")


def _indicators() -> IndicatorSet:
    listed = IndicatorSet()
    for kind, value in [("ip", "198.51.100.66"), ("cidr", "198.51.100.0/24")]:
        listed.add(kind, value, "ncsc")  # type: ignore[arg-type]
    for name in ("c2-panel.example", "cdn.c2-panel.example"):
        listed.add("domain", name, "ncsc")
    return listed


def _vulns() -> VulnIndex:
    folder = FIXTURES_VULNS
    index, _ = load_index(
        [folder / "osv", folder / "debian-tracker.json", folder / "msrc-2024-Apr.json"]
    )
    return index


def _vulns_findings() -> list[tuple[str, Finding]]:
    """Known vulnerabilities: Debian packages behind their fixes, a Windows build behind the
    month's, and no data imported at all."""
    ctx = Context(policy=Policy(), vulns=_vulns())
    bookworm = HostFacts(os_id="debian", os_version="12", os_name="Debian GNU/Linux 12", now=NOW)
    glibc = [
        InstalledPackage("libc6", "glibc", "2.36-9+deb12u4", "2.36-9+deb12u4"),
        InstalledPackage("libc-bin", "glibc", "2.36-9+deb12u4", "2.36-9+deb12u4"),
    ]
    w11 = windows_vulns.WindowsVulnState(
        os=windows_vulns.WindowsOs(
            build=22631, ubr=3296, display_version="23H2", installation_type="Client", arch="amd64"
        )
    )
    return [
        ("vulns", VULNS.evaluate(LinuxVulnState("dpkg", glibc), HOST, bookworm, ctx)),
        ("vulns-windows", VULNS.evaluate(w11, HOST, WINDOWS, ctx)),
    ]


def _findings() -> list[tuple[str, Finding]]:
    """(host, finding) for every failing shape."""
    ctx = Context(policy=Policy(), indicators=_indicators())
    old_db = AvState(
        processes={"clamd"},
        packages={"clamav": "1.0.7"},
        db_files=[DbFile(path="/var/lib/clamav/daily.cvd", mtime=NOW - timedelta(days=38.6))],
    )
    defender = windows_av.Defender(
        am_service=True, antivirus=True, realtime=False, mode="Normal", signature_age_days=1
    )
    found = [
        ("av-none", AV.evaluate(AvState(), HOST, LINUX, ctx)),
        ("av-process", AV.evaluate(AvState(processes={"clamd"}), HOST, LINUX, ctx)),
        ("av-stopped", AV.evaluate(AvState(packages={"clamav": "1"}), HOST, LINUX, ctx)),
        (
            "av-nodb",
            AV.evaluate(AvState(processes={"clamd"}, packages={"clamav": "1"}), HOST, LINUX, ctx),
        ),
        ("av-old", AV.evaluate(old_db, HOST, LINUX, ctx)),
        (
            "win-rtp",
            windows_av.evaluate(windows_av.WindowsAvState(defender=defender), WINDOWS, ctx),
        ),
        (
            "win-passive",
            windows_av.evaluate(
                windows_av.WindowsAvState(defender=defender.model_copy(update={"mode": "Passive"})),
                WINDOWS,
                ctx,
            ),
        ),
        ("win-noav", windows_av.evaluate(windows_av.WindowsAvState(), WINDOWS, ctx)),
        (
            "patches",
            PATCHES.evaluate(
                PatchState(
                    manager="apt",
                    updates=[
                        Update(
                            name=f"lib{i}", available="2", origin="Debian-Security", security=True
                        )
                        for i in range(7)
                    ],
                    reboot_required=True,
                ),
                HOST,
                HostFacts(os_id="debian", os_version="9", os_name="Debian 9", now=NOW),
                ctx,
            ),
        ),
        (
            "win-patches",
            windows_patches.evaluate(
                windows_patches.WindowsPatchState(search_error="0x80070005 access is denied"),
                HOST,
                WINDOWS,
                ctx,
                None,
            ),
        ),
        (
            "software",
            SOFTWARE.evaluate(
                SoftwareState(manager="dpkg", packages=[Package(name="xmrig", version="6.21.0-1")]),
                HOST,
                LINUX,
                ctx,
            ),
        ),
        (
            "win-software",
            windows_software.evaluate(
                windows_software.WindowsSoftwareState(
                    programs=[windows_software.Program(name="AnyDesk", version="8")],
                    licenses=[
                        windows_software.License(
                            name="Windows(R), Professional edition",
                            application=windows_software.WINDOWS_APPLICATION,
                            status=0,
                            kms_host="127.0.0.2",
                        )
                    ],
                    paths=["C:\\Windows\\SECOH-QAD.exe"],
                ),
                WINDOWS,
                ctx,
            ),
        ),
        (
            "connections",
            CONNECTIONS.evaluate(
                ConnectionsState(
                    sockets=[
                        Socket(
                            proto="tcp",
                            state="ESTAB",
                            local="10.0.0.1:5000",
                            remote_ip="198.51.100.66",
                            remote_port=443,
                            pid=812,
                            process="kdevtmpfsi",
                        )
                    ],
                    hosts=[HostsEntry(address="10.9.9.9", names=["cdn.c2-panel.example"])],
                ),
                HOST,
                LINUX,
                ctx,
            ),
        ),
        (
            "infections",
            INFECTIONS.evaluate(
                InfectionsState(
                    detections=[
                        Detection(
                            name="Win.Trojan.Agent-1",
                            path="/home/nv/setup.exe",
                            detected_at=NOW - timedelta(days=1),
                            source="clamav",
                        )
                    ],
                    logs_read=["/var/log/clamav/clamav.log"],
                    suspicious=[
                        SuspiciousLine(
                            source="clamd",
                            reason="dated before the record above it (backdated)",
                            text="x",
                            at=NOW,
                        )
                    ],
                ),
                HOST,
                LINUX,
                ctx,
            ),
        ),
        ("no-feeds", CONNECTIONS.evaluate(ConnectionsState(), HOST, LINUX, Context())),
        ("timeout", PATCHES.error("the check timed out on the host")),
        (
            "budget",
            SOFTWARE.error(
                "the host's output for software.dpkg exceeded the check's budget of 4 MiB"
            ),
        ),
        ("parse", INFECTIONS.error("could not parse the host's output: bad value")),
        ("tampered", AV.tampered("line 7: not part of the script's output")),
        *_vulns_findings(),
    ]
    assert all(f.status in ("fail", "error") for _, f in found), [
        (h, f.status, f.title) for h, f in found if f.status not in ("fail", "error")
    ]
    return found


@pytest.fixture(scope="module")
def unit_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("findings")
    url = f"sqlite:///{folder / 'r.db'}"
    findings = _findings()
    with Store(url) as store:
        sweep = store.begin_sweep(
            "inv.yml",
            "Lạng Sơn",
            ["av", "patches", "software", "connections", "infections", "vulns"],
            [(host, "so-a") for host, _ in findings],
            {"timezone": "Asia/Ho_Chi_Minh", "units": {"so-a": "Sở A"}},
            started_at=NOW,
        )
        for host, finding in findings:
            store.record_host(
                sweep,
                HostResult.model_validate(
                    {
                        "name": host,
                        "unit": "so-a",
                        "os": "linux",
                        "role": "server",
                        "status": "swept",
                        "started_at": NOW,
                        "findings": [finding.model_dump()],
                    }
                ),
            )
        store.finish_sweep(sweep, NOW + timedelta(hours=1))
    out: dict[str, Any] = {"count": len(findings)}
    for lang in ("vi", "en"):
        for fmt in ("json", "html"):
            path = folder / f"unit.{lang}.{fmt}"
            proc = raquet_cli(
                "report", "--week", "2021-W22", "--unit", "so-a", "-f", fmt, "-o", path,
                "--lang", lang, "--db", url,
            )  # fmt: skip
            assert proc.returncode == 0, proc.stderr
            out[lang, fmt] = path.read_text("utf-8")
    return out


def test_every_finding_is_titled_and_explained_in_vietnamese(unit_reports: dict[str, Any]) -> None:
    failing = json.loads(unit_reports["vi", "json"])["failing"]
    assert len(failing) == unit_reports["count"]
    for f in failing:
        for text in (f["title"], f["detail"]):
            assert text and not REPR.search(text), (f["host"], text)
            assert not ENGLISH.search(PRODUCTS.sub("", text)), (f["host"], text)
        assert "Cần làm:" in f["detail"], f
    by_host = {f["host"]: f for f in failing}
    assert by_host["av-old"]["title"] == (
        "Cơ sở dữ liệu chữ ký ClamAV đã cũ 38,6 ngày (giới hạn 7 ngày)"
    )
    assert by_host["av-old"]["detail"].endswith(
        "Cần làm: cập nhật chữ ký và kiểm tra dịch vụ cập nhật tự động."
    )
    assert by_host["patches"]["title"].startswith("7 bản cập nhật bảo mật đang chờ cài đặt")
    assert by_host["av-process"]["title"].startswith("Có tiến trình phòng, chống mã độc")
    assert by_host["tampered"]["title"] == "Kết quả rà quét trả về từ máy đã bị can thiệp, giả mạo"
    assert by_host["connections"]["title"] == (
        "1 kết nối đang hoạt động đến địa chỉ độc hại; 1 dòng tệp hosts trỏ đến địa chỉ độc hại"
    )
    assert by_host["no-feeds"]["title"] == (
        "Không thực hiện được kiểm tra kết nối đến địa chỉ độc hại: "
        "chưa nhập danh sách địa chỉ độc hại"
    )
    assert by_host["vulns"]["title"] == (
        "2 thành phần có lỗ hổng mức cao (CVE-2024-2961, CVE-2024-33599, CVE-2024-33600 "
        "và 2 lỗ hổng khác)"
    )
    assert by_host["vulns"]["detail"].startswith(
        "Bản sửa: libc-bin → 2.36-9+deb12u7; libc6 → 2.36-9+deb12u7."
    )
    assert by_host["vulns-windows"]["title"].startswith("1 thành phần có lỗ hổng mức cao")
    assert "→ 10.0.22631.3447 (KB5036893)" in by_host["vulns-windows"]["detail"]
    assert "cài bản cập nhật Windows" in by_host["vulns-windows"]["detail"]
    assert by_host["av-old"]["check_title"] == "ClamAV database is 38.6 days old (limit 7)"
    assert by_host["av-old"]["evidence"]["clamav_packages"] == {"clamav": "1.0.7"}  # kept whole


def test_english_has_no_plural_forms_in_brackets(unit_reports: dict[str, Any]) -> None:
    failing = json.loads(unit_reports["en", "json"])["failing"]
    for f in failing:
        assert not REPR.search(f["title"] + f["detail"]), f
        assert "To do:" in f["detail"], f
    by_host = {f["host"]: f for f in failing}
    assert by_host["patches"]["title"].startswith("7 security updates pending")
    assert by_host["software"]["title"] == "1 banned program installed: xmrig (coin miner)"
    assert by_host["vulns"]["title"].startswith(
        "2 components with high-severity known vulnerabilities (CVE-2024-2961"
    )


def test_the_html_table_shows_the_explanations_and_the_annex_the_evidence(
    unit_reports: dict[str, Any],
) -> None:
    words = Page(unit_reports["vi", "html"]).words
    assert "av-old Phòng, chống mã độc không đạt cao Cơ sở dữ liệu chữ ký ClamAV đã cũ" in words
    assert "Phụ lục bằng chứng của các lỗi tuân thủ" in words
    assert "clamav_packages.clamav 1.0.7" in words  # the annex: flattened, never a repr
    assert "{'clamav'" not in words and "True" not in words and "None" not in words
