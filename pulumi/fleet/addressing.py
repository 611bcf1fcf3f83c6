"""Stable IPv4 addresses from each network's prefix.

Each group owns the range ``[offset, offset + count)`` of its network: VM n gets
``prefix[offset + n - 1]``. Adding a VM to a group extends its own range; adding a group
takes a new offset; nothing else is ever renumbered. Ranges that collide, leave the
prefix, or take the network, gateway (the site model's, first host by default) or
broadcast address are refused.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from itertools import pairwise

from fleet.spec import FleetError, FleetSpec, VmGroup


def allocate(spec: FleetSpec) -> dict[str, str]:
    by_network: dict[str, list[VmGroup]] = defaultdict(list)
    for group in spec.groups:
        by_network[group.network].append(group)
    addresses: dict[str, str] = {}
    for net_id, groups in by_network.items():
        network = spec.network(net_id)
        prefix = network.ipv4
        last_usable = prefix.num_addresses - 2
        ordered = sorted(groups, key=lambda g: g.offset)
        for group in ordered:
            end = group.offset + group.count - 1
            if group.offset < 2 or end > last_usable:
                raise FleetError(
                    f"group {group.key!r}: addresses {group.offset}..{end} of {prefix} are "
                    f"outside its usable range 2..{last_usable}"
                )
            if network.gateway is not None and (
                group.offset <= int(network.gateway) - int(prefix.network_address) <= end
            ):
                raise FleetError(
                    f"group {group.key!r}: addresses {group.offset}..{end} of {prefix} take "
                    f"the gateway {network.gateway} of network {net_id!r}"
                )
        for before, after in pairwise(ordered):
            if before.count and before.offset + before.count > after.offset:
                raise FleetError(
                    f"groups {before.key!r} and {after.key!r} overlap in {prefix}: "
                    f"{before.key!r} uses offsets {before.offset}.."
                    f"{before.offset + before.count - 1}, "
                    f"{after.key!r} starts at {after.offset}"
                )
        for group in groups:
            for n, vm in enumerate(group.vm_names()):
                addresses[vm] = str(prefix.network_address + group.offset + n)
    return addresses


def mac_address(address: str) -> str:
    """A VM's MAC from its IPv4 address (unique site-wide, checked by the site model):
    QEMU's locally administered 52:54, then the address's four bytes. Stable, so the
    NIC never changes, and known before boot, so cloud-init can name the NIC it finds."""
    return "52:54:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(address).packed)
