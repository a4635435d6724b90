"""The cyclic garbage collector kept off what a command loads to live until it exits.

A sweep's imports make about 100,000 objects (modules, classes, functions, schemas) that
live as long as the process. Python's collector walks them again and again while they
are made (a few hundred collections during start-up) and once more while the
interpreter tears itself down at exit: together about 0.4 s of CPU for a one-host
sweep, more than all its hosts cost at a small fleet's size. So collection waits while a
command loads (`hold`); when loading is done what exists is moved out of the
collector's reach (`settle`: `gc.freeze`) and everything made after is collected as
usual; and at exit everything is frozen (`at_exit`), which leaves finalization nothing to
walk. Reference counting frees objects all along; the cost is the few reference cycles
that loading leaves as garbage, frozen with the rest and never freed.

Only the `raquet` command's own process is managed (`take`, by `raquet.entry`): a program
that runs the command line in its own process (the tests' CliRunner, a script importing
raquet.cli) keeps its collector as it was, whatever a command does or fails to finish.
"""

from __future__ import annotations

import gc

_taken = False


def take() -> None:
    """This process is the `raquet` command: manage its collector, holding it from now."""
    global _taken
    _taken = True
    gc.disable()


def hold() -> None:
    if _taken:
        gc.disable()


def settle() -> None:
    if _taken:
        gc.freeze()
        gc.enable()


def at_exit() -> None:
    if _taken:
        gc.freeze()
