"""The fleet's data layer without Pulumi: spec validation, placement, addressing, inventory."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from fleet.addressing import allocate
from fleet.inventory import ansible_inventory
from fleet.placement import place
from fleet.spec import FleetError, FleetSpec, load_spec
from sitemodel.inventory import flatten
from sitemodel.validate import errors_from_inventory

FLEETS = ROOT / "pulumi" / "fleets"


@pytest.fixture(scope="module")
def paris() -> FleetSpec:
    return load_spec(FLEETS / "paris.yaml")


@pytest.fixture(scope="module")
def lab() -> FleetSpec:
    return load_spec(FLEETS / "lab.yaml")


def with_group(spec: FleetSpec, name: str, **changes: object) -> FleetSpec:
    groups = tuple(dataclasses.replace(g, **changes) if g.name == name else g for g in spec.groups)
    return dataclasses.replace(spec, groups=groups)


def test_paris_is_the_data_center(paris: FleetSpec) -> None:
    assert len(paris.hypervisors) == 300
    assert {h.room for h in paris.hypervisors} == {"salle-a", "salle-b"}
    assert Counter(h.feed for h in paris.hypervisors) == {"A": 150, "B": 150}
    assert sum(g.count for g in paris.groups) == 3500
    assert {n.id for n in paris.networks if n.kind == "tenant"} == {
        "ville",
        "aphp",
        "paris_habitat",
        "eau_de_paris",
    }


def test_tenants_come_from_the_inventory_not_a_copy(paris: FleetSpec) -> None:
    data = yaml.safe_load(
        (ROOT / "inventory/production/group_vars/all/tenants.yml").read_text("utf-8")
    )
    by_id = {n.id: n for n in paris.networks}
    for tenant in data["site_tenants"]:
        assert str(by_id[tenant["id"]].ipv4) == tenant["ipv4"]
        assert by_id[tenant["id"]].vlan == tenant["vlan"]


def test_every_group_spreads_over_both_feeds_and_rooms(paris: FleetSpec) -> None:
    feeds: dict[str, set[str]] = defaultdict(set)
    rooms: dict[str, set[str]] = defaultdict(set)
    for p in place(paris):
        feeds[p.group.key].add(p.hypervisor.feed)
        rooms[p.group.key].add(p.hypervisor.room)
    for group in paris.groups:
        if group.count >= 2:
            assert feeds[group.key] == {"A", "B"}, group.key
            assert rooms[group.key] == {"salle-a", "salle-b"}, group.key


def test_capacity_is_respected_with_overcommit(paris: FleetSpec) -> None:
    used: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for p in place(paris):
        u = used[p.hypervisor.name]
        u[0] += p.group.vcpu
        u[1] += p.group.memory_gib
        u[2] += p.group.disk_gib
    for hv in paris.hypervisors:
        vcpu, memory, disk = used[hv.name]
        assert vcpu <= hv.vcpu * paris.cpu_overcommit
        assert memory <= hv.memory_gib * paris.memory_overcommit
        assert disk <= hv.pool.capacity_gib


def test_placement_is_deterministic(paris: FleetSpec) -> None:
    first = [(p.vm, p.hypervisor.name) for p in place(paris)]
    assert first == [(p.vm, p.hypervisor.name) for p in place(paris)]


def test_an_overfull_fleet_names_the_group_and_the_shortfall(paris: FleetSpec) -> None:
    overfull = with_group(paris, "aphp-pacs", count=999, disk_gib=4000)
    with pytest.raises(FleetError) as error:
        place(overfull)
    message = str(error.value)
    assert message.startswith("group 'aphp/aphp-pacs': ")
    assert "VMs do not fit" in message
    assert "short of" in message
    assert "GiB disk" in message


def test_a_single_feed_is_refused_for_redundant_groups(lab: FleetSpec) -> None:
    strict = with_group(dataclasses.replace(lab, feed_diversity=True), "ville-web", count=2)
    with pytest.raises(
        FleetError, match=r"group 'ville/ville-web': all 2 VMs would sit on power feed A"
    ):
        place(strict)


def test_addresses_are_in_the_tenant_prefix_and_unique(paris: FleetSpec) -> None:
    addresses = allocate(paris)
    assert len(set(addresses.values())) == len(addresses) == 3500
    for group in paris.groups:
        prefix = paris.network(group.network).ipv4
        for vm in group.vm_names():
            assert ipaddress.IPv4Address(addresses[vm]) in prefix


def test_adding_vms_or_groups_never_renumbers(paris: FleetSpec) -> None:
    before = allocate(paris)
    grown = with_group(paris, "ville-web", count=601)
    extra = dataclasses.replace(
        grown,
        groups=(*grown.groups, dataclasses.replace(grown.groups[-1], name="eau-iot", offset=4096)),
    )
    after = allocate(extra)
    assert {vm: after[vm] for vm in before} == before
    assert after["ville-web601"] == "10.10.3.88"


def test_colliding_address_ranges_are_refused(paris: FleetSpec) -> None:
    with pytest.raises(FleetError, match="groups 'ville/ville-web' and 'ville/ville-app' overlap"):
        allocate(with_group(paris, "ville-web", count=800))


def test_no_two_networks_overlap(paris: FleetSpec) -> None:
    nets = [n.ipv4 for n in paris.networks]
    assert all(not a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])


def test_lab_stack_declares_exactly_the_lab_inventory(lab: FleetSpec) -> None:
    inventory = ansible_inventory(lab, place(lab), allocate(lab))
    declared = yaml.safe_load((ROOT / "inventory/lab/hosts.yml").read_text("utf-8"))
    _, built = flatten(inventory)
    _, shipped = flatten(declared)
    assert {h: v["site_address"] for h, v in built.items()} == {
        h: v["site_address"] for h, v in shipped.items()
    }


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("network", "hopital", "unknown network 'hopital'"),
        ("role", "log_servers", "role 'log_servers' is a network or shared group name"),
        ("image", "windows", "unknown image 'windows'"),
        ("vcpu", 0, "'vcpu' must be a positive integer"),
    ],
)
def test_bad_groups_are_refused_with_their_name(
    tmp_path: Path, field: str, value: object, message: str
) -> None:
    raw = yaml.safe_load((FLEETS / "lab.yaml").read_text("utf-8"))
    raw["tenants_file"] = str(ROOT / "inventory/lab/group_vars/all/tenants.yml")
    raw["groups"][4][field] = value
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(raw), "utf-8")
    with pytest.raises(
        FleetError, match=r"groups\[4\] \(ville-web\): " + message.replace("(", r"\(")
    ):
        load_spec(path)


def test_paris_inventory_passes_the_site_model_of_production(paris: FleetSpec) -> None:
    """What `pulumi stack output ansible_inventory` gives is a valid production inventory."""
    inventory = ansible_inventory(paris, place(paris), allocate(paris))
    groups, hostvars = flatten(inventory)
    site = yaml.safe_load(
        (ROOT / "inventory/production/group_vars/all/tenants.yml").read_text("utf-8")
    )
    assert len(hostvars) == 3500
    errors = errors_from_inventory(
        site["site_tenants"], site["site_shared_networks"], groups, hostvars
    )
    assert errors == []


@pytest.mark.parametrize(
    "uri", ["qemu+ssh://root@{name}/system", "qemu+ssh://{name}/system?keyfile=/k"]
)
def test_a_hypervisor_reached_as_root_is_refused(tmp_path: Path, uri: str) -> None:
    raw = yaml.safe_load((ROOT / "pulumi/fleets/paris.yaml").read_text("utf-8"))
    raw["tenants_file"] = str(ROOT / "inventory/production/group_vars/all/tenants.yml")
    raw["hypervisors"][1]["uri"] = uri
    path = tmp_path / "root.yaml"
    path.write_text(yaml.safe_dump(raw), "utf-8")
    with pytest.raises(FleetError, match=r"hypervisors\[1\]: uri .* root SSH is forbidden"):
        load_spec(path)
