"""Checks of the whole site model. Each error is one sentence that names the culprit."""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

from sitemodel.model import SiteModel, parse_model

TENANTS_GROUP = "tenants"


def _network_errors(model: SiteModel) -> list[str]:
    errors = []
    seen_ids: dict[str, str] = {}
    seen_vlans: dict[int, str] = {}
    for net in model.networks:
        if net.id in seen_ids:
            errors.append(f"duplicate network id {net.id!r} ({seen_ids[net.id]} and {net.kind})")
        seen_ids.setdefault(net.id, net.kind)
        if net.vlan in seen_vlans:
            errors.append(f"duplicate VLAN id {net.vlan}: {seen_vlans[net.vlan]!r} and {net.id!r}")
        seen_vlans.setdefault(net.vlan, net.id)
    for a, b in combinations(model.networks, 2):
        for pa, pb in ((a.ipv4, b.ipv4), (a.ipv6, b.ipv6)):
            if pa is not None and pb is not None and pa.overlaps(pb):
                errors.append(f"overlapping prefixes: {a.id!r} {pa} and {b.id!r} {pb}")
    for net in model.networks:
        for flow in net.services:
            for source in flow.sources:
                if source not in seen_ids:
                    errors.append(
                        f"{net.kind} {net.id!r} service {flow.name!r} allows unknown "
                        f"network {source!r} (known: {', '.join(sorted(seen_ids))})"
                    )
    return errors


def _host_errors(model: SiteModel) -> list[str]:
    errors = []
    owners: dict[ipaddress.IPv4Address, list[str]] = defaultdict(list)
    for host in model.hosts:
        nets = model.network_of(host)
        if not nets:
            extra = ""
            if TENANTS_GROUP in host.groups:
                groups = [g for g in host.groups if g not in ("all", TENANTS_GROUP)]
                extra = f"; unknown tenant group among {groups}"
            errors.append(f"host {host.name!r} belongs to no tenant and no shared network{extra}")
            continue
        if len(nets) > 1:
            names = ", ".join(repr(n.id) for n in nets)
            errors.append(f"host {host.name!r} is in several networks: {names}")
            continue
        net = nets[0]
        if not host.address:
            errors.append(f"host {host.name!r} has no site_address")
            continue
        try:
            address = ipaddress.IPv4Address(host.address)
        except ValueError:
            errors.append(f"host {host.name!r}: site_address {host.address!r} is not IPv4")
            continue
        if address not in net.ipv4 or address in (net.ipv4.network_address, net.ipv4[-1]):
            errors.append(
                f"host {host.name!r}: address {address} is outside {net.kind} "
                f"{net.id!r} prefix {net.ipv4} (or is its network/broadcast address)"
            )
        owners[address].append(host.name)
    for address, names in sorted(owners.items()):
        if len(names) > 1:
            errors.append(f"duplicate address {address}: hosts {', '.join(sorted(names))}")
    return errors


def site_errors(model: SiteModel) -> list[str]:
    """Every problem of the model: parse errors first, then network and host checks."""
    return [*model.errors, *_network_errors(model), *_host_errors(model)]


def errors_from_inventory(
    tenants: Any,
    shared: Any,
    groups: Mapping[str, Sequence[str]],
    hostvars: Mapping[str, Mapping[str, Any]],
) -> list[str]:
    """Validate straight from Ansible's ``groups`` and ``hostvars`` structures."""
    memberships: dict[str, list[str]] = defaultdict(list)
    for group, members in groups.items():
        for host in members:
            memberships[host].append(group)
    hosts = {
        host: (hostvars.get(host, {}).get("site_address"), memberships[host])
        for host in groups.get("all", [])
    }
    return site_errors(parse_model(tenants, shared, hosts))
