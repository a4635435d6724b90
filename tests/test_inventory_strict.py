"""Ansible and pyinfra inventories refuse what the raquet YAML inventory refuses:
connection-variable typos (with line and suggestion), duplicated host lines, connections
raquet cannot use; group variables or data give units the names letters are addressed to;
two hosts at one address are a warning in every format. Through the real command."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import raquet_cli

FIXTURES = Path(__file__).parent / "fixtures" / "inventories"


def test_every_typo_is_named_by_line_with_a_suggestion() -> None:
    path = FIXTURES / "ansible-typos.ini"
    proc = raquet_cli("inventory", "check", "-i", path)
    assert proc.returncode == 2
    err = proc.stderr
    assert (
        f"{path}:2: td-srv-01.ansible_prot: unknown connection variable 'ansible_prot'; did you mean 'ansible_port'?"
        in err
    )
    assert (
        f"{path}:3: td-srv-02.ansible_usr: unknown connection variable 'ansible_usr'; did you mean 'ansible_user'?"
        in err
    )
    assert (
        f"{path}:8: [trang_dinh:vars].ssh_prot: unknown connection variable 'ssh_prot'; did you mean 'ssh_port'?"
        in err
    )
    assert (
        f"{path}:4: td-srv-03.ansible_connection: raquet cannot sweep over ansible_connection=docker"
        in err
    )
    assert (
        f"{path}:5: td-srv-01: host 'td-srv-01' is listed twice in trang_dinh (first at line 2)"
        in err
    )


def test_group_variables_name_the_unit() -> None:
    proc = raquet_cli("inventory", "check", "-i", FIXTURES / "ansible-unit-names.ini")
    assert proc.returncode == 0, proc.stderr
    assert "Huyện Tràng Định" in proc.stdout


def test_pyinfra_typos_are_named_at_the_line_that_writes_the_key() -> None:
    path = FIXTURES / "pyinfra-typos.py"
    proc = raquet_cli("inventory", "check", "-i", path)
    assert proc.returncode == 2
    err = proc.stderr
    assert (
        f"{path}:5: trang_dinh[0].ssh_prot: unknown connection variable 'ssh_prot'; did you mean 'ssh_port'?"
        in err
    )
    # the entry starts at line 7; the key is written at line 10
    assert (
        f"{path}:10: trang_dinh[1]._sudo_usr: unknown connection variable '_sudo_usr'; did you mean '_sudo'?"
        in err
    )
    assert (
        f"{path}:15: trang_dinh.ssh_usr: unknown connection variable 'ssh_usr'; did you mean 'ssh_user'?"
        in err
    )
    assert (
        f"{path}:13: trang_dinh[2]: raquet cannot sweep over the @dockr connector; did you mean @docker?"
        in err
    )


def test_pyinfra_group_data_names_the_unit_and_a_shared_address_is_a_warning() -> None:
    path = FIXTURES / "pyinfra-unit-names.py"
    proc = raquet_cli("inventory", "check", "-i", path)
    assert proc.returncode == 0, proc.stderr
    assert "Huyện Tràng Định" in proc.stdout
    assert "raquet_unit_name" not in proc.stdout
    warnings = [line for line in proc.stderr.splitlines() if "share the address" in line]
    # td-nat-02 is at the same address on another port: another machine, no warning
    assert warnings == [
        f"WARNING raquet.inventory.common: {path}:6: trang_dinh[1].ssh_hostname: "
        "hosts 'td-srv-01' (line 5) and 'td-srv-01-alias' share the address 10.1.0.1"
    ]


@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("ansible-shared-address.ini", "3: td-srv-02.ansible_host: hosts 'td-srv-01' (line 2)"),
        (
            "raquet-shared-address.yml",
            "8: units[0].hosts[1].address: hosts 'td-srv-01' (line 6)",
        ),
    ],
)
def test_a_shared_address_is_a_warning_in_every_format(name: str, where: str) -> None:
    path = FIXTURES / name
    proc = raquet_cli("inventory", "check", "-i", path)
    assert proc.returncode == 0, proc.stderr
    assert f"{path}:{where} and 'td-srv-02' share the address 10.1.0.1" in proc.stderr


def test_connection_data_raquet_reads_is_not_a_typo(tmp_path: Path) -> None:
    path = tmp_path / "fleet.py"
    path.write_text(
        'ws = [("ws-01", {"os": "windows", "winrm_server_cert_validation": "ignore"})]\n'
    )
    proc = raquet_cli("inventory", "check", "-i", path)
    assert proc.returncode == 0, proc.stderr
