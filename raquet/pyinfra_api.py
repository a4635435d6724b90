"""pyinfra's API imported with the dependencies a sweep never uses left until first used.

`pyinfra.api` imports jinja2 (for the `template` operation), typeguard (to check operation
arguments' types) and packaging (for a deploy's `REQUIRE_PYINFRA_VERSION` and
`REQUIRE_PACKAGES`) at the top of its modules, and they were about a third of what
connecting to a host cost in imports (~0.1 s, typeguard pulling in unittest.mock and
asyncio). pyinfra only calls them from inside functions. So while `load()` imports the
API, those packages are stand-ins, and each name pyinfra imports from them is a
placeholder in its module; the first call of any placeholder imports the real package and
puts the real objects in place of every placeholder of that package (a placeholder that is
not called first, such as `StrictUndefined` or an `except TypeCheckError`, is only read by
pyinfra after one that is, in the same function). Everything else that imports those
packages, before or after, gets the real ones.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

DEFERRED = frozenset({"jinja2", "typeguard", "packaging"})
MODULES = (
    "pyinfra.api",
    "pyinfra.api.connectors",
    "pyinfra.api.exceptions",
    "pyinfra.api.host",
    "pyinfra.connectors.local",
    "pyinfra.connectors.ssh",
    "pyinfra.connectors.util",
)
"""What raquet's sweep (targets, channel, sweep, gather) imports of pyinfra."""

_real: set[str] = set()  # deferred packages imported for real since
_holders: list[tuple[dict[str, Any], str, _Placeholder]] = []


class _Placeholder:
    """A name imported from a deferred package; the package is imported when it is called."""

    __slots__ = ("attr", "module")

    def __init__(self, module: str, attr: str) -> None:
        self.module, self.attr = module, attr

    def real(self) -> Any:
        _import_real(self.module.partition(".")[0])
        return getattr(importlib.import_module(self.module), self.attr)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.real()(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)

    def __repr__(self) -> str:
        return f"<{self.module}.{self.attr}, imported when first used>"


class _StandIn(ModuleType):
    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Placeholder(self.__name__, attr)


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        top = name.partition(".")[0]
        if top in DEFERRED and top not in _real:
            return importlib.util.spec_from_loader(name, self, is_package=True)
        return None

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        return _StandIn(spec.name)

    def exec_module(self, module: ModuleType) -> None:
        module.__path__ = []


def _drop_stand_ins(top: str | None = None) -> None:
    for name, module in list(sys.modules.items()):
        if isinstance(module, _StandIn) and (top is None or name.partition(".")[0] == top):
            del sys.modules[name]


def _import_real(top: str) -> None:
    """`top` imported for real; every placeholder of it replaced by the real object."""
    if top in _real:
        return
    _real.add(top)
    _drop_stand_ins(top)
    importlib.import_module(top)
    for namespace, name, placeholder in list(_holders):
        if placeholder.module.partition(".")[0] == top:
            if namespace.get(name) is placeholder or isinstance(namespace.get(name), _StandIn):
                module = importlib.import_module(placeholder.module)
                namespace[name] = getattr(module, placeholder.attr) if placeholder.attr else module
            _holders.remove((namespace, name, placeholder))


def load() -> None:
    """Import the pyinfra modules a sweep uses, their unused dependencies deferred (nothing
    is deferred when pyinfra's API or those packages are imported already)."""
    if "pyinfra.api" in sys.modules or any(top in sys.modules for top in DEFERRED):
        for name in MODULES:
            importlib.import_module(name)
        return
    before = set(sys.modules)
    finder = _Finder()
    sys.meta_path.insert(0, finder)
    try:
        for name in MODULES:
            importlib.import_module(name)
    finally:
        sys.meta_path.remove(finder)
        _drop_stand_ins()
    for name in set(sys.modules) - before:
        module = sys.modules.get(name)
        namespace = getattr(module, "__dict__", {})
        for attr, value in list(namespace.items()):
            if isinstance(value, _Placeholder):
                _holders.append((namespace, attr, value))
            elif isinstance(value, _StandIn):  # `import jinja2`: not a pattern this defers
                namespace[attr] = value
                _holders.append((namespace, attr, _Placeholder(value.__name__, "")))
                _real.add(value.__name__.partition(".")[0])
    for top in list(_real):  # called while the API was being imported: real already
        _real.discard(top)
        _import_real(top)
