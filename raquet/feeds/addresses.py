"""IP addresses as (version, integer): what the parsers canonicalise with and the index keys on.

inet_pton/inet_ntop rather than `ipaddress` objects: as strict (no leading zeros, no
`%zone`, which names an interface of one machine, never a remote host) and many times
faster, and national feeds are lists of a million addresses.
"""

from __future__ import annotations

import ipaddress
import socket

BITS = {4: 32, 6: 128}
MASKS = {
    version: [((1 << prefix) - 1) << (bits - prefix) for prefix in range(bits + 1)]
    for version, bits in BITS.items()
}
"""Network masks as integers, by IP version and prefix length."""


def ip_number(text: str, *, unmap: bool = True) -> tuple[int, int] | None:
    """(IP version, address as an integer), or None when `text` is no IP address.

    With `unmap`, an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is the IPv4 address: the
    same host, whichever socket API printed it.
    """
    try:
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text))
    except (OSError, ValueError):
        pass
    try:
        number = int.from_bytes(socket.inet_pton(socket.AF_INET6, text))
    except (OSError, ValueError):
        return None
    if unmap and number >> 32 == 0xFFFF:
        return 4, number & 0xFFFFFFFF
    return 6, number


def ip_text(version: int, number: int) -> str:
    if version == 4:
        return socket.inet_ntop(socket.AF_INET, number.to_bytes(4))
    return str(ipaddress.IPv6Address(number))
