"""Shared fixtures: the lab fleet (real Debian hosts over real SSH) and a way to run `raquet` itself."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import raquet  # noqa: F401  (gevent patching first, as in every entry point)
from tests.lab import scenario
from tests.lab.fleet import Fleet

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = Path(__file__).parent / "lab" / "scenarios"


@pytest.fixture(scope="session")
def spine_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """The spine scenario's fleet, started once for the session."""
    if os.geteuid() != 0:
        pytest.fail("the lab needs root (namespaces, overlayfs, veth): run the suite as root")
    workdir = tmp_path_factory.mktemp("spine-fleet")
    with Fleet(scenario.load(SCENARIOS / "spine.yml"), workdir) as fleet:
        yield fleet


def raquet_cli(
    *args: str | Path, timeout: float = 300, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Runs the real command line in a child process, as a user or a timer would."""
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "raquet", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        **kwargs,
    )
