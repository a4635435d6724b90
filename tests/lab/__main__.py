"""`python -m tests.lab up SCENARIO [--dir DIR]` runs a lab fleet until Ctrl-C or SIGTERM;
`python -m tests.lab down` removes every lab network namespace and bridge left on this machine."""

from __future__ import annotations

import argparse
import signal
import tempfile
from pathlib import Path

from tests.lab import scenario
from tests.lab.fleet import Fleet, remove_all


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.lab")
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("scenario", type=Path, nargs="?")
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    if args.action == "down":
        remove_all()
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="raquet-lab."))
    with Fleet(scenario.load(args.scenario), workdir) as fleet:
        print(f"inventory: {fleet.inventory_path}\nknown_hosts: {fleet.known_hosts}", flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})


if __name__ == "__main__":
    main()
