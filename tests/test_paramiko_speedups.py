"""What raquet.transport_speed changes of paramiko and gevent for speed gives the same answers."""

from __future__ import annotations

import hashlib
import hmac
import socket

import gevent
import paramiko.packet
import paramiko.util

from raquet import transport_speed


def test_macs_are_paramikos() -> None:
    for digest in (hashlib.sha256, hashlib.sha512, hashlib.sha1, hashlib.md5):
        key, message = b"k" * 32, b"\x00\x00\x00\x07packet"
        assert (
            paramiko.packet.compute_hmac(key, message, digest)
            == hmac.HMAC(key, message, digest).digest()
        )
    equal = paramiko.util.constant_time_bytes_eq
    assert equal(b"abc", b"abc") and not equal(b"abc", b"abd") and not equal(b"ab", b"abc")


def test_the_handshake_deadline_still_expires_and_is_cancelled() -> None:
    late = paramiko.packet.Packetizer(socket.socket())
    late.start_handshake(0.05)
    assert not late.handshake_timed_out()
    gevent.sleep(0.15)
    assert late.handshake_timed_out()
    done = paramiko.packet.Packetizer(socket.socket())
    done.start_handshake(0.05)
    done.complete_handshake()
    gevent.sleep(0.15)
    assert not done.handshake_timed_out()


def test_literal_addresses_resolve_as_gevents_resolver_does() -> None:
    transport_speed.resolve_literals_inline()
    hub = gevent.get_hub()
    assert isinstance(hub.resolver, transport_speed._LiteralsInline)
    threads = hub.resolver._resolver
    for host in ("127.0.0.1", "::1", "localhost"):
        ours = socket.getaddrinfo(host, 22, 0, socket.SOCK_STREAM)
        assert ours == threads.getaddrinfo(host, 22, 0, socket.SOCK_STREAM)
