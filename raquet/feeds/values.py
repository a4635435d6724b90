"""One feed value -> the canonical indicators it stands for.

Feeds are written by people and exported by tools of every kind, so the same address
arrives as `1.2.3[.]4`, `hxxp://1.2.3.4:8080/x` or `::ffff:1.2.3.4`. Everything is
brought to one canonical text per kind here, once, so that storing, de-duplicating and
matching compare plain strings. A value that cannot be read raises `ValueError` with a
sentence a sysadmin can act on; the parsers turn it into a `Problem` with file and line.

URLs are kept as `url` indicators. When a URL's host is an IP address that address is
also yielded as an `ip` indicator (download and C2 URLs on bare IPs are attacker
infrastructure); a host *name* is not, because malicious URLs are often hosted on shared
services (a file on a cloud drive) and a domain indicator would flag every machine that
uses the service. Feeds that consider the host itself malicious list it as a domain.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit

import idna

from raquet.feeds.addresses import BITS, MASKS, ip_number, ip_text

Kind = Literal["ip", "cidr", "domain", "url"]
Expect = Literal["address", "domain", "url"]
"""What a typed source (a column, a MISP type, a STIX object) says a value must be."""

_DOT = re.compile(r"\s*(?:\[(?:\.|dot)\]|\((?:\.|dot)\)|\{(?:\.|dot)\})\s*", re.I)
_COLON = re.compile(r"\[(:|://)\]")
_SCHEME = re.compile(r"^hxxp(s?)(?=:)", re.I)
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_DOTTED_NUMBERS = re.compile(r"[\d.]*\d[\d.]*")
_HOST_PORT = re.compile(r"(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]]+)):\d{1,5}")
_WIDEST = {4: 8, 6: 16}
"""Shorter prefixes are typing mistakes, not indicators (0.0.0.0/0 would flag every host)."""
_SHOWN = 80
_URI_SAFE = "".join(chr(code) for code in range(33, 127))
MAX_URL = 2048
"""Longer URLs are refused: no browser sends them, and a database index cannot hold them."""


def show(value: str) -> str:
    """A value quoted for a message: control characters escaped, long ones cut."""
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "…")


def refang(text: str) -> str:
    """Undo the usual defanging: `[.]`, `(.)`, `[dot]`, `[:]`, `hxxp(s)`."""
    if "[" in text or "(" in text or "{" in text:
        text = _COLON.sub(r"\1", _DOT.sub(".", text))
    if text[:4].lower() == "hxxp":
        text = _SCHEME.sub(r"http\1", text)
    return text


def canonical(kind: Kind, value: str) -> str:
    """The one text a value of a known kind is stored and matched as."""
    text = refang(value).strip()
    if not text:
        raise ValueError("empty value")
    if kind == "ip":
        return _address(text)
    if kind == "cidr":
        return _network(text)[0]
    if kind == "domain":
        return _domain(text)
    return _url(text)[0]


def classify(value: str, expect: Expect | None = None) -> list[tuple[Kind, str]]:
    """The canonical indicators one feed value stands for (a URL on an IP gives two)."""
    text = refang(value).strip()
    if not text:
        raise ValueError("empty value")
    if expect == "url" or "://" in text:
        return _typed(expect, text, _url_indicators(text))
    if "/" in text:
        address, _, length = text.partition("/")
        if length.isdigit() and (":" in address or ip_number(address) is not None):
            network, single = _network(text)
            if single:
                return _typed(expect, text, [("ip", network.partition("/")[0])])
            return _typed(expect, text, [("cidr", network)])
        if expect is None:
            return _url_indicators(text)
        raise ValueError(f"{show(text)} is not {_EXPECTED[expect]}")
    port = _HOST_PORT.fullmatch(text)
    if port:
        text = port["v6"] or port["host"]
    what = _EXPECTED[expect] if expect else "an IP address, CIDR, domain or URL"
    return _typed(expect, text, [_host(text, what)])


_EXPECTED: dict[Expect, str] = {
    "address": "an IP address or CIDR",
    "domain": "a domain name",
    "url": "a URL",
}
_KINDS: dict[Expect, tuple[Kind, ...]] = {
    "address": ("ip", "cidr"),
    "domain": ("domain",),
    "url": ("url",),
}


def _typed(
    expect: Expect | None, text: str, found: list[tuple[Kind, str]]
) -> list[tuple[Kind, str]]:
    """Refuse a value whose own shape contradicts what its column or type says it is."""
    if expect is not None and found[0][0] not in _KINDS[expect]:
        raise ValueError(f"{show(text)} is not {_EXPECTED[expect]}")
    return found


def _ip(text: str) -> str | None:
    """The canonical text of an IP address, IPv4-mapped IPv6 as IPv4; None for anything else."""
    parsed = ip_number(text)
    return None if parsed is None else ip_text(*parsed)


def _address(text: str) -> str:
    found = _ip(text)
    if found is None:
        raise ValueError(f"{show(text)} is not a valid {'IPv6' if ':' in text else 'IPv4'} address")
    return found


def _network(text: str) -> tuple[str, bool]:
    """(canonical network, whether it is a single address); `10.1.2.3/8` is `10.0.0.0/8`."""
    address, _, length = text.partition("/")
    parsed = ip_number(address, unmap=False)
    if parsed is None or not length.isdigit() or int(length) > BITS[parsed[0]]:
        raise ValueError(f"{show(text)} is not a valid CIDR network")
    version, number = parsed
    prefix = int(length)
    if version == 6 and prefix >= 96 and number >> 32 == 0xFFFF:
        # Lookups map ::ffff:a.b.c.d to IPv4, so a mapped network must be stored as IPv4.
        version, number, prefix = 4, number & 0xFFFFFFFF, prefix - 96
    if prefix < _WIDEST[version]:
        raise ValueError(
            f"{show(text)} is wider than /{_WIDEST[version]}: it would match a large part "
            "of the Internet"
        )
    network = number & MASKS[version][prefix]
    return f"{ip_text(version, network)}/{prefix}", prefix == BITS[version]


def _host(text: str, what: str = "a valid domain name") -> tuple[Literal["ip", "domain"], str]:
    """An IP address, else a domain name; dotted numbers are a mistyped IPv4 address."""
    address = _ip(text)
    if address is not None:
        return "ip", address
    if _DOTTED_NUMBERS.fullmatch(text):
        raise ValueError(f"{show(text)} is not a valid IPv4 address")
    if ":" in text:
        raise ValueError(f"{show(text)} is not a valid IPv6 address")
    return "domain", _domain(text, what)


def ascii_domain(name: str) -> str | None:
    """A host name in the form domain indicators are stored: lowercase ASCII, Unicode names
    as punycode (IDNA 2008 with UTS 46 mapping); None when it cannot be a name."""
    if name.isascii():
        return name.lower()
    try:
        return str(idna.encode(name, uts46=True).decode("ascii"))
    except idna.IDNAError:
        return None


def _domain(text: str, what: str = "a valid domain name") -> str:
    """Lowercase ASCII (IDNA, punycode) without the root dot; `*.example.com` is example.com."""
    name = text.rstrip(".").removeprefix("*.")
    if "*" in name:
        raise ValueError(f"{show(text)} is not {what}: a wildcard may only be a leading '*.'")
    ascii_name = ascii_domain(name)
    if ascii_name is None:
        raise ValueError(f"{show(text)} is not {what}")
    name = ascii_name
    if len(name) > 253 or not _NAME.fullmatch(name) or name.rpartition(".")[2].isdigit():
        raise ValueError(f"{show(text)} is not {what}")
    if "." not in name:
        raise ValueError(
            f"{show(text)} has a single label: a domain indicator matches every name under "
            "it, so it needs at least two"
        )
    return name


def _url(text: str) -> tuple[str, str | None]:
    """The URL with scheme and host canonical, and its host when that is an IP address."""
    has_scheme = "://" in text
    try:
        parts = urlsplit(text if has_scheme else f"//{text}")
        port = parts.port
    except ValueError as err:
        raise ValueError(f"{show(text)} is not a valid URL: {err}") from None
    if not parts.hostname:
        raise ValueError(f"{show(text)} is not a valid URL: it has no host")
    kind, host = _host(parts.hostname)
    address = host if kind == "ip" else None
    if ":" in host:
        host = f"[{host}]"
    user = _ascii(parts.netloc.rpartition("@")[0])
    netloc = (f"{user}@" if user else "") + host + (f":{port}" if port is not None else "")
    path, query, fragment = (_ascii(part) for part in (parts.path, parts.query, parts.fragment))
    rebuilt = urlunsplit((parts.scheme.lower(), netloc, path, query, fragment))
    url = rebuilt if has_scheme else rebuilt.removeprefix("//")
    if len(url) > MAX_URL:
        raise ValueError(f"{show(text)} is longer than {MAX_URL} characters")
    return url, address


def _ascii(part: str) -> str:
    """Percent-encode what a URI may not hold (non-ASCII, blanks), leaving the rest as written.

    A URL then has one form whether a feed wrote it as an IRI or already encoded, and its
    length in characters is its length in bytes (the store indexes it).
    """
    return quote(part, safe=_URI_SAFE)


def _url_indicators(text: str) -> list[tuple[Kind, str]]:
    url, address = _url(text)
    found: list[tuple[Kind, str]] = [("url", url)]
    if address is not None:
        found.append(("ip", address))
    return found
