"""Typed view of the site data found in ``group_vars/all/tenants.yml``.

Parsing never raises on bad data: each problem becomes an error message that names the
culprit, so the preflight can report all of them at once before any host is touched.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
PROTOCOLS = ("tcp", "udp")


@dataclass(frozen=True)
class Flow:
    """A service a network's hosts expose: ``port/proto`` reachable from ``sources``."""

    name: str
    port: int
    proto: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Network:
    """A tenant (``kind='tenant'``) or a shared zone such as admin or infra."""

    id: str
    kind: str
    name: str
    vlan: int
    ipv4: ipaddress.IPv4Network
    ipv6: ipaddress.IPv6Network | None = None
    admin_group: str = ""
    groups: tuple[str, ...] = ()
    services: tuple[Flow, ...] = ()
    backup_quota: str = ""
    log_retention_days: int = 365


@dataclass(frozen=True)
class Host:
    name: str
    address: str | None
    groups: tuple[str, ...]


@dataclass
class SiteModel:
    networks: list[Network] = field(default_factory=list)
    hosts: list[Host] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def tenants(self) -> list[Network]:
        return [n for n in self.networks if n.kind == "tenant"]

    def network_of(self, host: Host) -> list[Network]:
        """Every network a host's groups place it in (a valid model has exactly one)."""
        found = []
        for net in self.networks:
            member_groups = (net.id,) if net.kind == "tenant" else net.groups
            if any(g in host.groups for g in member_groups):
                found.append(net)
        return found


def _as_int(value: Any, what: str, errors: list[str]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        errors.append(f"{what}: expected an integer, got {value!r}")
        return None
    try:
        return int(value)
    except ValueError:
        errors.append(f"{what}: expected an integer, got {value!r}")
        return None


def _as_net(value: Any, version: int, what: str, errors: list[str]) -> IPNetwork | None:
    try:
        net = ipaddress.ip_network(str(value), strict=True)
    except ValueError as exc:
        errors.append(f"{what}: {value!r} is not a valid network prefix ({exc})")
        return None
    if net.version != version:
        errors.append(f"{what}: {value} is not an IPv{version} prefix")
        return None
    return net


def parse_flows(raw: Any, where: str, errors: list[str]) -> tuple[Flow, ...]:
    """Flows (name, port, proto, from) of a network's services or of firewall openings;
    problems land in ``errors``, each naming ``where`` and the flow."""
    flows = []
    for i, item in enumerate(raw or []):
        what = f"{where} service #{i + 1}"
        if not isinstance(item, Mapping):
            errors.append(f"{what}: expected a mapping, got {item!r}")
            continue
        name = str(item.get("name", f"#{i + 1}"))
        what = f"{where} service {name!r}"
        port = _as_int(item.get("port"), f"{what} port", errors)
        proto = str(item.get("proto", "tcp"))
        if proto not in PROTOCOLS:
            errors.append(f"{what}: proto {proto!r} is not one of {', '.join(PROTOCOLS)}")
        if port is not None and not 1 <= port <= 65535:
            errors.append(f"{what}: port {port} is outside 1-65535")
        sources = item.get("from", [])
        if isinstance(sources, str) or not isinstance(sources, Sequence):
            errors.append(f"{what}: 'from' must be a list of network ids, got {sources!r}")
            sources = []
        if port is not None:
            flows.append(Flow(name, port, proto, tuple(str(s) for s in sources)))
    return tuple(flows)


def _parse_network(raw: Any, kind: str, index: int, errors: list[str]) -> Network | None:
    label = "site_tenants" if kind == "tenant" else "site_shared_networks"
    if not isinstance(raw, Mapping):
        errors.append(f"{label}[{index}]: expected a mapping, got {raw!r}")
        return None
    net_id = str(raw.get("id", ""))
    where = f"{kind} {net_id!r}" if net_id else f"{label}[{index}]"
    count = len(errors)
    if not ID_PATTERN.match(net_id):
        errors.append(f"{where}: id must match {ID_PATTERN.pattern}")
    vlan = _as_int(raw.get("vlan"), f"{where} vlan", errors)
    if vlan is not None and not 1 <= vlan <= 4094:
        errors.append(f"{where}: vlan {vlan} is outside 1-4094")
    ipv4 = _as_net(raw.get("ipv4"), 4, f"{where} ipv4", errors)
    ipv6 = _as_net(raw["ipv6"], 6, f"{where} ipv6", errors) if raw.get("ipv6") else None
    services = parse_flows(raw.get("services"), where, errors)
    retention = _as_int(raw.get("log_retention_days", 365), f"{where} log_retention_days", errors)
    if retention is not None and retention < 1:
        # 0 would delete each day's logs as they are written: refused, not "corrected".
        errors.append(f"{where}: log_retention_days must be at least 1 (days), got {retention}")
    if kind == "tenant" and not raw.get("admin_group"):
        errors.append(f"{where}: admin_group is required")
    groups = raw.get("groups", [])
    if kind == "shared" and (isinstance(groups, str) or not groups):
        errors.append(f"{where}: 'groups' must list the inventory groups on this network")
        groups = []
    if len(errors) > count or vlan is None or ipv4 is None:
        return None
    return Network(
        id=net_id,
        kind=kind,
        name=str(raw.get("name", net_id)),
        vlan=vlan,
        ipv4=ipv4,  # type: ignore[arg-type]
        ipv6=ipv6,  # type: ignore[arg-type]
        admin_group=str(raw.get("admin_group", "")),
        groups=tuple(str(g) for g in groups),
        services=services,
        backup_quota=str(raw.get("backup_quota", "")),
        log_retention_days=retention or 365,
    )


def parse_model(
    tenants: Any,
    shared: Any,
    hosts: Mapping[str, tuple[str | None, Sequence[str]]] | None = None,
) -> SiteModel:
    """Build the model from raw inventory data; problems land in ``model.errors``.

    ``hosts`` maps each inventory host to ``(site_address, group_names)``.
    """
    model = SiteModel()
    for kind, raw_list, label in (
        ("tenant", tenants, "site_tenants"),
        ("shared", shared, "site_shared_networks"),
    ):
        if not isinstance(raw_list, Sequence) or isinstance(raw_list, str):
            model.errors.append(f"{label}: expected a list, got {type(raw_list).__name__}")
            continue
        for i, raw in enumerate(raw_list):
            net = _parse_network(raw, kind, i, model.errors)
            if net is not None:
                model.networks.append(net)
    for name, (address, groups) in sorted((hosts or {}).items()):
        model.hosts.append(Host(name, address, tuple(groups)))
    return model
