"""Values from findings, checked before they reach an operation.

Evidence came from hosts and from indicator feeds: any string in it may be hostile.
Everything an operation puts on a command line is quoted as well, but quoting does not
stop an argument that starts with `-` from being read as an option, nor a `0.0.0.0/0`
"indicator" from cutting a host off. So each kind of value is held to its own grammar
here, and what does not fit is refused with a reason the plan shows.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_DEB_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]{0,127}$")
_DEB_VERSION = re.compile(r"^(?:\d+:)?[A-Za-z0-9][A-Za-z0-9.+~-]{0,127}$")
_RPM_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+-]{0,127}$")
_RPM_VERSION = re.compile(r"^(?:\d+:)?[A-Za-z0-9._+~^-]{1,128}$")
_LABEL = r"(?!-)[a-z0-9_-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})+$")
_GUID = re.compile(r"^\{[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}\}$")
# The narrowest networks a block may cover: a feed entry wider than these is a mistake.
_WIDEST = {4: 8, 6: 16}


class Refused(ValueError):
    """A value from a finding that an operation must not be given."""


def package(name: str, flavour: Literal["deb", "rpm"]) -> str:
    pattern = _DEB_NAME if flavour == "deb" else _RPM_NAME
    if not pattern.match(name):
        raise Refused(f"{name!r} is not a valid {flavour} package name")
    return name


def version(text: str, flavour: Literal["deb", "rpm"]) -> str:
    pattern = _DEB_VERSION if flavour == "deb" else _RPM_VERSION
    if not pattern.match(text):
        raise Refused(f"{text!r} is not a valid {flavour} package version")
    return text


def network(text: str) -> IpNetwork:
    """An address or CIDR to block; never loopback, link-local or wider than /8 (IPv6 /16)."""
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise Refused(f"{text!r} is not an IP address or network") from None
    mapped = net.network_address.ipv4_mapped if isinstance(net, ipaddress.IPv6Network) else None
    if mapped is not None:
        net = ipaddress.ip_network(f"{mapped}/{max(0, net.prefixlen - 96)}")
    if net.prefixlen < _WIDEST[net.version]:
        raise Refused(f"{net} is too wide to block (a feed mistake?)")
    if net.is_loopback or net.is_link_local or net.is_unspecified or net.is_multicast:
        raise Refused(f"{net} is a loopback, link-local, multicast or unspecified range")
    return net


def domain(text: str) -> str:
    name = text.strip().rstrip(".").lower()
    if len(name) > 253 or not _DOMAIN.match(name):
        raise Refused(f"{text!r} is not a domain name")
    return name


def absolute_path(text: str) -> str:
    """A file path on a Linux host: absolute, no NUL, no `..` component."""
    if not text.startswith("/") or "\x00" in text or "/../" in f"{text}/":
        raise Refused(f"{text!r} is not an absolute path")
    return text


def process_id(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 < value < 2**22:
        raise Refused(f"{value!r} is not a process id raquet may signal")
    return value


def msi_product_code(text: str) -> str:
    if not _GUID.match(text):
        raise Refused(f"{text!r} is not an MSI product code")
    return text
