"""Ansible inventories refuse what the raquet YAML inventory refuses: connection-variable
typos (with line and suggestion), duplicated host lines, connections raquet cannot use;
group variables give units the names letters are addressed to. Through the real command."""

from __future__ import annotations

from pathlib import Path

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
