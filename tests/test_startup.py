"""What raquet imports before it works (issue 12): the command line is built without the
store, pyinfra, paramiko, gevent or the report renderers, which only the commands that use
them import; gevent's patching still comes before anything it must precede, whatever an
entry point imports first. Structural (which modules are loaded), never timed."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, get_args

import pytest

from tests.conftest import ROOT, raquet_cli

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


def _run(code: str, status: int = 0) -> Any:
    """`code` in a fresh interpreter (this one has imported everything long ago), which
    must exit with `status`; its last line printed is JSON."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == status, done.stderr
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


@pytest.mark.parametrize(
    ("name", "option"),
    [("report", "--format"), ("show", "--json"), ("diff", "--json"), ("prune", "--before")],
)
def test_a_deferred_command_is_the_real_command(name: str, option: str) -> None:
    """A deferred command is listed by the summary `raquet.cli` gives it: the real
    docstring's first paragraph; once invoked it is the real command, options and all."""
    import importlib
    import inspect

    from typer.testing import CliRunner

    from raquet import cli

    stand_in = next(c for c in cli.app.registered_commands if c.name == name).callback
    assert stand_in is not None
    module, _, function = getattr(stand_in, cli._DEFERRED).partition(":")
    real = getattr(importlib.import_module(module), function)
    assert stand_in.__doc__ == (inspect.getdoc(real) or "").split("\n\n")[0]
    shown = CliRunner().invoke(cli.app, [name, "--help"], prog_name="raquet")
    assert shown.exit_code == 0, shown.output
    assert option in shown.output


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
        assert ours.connector.data == their.connector.data
        assert ours.state is state and their.state is their_state
    assert list(state.inventory.hosts) == list(theirs.hosts)


def test_only_the_invoked_command_is_built() -> None:
    """`main` builds the click command of the one command the arguments name (typer builds
    every command's parameters from its signature, a fifth of a second for all of them);
    anything it cannot tell gets the whole app."""
    import typer

    from raquet.cli import app, invoked

    def names(argv: list[str]) -> list[str]:
        command = typer.main.get_command(invoked(argv))
        return sorted(command.commands)  # type: ignore[attr-defined]

    assert names(["sweep", "-i", "x.yml"]) == ["sweep"]
    assert names(["-vv", "--config", "r.toml", "-q", "--debug", "sweep"]) == ["sweep"]
    assert names(["--config=r.toml", "inventory", "check"]) == ["inventory"]
    assert names(["report", "--help"]) == ["report"]
    for whole in ([], ["--help"], ["--version"], ["nosuch"], ["--config"], ["-x", "sweep"]):
        assert invoked(whole) is app, whole
    alone = typer.main.get_command(invoked(["sweep"])).commands["sweep"]  # type: ignore[attr-defined]
    every = typer.main.get_command(app).commands["sweep"]  # type: ignore[attr-defined]
    assert [p.opts for p in alone.params] == [p.opts for p in every.params]


STORE_MODULES = ["sqlalchemy", "raquet.store", "raquet.store.writer", "alembic"]
JUDGING_MODULES = [
    "checks",
    "raquet.policy",
    "raquet.waivers",
    "raquet.gather",
    "raquet.script",
    "raquet.feeds",
    "raquet.vulns",
    "raquet.history_cli",
    "rich",
]
"""What judging, storing and showing need, which a sweep imports once connecting is under way."""


def _one_listening_host(tmp_path: Path) -> tuple[socket.socket, Path]:
    """A listener that takes connections and never answers, and an inventory of one host on it."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    (tmp_path / "known_hosts").write_text("")
    inventory = tmp_path / "one.yml"
    inventory.write_text(
        "province: test\nunits:\n- id: u\n  hosts:\n"
        f"  - {{name: h, address: 127.0.0.1, ssh_port: {port}, ssh_user: root, "
        f"known_hosts: {tmp_path / 'known_hosts'}}}\n"
    )
    return listener, inventory


def test_a_sweep_connects_before_it_opens_the_store(tmp_path: Path) -> None:
    """The store (SQLAlchemy, the schema check), the policy and the checks are loaded while
    the first connections are under way, not before them; the host's result is still
    stored and in the document."""
    listener, inventory = _one_listening_host(tmp_path)
    db = tmp_path / "store.db"
    try:
        first, document = _run(
            f"""
            import contextlib, json, runpy, sys
            import raquet
            raquet.patch()
            import socket
            seen = []
            connect = socket.socket.connect
            def connecting(self, address):
                if not seen:
                    seen.append([m for m in {STORE_MODULES + JUDGING_MODULES!r} if m in sys.modules])
                return connect(self, address)
            socket.socket.connect = connecting
            sys.argv = ["raquet", "-q", "sweep", "-i", {str(inventory)!r}, "--check", "av",
                        "--db", {str(db)!r}, "--json", {str(tmp_path / "out.json")!r}]
            with contextlib.suppress(SystemExit):
                runpy.run_module("raquet", run_name="__main__")
            print(json.dumps([seen, json.load(open({str(tmp_path / "out.json")!r}))]))
            """
        )
    finally:
        listener.close()
    assert first == [[]]
    assert [(h["name"], h["status"]) for h in document["hosts"]] == [("h", "unreachable")]
    import sqlite3

    with sqlite3.connect(db) as stored:
        assert stored.execute("SELECT count(*) FROM host_results").fetchone() == (1,)


@pytest.mark.parametrize(
    ("args", "files", "said"),
    [
        (["--check", "nosuch"], {}, "unknown check(s): nosuch; known: av, connections"),
        (
            ["-p", "{policy}"],
            {"policy": "software:\n  denylist: 7\n"},
            "{policy}:2: software.denylist: ",
        ),
        (
            ["--waivers", "{waivers}"],
            {"waivers": "- check: av\n  host: h\n"},
            "{waivers}:1: ",
        ),
    ],
    ids=["check", "policy", "waivers"],
)
def test_bad_input_read_while_connecting_still_stops_the_sweep_with_exit_2(
    tmp_path: Path, args: list[str], files: dict[str, str], said: str
) -> None:
    """The policy, waivers and check names are read once the first connections are under
    way: a bad one is still a usage error naming file, line and field, with no sweep begun,
    nothing stored and no document written."""
    names = {}
    for name, text in files.items():
        names[name] = tmp_path / f"{name}.yml"
        names[name].write_text(text)
    listener, inventory = _one_listening_host(tmp_path)
    db = tmp_path / "store.db"
    try:
        proc = raquet_cli(
            "sweep", "-i", inventory, "--db", db, "--json", tmp_path / "out.json",
            *(a.format(**names) for a in args),
        )  # fmt: skip
    finally:
        listener.close()
    assert proc.returncode == 2, proc.stderr
    assert said.format(**names) in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out.json").exists()
    assert not db.exists()


class _Staged:
    """`run_beginning` with local hosts whose gather script is recorded and never run
    (each fails as a lost connection once its script is sent), `plan` and `begin`
    recorded in the same order of events."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from raquet import sweep

        self.order: list[str] = []
        self.closed: list[str] = []

        def run_script(target: Any, *args: Any, sent: Any, **kwargs: Any) -> Any:
            self.order.append(f"script {target.name}")
            sent()
            raise OSError("not run in this test")

        monkeypatch.setattr(sweep, "run_script", run_script)
        monkeypatch.setattr(sweep, "close_host", lambda target: self.closed.append(target.name))

    def plan(self) -> Any:
        from raquet.policy import load_policy

        self.order.append("plan")
        return load_policy(None)


def test_hosts_send_their_scripts_before_the_store_opens(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The policy and the checks are read once the first connections are under way; the
    connected hosts send their gather scripts, and only then is the store opened (its
    imports hold the hub), while they work; every result is still stored."""
    from checks.base import Context
    from raquet import sweep
    from raquet.models import Host
    from raquet.store import Store

    staged = _Staged(monkeypatch)
    hosts = [Host(name=f"h{i}", address="127.0.0.1", connector="local") for i in range(3)]
    with Store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        sweep_id = store.begin_sweep("inv.yml", "", ["av"], [(h.name, "u") for h in hosts], {})

        def begin() -> sweep.Begun:
            staged.order.append("begin")
            return sweep.Begun(store, sweep_id, Context(policy=staged.plan()))

        options = sweep.SweepOptions(checks=["av"], parallel=2)
        results = sweep.run_beginning(hosts, staged.plan, begin, options)
        stored = {h.name: h.status for h in store.sweep_result(sweep_id).hosts}
    assert staged.order[:4] == ["plan", "script h0", "script h1", "begin"]  # --parallel 2
    assert "script h2" in staged.order
    assert sorted(r.name for r in results) == ["h0", "h1", "h2"]
    assert stored == {"h0": "error", "h1": "error", "h2": "error"}


def test_a_host_still_connecting_does_not_hold_the_store_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A host that never finishes its handshake (a tarpit) does not keep the store closed
    until it times out: the store opens while it is still connecting."""
    from checks.base import Context
    from raquet import sweep
    from raquet.models import Host
    from raquet.store import Store

    staged = _Staged(monkeypatch)
    listener, _ = _one_listening_host(tmp_path)
    port = listener.getsockname()[1]
    hosts = [
        Host(name="h0", address="127.0.0.1", connector="local"),
        Host(name="tarpit", address="127.0.0.1", ssh_port=port, ssh_user="root",
             known_hosts=str(tmp_path / "known_hosts")),
    ]  # fmt: skip
    with Store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        sweep_id = store.begin_sweep("inv.yml", "", ["av"], [(h.name, "u") for h in hosts], {})

        def begin() -> sweep.Begun:
            staged.order.append("begin")
            return sweep.Begun(store, sweep_id, Context(policy=staged.plan()))

        def stored(result: Any) -> None:
            staged.order.append(f"{result.name} {result.status}")

        options = sweep.SweepOptions(checks=["av"], connect_timeout=10)
        try:
            sweep.run_beginning(hosts, staged.plan, begin, options, on_result=stored)
        finally:
            listener.close()
    assert staged.order.index("begin") < staged.order.index("tarpit unreachable")
    assert staged.order.index("h0 error") < staged.order.index("tarpit unreachable")


def test_a_store_that_cannot_be_opened_stops_the_sweep_with_nothing_judged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When opening the store fails, its error is raised and every connection is closed;
    the hosts may have run their (read-only) gather script, nothing was judged."""
    from raquet import sweep
    from raquet.models import Host
    from raquet.store import StoreError

    staged = _Staged(monkeypatch)
    judged: list[str] = []
    monkeypatch.setattr(sweep, "_judged", lambda host, *a: judged.append(host.name))

    def begin() -> sweep.Begun:
        staged.order.append("begin")
        raise StoreError("the store is on fire")

    hosts = [Host(name=f"h{i}", address="127.0.0.1", connector="local") for i in range(3)]
    options = sweep.SweepOptions(checks=["av"], parallel=2)
    with pytest.raises(StoreError, match="on fire"):
        sweep.run_beginning(hosts, staged.plan, begin, options)
    assert staged.order == ["plan", "script h0", "script h1", "begin"]
    assert sorted(staged.closed) == ["h0", "h1"] and judged == []


def test_bad_input_read_after_connecting_stops_the_sweep_with_nothing_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from raquet import sweep
    from raquet.errors import InputError
    from raquet.models import Host

    staged = _Staged(monkeypatch)

    def plan() -> Any:
        staged.order.append("plan")
        raise InputError([])

    def begin() -> sweep.Begun:
        raise AssertionError("the store is not opened after bad input")

    hosts = [Host(name=f"h{i}", address="127.0.0.1", connector="local") for i in range(3)]
    with pytest.raises(InputError):
        sweep.run_beginning(hosts, plan, begin, sweep.SweepOptions(checks=["av"], parallel=2))
    assert staged.order == ["plan"] and sorted(staged.closed) == ["h0", "h1"]


def test_a_sweep_whose_store_cannot_be_opened_says_so_with_exit_2(tmp_path: Path) -> None:
    listener, inventory = _one_listening_host(tmp_path)
    (tmp_path / "store.db").mkdir()  # a directory where the database file should be
    try:
        proc = raquet_cli(
            "sweep", "-i", inventory, "--connect-timeout", "2", "--db", tmp_path / "store.db",
            "--json", tmp_path / "out.json",
        )  # fmt: skip
    finally:
        listener.close()
    assert proc.returncode == 2, proc.stderr
    assert "cannot be used as raquet's store" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out.json").exists()


def test_pyinfra_api_without_what_a_sweep_never_calls() -> None:
    """`raquet.pyinfra_api.load` imports the API with jinja2, typeguard and packaging left
    for later; pyinfra's functions that use them work, with the real objects."""
    assert _run(
        """
        import io, json, sys
        import raquet
        raquet.patch()
        from raquet import pyinfra_api
        pyinfra_api.load()
        out = [[m for m in ("jinja2", "typeguard", "packaging") if m in sys.modules]]
        from pyinfra.api import config, util
        out.append(util.get_template(io.StringIO("hi {{ who }}")).render(who="there"))
        class Bad(Exception):
            pass
        try:
            util.raise_if_bad_type("x", int, Bad, "data")
        except Bad as exc:
            out.append(str(exc))
        util.raise_if_bad_type(3, int, Bad, "data")
        config.check_pyinfra_version(">=3")
        import jinja2, typeguard, packaging.version
        out.append([util.Environment is jinja2.Environment, util.TypeCheckError is
                    typeguard.TypeCheckError, config.Version is packaging.version.Version])
        print(json.dumps(out))
        """
    ) == [[], "hi there", "data: str is not an instance of int", [True, True, True]]


def test_connector_data_is_type_checked_as_pyinfra_does() -> None:
    from pyinfra.api.exceptions import ConnectorDataTypeError
    from pyinfra.api.host import HostData
    from pyinfra.connectors.base import host_to_connector_data
    from pyinfra.connectors.ssh import SSHConnector

    from raquet.targets import _connector_data

    cls, meta = SSHConnector.data_cls, SSHConnector.data_meta
    good = HostData("h", {"ssh_port": 2222, "ssh_user": "root", "ssh_paramiko_connect_kwargs": {}})
    assert _connector_data(cls, meta, good) == host_to_connector_data(cls, meta, good)
    bad = HostData("h", {"ssh_port": "twenty-two"})
    with pytest.raises(ConnectorDataTypeError) as theirs:
        host_to_connector_data(cls, meta, bad)
    with pytest.raises(ConnectorDataTypeError) as ours:
        _connector_data(cls, meta, bad)
    assert str(ours.value) == str(theirs.value)


def test_a_host_that_never_speaks_ssh_says_so_when_start_up_outlasts_its_deadlines(
    tmp_path: Path,
) -> None:
    """A host that accepts TCP and never sends a banner, while the sweep is busy (its
    start-up after the first connects, here a second and a half of CPU) past both its
    banner timeout and its handshake deadline: whichever paramiko notices first, the
    reason says the host never spoke SSH, not paramiko's "No existing session"."""
    import time

    from checks.base import Context
    from raquet import sweep
    from raquet.models import Host
    from raquet.policy import load_policy
    from raquet.store import Store

    listener, _ = _one_listening_host(tmp_path)  # accepts (its backlog), never answers
    port = listener.getsockname()[1]
    hosts = [
        Host(name="tarpit", address="127.0.0.1", ssh_port=port, ssh_user="root",
             known_hosts=str(tmp_path / "known_hosts"))
    ]  # fmt: skip
    with Store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        sweep_id = store.begin_sweep("inv.yml", "", ["av"], [("tarpit", "default")], {})

        def busy_begin() -> sweep.Begun:
            end = time.monotonic() + 1.5  # CPU, not a sleep: the hub runs nothing meanwhile
            while time.monotonic() < end:
                pass
            return sweep.Begun(store, sweep_id, Context(policy=load_policy(None)))

        options = sweep.SweepOptions(checks=["av"], connect_timeout=1)
        try:
            (result,) = sweep.run_beginning(hosts, lambda: load_policy(None), busy_begin, options)
        finally:
            listener.close()
    assert result.status == "unreachable"
    assert result.error is not None and "banner" in result.error.lower(), result.error


def test_a_sweep_collects_garbage_only_among_what_it_makes_after_loading(tmp_path: Path) -> None:
    """Collection waits while the command loads and what is loaded is frozen out of its
    reach (raquet.collector): a one-host sweep runs no full collection at all; yet the
    collector is on once connecting starts, so what each host's connection leaves in
    reference cycles is still collected on a sweep of thousands."""
    listener, inventory = _one_listening_host(tmp_path)
    try:
        at_connect, full_collections = _run(
            f"""
            import atexit, gc, json, runpy, sys
            seen = []
            def hook(event, args):
                if event == "socket.connect" and not seen:
                    seen.append([gc.isenabled(), gc.get_freeze_count() > 50_000])
            sys.addaudithook(hook)
            atexit.register(lambda: print(json.dumps([seen[0], gc.get_stats()[2]["collections"]])))
            sys.argv = ["raquet", "-q", "sweep", "-i", {str(inventory)!r}, "--check", "av",
                        "--connect-timeout", "1", "--db", {str(tmp_path / "s.db")!r}]
            runpy.run_module("raquet", run_name="__main__")
            """,
            status=3,  # the host is unreachable: the listener never speaks SSH
        )
    finally:
        listener.close()
    assert at_connect == [True, True]
    assert full_collections == 0


def test_running_the_command_line_in_process_leaves_the_collector_alone(tmp_path: Path) -> None:
    """Only the `raquet` command's own process has its collector held and frozen: a
    program running the command line itself (here CliRunner, as the tests do) keeps its
    collector on and nothing of its own frozen, even when a sweep stops half-way (a bad
    check name, read after connecting, between holding and settling)."""
    import gc

    from typer.testing import CliRunner

    from raquet import cli

    listener, inventory = _one_listening_host(tmp_path)
    frozen = gc.get_freeze_count()
    try:
        runner = CliRunner()
        config = runner.invoke(cli.app, ["config"], prog_name="raquet")
        sweep = runner.invoke(
            cli.app,
            ["sweep", "-i", str(inventory), "--check", "nosuch", "--db", str(tmp_path / "s.db")],
            prog_name="raquet",
        )
    finally:
        listener.close()
    assert config.exit_code == 0, config.output
    assert sweep.exit_code == 2, sweep.output
    assert gc.isenabled() and gc.get_freeze_count() == frozen
