"""The fleet program: spec in, resources and the Ansible inventory out.

Everything that can be refused (capacity, anti-affinity, address ranges) is computed
before the first resource is declared, so a bad spec fails without touching anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from fleet import libvirt
from fleet.addressing import allocate
from fleet.components import HypervisorStorage, TenantNetwork, VirtualMachine, cloud_config
from fleet.inventory import ansible_inventory
from fleet.placement import Placement, place
from fleet.spec import FleetSpec
from sitemodel.services import bridge_name


@dataclass
class Fleet:
    spec: FleetSpec
    placements: list[Placement]
    addresses: dict[str, str]
    inventory: dict[str, Any]
    storage: dict[str, HypervisorStorage] = field(default_factory=dict)
    networks: dict[tuple[str, str], TenantNetwork] = field(default_factory=dict)
    vms: list[VirtualMachine] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {
            "hypervisors": len(self.spec.hypervisors),
            "networks": len(self.networks),
            "vms": len(self.vms),
            "vcpu": sum(p.group.vcpu for p in self.placements),
            "memory_gib": sum(p.group.memory_gib for p in self.placements),
        }


def _user_data(
    name: str, spec: FleetSpec, password_hash: pulumi.Output[str] | None
) -> pulumi.Output[str]:
    """Always a secret: it may carry the console password hash."""
    if password_hash is None:
        return pulumi.Output.secret(cloud_config(name, spec.admin_ssh_keys, None))
    return pulumi.Output.secret(
        password_hash.apply(lambda h: cloud_config(name, spec.admin_ssh_keys, h))
    )


def build(spec: FleetSpec, password_hash: pulumi.Output[str] | None = None) -> Fleet:
    placements = place(spec)
    addresses = allocate(spec)
    fleet = Fleet(spec, placements, addresses, ansible_inventory(spec, placements, addresses))
    providers = {hv.name: libvirt.provider(hv.name, hv.uri) for hv in spec.hypervisors}
    for hv in spec.hypervisors:
        fleet.storage[hv.name] = HypervisorStorage(hv, spec.images, providers[hv.name])
        for net in spec.networks:
            bridge = spec.bridges.get(net.id, bridge_name(net.vlan))
            fleet.networks[(hv.name, net.id)] = TenantNetwork(hv, net, bridge, providers[hv.name])
    # Each hypervisor's libvirt operations in a chain (components.after).
    last = {name: storage.last for name, storage in fleet.storage.items()}
    for p in placements:
        network = spec.network(p.group.network)
        fleet.vms.append(
            VirtualMachine(
                p.vm,
                p.group,
                addresses[p.vm],
                network,
                fleet.storage[p.hypervisor.name],
                fleet.networks[(p.hypervisor.name, network.id)],
                spec.domain_type,
                _user_data(p.vm, spec, password_hash),
                providers[p.hypervisor.name],
                last[p.hypervisor.name],
            )
        )
        last[p.hypervisor.name] = fleet.vms[-1].domain
    return fleet
