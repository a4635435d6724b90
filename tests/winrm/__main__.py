"""`python -m tests.winrm CONFIG.json`: serve a stand-in fleet until terminated.

A separate process on purpose: the sweep under test is gevent-patched, the stand-in is
plain threads, and a host that hangs must not hang the test runner with it.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import sys
import threading
from pathlib import Path

from tests.winrm import scenario, windows
from tests.winrm.server import HostServer
from tests.winrm.shells import Result, Service


def main(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    os.environ["NTLM_USER_FILE"] = config["ntlm_user_file"]  # read by pyspnego's acceptor
    fleet = scenario.load(Path(config["scenario"]))
    journal = Path(config["journal"])
    servers = []
    for spec in fleet.hosts:
        wiring = config["hosts"][spec.name]
        tls = None
        if wiring["scheme"] == "https":
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.load_cert_chain(config["cert"], config["key"])

        def runner(command: str, stdin: bytes, spec: scenario.HostSpec = spec) -> Result:
            return windows.run(command, stdin, spec, journal)

        scheme = wiring["scheme"]
        server = HostServer(
            0,
            Service(spec.name.upper(), f"{scheme}://127.0.0.1/wsman", runner),
            auth=spec.transport,
            user=wiring["user"],
            password=wiring["password"],
            tls=tls,
            silent=spec.behaviour == "silent",
        )
        servers.append((spec.name, server))
    for _, server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    ready = {name: server.server_address[1] for name, server in servers}
    Path(config["ready"]).write_text(json.dumps(ready))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()


if __name__ == "__main__":
    main(sys.argv[1])
