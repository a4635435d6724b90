"""What raquet imports before it works (issue 12): the command line is built without the
store, pyinfra, paramiko, gevent or the report renderers, which only the commands that use
them import; gevent's patching still comes before anything it must precede, whatever an
entry point imports first. Structural (which modules are loaded), never timed."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any, get_args

import pytest

from tests.conftest import ROOT

HEAVY = [
    "sqlalchemy",
    "pyinfra",
    "paramiko",
    "rich.progress",
    "jinja2",
    "openpyxl",
    "gevent",
    "winrm",
    "requests",
    "univers",
    "asyncio",
    "reports.command",
    "raquet.store",
]


def _run(code: str) -> Any:
    """`code` in a fresh interpreter (this one has imported everything long ago); its last
    line printed is JSON."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _loaded_after(prelude: str) -> list[str]:
    return _run(
        f"""
        import json, sys
        {prelude}
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
        """
    )


def test_building_the_command_line_imports_nothing_heavy() -> None:
    assert _loaded_after("import typer, raquet.cli; typer.main.get_command(raquet.cli.app)") == []


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["sweep", "--help"],
        ["config"],
        ["checks"],
        ["inventory", "check", "-i", "inventory/local.yml"],
    ],
    ids=" ".join,
)
def test_commands_that_connect_nowhere_import_nothing_heavy(argv: list[str]) -> None:
    loaded = _loaded_after(
        f"""
        import contextlib, io, runpy
        sys.argv = ["raquet", *{argv!r}]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            runpy.run_module("raquet", run_name="__main__")
        """
    )
    assert loaded == []


PATCHED = """
from gevent import monkey
print(json.dumps([monkey.is_module_patched(m) for m in ("socket", "ssl", "threading")]))
"""


@pytest.mark.parametrize(
    "first",
    [
        "import raquet.sweep",  # the sweep engine: gevent, then pyinfra, then paramiko
        "import raquet.store; import raquet.gather",  # SQLAlchemy (asyncio, ssl) first
        "import raquet; import paramiko",
        "import raquet.targets",
        "import raquet.remediate",
        "import sqlalchemy; import raquet",  # raquet after: patched at once, as ever
    ],
)
def test_patching_comes_first(first: str) -> None:
    assert _run(f"import json, warnings\nwarnings.simplefilter('error')\n{first}\n{PATCHED}") == [
        True,
        True,
        True,
    ]


def test_paramiko_threads_are_greenlets() -> None:
    """paramiko's Transport subclasses threading.Thread when it is imported: only patching
    before that import makes every host's transport a greenlet."""
    assert _run(
        """
        import json, raquet, paramiko.transport, gevent.threading
        print(json.dumps(issubclass(paramiko.transport.Transport, gevent.threading.Thread)))
        """
    )


def test_importing_raquet_patches_nothing_yet() -> None:
    assert _run("import json, sys, raquet; print(json.dumps('gevent' in sys.modules))") is False


def test_deferred_report_is_the_real_command() -> None:
    """`report` is listed by the summary `raquet.cli` gives it: the real docstring's first
    paragraph; once invoked it is the real command, options and all."""
    import inspect

    from typer.testing import CliRunner

    from raquet import cli
    from reports.command import report

    stand_in = next(c for c in cli.app.registered_commands if c.name == "report").callback
    assert stand_in is not None
    assert stand_in.__doc__ == (inspect.getdoc(report) or "").split("\n\n")[0]
    shown = CliRunner().invoke(cli.app, ["report", "--help"], prog_name="raquet")
    assert shown.exit_code == 0, shown.output
    assert "--format" in shown.output and "--unit" in shown.output


def test_feed_formats_named_alike() -> None:
    from raquet import feeds, feeds_cli

    assert get_args(feeds_cli.FormatChoice) == get_args(feeds.FormatChoice)


def test_inventory_as_pyinfra_builds_it() -> None:
    """raquet's pyinfra Inventory holds what pyinfra's own builder makes of the same hosts."""
    from pyinfra.api import Inventory, State
    from pyinfra.api.connectors import get_execution_connectors

    from raquet.models import Host
    from raquet.targets import host_data, make_state

    hosts = [
        Host(name="a", address="192.0.2.1", ssh_user="root", ssh_port=2222),
        Host(name="bb-longest-name", address="192.0.2.2", connector="local"),
        Host(name="c", address="192.0.2.3", os="windows", connector="winrm"),
    ]
    state = make_state(hosts, parallel=3, connect_timeout=5, verify_host_keys=True)
    names = [(h.name, host_data(h, connect_timeout=5, verify_host_keys=True)) for h in hosts]
    theirs = Inventory((names, {}))
    connectors = get_execution_connectors()
    for host in hosts:
        theirs.get_host(host.name).connector_cls = connectors[host.connector_name]
    their_state = State(inventory=theirs, config=state.config, check_for_changes=False)
    for host in hosts:
        ours, their = state.inventory.get_host(host.name), theirs.get_host(host.name)
        assert ours.connector_cls is their.connector_cls
        assert ours.data.dict() == their.data.dict()
        assert ours.groups == their.groups
        # what the State's `init` of each host leaves, which raquet's does without the
        # quadratic search for the longest name
        assert vars(ours).keys() == vars(their).keys()
        assert ours.print_prefix_padding == their.print_prefix_padding
        assert type(ours.connector) is type(their.connector)
        assert ours.state is state and their.state is their_state
    assert list(state.inventory.hosts) == list(theirs.hosts)
