"""ComponentResources: what belongs together on one hypervisor."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pulumi

from fleet import libvirt
from fleet.addressing import mac_address
from fleet.spec import Hypervisor, VmGroup
from sitemodel import Network


def after(opts: pulumi.ResourceOptions, previous: pulumi.Resource) -> pulumi.ResourceOptions:
    """``opts``, once ``previous`` is done: one libvirt operation at a time per hypervisor.

    The provider's one connection to a hypervisor (go-libvirt over qemu+ssh) can hang
    when volume uploads and other calls overlap on it: seen with the real engine on hv01
    (a cloud-init disk's upload complete on disk, its call never returning, and every call
    after it waiting, 10 minutes), as terraform-provider-libvirt#594 reports for cloud-init
    disks in parallel on a remote libvirt. Hypervisors still proceed in parallel, each with
    its own connection. An ordering only (depends_on): no property depends on it, so it
    shows in no diff and replaces nothing."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[previous]))


class HypervisorStorage(pulumi.ComponentResource):
    """The hypervisor's storage pool and one base volume per image, uploaded one after
    the other (``last``: the operation a VM's first one waits for)."""

    def __init__(
        self, hv: Hypervisor, images: Mapping[str, str], provider: pulumi.ProviderResource
    ) -> None:
        super().__init__("cite:fleet:HypervisorStorage", hv.name)
        opts = pulumi.ResourceOptions(parent=self, provider=provider)
        self.pool = libvirt.pool(f"{hv.name}-{hv.pool.name}", hv.pool.path, opts)
        self.pool_name: pulumi.Output[str] = self.pool.name
        self.last: pulumi.Resource = self.pool
        self.base_volumes: dict[str, pulumi.CustomResource] = {}
        for image, source in sorted(images.items()):
            self.last = self.base_volumes[image] = libvirt.base_volume(
                f"{hv.name}-base-{image}", self.pool.name, source, after(opts, self.last)
            )
        self.register_outputs({"pool": self.pool.name})


class TenantNetwork(pulumi.ComponentResource):
    """One tenant's (or shared zone's) network on one hypervisor, bound to its VLAN's
    bridge. Every hypervisor names it ``cs-<id>``, so a VM keeps its network if moved."""

    def __init__(
        self, hv: Hypervisor, network: Network, bridge: str, provider: pulumi.ProviderResource
    ) -> None:
        super().__init__("cite:fleet:TenantNetwork", f"{hv.name}-{network.id}")
        opts = pulumi.ResourceOptions(parent=self, provider=provider)
        self.tenant = network.id
        self.network = libvirt.bridged_network(
            f"{hv.name}-net-{network.id}", f"cs-{network.id}", bridge, opts
        )
        self.register_outputs({"bridge": bridge, "vlan": network.vlan})


def cloud_config(name: str, admin_keys: Sequence[str], password_hash: str | None) -> str:
    """First-boot configuration: the bootstrap sysadmin's keys; Ansible does the rest."""
    config: dict[str, object] = {
        "hostname": name,
        # Always generated: cloud-init's default (en_US.UTF-8) is not, in the site's image.
        "locale": "C.UTF-8",
        "ssh_pwauth": False,
        "disable_root": True,
        "users": [
            {
                "name": "exploit",
                "groups": ["sudo"],
                "shell": "/bin/bash",
                "lock_passwd": password_hash is None,
                **({"passwd": password_hash} if password_hash else {}),
                "ssh_authorized_keys": list(admin_keys),
            }
        ],
    }
    return "#cloud-config\n" + json.dumps(config, indent=2, sort_keys=True)


def network_config(address: str, network: Network) -> str:
    """Static address in the tenant's prefix, default route via its router and its
    resolvers, both from the site model. The NIC is found by its MAC (derived from the
    address) and named ``primary``: Debian 12's cloud-init (22.4) renders a name match as
    ``Name=primary`` for networkd, which no NIC has, so the VM came up with no network
    (seen on a real VM); a MAC match with set-name is what every version renders right."""
    config = {
        "version": 2,
        "ethernets": {
            "primary": {
                "match": {"macaddress": mac_address(address)},
                "set-name": "primary",
                "addresses": [f"{address}/{network.ipv4.prefixlen}"],
                # 0.0.0.0/0, not "default": Debian 12's cloud-init (22.4) refuses the
                # latter and brings no interface up (seen on a real VM).
                "routes": [{"to": "0.0.0.0/0", "via": str(network.gateway)}],
                "nameservers": {"addresses": [str(r) for r in network.resolvers]},
            }
        },
    }
    return json.dumps(config, indent=2, sort_keys=True)


class VirtualMachine(pulumi.ComponentResource):
    """A VM: its disk cloned from the base image, its cloud-init disk, its domain, made
    one after the other once ``previous`` (its hypervisor's last operation) is done."""

    def __init__(
        self,
        name: str,
        group: VmGroup,
        address: str,
        network: Network,
        storage: HypervisorStorage,
        tenant_net: TenantNetwork,
        domain_type: str,
        user_data: pulumi.Output[str],
        provider: pulumi.ProviderResource,
        previous: pulumi.Resource,
    ) -> None:
        super().__init__("cite:fleet:VirtualMachine", name)
        opts = pulumi.ResourceOptions(parent=self, provider=provider)
        self.tenant = network.id
        self.address = address
        base = storage.base_volumes[group.image]
        disk = libvirt.disk_volume(
            f"{name}-disk", storage.pool_name, base.id, group.disk_gib, after(opts, previous)
        )
        init = libvirt.cloud_init(
            name, storage.pool_name, user_data, network_config(address, network), after(opts, disk)
        )
        self.domain = libvirt.domain(
            name,
            domain_type,
            group.vcpu,
            group.memory_gib,
            disk.id,
            init.id,
            tenant_net.network.bridge,
            mac_address(address),
            after(opts, init),
        )
        self.user_data = user_data
        self.register_outputs({"address": address, "tenant": network.id})
