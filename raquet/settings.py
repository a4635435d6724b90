"""The settings file: what every run would otherwise repeat (`-i`, `-p`, `--db`, timeouts).

Looked for as `--config FILE` (or `RAQUET_CONFIG`), else `./raquet.toml`, else
`$XDG_CONFIG_HOME/raquet/raquet.toml` (`~/.config/...`), else `/etc/raquet/raquet.toml`;
the first that exists is the only one read. Precedence is flag > environment > file >
default, and it is implemented by the environment itself: each setting has the variable
its options already read (`RAQUET_DB`, `RAQUET_INVENTORY`, ...), and a value from the
file is put into that variable only when the variable is unset. So every command (the
report and feeds commands included) sees the file without knowing it exists, and a flag
still wins because typer prefers it to the variable.

Relative paths in the file are relative to the file, so `/etc/raquet/raquet.toml` can
name `inventory/province.yml` next to it whatever directory a timer starts in.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from raquet.errors import InputError, Problem
from raquet.yamlfile import validation_problems

CONFIG_ENV = "RAQUET_CONFIG"
FILE_NAME = "raquet.toml"


class SettingsFile(BaseModel):
    """Every key a settings file may hold; a key it does not know is an error with a hint."""

    model_config = ConfigDict(extra="forbid")

    inventory: Path | None = None
    policy: Path | None = None
    store: str | None = Field(default=None, min_length=1)
    parallel: int | None = Field(default=None, ge=1)
    connect_timeout: float | None = Field(default=None, ge=0.5)
    timeout: float | None = Field(default=None, ge=1)
    report_settings: Path | None = None
    feeds_dir: Path | None = None
    broker: str | None = Field(default=None, min_length=1)
    distributed: bool | None = None
    worker_wait: float | None = Field(default=None, ge=0)


@dataclass(frozen=True)
class Setting:
    """One key: the variable that carries it, its default as shown, and what it is for."""

    key: str
    env: str
    default: str
    about: str


SETTINGS = [
    Setting("inventory", "RAQUET_INVENTORY", "(none: -i is needed)", "inventory file (-i)"),
    Setting("policy", "RAQUET_POLICY", "(the shipped policy)", "policy file (-p)"),
    Setting("store", "RAQUET_DB", "~/.local/share/raquet/raquet.db", "store URL (--db)"),
    Setting("parallel", "RAQUET_PARALLEL", "500", "hosts swept at once (sweep --parallel)"),
    Setting(
        "connect_timeout",
        "RAQUET_CONNECT_TIMEOUT",
        "10",
        "seconds to connect (sweep --connect-timeout)",
    ),
    Setting("timeout", "RAQUET_TIMEOUT", "120", "seconds per check (sweep --timeout)"),
    Setting(
        "report_settings",
        "RAQUET_REPORT_SETTINGS",
        "(none)",
        "reports' settings (report --settings)",
    ),
    Setting(
        "feeds_dir",
        "RAQUET_FEEDS_DIR",
        "(none)",
        "indicator feeds imported by `feeds import` without a file",
    ),
    Setting(
        "broker",
        "RAQUET_BROKER",
        "redis://localhost:6379/0",
        "Celery broker of sweep workers (--broker)",
    ),
    Setting("distributed", "RAQUET_DISTRIBUTED", "false", "sweep through workers (--distributed)"),
    Setting(
        "worker_wait",
        "RAQUET_WORKER_WAIT",
        "30",
        "seconds a segment may lack a worker (sweep --worker-wait)",
    ),
]
ENV = {s.key: s.env for s in SETTINGS}


@dataclass(frozen=True)
class Effective:
    """A setting's value for this run and where it came from (`default`, `env NAME`, `FILE:LINE`)."""

    key: str
    value: str | None
    source: str


@dataclass(frozen=True)
class Loaded:
    """The file that was read (if any) and the effective value of every setting."""

    path: Path | None
    searched: list[Path]
    settings: list[Effective]


def search_path() -> list[Path]:
    """Where a settings file is looked for when none is named, in order."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    config_home = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return [
        Path.cwd() / FILE_NAME,
        config_home / "raquet" / FILE_NAME,
        Path("/etc/raquet") / FILE_NAME,
    ]


def locate(explicit: Path | None) -> tuple[Path | None, list[Path]]:
    """The file to read and the places looked at; a named file that is missing is an error."""
    if explicit is not None:
        if not explicit.is_file():
            raise InputError([Problem(str(explicit), None, "", "no such settings file")])
        return explicit, [explicit]
    searched = search_path()
    return next((p for p in searched if p.is_file()), None), searched


def read(path: Path) -> tuple[SettingsFile, dict[str, int]]:
    """The validated file and the line of each key; every problem names file, line and key."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([Problem(str(path), None, "", _reason(exc))]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        line = int(found.group(1)) if found else None
        raise InputError([Problem(str(path), line, "", f"not valid TOML: {message}")]) from None
    lines = _key_lines(text)
    try:
        model = SettingsFile.model_validate(data)
    except ValidationError as exc:

        def where(loc: tuple[Any, ...]) -> tuple[int | None, str]:
            key = str(loc[0]) if loc else ""
            return lines.get(key), ".".join(str(part) for part in loc)

        raise InputError(validation_problems(str(path), exc, where, SettingsFile)) from None
    return model, lines


def _reason(exc: OSError | UnicodeDecodeError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return exc.strerror or str(exc)


_KEY = re.compile(r"""^\s*["']?([A-Za-z0-9_-]+)["']?\s*=""")


def _key_lines(text: str) -> dict[str, int]:
    """The line of each top-level key (tomllib keeps none); keys inside a table are not
    settings, so they are left to the model to reject by the table's own name."""
    lines: dict[str, int] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        table = re.match(r"^\s*\[+\s*([^\]]+?)\s*\]", line)
        if table:
            lines.setdefault(table.group(1).strip("\"'"), number)
            break
        found = _KEY.match(line)
        if found:
            lines.setdefault(found.group(1), number)
    return lines


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}" if isinstance(value, float) else str(value)


def apply(explicit: Path | None) -> Loaded:
    """Read the settings file and put each of its values into its variable unless the
    variable is already set; returns what each setting now is and where it came from."""
    path, searched = locate(explicit)
    model, lines = read(path) if path else (SettingsFile(), {})
    effective = []
    for setting in SETTINGS:
        given = os.environ.get(setting.env)
        value = getattr(model, setting.key)
        if given:
            effective.append(Effective(setting.key, given, f"env {setting.env}"))
        elif value is not None and path is not None:
            if isinstance(value, Path):
                value = (path.parent / value.expanduser()).resolve()
            os.environ[setting.env] = _shown(value)
            line = lines.get(setting.key)
            effective.append(
                Effective(setting.key, _shown(value), f"{path}:{line}" if line else str(path))
            )
        else:
            effective.append(Effective(setting.key, None, "default"))
    return Loaded(path, searched, effective)
