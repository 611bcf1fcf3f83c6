"""Checks of the whole site model. Each error is one sentence that names the culprit."""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sitemodel.model import WEBHOOK, IPNetwork, Network, Policy, SiteModel, parse_model

TENANTS_GROUP = "tenants"
# An inventory host name: a DNS label (it becomes a path on the log and backup servers
# and an argument of the backup server's forced command).
HOST_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")


def _overlaps(networks: Sequence[Network]) -> list[str]:
    """Overlapping prefixes, IPv4 and IPv6, across every network: a sweep over the
    prefixes sorted by first address (n log n, for sites with a thousand tenants)."""
    errors = []
    for version in (4, 6):
        prefixes: list[tuple[IPNetwork, Network]] = [
            (p, n)
            for n in networks
            for p in (n.ipv4, n.ipv6)
            if p is not None and p.version == version
        ]
        prefixes.sort(key=lambda item: (item[0].network_address, item[0].prefixlen))
        widest: tuple[IPNetwork, Network] | None = None
        for prefix, net in prefixes:
            if widest is not None and prefix.network_address <= widest[0].broadcast_address:
                errors.append(
                    f"overlapping prefixes: {widest[1].id!r} {widest[0]} and {net.id!r} {prefix}"
                )
            if widest is None or prefix.broadcast_address > widest[0].broadcast_address:
                widest = (prefix, net)
    return errors


def receiver_errors(model: SiteModel) -> list[str]:
    """A tenant's webhook receivers are on an address of its own network or of a shared
    zone (the site's operations), on a real port: never on another tenant's network (its
    alerts would be read there), never outside the site."""
    errors = []
    zones = [n for n in model.networks if n.kind != "tenant"]
    shared = [p for n in zones for p in (n.ipv4, n.ipv6) if p is not None]
    for tenant in model.tenants:
        own = [p for p in (tenant.ipv4, tenant.ipv6) if p is not None]
        for receiver in tenant.alert_receivers:
            match = WEBHOOK.match(receiver.get("webhook", ""))
            if not match:
                continue
            where = f"tenant {tenant.id!r}: alert webhook {receiver['webhook']!r:.80}"
            try:
                address = ipaddress.ip_address(match["host"].strip("[]"))
            except ValueError:
                errors.append(f"{where}: {match['host']!r} is not an IP address")
                continue
            if not 1 <= int(match["port"]) <= 65535:
                errors.append(f"{where}: port {match['port']} is out of range")
            if not any(address in p for p in own + shared if p.version == address.version):
                errors.append(
                    f"{where} is neither on the tenant's own network nor on a shared zone "
                    "(alerts never go to another tenant, nor leave the site)"
                )
    return errors


def _network_errors(model: SiteModel) -> list[str]:
    errors = []
    seen_ids: dict[str, str] = {}
    seen_vlans: dict[int, str] = {}
    admin_groups: dict[str, str] = {}
    for net in model.networks:
        if net.id in seen_ids:
            errors.append(f"duplicate network id {net.id!r} ({seen_ids[net.id]} and {net.kind})")
        seen_ids.setdefault(net.id, net.kind)
        if net.vlan in seen_vlans:
            errors.append(f"duplicate VLAN id {net.vlan}: {seen_vlans[net.vlan]!r} and {net.id!r}")
        seen_vlans.setdefault(net.vlan, net.id)
        if net.kind == "tenant" and net.admin_group:
            if net.admin_group in admin_groups:
                errors.append(
                    f"tenants {admin_groups[net.admin_group]!r} and {net.id!r} share admin_group "
                    f"{net.admin_group!r}: each tenant's admins must read only its own logs "
                    "and reach only its own hosts"
                )
            admin_groups.setdefault(net.admin_group, net.id)
    shared_groups = {g for n in model.networks if n.kind == "shared" for g in n.groups}
    for tenant in model.tenants:
        if tenant.id in shared_groups or tenant.id == TENANTS_GROUP:
            errors.append(f"tenant id {tenant.id!r} is also a shared network's inventory group")
    errors.extend(_overlaps(model.networks))
    errors.extend(receiver_errors(model))
    for net in model.networks:
        for flow in net.services:
            for source in flow.sources:
                if source not in seen_ids:
                    errors.append(
                        f"{net.kind} {net.id!r} service {flow.name!r} allows unknown "
                        f"network {source!r:.40} (known: {', '.join(sorted(seen_ids))})"
                    )
    return errors


def _host_errors(model: SiteModel) -> list[str]:
    errors = []
    owners: dict[ipaddress.IPv4Address, list[str]] = defaultdict(list)
    tenant_ids = {t.id for t in model.tenants}
    outside: dict[str, list[str]] = defaultdict(list)
    for host in model.hosts:
        if not HOST_NAME.match(host.name):
            errors.append(
                f"host {host.name!r:.70}: the name is not a DNS label (a-z, 0-9 and '-', "
                "1-63 characters, not starting or ending with '-'); it becomes a path and a "
                "command argument on the log and backup servers"
            )
            continue
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
        if net.id in tenant_ids and TENANTS_GROUP not in host.groups:
            outside[net.id].append(host.name)
        if not host.address:
            errors.append(f"host {host.name!r} has no site_address")
            continue
        try:
            address = ipaddress.IPv4Address(str(host.address))
        except ValueError:
            errors.append(f"host {host.name!r}: site_address {host.address!r:.60} is not IPv4")
            continue
        if address not in net.ipv4 or address in (net.ipv4.network_address, net.ipv4[-1]):
            errors.append(
                f"host {host.name!r}: address {address} is outside {net.kind} "
                f"{net.id!r} prefix {net.ipv4} (or is its network/broadcast address)"
            )
        owners[address].append(host.name)
        if address == net.gateway:
            errors.append(
                f"host {host.name!r}: address {address} is the gateway of {net.kind} "
                f"{net.id!r} (its router's address)"
            )
    for tenant, names in sorted(outside.items()):
        errors.append(
            f"tenant group {tenant!r} is not under '{TENANTS_GROUP}' in the inventory (hosts "
            f"{', '.join(sorted(names)[:5])}): its hosts would get no backup and no tenant "
            f"checks; put the group under {TENANTS_GROUP}: children:"
        )
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
    policy: Policy | None = None,
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
    return site_errors(parse_model(tenants, shared, hosts, policy))
