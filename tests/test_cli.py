"""The command line a sysadmin expects, through the real `python -m raquet`: data alone on
stdout, tables that fit 80 columns, help without type names, versions, logs and secrets."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from raquet.errors import Problem
from tests.conftest import ROOT, raquet_cli

LOCAL = ROOT / "inventory" / "local.yml"
EXAMPLE = ROOT / "inventory" / "example.yml"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAQUET_")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One real sweep of the jump host (software only, seconds), its stdout and stderr."""
    db = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'raquet.db'}"
    proc = raquet_cli(
        "sweep", "-i", LOCAL, "--check", "software", "--json", "-", "--db", db,
        env=_env(COLUMNS="80"),
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    return {"db": db, "proc": proc}


def test_sweep_json_on_stdout_is_only_json(swept: dict[str, Any]) -> None:
    document = json.loads(swept["proc"].stdout)
    assert [h["name"] for h in document["hosts"]] == ["jump-host"]
    assert "total" in swept["proc"].stderr  # the summary went to people, on stderr


def test_sweep_without_a_terminal_logs_one_line_per_host(swept: dict[str, Any]) -> None:
    lines = [line for line in swept["proc"].stderr.splitlines() if line.startswith("[")]
    assert len(lines) == 1 and lines[0].startswith("[1/1] jump-host/jump-host: ")


def _widest(text: str) -> int:
    return max(len(line.rstrip()) for line in text.splitlines())


def test_sweep_summary_fits_80_columns_and_has_a_total(swept: dict[str, Any]) -> None:
    table = swept["proc"].stderr.split("unit", 1)[1]
    assert _widest(table) <= 80
    assert "\ntotal" in table


def test_sweep_summary_at_200_columns_has_a_column_per_check(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'raquet.db'}"
    proc = raquet_cli(
        "sweep", "-i", LOCAL, "--check", "software", "--check", "av", "--db", db,
        env=_env(COLUMNS="200"),
    )  # fmt: skip
    header = next(line for line in proc.stdout.splitlines() if line.startswith("unit"))
    assert header.split()[-2:] == ["av", "software"] and "name" in header


def test_history_json_and_times_with_their_zone(swept: dict[str, Any]) -> None:
    proc = raquet_cli("history", "--json", "-", "--db", swept["db"], env=_env(COLUMNS="80"))
    sweeps = json.loads(proc.stdout)
    assert sweeps[0]["timezone"] == "Asia/Ho_Chi_Minh"
    assert sweeps[0]["started_at"].endswith("+07:00")
    table = raquet_cli("history", "--db", swept["db"], env=_env(COLUMNS="80")).stdout
    assert " +0700 " in table and _widest(table) <= 80


def test_history_selection(swept: dict[str, Any]) -> None:
    by_unit = raquet_cli("history", "--unit", "jump-host", "--json", "-", "--db", swept["db"])
    assert len(json.loads(by_unit.stdout)) == 1
    by_pattern = raquet_cli(
        "history", "-i", LOCAL, "--limit", "jump-*", "--json", "-", "--db", swept["db"]
    )
    assert json.loads(by_pattern.stdout)[0]["planned"] == 1
    unknown = raquet_cli("history", "--unit", "nope", "--db", swept["db"])
    assert unknown.returncode == 2 and "nope" in unknown.stderr and not unknown.stdout
    typo = raquet_cli("history", "-i", LOCAL, "--unit", "jump-hots", "--db", swept["db"])
    assert typo.returncode == 2 and "did you mean jump-host" in typo.stderr


def test_sweep_selection_matching_nothing_is_a_usage_error(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'raquet.db'}"
    for option in (["--limit", "nothing-*"], ["--tag", "web"], ["--host", "jump"]):
        proc = raquet_cli("sweep", "-i", LOCAL, *option, "--db", db)
        assert proc.returncode == 2, (option, proc.stderr)
    assert json.loads(raquet_cli("history", "--json", "-", "--db", db).stdout) == []


def test_checks_and_inventory_check_json() -> None:
    checks = json.loads(raquet_cli("checks", "--json", "-").stdout)
    assert {c["name"] for c in checks} == {
        "av",
        "patches",
        "software",
        "connections",
        "infections",
        "vulns",
    }
    proc = raquet_cli("inventory", "check", "-i", EXAMPLE, "--json", "-", env=_env(COLUMNS="80"))
    document = json.loads(proc.stdout)
    assert document["total"]["hosts"] == sum(u["hosts"] for u in document["units"])
    assert "total" in proc.stderr and _widest(proc.stderr) <= 80


def test_feeds_list_fits_80_columns_has_a_total_and_json(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/f.db"
    sample = ROOT / "inventory" / "feeds" / "sample.txt"
    for name in ("national-2026-w48-with-a-long-name", "so-khcn"):
        assert raquet_cli("feeds", "import", sample, "--name", name, "--db", db).returncode == 0
    narrow = raquet_cli("feeds", "list", "--db", db, env=_env(COLUMNS="80"))
    assert narrow.returncode == 0 and _widest(narrow.stdout) <= 80, narrow.stdout
    assert "national-2026-w48-with-a-long-name" in narrow.stdout and "total" in narrow.stdout
    listed = raquet_cli("feeds", "list", "--json", "-", "--db", db, env=_env(COLUMNS="80"))
    feeds = json.loads(listed.stdout)
    assert sorted(f["name"] for f in feeds) == ["national-2026-w48-with-a-long-name", "so-khcn"]
    assert all(f["indicators"] == 6 for f in feeds)


def test_inventory_check_fits_80_columns_and_keeps_everything_at_200() -> None:
    narrow = raquet_cli("inventory", "check", "-i", EXAMPLE, env=_env(COLUMNS="80")).stdout
    wide = raquet_cli("inventory", "check", "-i", EXAMPLE, env=_env(COLUMNS="200")).stdout
    assert _widest(narrow) <= 80 and "trang-dinh" in narrow and "\ntotal" in narrow
    assert "workstations" in wide and "workstations" not in narrow


HELPS = [
    ["--help"],
    ["sweep", "--help"],
    ["history", "--help"],
    ["remediate", "--help"],
    ["checks", "--help"],
    ["config", "--help"],
    ["schedule", "--help"],
    ["inventory", "check", "--help"],
]


@pytest.mark.parametrize("args", HELPS, ids=" ".join)
def test_help_names_values_and_describes_every_option(args: list[str]) -> None:
    proc = raquet_cli(*args, env=_env(COLUMNS="80"))
    assert proc.returncode == 0
    assert _widest(proc.stdout) <= 80
    for leak in ("<bool>", "<list", "<str>", "<path>", "<int", "<float", "{file}"):
        assert leak not in proc.stdout
    options = proc.stdout.split("Options:", 1)[1].split("Commands:", 1)[0]
    for line in options.splitlines():
        if line.startswith("  -"):  # an option's first line carries its description
            assert len(line.split("  ")) > 2 or line.rstrip().endswith(("...", ")")), line


def test_sweep_help_keeps_long_flags_and_lists_checks() -> None:
    text = raquet_cli("sweep", "--help", env=_env(COLUMNS="80")).stdout
    assert "--insecure-no-host-key-check" in text
    assert "av, connections, infections, patches, software" in " ".join(text.split())
    for option in ("--unit UNIT", "--host HOST", "--tag TAG", "--limit PATTERN"):
        assert option in text


def test_version() -> None:
    proc = raquet_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("raquet 0.")


def test_shell_completion_is_offered_and_installs(tmp_path: Path) -> None:
    assert "--install-completion" in raquet_cli("--help").stdout
    proc = raquet_cli(
        "--install-completion", "bash", env=_env(HOME=str(tmp_path), SHELL="/bin/bash")
    )
    assert proc.returncode == 0, proc.stderr
    assert "raquet" in (tmp_path / ".bashrc").read_text() or list(tmp_path.rglob("*raquet*"))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_debug_shows_pyinfra_logs_but_never_the_password(tmp_path: Path) -> None:
    inventory = tmp_path / "pw.yml"
    inventory.write_text(
        "units:\n  - id: lab\n    hosts:\n      - name: pw-host\n        address: 127.0.0.1\n"
        f"        ssh_port: {_closed_port()}\n        ssh_user: raquet\n"
        "        ssh_password_env: RQ_LAB_LOGIN\n",
        encoding="utf-8",
    )
    secret = "s3cr3t-Hunter2-pw"
    proc = raquet_cli(
        "--debug", "sweep", "-i", inventory, "--check", "software", "--connect-timeout", "1",
        "--db", f"sqlite:///{tmp_path / 'raquet.db'}", env=_env(RQ_LAB_LOGIN=secret),
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert "pyinfra" in proc.stderr and "Connecting to" in proc.stderr  # the debug log is on
    assert secret not in proc.stderr and secret not in proc.stdout
    quiet = raquet_cli(
        "sweep", "-i", inventory, "--check", "software", "--connect-timeout", "1",
        "--db", f"sqlite:///{tmp_path / 'raquet.db'}", env=_env(RQ_LAB_LOGIN=secret),
    )  # fmt: skip
    assert "Connecting to" not in quiet.stderr


def test_quiet_prints_nothing_but_errors(tmp_path: Path) -> None:
    proc = raquet_cli(
        "-q", "sweep", "-i", LOCAL, "--check", "software",
        "--db", f"sqlite:///{tmp_path / 'raquet.db'}",
    )  # fmt: skip
    assert proc.returncode in (0, 1) and proc.stdout == "" and proc.stderr == ""


def test_schedule_prints_units_with_this_setup(tmp_path: Path) -> None:
    config = tmp_path / "raquet.toml"
    config.write_text(f'inventory = "{LOCAL}"\n', encoding="utf-8")
    proc = raquet_cli("--config", config, "schedule", "--print", "--user", "raquet")
    assert proc.returncode == 0, proc.stderr
    service, timer = proc.stdout.split("# /etc/systemd/system/raquet-sweep.timer")
    script = Path(sys.executable).parent / "raquet"
    raquet = str(script) if script.exists() else f"{sys.executable} -m raquet"
    assert f"ExecStart={raquet} --config {config} sweep --json " in service
    assert f"WorkingDirectory={ROOT}" in service and "User=raquet" in service
    assert "OnCalendar=Mon *-*-* 07:00:00 Asia/Ho_Chi_Minh" in timer


def test_problems_drop_pydantics_prefix() -> None:
    problem = Problem("inv.yml", 3, "units.0.id", "Value error, unit id is taken")
    assert str(problem) == "inv.yml:3: units.0.id: unit id is taken"
