"""The Pulumi program under Pulumi's own mocks (no CLI, no libvirt host).

Every test returns an Output built from the resources it checks, decorated with
``pulumi.runtime.test``, so its assertions run once the values resolve; the first test
proves that a failing assertion inside an Output does fail the test.
"""

from __future__ import annotations

import gc
import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import rpc

from conftest import ROOT, lab_fleet_copy
from fleet.program import Fleet, build
from fleet.runtime import GEN0_THRESHOLD, tune_gc
from fleet.spec import FleetError, load_spec

SECRET_HASH = "$6$rounds=65536$cite$ZmFrZWhhc2hmb3J0ZXN0c29ubHkuZG9ub3R1c2U"


class RecordingMocks(pulumi.runtime.Mocks):
    """Records every resource the program registers, with its inputs."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]


@pytest.fixture
def mocks() -> RecordingMocks:
    recorder = RecordingMocks()
    pulumi.runtime.set_mocks(recorder, project="cite-souveraine-fleet", stack="test", preview=False)
    return recorder


def settled(fleet: Fleet) -> pulumi.Output[list[Any]]:
    """Resolves once every domain (the last resource of each VM) is registered."""
    return pulumi.Output.all(*[vm.domain.id for vm in fleet.vms])


def test_an_assertion_inside_an_output_fails_the_test(
    mocks: RecordingMocks, tmp_path: Path
) -> None:
    @pulumi.runtime.test
    def wrong_expectation() -> pulumi.Output[None]:
        fleet = build(load_spec(lab_fleet_copy(tmp_path)))

        def check(name: str) -> None:
            assert name == "not-the-bastion", "assertion inside apply ran"

        return fleet.vms[0].domain.name.apply(check)

    with pytest.raises(AssertionError, match="assertion inside apply ran"):
        wrong_expectation()


@pulumi.runtime.test
def test_lab_stack_resources(mocks: RecordingMocks, tmp_path: Path) -> pulumi.Output[None]:
    spec = load_spec(lab_fleet_copy(tmp_path), "lab")
    fleet = build(spec)
    vms = sum(g.count for g in spec.groups)
    nets = {n.id: n for n in spec.networks}

    def check(_: list[Any]) -> None:
        assert vms == 2
        counts = Counter(r.typ for r in mocks.resources)
        assert counts["pulumi:providers:libvirt"] == 1
        assert counts["libvirt:index/pool:Pool"] == 1
        assert counts["libvirt:index/network:Network"] == 7  # 4 tenants, admin, infra, mgmt
        assert counts["libvirt:index/domain:Domain"] == vms
        assert counts["libvirt:index/cloudInitDisk:CloudInitDisk"] == vms
        assert counts["libvirt:index/volume:Volume"] == vms + 1  # VM disks + the image
        assert counts["cite:fleet:VirtualMachine"] == vms
        domains = mocks.of_type("libvirt:index/domain:Domain")
        assert {d.inputs["type"] for d in domains} == {"qemu"}
        # No display listening on the hypervisor: VNC reachable through libvirt only.
        assert {json.dumps(d.inputs["graphics"], sort_keys=True) for d in domains} == {
            json.dumps({"listenType": "none", "type": "vnc"})
        }
        # Each VM routes through its network's router and asks its resolvers: the lab's
        # (lab-router's leg, podman's resolver), as the site model gives them.
        placed = {p.vm: p for p in fleet.placements}
        for disk in mocks.of_type("libvirt:index/cloudInitDisk:CloudInitDisk"):
            net = nets[placed[disk.name].group.network]
            primary = json.loads(disk.inputs["networkConfig"])["ethernets"]["primary"]
            assert primary["routes"] == [{"to": "0.0.0.0/0", "via": str(net.gateway)}]
            assert str(net.gateway).endswith(".254")
            assert primary["nameservers"] == {"addresses": [str(r) for r in net.resolvers]}
            # cloud-init finds the NIC by the MAC the domain gives it, and names it.
            domain = next(d for d in domains if d.name == disk.name)
            assert domain.inputs["networkInterfaces"][0]["mac"] == primary["match"]["macaddress"]
            assert primary["set-name"] == "primary"

    return settled(fleet).apply(check)


@pulumi.runtime.test
def test_each_hypervisors_libvirt_operations_run_one_after_the_other(
    mocks: RecordingMocks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> pulumi.Output[None]:
    """What the engine is told (each registration's dependencies): per hypervisor, its pool,
    its base image, then each VM's disk, cloud-init disk and domain, each after the one
    before (the provider's connection hangs when uploads overlap: components.after). Where
    the order is added (disk then cloud-init disk, a domain then the next VM's disk) it is
    in no property's dependencies: an ordering, which can replace nothing."""
    registered: dict[str, tuple[set[str], set[str]]] = {}
    original = pulumi.runtime.mocks.MockMonitor.RegisterResource

    def recording(monitor: Any, request: Any) -> Any:
        response = original(monitor, request)
        by_property = {u for deps in request.propertyDependencies.values() for u in deps.urns}
        registered[response.urn] = (set(request.dependencies), by_property)
        return response

    monkeypatch.setattr(pulumi.runtime.mocks.MockMonitor, "RegisterResource", recording)
    spec_file = lab_fleet_copy(tmp_path)
    raw = yaml.safe_load(spec_file.read_text("utf-8"))
    raw["groups"][1]["count"] = 2  # three VMs on hv01
    spec_file.write_text(yaml.safe_dump(raw), encoding="utf-8")
    fleet = build(load_spec(spec_file, "lab"))

    def urn(suffix: str) -> str:
        (found,) = [u for u in registered if u.endswith(suffix)]
        return found

    def check(_: list[Any]) -> None:
        assert len(fleet.placements) == 3
        chain = [urn("$libvirt:index/pool:Pool::hv01-cs-lab")]
        chain.append(urn("$libvirt:index/volume:Volume::hv01-base-debian12"))
        added = []  # the orderings no property gives
        for placement in fleet.placements:
            disk = urn(f"$libvirt:index/volume:Volume::{placement.vm}-disk")
            init = urn(f"$libvirt:index/cloudInitDisk:CloudInitDisk::{placement.vm}")
            added += [(chain[-1], disk), (disk, init)] if len(chain) > 2 else [(disk, init)]
            chain += [disk, init, urn(f"$libvirt:index/domain:Domain::{placement.vm}")]
        for before, this in itertools.pairwise(chain):
            assert before in registered[this][0], f"{this} does not wait for {before}"
        for before, this in added:
            assert before not in registered[this][1], f"{this} has a property of {before}"

    return settled(fleet).apply(check)


@pulumi.runtime.test
def test_paris_stack_resources_and_isolation(mocks: RecordingMocks) -> pulumi.Output[None]:
    spec = load_spec(ROOT / "pulumi/fleets/paris.yaml")
    fleet = build(spec, pulumi.Output.secret(SECRET_HASH))

    def check(_: list[Any]) -> None:
        counts = Counter(r.typ for r in mocks.resources)
        assert counts["pulumi:providers:libvirt"] == 300
        assert counts["libvirt:index/pool:Pool"] == 300
        assert counts["libvirt:index/network:Network"] == 300 * 7  # 4 tenants, admin, infra, mgmt
        assert counts["libvirt:index/domain:Domain"] == 3500
        assert counts["libvirt:index/volume:Volume"] == 3500 + 300 * 2
        # Every VM's only NIC is its own tenant's bridge, on its own hypervisor (the
        # provider of that hypervisor, where the tenant's libvirt network has that bridge).
        vlan = {n.id: n.vlan for n in spec.networks}
        placed = {p.vm: p for p in fleet.placements}
        for domain in mocks.of_type("libvirt:index/domain:Domain"):
            nics = domain.inputs["networkInterfaces"]
            assert len(nics) == 1, domain.name
            assert nics[0]["bridge"] == f"br{vlan[placed[domain.name].group.network]}"
            assert "networkId" not in nics[0], domain.name
            hv = placed[domain.name].hypervisor.name
            assert domain.provider.endswith(f"::hv-{hv}-id"), (domain.name, domain.provider)
            # The address is cloud-init's, never the NIC's (a perpetual diff on bridges).
            assert "addresses" not in nics[0], domain.name
            assert "hostname" not in nics[0], domain.name
        # MACs (from the addresses) are unique across the site.
        macs = [d.inputs["networkInterfaces"][0]["mac"] for d in mocks.of_type(
            "libvirt:index/domain:Domain")]  # fmt: skip
        assert len(set(macs)) == len(macs) == 3500
        for disk in mocks.of_type("libvirt:index/cloudInitDisk:CloudInitDisk"):
            vm = disk.name
            config = json.loads(disk.inputs["networkConfig"])
            prefix = spec.network(placed[vm].group.network).ipv4.prefixlen
            assert config["ethernets"]["primary"]["addresses"] == [
                f"{fleet.addresses[vm]}/{prefix}"
            ], vm
        # Each hypervisor's network is bridged to its tenant's VLAN.
        for net in mocks.of_type("libvirt:index/network:Network"):
            assert net.inputs["bridge"] == f"br{vlan[net.name.rsplit('-net-', 1)[1]]}"
        # Stack outputs carry no secret in plain text.
        exported = json.dumps([fleet.inventory, fleet.summary()])
        assert SECRET_HASH not in exported
        assert fleet.summary()["vms"] == 3500
        # The exported inventory: tenant, shared and function groups, feeds per host.
        children = fleet.inventory["all"]["children"]
        tenants = children["tenants"]["children"]
        assert set(tenants) == {"ville", "aphp", "paris_habitat", "eau_de_paris"}
        assert len(tenants["ville"]["hosts"]) == 1200
        assert set(children["infra"]["children"]) == {
            "log_servers",
            "backup_servers",
            "time_servers",
        }
        assert len(children["web"]["hosts"]) == 900
        assert {h["fleet_feed"] for h in tenants["aphp"]["hosts"].values()} == {"A", "B"}

    return settled(fleet).apply(check)


@pulumi.runtime.test
def test_cloud_init_user_data_is_secret(
    mocks: RecordingMocks, tmp_path: Path
) -> pulumi.Output[None]:
    fleet = build(load_spec(lab_fleet_copy(tmp_path)), pulumi.Output.secret(SECRET_HASH))
    flags = pulumi.Output.all(
        *[pulumi.Output.from_input(vm.user_data.is_secret()) for vm in fleet.vms]
    )

    def check(values: list[Any]) -> None:
        assert values
        assert all(values)
        disks = mocks.of_type("libvirt:index/cloudInitDisk:CloudInitDisk")
        assert len(disks) == len(fleet.vms) == 2
        for disk in disks:
            # What the engine receives: a secret envelope, encrypted in the state file.
            envelope = disk.inputs["userData"]
            assert envelope[rpc._special_sig_key] == rpc._special_secret_sig
            assert envelope["value"].startswith("#cloud-config")
            assert SECRET_HASH in envelope["value"]

    return pulumi.Output.all(flags, settled(fleet)).apply(lambda v: check(v[0]))


def test_an_overfull_fleet_fails_before_any_resource(mocks: RecordingMocks, tmp_path: Any) -> None:
    import yaml

    path = lab_fleet_copy(tmp_path)
    raw = yaml.safe_load(path.read_text("utf-8"))
    ville_vm = next(g for g in raw["groups"] if g["name"] == "ville-vm")
    ville_vm["count"] = 40
    ville_vm["memory_gib"] = 2
    path.write_text(yaml.safe_dump(raw), "utf-8")
    with pytest.raises(FleetError, match=r"group 'ville/ville-vm': \d+ of 40 VMs do not fit"):
        build(load_spec(path))
    assert mocks.resources == []


@pulumi.runtime.test
def test_the_program_entry_point_reads_its_stack_config(
    mocks: RecordingMocks, tmp_path: Any
) -> pulumi.Output[None]:
    """pulumi/__main__.py as `pulumi up` runs it: fleet:spec from the stack config."""
    import runpy

    import yaml

    path = lab_fleet_copy(tmp_path)
    raw = yaml.safe_load(path.read_text("utf-8"))
    next(g for g in raw["groups"] if g["name"] == "aphp-vm")["count"] = 2
    lab_vms = sum(g["count"] for g in raw["groups"])
    path.write_text(yaml.safe_dump(raw), "utf-8")
    pulumi.runtime.set_config("fleet:spec", str(path))
    thresholds = gc.get_threshold()
    try:
        fleet = runpy.run_path(str(ROOT / "pulumi" / "__main__.py"))["fleet"]
        # The program tunes the collector itself, so that a real `pulumi up` gains too.
        assert gc.get_threshold()[0] == GEN0_THRESHOLD
        assert gc.get_freeze_count() > 0
    finally:
        pulumi.runtime.set_config("fleet:spec", "")
        gc.unfreeze()
        gc.set_threshold(*thresholds)

    def check(_: list[Any]) -> None:
        assert fleet.summary()["vms"] == lab_vms == 3
        assert (
            "aphp-vm02"
            in fleet.inventory["all"]["children"]["tenants"]["children"]["aphp"]["hosts"]
        )

    return settled(fleet).apply(check)


def test_tune_gc_freezes_the_heap_and_collects_the_young_generation_less_often() -> None:
    before = gc.get_threshold()
    try:
        assert tune_gc(12_345) == before
        assert gc.get_threshold() == (12_345, before[1], before[2])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
