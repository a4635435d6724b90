"""raquet: agentless compliance sweeps and remediation on pyinfra.

pyinfra's API needs gevent's monkey-patching before paramiko, requests or sockets are
imported (its CLI does the same in `pyinfra_cli/__init__.py`); without it every host's
connect and command runs one after another. Patching costs start-up time, though, which
`raquet --help`, `raquet config` or `raquet inventory check` have no use for. So importing
raquet patches nothing by itself: it puts a finder first on `sys.meta_path` that calls
`patch()` the moment anything imports one of the packages patching must precede
(`NEEDS_PATCHING`: pyinfra, paramiko, requests, SQLAlchemy, asyncio, Celery…), before that
import goes on. Every entry point that sweeps or remediates — the CLI, `deploys/sweep.py`
under plain pyinfra (whose CLI has patched already), the tests, the benchmarks — gets it
first, whatever it imports first; the commands that connect also call `patch()` outright.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

__version__ = "0.1.0"

NEEDS_PATCHING = frozenset(
    {
        # what connects: they capture sockets, locks and threads (paramiko's Transport is a
        # threading.Thread) when imported
        "pyinfra",
        "pyinfra_cli",
        "paramiko",
        "invoke",
        "requests",
        "urllib3",
        "winrm",
        "spnego",
        "requests_ntlm",
        # what imports ssl (patching ssl after it is imported is unsafe, gevent says) or
        # holds locks across greenlets
        "asyncio",
        "http.client",
        "urllib.request",
        "smtplib",
        "sqlalchemy",
        "alembic",
        "psycopg",
        "psycopg2",
        "celery",
        "kombu",
        "amqp",
        "billiard",
        "redis",
    }
)
"""Modules that must be imported after gevent's patching, by name or top-level package."""


def patch() -> None:
    """gevent's `monkey.patch_all()`, once per process (nothing when something, such as
    pyinfra's own CLI, patched already).

    gevent asks its plugins' entry points about each of the ~25 modules it patches, and
    every ask reads the metadata of every installed distribution: that alone was most of
    the time patching took. Those are read once here, for the duration of the patching."""
    _PatchFirst.remove()
    from importlib import metadata

    from gevent import monkey

    if monkey.is_module_patched("socket"):
        return
    every = metadata.entry_points()
    original = metadata.entry_points

    def cached(**params: str) -> Any:
        return every.select(**params)

    metadata.entry_points = cached  # type: ignore[assignment]
    try:
        monkey.patch_all()
    finally:
        metadata.entry_points = original
    _import_lazily("invoke")  # after patching, which reads every module's attributes


def _import_lazily(name: str) -> None:
    """`name` in `sys.modules` as a stand-in that imports the real module at the first
    attribute read and answers from it.

    paramiko imports invoke only to run `Match exec` lines of an ssh_config, which raquet's
    connections never read; importing it (and the unittest.mock, asyncio and YAML it pulls
    in) was about a third of paramiko's import time. (importlib's LazyLoader would not do:
    the `import` statement itself reads the module's `__spec__`, which loads it.)"""
    import importlib.util

    if name not in sys.modules and importlib.util.find_spec(name) is not None:
        sys.modules[name] = _Deferred(name)


class _Deferred(ModuleType):
    def __getattr__(self, attr: str) -> Any:
        import importlib

        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attr)


class _PatchFirst:
    """A `sys.meta_path` finder that finds nothing: it patches when a module of
    `NEEDS_PATCHING` is about to be imported, then steps aside for the real finders."""

    @staticmethod
    def find_spec(
        name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name in NEEDS_PATCHING or name.partition(".")[0] in NEEDS_PATCHING:
            patch()
        return None

    @classmethod
    def remove(cls) -> None:
        sys.meta_path[:] = [f for f in sys.meta_path if f is not cls]

    @classmethod
    def install(cls) -> None:
        """First on `sys.meta_path`; or, when one of those modules is in already (imported
        before raquet), patching at once, as importing raquet always did."""
        if any(name in sys.modules for name in NEEDS_PATCHING):
            patch()
        elif cls not in sys.meta_path:
            sys.meta_path.insert(0, cls)


_PatchFirst.install()
