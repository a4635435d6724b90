"""Policy files: shipped defaults, every error with file:line:field, and the denylist's matching rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from raquet.errors import InputError
from raquet.policy import Policy, SoftwareRule, load_policy

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "policy"


def test_defaults_without_a_file() -> None:
    policy = load_policy(None)
    assert policy.av.max_signature_age_days == 7
    assert policy.infections.lookback_days == 7
    assert {r.category for r in policy.software.rules} >= {
        "miner",
        "p2p",
        "remote-access",
        "activator",
    }


def test_example_policy_adds_to_the_shipped_denylist() -> None:
    policy = load_policy(ROOT / "inventory" / "policy.example.yml")
    assert policy.av.max_signature_age_days == 3
    assert len(policy.software.rules) == len(Policy().software.rules) + 3


def test_every_error_names_file_line_and_field() -> None:
    path = FIXTURES / "bad.yml"
    with pytest.raises(InputError) as caught:
        load_policy(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:2: av.max_signature_age_days: expected a number greater than 0; got -1",
        f"{path}:5: software.extra_denylist[0]: give exactly one of 'name' (a glob) or 'regex'; got a mapping",
        f"{path}:9: software.extra_denylist[1].versions: expected a version range like '<6.22' or "
        "'>=1.0,<2.0': Unknown comparator in constraint: '<<1'; got '<<1'",
        f"{path}:11: software.moed: unknown key 'moed' (did you mean 'mode'?)",
    ]


@pytest.mark.parametrize(
    ("rule", "package", "version", "flavour", "expected"),
    [
        ({"name": "xmrig*"}, "XMRig-CUDA", "6.21", "deb", True),
        ({"name": "xmrig*"}, "libxmrig", "1", "deb", False),
        ({"regex": "^(nmap|zmap)$"}, "zmap", "1", "deb", True),
        ({"name": "openssl", "versions": "<3.0.11"}, "openssl", "3.0.9-1~deb12u1", "deb", True),
        ({"name": "openssl", "versions": "<3.0.11"}, "openssl", "3.0.11-1~deb12u2", "deb", False),
        (
            {"name": "openssl", "versions": ">=1:1.0,<1:3.0.8"},
            "openssl",
            "1:3.0.7-28.el9_4",
            "rpm",
            True,
        ),
        ({"name": "openssl", "versions": "<3.0.8"}, "openssl", "not a version ~~", "deb", False),
        # rpm compares epochs first: 1:3.0.7 is newer than any epoch-0 version
        ({"name": "openssl", "versions": "<3.0.8"}, "openssl", "1:3.0.7-28.el9_4", "rpm", False),
        ({"name": "bash", "versions": "<5.2"}, "bash", "0:5.1.8-9.el9", "rpm", True),
    ],
)
def test_rule_matching(
    rule: dict[str, str], package: str, version: str, flavour: str, expected: bool
) -> None:
    assert SoftwareRule(reason="r", **rule).matches(package, version, flavour) is expected  # type: ignore[arg-type]
