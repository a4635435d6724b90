"""`python -m tests.lab up SCENARIO [--dir DIR] [--isolated]` runs a lab fleet until Ctrl-C
or SIGTERM; `python -m tests.lab down [--force]` removes the labs of this checkout whose
owner process is dead (with `--force`, running ones too), from their records in
/run/raquet-lab/. It never touches another checkout's lab or a bridge with no record."""

from __future__ import annotations

import argparse
import signal
import tempfile
from pathlib import Path

from tests.lab import claim, scenario
from tests.lab.fleet import Fleet


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.lab")
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("scenario", type=Path, nargs="?")
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--isolated", action="store_true", help="up: a segment (see fleet.py)")
    parser.add_argument("--force", action="store_true", help="down: running labs too")
    parser.add_argument(
        "--checkout",
        type=Path,
        default=claim.CHECKOUT,
        help="down: the checkout whose labs to remove (default: this one)",
    )
    args = parser.parse_args()
    if args.action == "down":
        for line in claim.down(args.checkout.resolve(), args.force):
            print(line)
        return
    if args.scenario is None:
        parser.error("up needs a SCENARIO file")
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="raquet-lab."))
    with Fleet(scenario.load(args.scenario), workdir, isolated=args.isolated) as fleet:
        print(f"inventory: {fleet.inventory_path}\nknown_hosts: {fleet.known_hosts}")
        print(f"bridge: {fleet.bridge}", flush=True)
        if fleet.isolated:
            print(f"jump: {fleet.jump_netns}\nservice: {fleet.service_address}", flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})


if __name__ == "__main__":
    main()
