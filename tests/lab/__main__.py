"""`python -m tests.lab up SCENARIO [--dir DIR]`: run a lab fleet by hand until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import tempfile
from pathlib import Path

from tests.lab import scenario
from tests.lab.fleet import Fleet


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.lab")
    parser.add_argument("action", choices=["up"])
    parser.add_argument("scenario", type=Path)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="raquet-lab."))
    with Fleet(scenario.load(args.scenario), workdir) as fleet:
        print(f"inventory: {fleet.inventory_path}\nknown_hosts: {fleet.known_hosts}", flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})


if __name__ == "__main__":
    main()
