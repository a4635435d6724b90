"""raquet's checks: one module per concern, each exposing `CHECK`, found here by discovery.

Adding a check is adding a module with a `CHECK = SomeCheck()`; nothing else registers it.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from checks.base import Check


@cache
def registry() -> dict[str, Check]:
    """Every check, by name, in the order the modules sort."""
    found: dict[str, Check] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        check = getattr(module, "CHECK", None)
        if isinstance(check, Check):
            found[check.name] = check
    return found


def select(names: list[str] | None) -> list[Check]:
    """The named checks (all when none are named); an unknown name is a usage error."""
    checks = registry()
    if not names:
        return list(checks.values())
    unknown = [n for n in names if n not in checks]
    if unknown:
        raise KeyError(f"unknown check(s): {', '.join(unknown)}; known: {', '.join(checks)}")
    return [checks[n] for n in dict.fromkeys(names)]
