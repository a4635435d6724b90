"""`raquet schedule --print`: the systemd service and timer of docs/scheduling.md, filled in.

Copying the documented units by hand meant editing five paths in each; these are written
from what this very run sees: the `raquet` it was started as, the current directory, the
settings file it read (named with `--config`, so the timer reads the same one whatever
its environment), or else the inventory, policy and store given by variables.
"""

from __future__ import annotations

import getpass
import os
import shlex
import sys
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

UNITS = ("raquet-sweep.service", "raquet-sweep.timer")


def command() -> str:
    """How systemd starts this raquet: the venv's script when there is one beside Python."""
    script = Path(sys.executable).parent / "raquet"
    if script.is_file() and os.access(script, os.X_OK):
        return str(script)
    return f"{sys.executable} -m raquet"


def units(*, calendar: str, user: str | None, config: Path | None) -> list[tuple[str, str]]:
    """Each unit's file name and text."""
    raquet = command()
    environment: list[tuple[str, str]] = []
    selection = ""
    if config is not None:
        raquet += f" --config {shlex.quote(str(config.resolve()))}"
    else:
        for name in ("RAQUET_INVENTORY", "RAQUET_POLICY", "RAQUET_DB"):
            if os.environ.get(name):
                value = os.environ[name]
                if name != "RAQUET_DB":
                    value = str(Path(value).resolve())
                environment.append((name, value))
    if not any(name == "RAQUET_INVENTORY" for name, _ in environment) and config is None:
        selection = " -i INVENTORY.yml"  # placeholder: no settings file and no RAQUET_INVENTORY
    env = Environment(
        loader=PackageLoader("raquet", "."),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # systemd unit files, not HTML
    )
    values = {
        "user": user or getpass.getuser(),
        "workdir": str(Path.cwd()),
        "environment": environment,
        "raquet": raquet,
        "selection": selection,
        "calendar": calendar,
    }
    return [(name, env.get_template(f"{name}.j2").render(values)) for name in UNITS]
