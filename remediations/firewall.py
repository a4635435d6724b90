"""Blocking addresses in the host firewall, one removable block per remediation.

Each block is self-contained and named by the remediation's tag, so undoing it removes
exactly what it added and nothing else: with nftables a table of its own
(`inet raquet_<tag>`, created atomically by one `nft -f`, removed by one `delete table`);
with iptables (hosts without nft) a chain pair `RAQUET-<tag>-O` / `-I` jumped to from the
top of OUTPUT and INPUT, removed jump first. On Windows a pair of rules named
`raquet <tag>`.

Outgoing TCP to a blocked network is answered with a TCP reset, which the local stack
receives at once: a malware process's established connection dies on its next packet
(or on the FIN its killing sends) instead of lingering, and reconnects fail immediately.
Everything else to or from it is dropped. The reset is delivered over loopback, which
the inbound rule therefore leaves alone. An address already inside an earlier raquet
block is not blocked twice, so running a remediation again adds nothing.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from typing import Any

from pyinfra import host
from pyinfra.api import FactBase, OperationError, QuoteString, StringCommand, operation
from pyinfra.facts.iptables import Ip6tablesRules, IptablesChains, IptablesRules
from pyinfra.facts.server import Which

from raquet.powershell import quote
from remediations.values import IpNetwork, Refused, network

TABLE_PREFIX = "raquet_"
CHAIN_PREFIX = "RAQUET-"


def table_name(tag: str) -> str:
    return f"{TABLE_PREFIX}{tag}"


def chain_names(tag: str) -> tuple[str, str]:
    return f"{CHAIN_PREFIX}{tag}-O", f"{CHAIN_PREFIX}{tag}-I"


def windows_rule_name(tag: str) -> str:
    return f"raquet {tag}"


class Ip6tablesChains(IptablesChains):
    """ip6tables chains; pyinfra 3.10's own fact of this name fails when given a table (its
    `requires_command` takes no arguments)."""

    def requires_command(self, *args: Any, **kwargs: Any) -> str:
        return "ip6tables-save"

    def command(self, table: str = "filter") -> str:
        return f"ip6tables-save -t {table}"


class NftBlocks(FactBase[dict[str, list[str]]]):
    """raquet's nftables tables and the networks their sets hold: table -> networks."""

    default = dict

    def requires_command(self) -> str:
        return "nft"

    def command(self) -> str:
        return "nft -j list ruleset"

    def process(self, output: list[str]) -> dict[str, list[str]]:
        try:
            document = json.loads("".join(output))
        except ValueError:
            return {}
        blocks: dict[str, list[str]] = {}
        for item in document.get("nftables", []) if isinstance(document, dict) else []:
            table = item.get("table") if isinstance(item, dict) else None
            if isinstance(table, dict) and _ours(table):
                blocks.setdefault(table["name"], [])
            found = item.get("set") if isinstance(item, dict) else None
            if isinstance(found, dict) and _ours(found.get("table"), found.get("family")):
                nets = blocks.setdefault(found["table"], [])
                nets += [n for n in map(_element, found.get("elem", [])) if n]
        return blocks


def _ours(table: object, family: object = None) -> bool:
    if isinstance(table, dict):
        return _ours(table.get("name"), table.get("family"))
    return family == "inet" and isinstance(table, str) and table.startswith(TABLE_PREFIX)


def _element(elem: Any) -> str | None:
    """A set element from `nft -j`: an address, {"prefix": …} or {"range": [first, last]}."""
    if isinstance(elem, dict) and isinstance(elem.get("elem"), dict):
        elem = elem["elem"].get("val")
    if isinstance(elem, str):
        return elem
    if isinstance(elem, dict) and isinstance(elem.get("prefix"), dict):
        return f"{elem['prefix'].get('addr')}/{elem['prefix'].get('len')}"
    if isinstance(elem, dict) and isinstance(elem.get("range"), list) and len(elem["range"]) == 2:
        first, last = (ipaddress.ip_address(a) for a in elem["range"])
        return ",".join(str(n) for n in ipaddress.summarize_address_range(first, last))
    return None


def _parse(blocked: list[str]) -> list[IpNetwork]:
    nets = []
    for text in blocked:
        for part in text.split(","):
            try:
                nets.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                continue
    return nets


def uncovered(wanted: list[IpNetwork], blocked: list[IpNetwork]) -> list[IpNetwork]:
    """The wanted networks no existing block already covers, overlaps merged."""
    left = [
        n
        for n in wanted
        if not any(n.version == b.version and n.subnet_of(b) for b in blocked)  # type: ignore[arg-type]
    ]
    v4 = ipaddress.collapse_addresses(n for n in left if n.version == 4)
    v6 = ipaddress.collapse_addresses(n for n in left if n.version == 6)
    return [*v4, *v6]


def nft_script(tag: str, nets: list[IpNetwork]) -> str:
    """One atomic nftables transaction creating the block's table."""
    lines = [f"table inet {table_name(tag)} {{"]
    out, inbound = [], []
    for family, version, kind in (("ip", 4, "ipv4_addr"), ("ip6", 6, "ipv6_addr")):
        members = [_member(n) for n in nets if n.version == version]
        if not members:
            continue
        name = f"v{version}"
        lines.append(
            f"  set {name} {{ type {kind}; flags interval; elements = {{ {', '.join(members)} }}; }}"
        )
        out += [
            f"    {family} daddr @{name} meta l4proto tcp reject with tcp reset",
            f"    {family} daddr @{name} drop",
        ]
        inbound.append(f'    iifname != "lo" {family} saddr @{name} drop')
    lines += ["  chain output {", "    type filter hook output priority filter; policy accept;"]
    lines += [*out, "  }", "  chain input {"]
    lines += ["    type filter hook input priority filter; policy accept;", *inbound, "  }", "}"]
    return "\n".join(lines) + "\n"


def _member(net: IpNetwork) -> str:
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def iptables_commands(tag: str, nets: list[IpNetwork]) -> Iterator[StringCommand]:
    """The block's chains and rules first, the jumps to them last: never half a block in force."""
    out, inbound = chain_names(tag)
    for version, tool in ((4, "iptables"), (6, "ip6tables")):
        members = [str(n) for n in nets if n.version == version]
        if not members:
            continue
        yield StringCommand(tool, "-w", "-N", out)
        yield StringCommand(tool, "-w", "-N", inbound)
        for net in members:
            yield StringCommand(
                tool, "-w", "-A", out, "-d", net, "-p tcp -j REJECT --reject-with tcp-reset"
            )
            yield StringCommand(tool, "-w", "-A", out, "-d", net, "-j", "DROP")
            yield StringCommand(tool, "-w", "-A", inbound, "!", "-i", "lo", "-s", net, "-j DROP")
        yield StringCommand(tool, "-w", "-I", "OUTPUT", "1", "-j", out)
        yield StringCommand(tool, "-w", "-I", "INPUT", "1", "-j", inbound)


def _iptables_blocked() -> list[IpNetwork]:
    rules = [*host.get_fact(IptablesRules, table="filter")]
    rules += host.get_fact(Ip6tablesRules, table="filter")
    targets = [
        r.get("destination", "")
        for r in rules
        if str(r.get("chain", "")).startswith(CHAIN_PREFIX) and r.get("jump") == "DROP"
    ]
    return _parse([t for t in targets if t])


@operation()
def block(networks: list[str], tag: str):
    """Networks blocked both ways in a block of their own (see the module docstring)."""
    wanted = [network(n) for n in networks]
    if host.get_fact(Which, command="nft"):
        blocks = host.get_fact(NftBlocks)
        left = uncovered(wanted, _parse([n for nets in blocks.values() for n in nets]))
        if left and table_name(tag) in blocks:
            raise OperationError(f"nftables table {table_name(tag)} exists with other addresses")
        if left:
            script = nft_script(tag, left)
            yield StringCommand("printf", "'%s'", QuoteString(script), "|", "nft", "-f", "-")
    elif host.get_fact(Which, command="iptables"):
        left = uncovered(wanted, _iptables_blocked())
        yield from iptables_commands(tag, left)
    else:
        raise OperationError("neither nft nor iptables on the host: cannot block addresses")
    if not left:
        host.noop("every address is already blocked")


@operation()
def unblock(tag: str):
    """The block named by `tag` removed, whatever the backend it was made with."""
    if host.get_fact(Which, command="nft") and table_name(tag) in host.get_fact(NftBlocks):
        yield StringCommand("nft", "delete", "table", "inet", table_name(tag))
    if host.get_fact(Which, command="iptables"):
        out, inbound = chain_names(tag)
        for tool, chains_fact, rules_fact in (
            ("iptables", IptablesChains, IptablesRules),
            ("ip6tables", Ip6tablesChains, Ip6tablesRules),
        ):
            chains = host.get_fact(chains_fact, table="filter")
            rules = host.get_fact(rules_fact, table="filter")
            for base, chain in (("OUTPUT", out), ("INPUT", inbound)):
                if chain not in chains:
                    continue
                if any(r.get("chain") == base and r.get("jump") == chain for r in rules):
                    yield StringCommand(tool, "-w", "-D", base, "-j", chain)
                yield StringCommand(tool, "-w", "-F", chain)
                yield StringCommand(tool, "-w", "-X", chain)


class WindowsBlocks(FactBase[dict[str, list[str]]]):
    """raquet's Windows Firewall rules: display name -> the remote addresses they block."""

    default = dict

    def command(self) -> StringCommand:
        return StringCommand(
            "Get-NetFirewallRule -DisplayName 'raquet *' -ErrorAction SilentlyContinue"
            " | ForEach-Object { $n = $_.DisplayName;"
            " $_ | Get-NetFirewallAddressFilter | ForEach-Object {"
            " $_.RemoteAddress | ForEach-Object { $n + [char]9 + $_ } } }"
        )

    def process(self, output: list[str]) -> dict[str, list[str]]:
        rules: dict[str, list[str]] = {}
        for line in output:
            name, _, address = line.strip().partition("\t")
            if name.startswith("raquet "):
                rules.setdefault(name, []).append(address)
        return rules


@operation()
def windows_block(networks: list[str], tag: str):
    """Outbound and inbound block rules named `raquet <tag>` in Windows Firewall."""
    blocks = host.get_fact(WindowsBlocks)
    left = uncovered(
        [network(n) for n in networks], _parse([a for rule in blocks.values() for a in rule])
    )
    if not left:
        host.noop("every address is already blocked")
        return
    addresses = ",".join(quote(str(n)) for n in left)
    for direction in ("Outbound", "Inbound"):
        yield StringCommand(
            f"New-NetFirewallRule -DisplayName {quote(windows_rule_name(tag))}"
            f" -Direction {direction} -Action Block -RemoteAddress @({addresses}) | Out-Null"
        )


@operation()
def windows_unblock(tag: str):
    name = windows_rule_name(tag)
    if name not in host.get_fact(WindowsBlocks):
        host.noop(f"no firewall rule {name!r}")
        return
    yield StringCommand(f"Remove-NetFirewallRule -DisplayName {quote(name)}")


def blockable(texts: list[str]) -> tuple[list[str], list[str]]:
    """The networks that may be blocked, as text, and why the others may not."""
    nets, refused = [], []
    for text in texts:
        try:
            nets.append(str(network(text)))
        except Refused as exc:
            refused.append(str(exc))
    return sorted(set(nets)), refused
