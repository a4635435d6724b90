"""The settings file: where it is looked for, precedence flag > env > file > default, and
errors that name file, line and key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from raquet.errors import InputError
from raquet.settings import read
from tests.conftest import ROOT, raquet_cli

LOCAL = ROOT / "inventory" / "local.yml"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAQUET_", "XDG_"))}
    env.update(extra)
    return env


def _config(*args: str | Path, cwd: Path, **env: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "raquet", *map(str, args), "config", "--json", "-"],
        capture_output=True, text=True, cwd=cwd, env=_env(HOME=str(cwd), **env), timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    document: dict[str, Any] = json.loads(proc.stdout)
    return document


def test_found_in_the_current_directory_with_lines_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "raquet.toml").write_text(
        '# settings\ninventory = "inv/province.yml"\n\nparallel = 50\n', encoding="utf-8"
    )
    document = _config(cwd=tmp_path)
    settings = document["settings"]
    assert document["file"] == str(tmp_path / "raquet.toml")
    assert settings["inventory"]["value"] == str(tmp_path / "inv" / "province.yml")
    assert settings["inventory"]["source"] == f"{tmp_path / 'raquet.toml'}:2"
    assert settings["parallel"] == {
        "value": "50",
        "source": f"{tmp_path / 'raquet.toml'}:4",
        "env": "RAQUET_PARALLEL",
    }
    assert settings["timeout"]["source"] == "default"


def test_then_the_user_config_directory_then_none(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    (xdg / "raquet").mkdir(parents=True)
    (xdg / "raquet" / "raquet.toml").write_text("timeout = 300\n", encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    assert _config(cwd=work, XDG_CONFIG_HOME=str(xdg))["settings"]["timeout"]["value"] == "300"
    document = _config(cwd=work)
    assert document["file"] is None or document["file"] == "/etc/raquet/raquet.toml"
    assert str(work / ".config" / "raquet" / "raquet.toml") in document["searched"]


def test_environment_beats_the_file_and_a_flag_beats_both(tmp_path: Path) -> None:
    config = tmp_path / "raquet.toml"
    config.write_text('store = "mysql+nosuchdriver://u@localhost/raquet"\n', encoding="utf-8")
    good = f"sqlite:///{tmp_path / 'good.db'}"
    by_env = _config("--config", config, cwd=tmp_path, RAQUET_DB=good)["settings"]["store"]
    assert by_env == {"value": good, "source": "env RAQUET_DB", "env": "RAQUET_DB"}
    from_file = raquet_cli("--config", config, "history", env=_env())
    assert from_file.returncode == 2 and "nosuchdriver" in from_file.stderr
    flag = raquet_cli("--config", config, "history", "--db", good, env=_env())
    assert flag.returncode == 0, flag.stderr


def test_the_file_drives_a_sweep(tmp_path: Path) -> None:
    config = tmp_path / "raquet.toml"
    config.write_text(
        f'inventory = "{LOCAL}"\nstore = "sqlite:///{tmp_path / "r.db"}"\n', encoding="utf-8"
    )
    proc = raquet_cli("--config", config, "sweep", "--check", "software", "--json", "-", env=_env())
    assert proc.returncode in (0, 1), proc.stderr
    assert json.loads(proc.stdout)["inventory"] == str(LOCAL)


def test_feeds_import_without_a_file_takes_the_feeds_directory(tmp_path: Path) -> None:
    """The SOC drops each week's lists into one folder; one command imports them all, each
    under its own name, and a broken one is named while the others still land."""
    folder = tmp_path / "feeds"
    folder.mkdir()
    (folder / "ncsc-w48.txt").write_text("198.51.100.7\nbad-domain.example\n")
    (folder / "so-khcn.csv").write_text("indicator\n203.0.113.9\n")
    (folder / ".hidden").write_text("not a feed\n")
    config = tmp_path / "raquet.toml"
    config.write_text(f'feeds_dir = "feeds"\nstore = "sqlite:///{tmp_path / "r.db"}"\n')
    proc = raquet_cli("--config", config, "feeds", "import", env=_env())
    assert proc.returncode == 0, proc.stderr
    listed = raquet_cli("--config", config, "feeds", "list", "--json", "-", env=_env())
    feeds = {f["name"]: f["indicators"] for f in json.loads(listed.stdout)}
    assert feeds == {"ncsc-w48": 2, "so-khcn": 1}
    (folder / "empty.txt").write_text("# nothing\n")
    again = raquet_cli("--config", config, "feeds", "import", env=_env())
    assert again.returncode == 2 and "empty.txt" in again.stderr, again.stderr
    assert "feed ncsc-w48: 2 indicators" in again.stdout
    alone = raquet_cli("feeds", "import", "--db", f"sqlite:///{tmp_path / 'x.db'}", env=_env())
    assert alone.returncode == 2 and "feeds directory" in alone.stderr


def test_the_file_drives_remediate_too(tmp_path: Path) -> None:
    """No -i and no --db: the plan reads both from the file, as the sweep did."""
    config = tmp_path / "raquet.toml"
    config.write_text(
        f'inventory = "{LOCAL}"\nstore = "sqlite:///{tmp_path / "r.db"}"\n', encoding="utf-8"
    )
    swept = raquet_cli("--config", config, "sweep", "--check", "software", env=_env())
    assert swept.returncode in (0, 1), swept.stderr
    plan = raquet_cli("--config", config, "remediate", "--check", "software", env=_env())
    assert plan.returncode == 0, plan.stderr
    assert "nothing to remediate" in plan.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'inventroy = "a.yml"\n',
            ":1: inventroy: unknown key 'inventroy' (did you mean 'inventory'?)",
        ),
        ("# c\nparallel = 0\n", ":2: parallel: expected a number of at least 1; got 0"),
        ('timeout = "soon"\n', ":1: timeout: expected a number"),
        ("parallel = 5\n[sweep]\nx = 1\n", ":2: sweep: unknown key 'sweep'"),
        ("parallel =\n", ":1: not valid TOML"),
    ],
)
def test_errors_name_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "raquet.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read(path)
    assert any(str(p).startswith(f"{path}{expected}") for p in caught.value.problems), caught.value
    proc = raquet_cli("--config", path, "checks", env=_env())
    assert proc.returncode == 2 and f"{path}{expected}" in proc.stderr


def test_a_named_file_that_is_missing_is_an_error(tmp_path: Path) -> None:
    proc = raquet_cli("--config", tmp_path / "nope.toml", "checks", env=_env())
    assert proc.returncode == 2 and "no such settings file" in proc.stderr


def test_the_example_is_valid() -> None:
    model, _ = read(ROOT / "inventory" / "raquet.example.toml")
    assert model.inventory == Path("example.yml")
