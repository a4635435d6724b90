"""Records one real lab host's answer to the gather script, and what paramiko negotiated to get it.

    sudo .venv/bin/python -m bench.record_answer            # writes bench/recorded/

Starts a one-host lab fleet (the bench fleet's host b-0001: ClamAV running, one lab
package with a pending update), connects to it exactly as `raquet sweep` does
(`raquet.targets.make_state`, pyinfra's SSH connector, host key checked against the
fleet's known_hosts) and runs the script of every check (`checks.registry()`: av,
connections, infections, patches, software, vulns) through `raquet.channel`, the sweep's
own channel (script on stdin of `sh -s`). Writes:

- `bench/recorded/linux-all.out`: the exact stdout bytes (the `RQ1` frame), which the
  scale bench's responder (`bench/responder.py`) sends back to every connection;
- `bench/recorded/linux-all.json`: the checks, exit status, stderr, the script's sha256
  (not the script), the sections, the host scenario, the date, the raquet commit (and
  raquet's own files that differed from it in the work tree), and the algorithms paramiko negotiated
  with the lab's OpenSSH server (kex, host key, ciphers, MACs, compression both ways),
  which `bench/sweep_vs_ssh.py` passes to the OpenSSH baseline.

The recorded frame is checked with raquet's own parser: it must be complete and not
tampered (every check reported, in turn), or the file is not written. Record again whenever
a check is added or its snippet changes: the benches that replay the frame
(`bench.sweep_scale`, `bench.cpu_per_host`) refuse checks it does not parse for.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import logging
import subprocess
import tempfile
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import raquet  # noqa: F401  (gevent's monkey-patching first, as in the CLI)
from checks import registry, select
from raquet import framing
from raquet.channel import _command, run_script
from raquet.models import Host
from raquet.policy import Policy
from raquet.script import build
from raquet.sweep import close_host
from raquet.targets import make_state

RECORDED = Path(__file__).resolve().parent / "recorded"
ROOT = Path(__file__).resolve().parent.parent
CHECK_TIMEOUT = 120  # raquet sweep's default --timeout: the script's per-check limit


class _KexName(logging.Handler):
    """paramiko names the agreed key exchange only in its log (`Kex: NAME`)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.names: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Kex: "):
            self.names.append(message[len("Kex: ") :])


def negotiated(transport: object, kex: str) -> dict[str, str]:
    """What one paramiko transport agreed on, both directions."""
    t = transport
    return {
        "server_version": t.remote_version,  # type: ignore[attr-defined]
        "client_version": t.local_version,  # type: ignore[attr-defined]
        "kex": kex,
        "host_key": t.host_key_type,  # type: ignore[attr-defined]
        "cipher_c2s": t.local_cipher,  # type: ignore[attr-defined]
        "cipher_s2c": t.remote_cipher,  # type: ignore[attr-defined]
        "mac_c2s": t.local_mac,  # type: ignore[attr-defined]
        "mac_s2c": t.remote_mac,  # type: ignore[attr-defined]
        "compression_c2s": t.local_compression,  # type: ignore[attr-defined]
        "compression_s2c": t.remote_compression,  # type: ignore[attr-defined]
    }


def probe(
    address: str, key: Path, known_hosts: Path, checks: list[str], port: int | None = None
) -> tuple[dict, bytes, dict]:
    """Connect as the sweep does, run the gather script; (algorithms, stdout, other facts)."""
    host = Host(
        name="b-0001",
        address=address,
        unit="bench",
        ssh_user="root",
        ssh_key=str(key),
        known_hosts=str(known_hosts),
        ssh_port=port,
    )
    handler = _KexName()
    paramiko_log = logging.getLogger("paramiko.transport")
    paramiko_log.addHandler(handler)
    paramiko_log.setLevel(logging.DEBUG)
    try:
        state = make_state([host], parallel=1, connect_timeout=10, verify_host_keys=True)
        target = state.inventory.get_host(host.name)
        target.connect(raise_exceptions=True, show_errors=False)
    finally:
        paramiko_log.removeHandler(handler)
    try:
        transport = target.connector.client.get_transport()  # type: ignore[attr-defined]
        algorithms = negotiated(transport, handler.names[-1] if handler.names else "?")
        script = build(select(checks), "linux", Policy(), CHECK_TIMEOUT)
        output = run_script(target, script.text, sudo=False, timeout=600, cap=script.cap)
        command = _command(target, False)
    finally:
        close_host(target)
    sections = framing.split(output.stdout, script)
    if sections.tampered or not sections.complete:
        raise RuntimeError(
            f"the recorded frame does not parse: {sections.tampered or 'incomplete'}"
        )
    facts = {
        "exit_status": output.exit_status,
        "stderr": output.stderr.decode("utf-8", "replace"),
        "command": command,
        "script_sha256": hashlib.sha256(script.text.encode()).hexdigest(),
        "stdout_bytes": len(output.stdout),
        "sections": sorted(k for k in sections if not k.endswith(".__exit")),
    }
    facts["script"] = script.text
    return algorithms, output.stdout, facts


def probe_main(args: argparse.Namespace) -> None:
    """`--probe`: one live host, for `bench.sweep_vs_ssh` (which must not import raquet: gevent
    would reap its children before `os.wait4` reads their CPU). Writes the script to
    `--script`; prints what paramiko negotiated, the remote command and `raquet sweep`'s
    default `--parallel` as JSON."""
    from raquet import cli

    checks = [c.name for c in select(args.check)]
    algorithms, _, facts = probe(args.probe, args.key, args.known_hosts, checks, args.port)
    args.script.write_text(facts.pop("script"))
    parallel = inspect.signature(cli.sweep).parameters["parallel"].default
    print(
        json.dumps(
            {
                "negotiated": algorithms,
                "command": facts["command"],
                "parallel_default": parallel,
                "checks": checks,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--probe", metavar="ADDRESS", help="only probe this live host")
    parser.add_argument("--key", type=Path)
    parser.add_argument("--known-hosts", type=Path)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--script", type=Path, help="--probe: write the gather script here")
    parser.add_argument("--check", action="append", default=None)
    args = parser.parse_args()
    if args.probe:
        probe_main(args)
        return

    from bench.sweep_vs_ssh import fleet_scenario
    from tests.lab.fleet import Fleet

    checks = list(registry())  # every check there is, in the script's order
    workdir = Path(tempfile.mkdtemp(prefix="raquet-record."))
    with ExitStack() as stack:
        scenario = fleet_scenario(1, 1)
        fleet = Fleet(scenario, workdir / "fleet")
        stack.callback(fleet.stop)
        fleet.start(ready_timeout=120)
        lab = next(iter(fleet.hosts.values()))
        algorithms, stdout, facts = probe(lab.address, fleet.client_key, fleet.known_hosts, checks)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "raquet", "checks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    facts.pop("script")  # its sha256 is kept
    RECORDED.mkdir(exist_ok=True)
    (RECORDED / "linux-all.out").write_bytes(stdout)
    meta = {
        "recorded": datetime.now(UTC).isoformat(timespec="seconds"),
        "raquet_commit": commit,
        "raquet_uncommitted": [line[3:] for line in dirty],  # raquet/, checks/ edits
        "checks": checks,
        "check_timeout": CHECK_TIMEOUT,
        "host": scenario.units[0].hosts[0].model_dump(),
        "paramiko_negotiated": algorithms,
        **facts,
    }
    (RECORDED / "linux-all.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(meta["paramiko_negotiated"], indent=2))
    print(f"{len(stdout)} bytes -> {RECORDED / 'linux-all.out'}")


if __name__ == "__main__":
    main()
