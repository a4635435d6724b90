"""Small tools over network namespaces: `ip`, the processes inside a namespace, and a socket
opened inside one from this process.

Processes are found by their namespace's inode (what `ip netns pids` does), in one pass
over /proc, so a lab of a thousand namespaces is scanned once, not once per namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterable
from pathlib import Path

NETNS = Path("/run/netns")
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], check=check, stderr=None if check else subprocess.DEVNULL)


def ip_json(*args: str) -> list[dict[str, object]]:
    """`ip -j ARGS`, parsed; an empty list when ip prints nothing (no routes in a table)."""
    out = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, check=True).stdout
    return json.loads(out) if out.strip() else []


def names() -> list[str]:
    """Every named network namespace (`ip netns list`)."""
    return sorted(p.name for p in NETNS.iterdir()) if NETNS.is_dir() else []


def pids(namespaces: Iterable[str]) -> dict[str, list[int]]:
    """The processes in each of `namespaces` (by name), namespaces that do not exist left out."""
    by_inode: dict[tuple[int, int], str] = {}
    for name in namespaces:
        with contextlib.suppress(OSError):
            st = os.stat(NETNS / name)
            by_inode[(st.st_dev, st.st_ino)] = name
    found: dict[str, list[int]] = {name: [] for name in by_inode.values()}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            st = os.stat(f"/proc/{entry.name}/ns/net")
            member = by_inode.get((st.st_dev, st.st_ino))
            if member:
                found[member].append(int(entry.name))
    return found


def kill(namespaces: Iterable[str]) -> int:
    """SIGKILLs every process in `namespaces`; how many there were."""
    count = 0
    for members in pids(namespaces).values():
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                count += 1
    return count


def processes(pid_list: list[int]) -> str:
    """What the processes are doing: `ps` with the kernel function each one sleeps in."""
    if not pid_list:
        return "(no processes)"
    listing = [
        "ps",
        "-ww",
        "-o",
        "pid,ppid,stat,wchan:24,etime,args",
        "-p",
        ",".join(map(str, pid_list)),
    ]
    out = subprocess.run(listing, capture_output=True, text=True).stdout
    return "\n".join(line[:200] for line in out.splitlines())  # unshare's whole script is long


def socket_in(namespace: str, family: int = socket.AF_INET) -> socket.socket:
    """A TCP socket that belongs to `namespace`: a socket keeps the namespace it was made in,
    so this thread enters the namespace, makes the socket and comes straight back. Nothing in
    between can yield (no I/O), so gevent's other greenlets never run inside the namespace."""
    with open("/proc/thread-self/ns/net", "rb") as home, open(NETNS / namespace, "rb") as there:
        _setns(there.fileno())
        try:
            return socket.socket(family, socket.SOCK_STREAM)
        finally:
            _setns(home.fileno())


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def sysctl(key: str, value: str) -> None:
    """Sets a sysctl of the root namespace, `key` as a path under /proc/sys (dots are not
    usable: interface names may hold them)."""
    Path("/proc/sys", key).write_text(value)
