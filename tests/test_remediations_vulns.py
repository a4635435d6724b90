"""The `vulns` remediation: OS packages upgraded to their fixed versions through `patches`'
operations where the host's lists offer them, browsers and Windows builds planned as manual
steps, every value from the finding held to its grammar, the host's answer about what its
lists offer read strictly, and after an apply, per package, whether the fix was reached."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import raquet  # noqa: F401  (gevent patching first, as in every entry point)
from raquet.models import Finding, Host
from raquet.policy import Policy
from remediations import registry
from remediations import vulns as remedy_vulns
from remediations.base import Remedy, RemedyContext
from remediations.vulns import AptOffered, Decision, DnfOffered, Ledger, outcome, parse_offered

APT_POLICY = """\
rqlab-openssl:
  Installed: 1.0-1
  Candidate: 1.0-2
  Version table:
     1.0-2 500
        500 file:/srv/lab-repo bookworm-security/main amd64 Packages
 *** 1.0-1 500
        500 file:/srv/lab-repo bookworm/main amd64 Packages
        100 /var/lib/dpkg/status
bash:
  Installed: 5.2.15-2+b8
  Candidate: 5.2.15-2+b13
  Version table:
     5.2.15-2+b13 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
 *** 5.2.15-2+b8 100
        100 /var/lib/dpkg/status
rqlab-gone:
  Installed: (none)
  Candidate: (none)
  Version table:
"""


def upgrade(component: str, fixed: str, space: str = "debian:12", **extra: Any) -> dict[str, Any]:
    entry = {
        "component": component,
        "fixed": fixed,
        "kb": None,
        "space": space,
        "version": "1.0-1",
        "package": component,
        "cves": ["CVE-2024-0001"],
    }
    return {**entry, **extra}


def plan(evidence: dict[str, Any], os: str = "linux") -> Remedy:
    host = Host(name="h1", address="198.18.0.10", os=os, unit="u")
    ctx = RemedyContext(host=host, policy=Policy(), tag="5fc775ee2022")
    finding = Finding(check="vulns", status="fail", title="t", evidence=evidence)
    return remedy_vulns.plan(finding, ctx)


def test_vulns_has_a_remediation() -> None:
    assert registry()["vulns"] is remedy_vulns.plan


def test_packages_of_one_source_are_upgraded_together_and_browsers_are_manual() -> None:
    evidence = {
        "package_manager": "dpkg",
        "failing_components": ["chromium", "libssl3", "linux-image-amd64", "openssl"],
        "upgrades": [
            upgrade("chromium", "124.0.6367.201", "cpe", version="124.0.6367.60"),
            upgrade("libssl3", "3.0.13-1~deb12u1", package="openssl"),
            upgrade("openssl", "3.0.13-1~deb12u1", package="openssl", cves=["CVE-2023-5678"]),
        ],
    }
    remedy = plan(evidence)
    [step] = remedy.steps
    assert step.op is remedy_vulns.fixed_versions
    assert step.kwargs["packages"] == [
        ["libssl3", "3.0.13-1~deb12u1"],
        ["openssl", "3.0.13-1~deb12u1"],
    ]
    assert step.kwargs["manager"] == "apt" and isinstance(step.kwargs["ledger"], Ledger)
    assert step.title == (
        "upgrade libssl3, openssl (source openssl) to the fixed 3.0.13-1~deb12u1 or newer where"
        " the host's repositories offer it (CVE-2024-0001; CVE-2023-5678)"
    )
    assert remedy.notes[0] == (
        "manual: install chromium ≥ 124.0.6367.201 (installed 124.0.6367.60; CVE-2024-0001);"
        " raquet upgrades no browser or application by itself"
    )
    assert "no fixed version is known yet for linux-image-amd64: nothing to install" in remedy.notes
    assert remedy.verified is not None


def test_windows_builds_and_programs_are_said_never_run() -> None:
    evidence = {
        "failing_components": ["Google Chrome", "Windows 11 Version 23H2 for x64-based Systems"],
        "upgrades": [
            upgrade("Google Chrome", "120.0.6099.71", "cpe", version="119.0.6045.200"),
            upgrade(
                "Windows 11 Version 23H2 for x64-based Systems",
                "10.0.22631.3007",
                "windows",
                kb="KB5034123",
                version="10.0.22631.2861",
                cves=["CVE-2024-20674", "CVE-2024-20700"],
            ),
        ],
    }
    remedy = plan(evidence, os="windows")
    assert remedy.steps == []
    assert remedy.notes == [
        "manual: install Google Chrome ≥ 120.0.6099.71 (installed 119.0.6045.200;"
        " CVE-2024-0001); raquet upgrades no browser or application by itself",
        "manual: install KB5034123 / reach build 10.0.22631.3007 (Windows 11 Version 23H2 for"
        " x64-based Systems, now 10.0.22631.2861; CVE-2024-20674, CVE-2024-20700)",
    ]


def test_values_outside_their_grammar_are_refused_or_left_out() -> None:
    evidence = {
        "package_manager": "dpkg",
        "upgrades": [
            upgrade("-oAPT::Update::Pre-Invoke::=reboot", "1.0-2"),
            upgrade("rqlab-openssl", "$(reboot)"),
            upgrade("Windows 11", "10.0.22631.3007; reboot", "windows", kb="KB1; rm"),
        ],
    }
    remedy = plan(evidence)
    assert remedy.steps == []
    assert [n for n in remedy.notes if n.startswith("skipped")] == [
        "skipped: '-oAPT::Update::Pre-Invoke::=reboot' is not a valid deb package name",
        "skipped: '$(reboot)' is not a valid deb package version",
    ]
    assert any(
        n.startswith("manual: install the month's cumulative update (Windows 11")
        for n in remedy.notes
    )


def test_a_finding_without_upgrades_plans_nothing() -> None:
    remedy = plan({"package_manager": "dpkg", "failing_components": [], "upgrades": []})
    assert remedy.steps == [] and remedy.notes == []


def test_the_fact_commands_quote_what_they_are_given() -> None:
    apt = AptOffered().command(packages=["rqlab-openssl", "libc6"]).get_raw_value()
    assert apt == "LC_ALL=C apt-cache policy rqlab-openssl libc6 2>/dev/null | head -c 1048576"
    dnf = DnfOffered().command(packages=["openssl-libs"]).get_raw_value()
    assert dnf.startswith("{ rpm -q --qf 'I\\t%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n'")
    assert dnf.endswith("openssl-libs 2>/dev/null; } | head -c 1048576")


def test_apt_cache_policy_is_read_per_package() -> None:
    assert parse_offered(APT_POLICY.split("\n"), "apt") == {
        "rqlab-openssl": ("1.0-1", "1.0-2"),
        "bash": ("5.2.15-2+b8", "5.2.15-2+b13"),
        "rqlab-gone": (None, None),
    }
    lines = ["I\topenssl-libs\t1:3.0.7-24.el9", "A\topenssl-libs\t1:3.0.7-27.el9", "", "junk"]
    assert parse_offered(lines, "dnf") == {"openssl-libs": ("1:3.0.7-24.el9", "1:3.0.7-27.el9")}


def test_a_second_block_for_a_name_cannot_replace_the_first() -> None:
    forged = APT_POLICY + "rqlab-openssl:\n  Installed: 9.9-9\n  Candidate: 9.9-9\n"
    assert parse_offered(forged.split("\n"), "apt")["rqlab-openssl"] == ("1.0-1", "1.0-2")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=80),
            st.sampled_from(["rqlab-openssl:", "  Installed: 1.0-1", "  Candidate: (none)"]),
            st.builds(
                lambda k, v: f"  {k}: {v}", st.sampled_from(["Installed", "Candidate"]), st.text()
            ),
            st.builds(lambda n, v: f"A\t{n}\t{v}", st.text(max_size=20), st.text(max_size=20)),
        ),
        max_size=40,
    ),
    st.sampled_from(["apt", "dnf"]),
)
def test_whatever_the_host_answers_only_valid_names_and_versions_come_back(
    lines: list[str], manager: str
) -> None:
    from remediations import values

    flavour = "deb" if manager == "apt" else "rpm"
    found = parse_offered(lines, manager)  # type: ignore[arg-type]
    for name, pair in found.items():
        assert values.package(name, flavour) == name  # type: ignore[arg-type]
        for version in pair:
            assert version is None or values.version(version, flavour) == version  # type: ignore[arg-type]


def test_the_outcome_says_per_package_whether_the_fix_was_reached() -> None:
    ledger = Ledger(
        {
            "rqlab-openssl": Decision("rqlab-openssl", "1.0-2", "1.0-1", "1.0-2", "upgrade"),
            "rqlab-tools": Decision("rqlab-tools", "1.1-1", "1.0-1", "1.0-1", "not offered"),
            "rqlab-sudo": Decision("rqlab-sudo", "1.0-2", "1.0-1", "1.0-2", "upgrade"),
        }
    )
    wanted = {
        "rqlab-openssl": upgrade("rqlab-openssl", "1.0-2"),
        "rqlab-tools": upgrade("rqlab-tools", "1.1-1"),
        "rqlab-sudo": upgrade("rqlab-sudo", "1.0-2"),
    }
    after = Finding(
        check="vulns",
        status="fail",
        title="t",
        evidence={"upgrades": [upgrade("rqlab-tools", "1.1-1"), upgrade("rqlab-sudo", "1.0-2")]},
    )
    assert outcome(ledger, wanted, after) == [
        "rqlab-openssl: fixed 1.0-2 reached (1.0-2 installed)",
        "rqlab-tools: fixed 1.1-1 not reached: not offered by the host's repositories; not attempted",
        "rqlab-sudo: fixed 1.0-2 not reached: still 1.0-1",
    ]
    errored = Finding(check="vulns", status="error", title="t")
    assert outcome(ledger, {"rqlab-openssl": wanted["rqlab-openssl"]}, errored) == [
        "rqlab-openssl: fixed 1.0-2: not verified (the check could not run again)"
    ]
