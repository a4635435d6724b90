"""raquet hosts -> a pyinfra Inventory and State, with host keys and certificates verified and secrets from the environment."""

from __future__ import annotations

import logging
import os
from copy import copy
from functools import cache
from pathlib import Path
from typing import Any, get_type_hints

from pyinfra.api import Config, Inventory, State
from pyinfra.api.connectors import entry_points
from pyinfra.api.exceptions import ConnectorDataTypeError
from pyinfra.api.host import Host as PyinfraHost
from pyinfra.api.util import raise_if_bad_type
from pyinfra.connectors.base import BaseConnector

from raquet.errors import InputError, Problem
from raquet.hostkeys import use_indexed_host_keys
from raquet.models import Host

log = logging.getLogger("raquet")


def host_data(host: Host, *, connect_timeout: float, verify_host_keys: bool) -> dict[str, Any]:
    """pyinfra host data for one host. Passwords are read from the environment variable the
    inventory names, at the last moment, and live only in memory."""
    data: dict[str, Any] = {"raquet_unit": host.unit}
    if host.connector_name == "ssh":
        data.update(
            ssh_hostname=host.address,
            ssh_strict_host_key_checking="yes" if verify_host_keys else "off",
            ssh_paramiko_connect_kwargs={
                # shorter than the handshake's own deadline, so a host that accepts TCP but
                # never speaks SSH is reported as exactly that
                "banner_timeout": connect_timeout * 0.8,
                "auth_timeout": connect_timeout,
                "channel_timeout": connect_timeout,
            },
        )
        if not verify_host_keys:
            data["ssh_known_hosts_file"] = os.devnull  # else paramiko still rejects a changed key
        elif host.known_hosts:
            data["ssh_known_hosts_file"] = str(Path(host.known_hosts).expanduser())
        if host.ssh_port:
            data["ssh_port"] = host.ssh_port
        if host.ssh_user:
            data["ssh_user"] = host.ssh_user
        if host.ssh_key:
            data["ssh_key"] = str(Path(host.ssh_key).expanduser())
        if host.ssh_password_env:
            data["ssh_password"] = os.environ.get(host.ssh_password_env, "")
    elif host.connector_name == "winrm":
        data.update(_winrm_data(host, connect_timeout, verify_host_keys))
    if host.sudo:
        data["_sudo"] = True
    return data


def _winrm_data(host: Host, connect_timeout: float, verify_certificates: bool) -> dict[str, Any]:
    """The `@winrm` connector's data. Only the *name* of the password variable is passed:
    the connector reads the secret itself when it connects. Certificate checks are off
    only when asked for, by the sweep's insecure flag or the host's own
    `data: {winrm_server_cert_validation: ignore}`; the connector warns each time."""
    data: dict[str, Any] = {
        "winrm_hostname": host.address,
        "winrm_connect_timeout": float(connect_timeout),
    }
    fields = {
        "winrm_transport": host.winrm_transport,
        "winrm_port": host.winrm_port,
        "winrm_scheme": host.winrm_scheme,
        "winrm_user": host.winrm_user,
        "winrm_password_env": host.winrm_password_env,
        "winrm_ca_bundle": str(Path(host.winrm_ca_bundle).expanduser())
        if host.winrm_ca_bundle
        else None,
    }
    data.update({key: value for key, value in fields.items() if value is not None})
    for key in ("winrm_cert_pem", "winrm_cert_key_pem"):
        if isinstance(host.data.get(key), str):
            data[key] = str(Path(host.data[key]).expanduser())
    ignore = host.data.get("winrm_server_cert_validation") == "ignore" or not verify_certificates
    data["winrm_server_cert_validation"] = "ignore" if ignore else "validate"
    return data


def missing_secrets(hosts: list[Host]) -> list[Problem]:
    """Password variables the inventory names but the environment does not hold: caught before a sweep."""
    problems = []
    for host in hosts:
        for field in ("ssh_password_env", "winrm_password_env"):
            name = getattr(host, field)
            if name and name not in os.environ:
                problems.append(
                    Problem(
                        "environment", None, f"{host.name}.{field}", f"variable {name} is not set"
                    )
                )
    return problems


def execution_connectors(names: set[str]) -> dict[str, Any]:
    """pyinfra's execution connectors among `names`, as `get_execution_connectors()` has them
    (the entry point read last wins), loading only those: loading every connector imports
    each one's client library (WinRM's requests, spnego, cryptography…) for a sweep that
    may have no host to use it on."""
    wanted = {ep.name: ep for ep in entry_points(group="pyinfra.connectors") if ep.name in names}
    loaded = {name: ep.load() for name, ep in wanted.items()}
    return {name: cls for name, cls in loaded.items() if cls.handles_execution}


@cache
def _type_hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _connector_data(data_cls: type, meta: dict[str, Any], host_data: Any) -> dict[str, Any]:
    """pyinfra's `host_to_connector_data`, which the connector's `__init__` runs per host,
    with the connector's type hints read once and a value that is an instance of its plain
    class taken without asking typeguard (whose answer for those is the same); anything
    else is checked by pyinfra's own `raise_if_bad_type`, with its error. It was most of
    the cost of making a State: 0.24 ms a host."""
    merged = host_data.dict()  # as `host.data.get` reads each key: the first data wins
    data: dict[str, Any] = {}
    for key, type_ in _type_hints(data_cls).items():
        if key not in merged:
            data[key] = meta[key].default
            continue
        value = copy(merged[key])
        if not (isinstance(type_, type) and isinstance(value, type_)):
            raise_if_bad_type(
                value, type_, ConnectorDataTypeError, f"Invalid connector data `{key}`:"
            )
        data[key] = value
    return data


class _Host(PyinfraHost):
    """pyinfra's Host, with `init` (which the State calls for every host) finding the longest
    host name once per inventory: pyinfra's own looks through every host each time, which
    is quadratic in the fleet (seconds at 5,000 hosts). The rest is pyinfra's `init`."""

    def init(self, state: State) -> None:
        self.state = state
        cls = self.connector_cls
        if cls.__init__ is BaseConnector.__init__:  # ssh, local: as it would, without the cost
            connector = cls.__new__(cls)
            connector.state, connector.host = state, self
            connector.data = _connector_data(cls.data_cls, cls.data_meta, self.data)
            self.connector = connector
        else:
            self.connector = cls(state, self)
        inventory: Any = self.inventory
        padding_diff = inventory.longest_name - len(self.name)
        self.print_prefix_padding = "".join(" " for _ in range(0, padding_diff))


class _Inventory(Inventory):
    """pyinfra's Inventory of hosts whose connector is known already. pyinfra's own builder
    resolves `@connector/...` names and group data, loading every installed connector (and
    its client library) to do so; raquet's host names are never such names and its hosts
    belong to no pyinfra group, so each host is made directly, with the same data (a
    name given twice has its data merged, the last host kept, as pyinfra does)."""

    def __init__(self, hosts: list[tuple[str, dict[str, Any], Any]]) -> None:
        self._connectors = {name: connector for name, _, connector in hosts}
        super().__init__(([(name, data) for name, data, _ in hosts], {}))

    def make_hosts_and_groups(self, names: list[tuple[str, dict[str, Any]]], groups: Any) -> None:
        merged: dict[str, dict[str, Any]] = {}
        for name, data in names:
            merged.setdefault(name, {}).update(data)
        self.hosts = {}
        for name, _ in names:
            self.host_data[name] = dict(merged[name])
            self.hosts[name] = _Host(
                name, inventory=self, groups=[], connector_cls=self._connectors[name]
            )
        self.longest_name = max((len(name) for name in self.hosts), default=0)


def make_state(
    hosts: list[Host], *, parallel: int, connect_timeout: float, verify_host_keys: bool
) -> State:
    """A pyinfra State over `hosts`, each with the connector its inventory entry names."""
    if "ssh" in {h.connector_name for h in hosts}:
        use_indexed_host_keys()  # known_hosts by name: a connection costs the same at any size
    connectors = execution_connectors({h.connector_name for h in hosts})
    unknown = sorted({h.connector_name for h in hosts} - set(connectors))
    inventory = _Inventory(
        [
            (
                h.name,
                host_data(h, connect_timeout=connect_timeout, verify_host_keys=verify_host_keys),
                connectors[h.connector_name],
            )
            for h in hosts
            if h.connector_name in connectors
        ]
    )
    if unknown:
        log.warning("no pyinfra connector installed for: %s", ", ".join(unknown))
    config = Config(
        PARALLEL=max(1, min(parallel, len(hosts) or 1)),
        CONNECT_TIMEOUT=int(max(1, connect_timeout)),
    )
    return State(inventory=inventory, config=config, check_for_changes=False)


def require_secrets(hosts: list[Host]) -> None:
    problems = missing_secrets(hosts)
    if problems:
        raise InputError(problems)
