"""The `raquet` command's entry point: collection held from before the command line's
first import to the end (see `raquet.collector`)."""

from __future__ import annotations

from raquet import collector


def main() -> None:
    collector.take()
    try:
        from raquet.cli import main as run

        run()
    finally:
        collector.at_exit()
