"""paramiko and gevent made cheaper per host, with the same answers (issue 12's profile):
the MAC of every packet in C, the handshake deadline on gevent's loop instead of a
thread, transports that look at their flags once a second instead of ten times, and
literal addresses resolved without a resolver thread. Importing this module installs
the paramiko changes; `resolve_literals_inline` the resolver's, on the running hub.
"""

from __future__ import annotations

import hmac
import socket
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import gevent
import gevent.monkey
import paramiko
import paramiko.packet
import paramiko.util


# paramiko computes and compares every packet's MAC in Python: an HMAC object per packet,
# and a byte-by-byte loop for the constant-time compare. The standard library does both
# in C, the compare in constant time as well; the results are the same bytes and verdicts.
def _compute_hmac(key: bytes, message: bytes, digest_class: Any) -> bytes:
    return hmac.digest(key, message, digest_class)


paramiko.packet.compute_hmac = _compute_hmac  # type: ignore[assignment]
paramiko.util.constant_time_bytes_eq = hmac.compare_digest  # type: ignore[assignment]


class _HandshakeTimer:
    """What paramiko's Packetizer asks of `threading.Timer` (start, cancel) for its handshake
    deadline, as a timer of gevent's loop: a Timer is a thread (under gevent a greenlet with
    its event, condition and locks), about 0.12 ms a host to make, start and cancel. The
    function only sets the Packetizer's `timer expired` flag, which the loop may call."""

    def __init__(self, interval: float, function: Callable[[], None]) -> None:
        self._watcher = gevent.get_hub().loop.timer(interval, ref=False)
        self._function = function

    def start(self) -> None:
        self._watcher.start(self._function)

    def cancel(self) -> None:
        self._watcher.close()


class _PacketThreading(ModuleType):
    """`threading` as paramiko.packet sees it: the same module, but that Timer."""

    Timer = _HandshakeTimer

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


paramiko.packet.threading = _PacketThreading("threading")  # type: ignore[attr-defined]

# A transport's thread reads its socket with a 0.1 s timeout, waking ten times a second
# while the host runs its checks, only to look at flags (closed, handshake deadline,
# keepalive, rekey) that can wait a second: each wake is a gevent timeout, a socket.timeout
# raised and caught and a pass through paramiko's loop, for every connected host. Under
# gevent a transport that is closed wakes at once (its socket's waiter is cancelled), so
# only those checks' resolution changes, from 0.1 to 1 s.
paramiko.Transport._active_check_timeout = 1.0  # type: ignore[attr-defined]


class _LiteralsInline:
    """gevent's resolver, answering a literal address (what most inventories give) at
    once: gevent hands every lookup to a thread, even one that needs no name server, and
    that cost more than half a millisecond a host. Names still go to the threads."""

    def __init__(self, resolver: Any) -> None:
        self._resolver = resolver

    def getaddrinfo(
        self, host: Any, port: Any, family: int = 0, kind: int = 0, proto: int = 0, flags: int = 0
    ) -> Any:
        try:
            return _getaddrinfo(host, port, family, kind, proto, flags | socket.AI_NUMERICHOST)
        except socket.gaierror:
            return self._resolver.getaddrinfo(host, port, family, kind, proto, flags)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._resolver, name)


_getaddrinfo = gevent.monkey.get_original("socket", "getaddrinfo")


def resolve_literals_inline() -> None:
    """Install `_LiteralsInline` on this thread's hub (once)."""
    hub = gevent.get_hub()
    if not isinstance(hub.resolver, _LiteralsInline):
        hub.resolver = _LiteralsInline(hub.resolver)
