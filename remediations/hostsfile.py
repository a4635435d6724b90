"""Sinkholing malicious names in the hosts file, with every edit marked so it can be undone.

A line that names a malicious domain (or its subdomain), or pins any name to a malicious
address, is kept but commented out (`# raquet:<tag> disabled: <line>`); its harmless
names stay on their address (`… # raquet:<tag> kept`); each malicious name is pointed at
the unspecified addresses `0.0.0.0` and `::` (`… # raquet:<tag> sinkhole`), both, so an
IPv6-only lookup cannot fall through to DNS. Undoing a tag drops its added lines and
uncomments its disabled ones: the file is back to what it was.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from io import StringIO
from typing import Any

from pyinfra import host
from pyinfra.api import FactBase, StringCommand, operation
from pyinfra.facts.files import FileContents
from pyinfra.operations import files

from raquet.powershell import quote
from remediations.values import IpNetwork

PATH = "/etc/hosts"
WINDOWS_PATH = r"C:\Windows\System32\drivers\etc\hosts"
SINKHOLES = ("0.0.0.0", "::")


def marker(tag: str) -> str:
    return f"raquet:{tag}"


def _named(name: str, domains: set[str]) -> bool:
    name = name.lower().rstrip(".")
    return any(name == d or name.endswith("." + d) for d in domains)


def _pinned(address: str, networks: list[IpNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    return any(ip in net for net in networks)


def sinkholed(
    lines: list[str], domains: set[str], networks: list[IpNetwork], tag: str
) -> list[str]:
    """The hosts file with this tag's sinkhole applied; unchanged when there is nothing to do."""
    mark = marker(tag)
    out: list[str] = []
    done: set[str] = set()
    wanted: list[str] = []
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            out.append(line)
            continue
        address, names = fields[0], fields[1:]
        if address in SINKHOLES:
            done.update(n.lower() for n in names)
            out.append(line)
            continue
        pinned = _pinned(address, networks)
        bad = [n for n in names if pinned or _named(n, domains)]
        if not bad:
            out.append(line)
            continue
        out.append(f"# {mark} disabled: {line}")
        kept = [n for n in names if n not in bad]
        if kept:
            out.append(f"{address} {' '.join(kept)}  # {mark} kept")
        wanted += [n.lower() for n in bad]
    for name in dict.fromkeys(wanted):
        if name not in done:
            out += [f"{sink} {name}  # {mark} sinkhole" for sink in SINKHOLES]
    return out


def restored(lines: list[str], tag: str) -> list[str]:
    """The hosts file without this tag's edits."""
    mark = marker(tag)
    disabled = f"# {mark} disabled: "
    out = []
    for line in lines:
        if line.startswith(disabled):
            out.append(line[len(disabled) :])
        elif not line.rstrip().endswith((f"# {mark} kept", f"# {mark} sinkhole")):
            out.append(line)
    return out


def _write(lines: list[str], new: list[str], path: str) -> Iterator[Any]:
    if new == lines:
        host.noop(f"{path} needs no change")
        return
    yield from files.put._inner(src=StringIO("".join(f"{line}\n" for line in new)), dest=path)


@operation()
def sinkhole(domains: list[str], networks: list[str], tag: str, path: str = PATH):
    lines = host.get_fact(FileContents, path=path, _sudo=False)
    if lines is None:
        host.noop(f"{path} does not exist")
        return
    nets = [ipaddress.ip_network(n) for n in networks]
    yield from _write(lines, sinkholed(lines, set(domains), nets, tag), path)


@operation()
def unsinkhole(tag: str, path: str = PATH):
    lines = host.get_fact(FileContents, path=path, _sudo=False) or []
    yield from _write(lines, restored(lines, tag), path)


class WindowsHostsFile(FactBase[list[str]]):
    """The Windows hosts file's lines."""

    default = list

    def command(self) -> StringCommand:
        return StringCommand(f"Get-Content -LiteralPath {quote(WINDOWS_PATH)}")

    def process(self, output: list[str]) -> list[str]:
        return list(output)


def _windows_write(lines: list[str], new: list[str]) -> StringCommand | None:
    if new == lines:
        host.noop("the hosts file needs no change")
        return None
    values = ",".join(quote(line) for line in new) or "''"
    return StringCommand(
        f"Set-Content -LiteralPath {quote(WINDOWS_PATH)} -Encoding ASCII -Value @({values})"
    )


@operation()
def windows_sinkhole(domains: list[str], networks: list[str], tag: str):
    lines = host.get_fact(WindowsHostsFile)
    nets = [ipaddress.ip_network(n) for n in networks]
    command = _windows_write(lines, sinkholed(lines, set(domains), nets, tag))
    if command is not None:
        yield command


@operation()
def windows_unsinkhole(tag: str):
    lines = host.get_fact(WindowsHostsFile)
    command = _windows_write(lines, restored(lines, tag))
    if command is not None:
        yield command
