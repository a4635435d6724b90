"""Remediation operations from recorded facts, the way pyinfra tests its own operations.

Each file in `tests/fixtures/remediations/<module>.<operation>/` holds the operation's
arguments, the facts a host answers (`fact name: value`, or `fact name: {"arg=value,…":
value}` for facts that take arguments; file contents as `!!binary`), and the commands the
operation must yield (none when the host is already fixed; a file edit as its preview, the
diff the plan shows, and its command), or the exception it must raise (after the commands
listed, if any). A fact the fixture does
not hold fails the test: an operation may not read anything it was not shown.
"""

from __future__ import annotations

import importlib
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from pyinfra.api import Config, FunctionCommand, Inventory, State, StringCommand
from pyinfra.api.command import FileUploadCommand
from pyinfra.context import ctx_host, ctx_state
from ruamel.yaml import YAML

import raquet  # noqa: F401  (gevent patching first, as in every entry point)
from checks.base import Sections

FIXTURES = Path(__file__).parent / "fixtures" / "remediations"
CASES = sorted(FIXTURES.glob("*.*/*.yml"))


class FakeHost:
    """Answers facts from a fixture and records what the operation says it skipped."""

    name = "fixture-host"

    def __init__(self, facts: dict[str, Any]) -> None:
        self.facts = facts
        self.noops: list[str] = []
        self.data: dict[str, Any] = {}
        self.current_op_global_arguments: dict[str, Any] = {}

    def get_fact(self, cls: Any, *args: Any, **kwargs: Any) -> Any:
        if cls.name not in self.facts:
            raise AssertionError(f"the operation read fact {cls.name}, not in the fixture")
        value = self.facts[cls.name]
        key = ",".join(f"{k}={v}" for k, v in sorted(kwargs.items()) if not k.startswith("_"))
        if key:
            if key not in value:
                raise AssertionError(f"fact {cls.name} asked for {key!r}, not in the fixture")
            value = value[key]
        return Sections(value) if isinstance(cls().default(), Sections) else value

    def noop(self, description: str) -> None:
        self.noops.append(description)

    def get_temp_filename(self, *args: Any, **kwargs: Any) -> str:
        return "/tmp/pyinfra-upload"


def serialise(command: Any) -> Any:
    """A command as the fixture writes it (an operation may also yield plain strings)."""
    if isinstance(command, str):
        return command
    if isinstance(command, StringCommand) and hasattr(command, "preview"):
        return {"preview": command.preview, "command": command.get_raw_value()}
    if isinstance(command, StringCommand):
        return command.get_raw_value()
    if isinstance(command, FileUploadCommand):
        src = command.src.getvalue() if isinstance(command.src, StringIO) else command.src
        return ["upload", src, command.dest]
    if isinstance(command, FunctionCommand):
        return [command.function.__name__, list(command.args)]
    raise AssertionError(f"unexpected command {command!r}")


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_operation(path: Path) -> None:
    case = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    module, op_name = path.parent.name.rsplit(".", 1)
    op = getattr(importlib.import_module(f"remediations.{module}"), op_name)
    host = FakeHost(case.get("facts") or {})
    state = State()  # files.put reads the state's config (its temp dir)
    state.init(Inventory(([], {})), Config(PARALLEL=1))
    with ctx_state.use(state), ctx_host.use(host):
        if "exception" in case:
            yielded: list[Any] = []
            with pytest.raises(Exception, match=case["exception"]):
                yielded += (serialise(c) for c in op._inner(**(case.get("kwargs") or {})))
            assert yielded == case.get("commands", yielded)  # what it ran before it failed
            return
        commands = [serialise(c) for c in op._inner(**(case.get("kwargs") or {}))]
    assert commands == case["commands"]
    if "noop" in case:
        assert case["noop"] in host.noops
