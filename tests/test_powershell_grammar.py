"""Every PowerShell text raquet sends to Windows parses with tree-sitter-pwsh: no ERROR and
no MISSING node. Covered: the sweep script for every subset of the checks
(`raquet.powershell.build`), and every Windows remediation's commands and the facts they
read, from the recorded remediation fixtures (`tests/fixtures/remediations`, run as
tests/test_remediations.py runs them). A copy broken on purpose (a block closed early, a
block left open) must fail the same check, so the check is known to see breakage.
"""

from __future__ import annotations

import importlib
import itertools
from typing import Any

import pytest
import tree_sitter
import tree_sitter_pwsh
from pyinfra.api import Config, Inventory, State, StringCommand
from pyinfra.context import ctx_host, ctx_state
from ruamel.yaml import YAML

import raquet  # noqa: F401  (gevent patching first, as in every entry point)
from checks import registry, select
from raquet.policy import Policy
from raquet.script import build
from tests.test_remediations import FIXTURES, FakeHost, serialise

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_pwsh.language()))
WINDOWS_OPS = ("windows_", "defender_", "program_removed")
"""Operation names that run on Windows hosts (the rest are POSIX shell)."""


def problems(script: str) -> list[str]:
    """Each ERROR or MISSING node of `script`'s parse tree, with its line and text."""
    tree = PARSER.parse(script.encode("utf-8"))
    found: list[str] = []
    pending = [tree.root_node]
    while pending:
        node = pending.pop()
        if node.is_missing or node.type == "ERROR":
            line = node.start_point[0] + 1
            text = script.encode("utf-8")[node.start_byte : node.end_byte][:60].decode(
                "utf-8", "replace"
            )
            found.append(
                f"line {line}: {'MISSING ' + node.type if node.is_missing else 'ERROR'} {text!r}"
            )
        elif node.has_error:
            pending.extend(node.children)
    return found


def broken(script: str) -> list[str]:
    """Two broken copies: the first real `{` closed at once, and an `if` left open."""
    tree = PARSER.parse(script.encode("utf-8"))
    pending = [tree.root_node]
    first: int | None = None
    while pending and first is None:
        node = pending.pop(0)
        if node.type == "{" and not node.is_named:
            first = node.end_byte
        pending = list(node.children) + pending
    raw = script.encode("utf-8")
    copies = [script + "\nif ($rq_unclosed) {\n"]
    if first is not None:
        copies.append((raw[:first] + b"}" + raw[first:]).decode("utf-8"))
    return copies


def _sweep_scripts() -> list[tuple[str, str]]:
    names = list(registry())
    scripts = []
    for size in range(len(names) + 1):
        for subset in itertools.combinations(names, size):
            scripts.append(
                (
                    "sweep[" + ",".join(subset) + "]",
                    build(select(list(subset)), "windows", Policy(), 30).text,
                )
            )
    return scripts


class RecordingHost(FakeHost):
    """A fixture host that also keeps which facts the operation read, with what arguments."""

    def __init__(self, facts: dict[str, Any]) -> None:
        super().__init__(facts)
        self.read: list[tuple[Any, dict[str, Any]]] = []

    def get_fact(self, cls: Any, *args: Any, **kwargs: Any) -> Any:
        self.read.append((cls, {k: v for k, v in kwargs.items() if not k.startswith("_")}))
        return super().get_fact(cls, *args, **kwargs)


def _text(command: Any) -> str | None:
    value = serialise(command)
    if isinstance(value, dict):
        return value["command"]
    return value if isinstance(value, str) else None


def _remediation_scripts() -> list[tuple[str, str]]:
    scripts: list[tuple[str, str]] = []
    for path in sorted(FIXTURES.glob("*.*/*.yml")):
        module, op_name = path.parent.name.rsplit(".", 1)
        if not op_name.startswith(WINDOWS_OPS):
            continue
        case = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
        op = getattr(importlib.import_module(f"remediations.{module}"), op_name)
        host = RecordingHost(case.get("facts") or {})
        state = State()
        state.init(Inventory(([], {})), Config(PARALLEL=1))
        where = f"{path.parent.name}/{path.stem}"
        with ctx_state.use(state), ctx_host.use(host):
            commands: list[Any] = []
            try:
                commands.extend(op._inner(**(case.get("kwargs") or {})))
            except Exception:
                assert "exception" in case, where
            for cls, kwargs in host.read:
                fact = cls().command(**kwargs)
                text = fact.get_raw_value() if isinstance(fact, StringCommand) else fact
                scripts.append((f"{where} fact {cls.__name__}", text))
        for position, command in enumerate(commands):
            text = _text(command)
            if text is not None:
                scripts.append((f"{where} command {position}", text))
    return scripts


SWEEP = _sweep_scripts()
REMEDIATIONS = _remediation_scripts()


def test_everything_is_covered() -> None:
    assert len(SWEEP) == 2 ** len(registry())
    ops = {name.split(" ")[0].split("/")[0] for name, _ in REMEDIATIONS}
    assert {
        "firewall.windows_block",
        "firewall.windows_unblock",
        "hostsfile.windows_sinkhole",
        "infections.windows_scanned",
        "patches.windows_security_updates",
        "connections.windows_processes_stopped",
        "software.program_removed",
        "av.defender_signatures",
    } <= ops


@pytest.mark.parametrize(
    ("name", "script"), SWEEP + REMEDIATIONS, ids=[n for n, _ in SWEEP + REMEDIATIONS]
)
def test_parses_without_error(name: str, script: str) -> None:
    assert problems(script) == []


@pytest.mark.parametrize(
    ("name", "script"), SWEEP[-1:] + REMEDIATIONS, ids=[n for n, _ in SWEEP[-1:] + REMEDIATIONS]
)
def test_a_broken_copy_is_caught(name: str, script: str) -> None:
    for copy in broken(script):
        assert problems(copy), f"the grammar accepted a broken copy of {name}"


def test_the_check_sees_a_plain_mistake() -> None:
    assert problems("if ($a) { Write-Output 1 }") == []
    assert problems("if ($a) { Write-Output 1 ")
    assert problems("$x = @{ a = 1")
    assert problems("Get-Item -Path 'C:\\x' | ")
