"""Remediations: pyinfra operations that fix what the checks find, one module per check (issue 5).

A remediation module names its check (`CHECK`) and turns one failing finding into a
`Remedy` (`plan(finding, ctx)`); discovery finds it, as `checks` finds checks.

The package itself imports nothing of raquet's: the command line imports
`remediations.command`, and with it this package, on every run, sweeps included.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from raquet.models import Finding
    from remediations.base import Remedy, RemedyContext

Planner = Callable[["Finding", "RemedyContext"], "Remedy"]


@cache
def registry() -> dict[str, Planner]:
    """Every check that has a remediation, by check name."""
    found: dict[str, Planner] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        check, planner = getattr(module, "CHECK", None), getattr(module, "plan", None)
        if isinstance(check, str) and callable(planner):
            found[check] = planner
    return found
