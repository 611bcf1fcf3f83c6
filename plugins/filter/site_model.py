"""Ansible filters over the site model (see sitemodel/).

- ``site_tenants | site_model_errors(site_shared_networks, groups, hostvars)``: every
  problem of the inventory's site model (playbooks/preflight.yml fails on any).
- ``group_names | site_network_of(site_tenants, site_shared_networks)``: the id of the
  tenant or shared network a host sits on ('' when none or ambiguous: preflight says why).
- ``site_tenants | site_firewall_plan(site_shared_networks, site_network, ssh_sources=...,
  icmp_sources=..., declared=..., openings=...)``: what a host's firewall lets in
  (sitemodel/firewall.py; role firewall renders it as nftables rules).
- ``'10.210.10.0/24' | site_prefix_address(-2)``: the address at that index of a prefix
  (1: first host, -2: last host), e.g. the lab router's leg on each network.
- ``site_tenants | site_log_networks(site_shared_networks)``: every network's log
  directory group and retention (role log_server; sitemodel/services.py).
- ``site_tenants | site_backup_tenants(site_shared_networks, clients, default_retention)``:
  each tenant's quota, retention and backup clients (role backup_server).
- ``hostvars | site_monitoring_hosts(groups['all'])``,
  ``site_tenants | site_monitoring_targets(site_shared_networks, hosts, port)``,
  ``site_tenants | site_alert_receivers(site_shared_networks, operations)``,
  ``site_tenants | site_service_probe_openings(site_shared_networks, network, sources)``:
  what the monitoring servers watch and where alerts go (roles monitoring_*);
- ``site_tenants | site_hypervisor_bridges(site_shared_networks, uplink, ports)``: the
  bridges of a hypervisor, one per network (role hypervisor; pulumi/ uses the same names).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from sitemodel import services
from sitemodel.firewall import firewall_plan
from sitemodel.model import network_id_of
from sitemodel.validate import errors_from_inventory


def site_model_errors(
    tenants: Any, shared: Any, groups: dict[str, list[str]], hostvars: Any
) -> list[str]:
    return errors_from_inventory(tenants, shared, groups, hostvars)


def site_network_of(group_names: list[str], tenants: Any, shared: Any) -> str:
    return network_id_of(group_names, tenants, shared)


def site_firewall_plan(tenants: Any, shared: Any, network: str, **options: Any) -> dict[str, Any]:
    try:
        return firewall_plan(tenants, shared, network, **options)
    except ValueError as exc:
        raise AnsibleFilterError(f"firewall: {exc}") from exc


def site_prefix_address(prefix: str, index: int) -> str:
    try:
        return str(ipaddress.ip_network(str(prefix), strict=True)[int(index)])
    except (ValueError, IndexError) as exc:
        raise AnsibleFilterError(f"site_prefix_address: {prefix!r}[{index}]: {exc}") from exc


def site_log_networks(tenants: Any, shared: Any, policy: Any = None) -> list[dict[str, Any]]:
    try:
        return services.log_networks(tenants, shared, policy)
    except ValueError as exc:
        raise AnsibleFilterError(f"log networks: {exc}") from exc


def site_backup_tenants(
    tenants: Any, shared: Any, clients: Any, default_retention: Any, policy: Any = None
) -> list[dict[str, Any]]:
    try:
        return services.backup_tenants(tenants, shared, clients, default_retention, policy)
    except ValueError as exc:
        raise AnsibleFilterError(f"backup: {exc}") from exc


def site_monitoring_hosts(hostvars: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
    """What monitoring needs of each inventory host: its address, groups, room and BMC
    (``site_address``, ``group_names``, ``site_room``, ``site_bmc``)."""
    found = {}
    for name in names:
        host = hostvars[name]
        found[name] = {
            "address": host.get("site_address"),
            "groups": list(host.get("group_names") or ()),
            "room": host.get("site_room"),
            "bmc": host.get("site_bmc"),
        }
    return found


def _service(function: Callable[..., Any], what: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except ValueError as exc:
            raise AnsibleFilterError(f"{what}: {exc}") from exc

    return wrapper


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "site_model_errors": site_model_errors,
            "site_network_of": site_network_of,
            "site_firewall_plan": site_firewall_plan,
            "site_prefix_address": site_prefix_address,
            "site_log_networks": site_log_networks,
            "site_backup_tenants": site_backup_tenants,
            "site_monitoring_hosts": site_monitoring_hosts,
            "site_monitoring_targets": _service(services.monitoring_targets, "monitoring"),
            "site_alert_receivers": _service(services.alert_receivers, "alert receivers"),
            "site_hypervisor_bridges": _service(services.hypervisor_bridges, "hypervisor"),
            "site_service_probe_openings": _service(services.service_probe_openings, "probes"),
        }
