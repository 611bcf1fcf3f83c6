"""Everything that knows pulumi-libvirt lives here.

pulumi-libvirt 0.5.4 is archived upstream: when it is replaced, only this module changes;
components.py calls these functions with plain values and Pulumi options.
"""

from __future__ import annotations

import pulumi
import pulumi_libvirt as libvirt


def provider(name: str, uri: str) -> libvirt.Provider:
    return libvirt.Provider(f"hv-{name}", uri=uri)


def pool(name: str, path: str, opts: pulumi.ResourceOptions) -> libvirt.Pool:
    # target.path: the provider deprecates the top-level `path` (a warning on every run).
    return libvirt.Pool(
        name, name=name, type="dir", target=libvirt.PoolTargetArgs(path=path), opts=opts
    )


def base_volume(
    name: str, pool_name: pulumi.Input[str], source: str, opts: pulumi.ResourceOptions
) -> libvirt.Volume:
    return libvirt.Volume(name, name=name, pool=pool_name, source=source, format="qcow2", opts=opts)


def disk_volume(
    name: str,
    pool_name: pulumi.Input[str],
    base_id: pulumi.Input[str],
    size_gib: int,
    opts: pulumi.ResourceOptions,
) -> libvirt.Volume:
    return libvirt.Volume(
        name,
        name=f"{name}.qcow2",
        pool=pool_name,
        base_volume_id=base_id,
        size=size_gib * 1024**3,
        format="qcow2",
        opts=opts,
    )


def bridged_network(
    resource_name: str, network_name: str, bridge: str, opts: pulumi.ResourceOptions
) -> libvirt.Network:
    """A libvirt network bound to the host bridge that carries one VLAN."""
    return libvirt.Network(
        resource_name, name=network_name, mode="bridge", bridge=bridge, autostart=True, opts=opts
    )


FIRST_BOOT_ONLY = pulumi.ResourceOptions(ignore_changes=["userData"])


def cloud_init(
    name: str,
    pool_name: pulumi.Input[str],
    user_data: pulumi.Input[str],
    network_config: str,
    opts: pulumi.ResourceOptions,
) -> libvirt.CloudInitDisk:
    # cloud-init reads this disk at first boot only; afterwards Ansible owns the accounts
    # and keys. Every field forces a replacement, so a new admin key in the spec would
    # replace every VM's disk (and its domain): the key reaches new VMs only, and the
    # running ones through role ssh.
    return libvirt.CloudInitDisk(
        name,
        name=f"{name}-cloudinit.iso",
        pool=pool_name,
        user_data=user_data,
        network_config=network_config,
        opts=pulumi.ResourceOptions.merge(opts, FIRST_BOOT_ONLY),
    )


def domain(
    name: str,
    domain_type: str,
    vcpu: int,
    memory_gib: int,
    volume_id: pulumi.Input[str],
    cloudinit_id: pulumi.Input[str],
    bridge: pulumi.Input[str],
    mac: str,
    opts: pulumi.ResourceOptions,
) -> libvirt.Domain:
    return libvirt.Domain(
        name,
        name=name,
        type=domain_type,
        vcpu=vcpu,
        memory=memory_gib * 1024,
        autostart=True,
        running=True,
        cloudinit=cloudinit_id,
        disks=[libvirt.DomainDiskArgs(volume_id=volume_id)],
        # The tenant's bridge itself, as the provider reads a NIC back (a network_id on a
        # bridged libvirt network comes back as its bridge: a diff on every preview, seen
        # with the real engine). No hostname/addresses: on a bridge libvirt ignores them
        # and a refresh reads them from DHCP leases (none). The address is cloud-init's.
        network_interfaces=[libvirt.DomainNetworkInterfaceArgs(bridge=bridge, mac=mac)],
        consoles=[libvirt.DomainConsoleArgs(type="pty", target_port="0", target_type="serial")],
        # The provider's default is a SPICE display, which Debian 13's QEMU lacks without
        # qemu-system-modules-spice ("spice graphics are not supported with this QEMU",
        # seen with the real engine). A VNC display that listens nowhere: no port on the
        # hypervisor, reachable only through libvirt's own connection (virsh domdisplay,
        # virt-viewer over qemu+ssh); the serial console is the sysadmins' first resort.
        graphics=libvirt.DomainGraphicsArgs(type="vnc", listen_type="none"),
        opts=opts,
    )
