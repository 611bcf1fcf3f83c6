"""The Ansible inventory of the declared fleet (same shape as inventory/production)."""

from __future__ import annotations

from typing import Any

from fleet.placement import Placement
from fleet.spec import FleetSpec


def ansible_inventory(
    spec: FleetSpec, placements: list[Placement], addresses: dict[str, str]
) -> dict[str, Any]:
    """YAML/JSON inventory: shared zones hold their role groups, tenants their hosts;
    function groups (a tenant VM group's ``role``) gather hosts across tenants; group
    ``fleet_vms`` holds every VM this stack declares (libvirt domains, not machines: the
    lab gives its software-emulated ones longer SSH timeouts there)."""
    shared: dict[str, dict[str, Any]] = {}
    tenants: dict[str, dict[str, Any]] = {}
    functions: dict[str, dict[str, Any]] = {}
    for p in placements:
        host = {
            "site_address": addresses[p.vm],
            "fleet_hypervisor": p.hypervisor.name,
            "fleet_room": p.hypervisor.room,
            "fleet_feed": p.hypervisor.feed,
        }
        net = spec.network(p.group.network)
        if net.kind == "tenant":
            tenants.setdefault(net.id, {"hosts": {}})["hosts"][p.vm] = host
            if p.group.role != net.id:
                functions.setdefault(p.group.role, {"hosts": {}})["hosts"][p.vm] = None
        else:
            zone = shared.setdefault(net.id, {"children": {}})
            zone["children"].setdefault(p.group.role, {"hosts": {}})["hosts"][p.vm] = host
    every = {"fleet_vms": {"hosts": dict.fromkeys(p.vm for p in placements)}}
    children: dict[str, Any] = {
        **shared, "tenants": {"children": tenants}, **functions, **every
    }  # fmt: skip
    return {"all": {"children": children}}
