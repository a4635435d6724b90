"""`raquet report` options and exit codes (SPEC §4), through typer as the CLI runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from raquet.store import Store
from reports.command import report
from tests.fixtures.reports.stores import lang_son_fixture  # noqa: F401 (fixture `lang_son`)

app = typer.Typer()
app.command("report")(report)
app.command("other")(lambda: None)  # a second command, so "report" is a subcommand as in raquet


def run(*args: str | Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["report", *map(str, args)], env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def db(lang_son: tuple[Store, dict[str, str]]) -> str:
    return lang_son[0].url


def test_week_report_to_json(db: str, tmp_path: Path) -> None:
    out = tmp_path / "w22.json"
    code, stdout, stderr = run("--week", "2021-W22", "--format", "json", "-o", out, "--db", db)
    assert (code, stdout) == (0, "")
    assert stderr == f"wrote {out}\n"
    assert json.loads(out.read_text(encoding="utf-8"))["metrics"]["detections"]["current"] == 4505


def test_store_from_the_environment_and_unit_in_english(db: str, tmp_path: Path) -> None:
    out = tmp_path / "nested" / "st.md"
    code, _, stderr = run(
        "--week",
        "2021-W22",
        "--unit",
        "so-tttt",
        "-f",
        "md",
        "-o",
        out,
        "--lang",
        "en",
        env={"RAQUET_DB": db},
    )
    assert code == 0, stderr
    assert "Malware detections this week: **505**" in out.read_text(encoding="utf-8")


def test_sweep_by_prefix_and_csv_into_a_new_directory(
    lang_son: tuple[Store, dict[str, str]], tmp_path: Path
) -> None:
    store, ids = lang_son
    target = f"{tmp_path}/csv/"
    code, _, stderr = run(
        "--sweep", ids["2021-W21"][:8], "--format", "csv", "-o", target, "--db", store.url
    )
    assert code == 0, stderr
    assert (tmp_path / "csv" / "units.csv").is_file()
    assert stderr.count("wrote ") == 8


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sweep", "ffffffff"], "error: no sweep 'ffffffff'"),
        (["--week", "2021-22"], "error: --week: '2021-22' is not an ISO week"),
        (["--week", "2021-W53"], "error: --week: 2021 has no ISO week 53"),
        (["--week", "2021-W10"], "error: no sweep started in week 2021-W10"),
        (["--week", "2021-W22", "--unit", "bac-son"], "no sweep ever included unit 'bac-son'"),
        (["--week", "2021-W22", "--sweep", "latest"], "error: give --sweep or --week, not both"),
    ],
)
def test_what_the_store_cannot_answer_is_exit_2(
    db: str, tmp_path: Path, args: list[str], message: str
) -> None:
    code, stdout, stderr = run(*args, "--format", "html", "-o", tmp_path / "r.html", "--db", db)
    assert (code, stdout) == (2, "")
    assert message in stderr
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["--format", "odt", "-o", "x"],
        ["--format", "html"],
        ["-o", "x.html"],
        ["--format", "html", "-o", "x.html", "--lang", "fr"],
        ["--format", "html", "-o", "x.html", "--templates", "/nonexistent/templates"],
    ],
)
def test_bad_options_are_exit_2(db: str, args: list[str]) -> None:
    code, _, stderr = run(*args, "--db", db)
    assert code == 2
    assert "Usage:" in stderr


def test_an_unwritable_output_is_exit_2(db: str, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    code, _, stderr = run(
        "--week", "2021-W22", "-f", "html", "-o", tmp_path / "file" / "r.html", "--db", db
    )
    assert code == 2
    assert stderr.startswith("error: ")


def test_an_empty_store_says_so(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'empty.db'}"
    code, _, stderr = run("--format", "html", "-o", tmp_path / "r.html", "--db", db)
    assert code == 2
    assert "error: no sweep recorded yet in sqlite:///" in stderr
