"""The fleet's data layer without Pulumi: spec validation, placement, addressing, inventory."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import LAB_FLEET, ROOT, TEST_ADMIN_KEY, lab_fleet_copy
from fleet.addressing import allocate, mac_address
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
def lab(tmp_path_factory: pytest.TempPathFactory) -> FleetSpec:
    return load_spec(lab_fleet_copy(tmp_path_factory.mktemp("lab")), "lab")


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
    strict = with_group(dataclasses.replace(lab, feed_diversity=True), "ville-vm", count=2)
    with pytest.raises(
        FleetError, match=r"group 'ville/ville-vm': all 2 VMs would sit on power feed A"
    ):
        place(strict)


def test_addresses_are_in_the_tenant_prefix_and_unique(paris: FleetSpec) -> None:
    addresses = allocate(paris)
    assert len(set(addresses.values())) == len(addresses) == 3500
    for group in paris.groups:
        prefix = paris.network(group.network).ipv4
        for vm in group.vm_names():
            assert ipaddress.IPv4Address(addresses[vm]) in prefix


def test_a_vms_mac_is_its_address_and_a_valid_local_unicast_mac() -> None:
    assert mac_address("10.210.20.50") == "52:54:0a:d2:14:32"
    first = int(mac_address("192.168.0.1").split(":")[0], 16)
    assert first & 0b10  # locally administered
    assert not first & 0b01  # unicast


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


def test_a_group_over_the_networks_gateway_is_refused(paris: FleetSpec) -> None:
    ville = paris.network("ville")
    moved = dataclasses.replace(ville, gateway=ville.ipv4.network_address + 300)
    spec = dataclasses.replace(
        paris, networks=tuple(moved if n.id == "ville" else n for n in paris.networks)
    )
    offsets = {g.name: (g.offset, g.count) for g in spec.groups if g.network == "ville"}
    assert any(o <= 300 < o + c for o, c in offsets.values()), offsets
    with pytest.raises(FleetError, match=f"take the gateway {moved.gateway} of network 'ville'"):
        allocate(spec)


def test_no_two_networks_overlap(paris: FleetSpec) -> None:
    nets = [n.ipv4 for n in paris.networks]
    assert all(not a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])


def test_lab_stack_runs_beside_the_lab_inventory_on_its_hypervisor(lab: FleetSpec) -> None:
    """The lab's VMs join the lab: on hv01 (a host of its hypervisors group, reached at
    its address as the fleet account), in two tenants' prefixes, at addresses no lab host,
    router or resolver takes."""
    declared = yaml.safe_load((ROOT / "inventory/lab/hosts.yml").read_text("utf-8"))
    groups, shipped = flatten(declared)
    (hv,) = lab.hypervisors
    assert hv.name in groups["hypervisors"]
    assert hv.uri.startswith(f"qemu+ssh://fleet@{shipped[hv.name]['site_address']}/system?")
    addresses = allocate(lab)
    assert {lab.network(g.network).id for g in lab.groups} >= {"ville", "aphp"}
    taken = {v["site_address"] for v in shipped.values()}
    for net in lab.networks:
        taken |= {str(net.gateway), *(str(r) for r in net.resolvers)}
    for vm, address in addresses.items():
        assert vm not in shipped, vm
        assert address not in taken, (vm, address)
    inventory = ansible_inventory(lab, place(lab), addresses)
    _, built = flatten(inventory)
    assert set(built) == {"ville-vm01", "aphp-vm01"}
    assert {v["fleet_hypervisor"] for v in built.values()} == {"hv01"}
    # The lab's group_vars give them their software-emulation timeouts through this group.
    assert set(inventory["all"]["children"]["fleet_vms"]["hosts"]) == set(built)


def test_fleet_file_paths_are_relative_to_it(tmp_path: Path) -> None:
    spec = load_spec(lab_fleet_copy(tmp_path), "lab")
    assert spec.images["debian12"] == str(ROOT / ".cache/images/debian-bookworm-vm.qcow2")
    assert spec.admin_ssh_keys == (TEST_ADMIN_KEY,)
    uri = spec.hypervisors[0].uri
    assert f"keyfile={ROOT}/.cache/lab/fleet&" in uri, uri
    assert f"knownhosts={ROOT}/.cache/lab/known_hosts" in uri, uri
    raw = yaml.safe_load(LAB_FLEET.read_text("utf-8"))
    assert not any(str(v).startswith("/") for v in raw["images"].values())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "admin_ssh_key_files: cannot read"),
        ("not a key\n", "admin key 'not a key' is not an OpenSSH public key"),
    ],
)
def test_a_missing_or_broken_admin_key_file_is_named(
    tmp_path: Path, content: str | None, message: str
) -> None:
    key = tmp_path / "keys" / "admin.pub"
    if content is not None:
        key.parent.mkdir()
        key.write_text(content, encoding="utf-8")
    path = lab_fleet_copy(tmp_path)
    raw = yaml.safe_load(path.read_text("utf-8"))
    raw["admin_ssh_key_files"] = [str(key)]
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(FleetError, match=re.escape(message)):
        load_spec(path)


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
    path = lab_fleet_copy(tmp_path)
    raw = yaml.safe_load(path.read_text("utf-8"))
    raw["groups"][0][field] = value
    path.write_text(yaml.safe_dump(raw), "utf-8")
    with pytest.raises(
        FleetError, match=r"groups\[0\] \(ville-vm\): " + message.replace("(", r"\(")
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
    assert len(groups["fleet_vms"]) == 3500
    errors = errors_from_inventory(
        site["site_tenants"], site["site_shared_networks"], groups, hostvars
    )
    assert errors == []


def paris_copy(tmp_path: Path, inventory_change: Any = None, **changes: Any) -> Path:
    """pulumi/fleets/paris.yaml in ``tmp_path``, on a copy of the production inventory
    (hosts.yml, group_vars/hypervisors.yml) that ``inventory_change`` may edit."""
    inventory = tmp_path / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    hosts = yaml.safe_load((ROOT / "inventory/production/hosts.yml").read_text("utf-8"))
    shared = yaml.safe_load(
        (ROOT / "inventory/production/group_vars/hypervisors.yml").read_text("utf-8")
    )
    if inventory_change:
        inventory_change(hosts["all"]["children"]["mgmt"]["children"]["hypervisors"], shared)
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts), "utf-8")
    (inventory / "group_vars/hypervisors.yml").write_text(yaml.safe_dump(shared), "utf-8")
    raw = yaml.safe_load((ROOT / "pulumi/fleets/paris.yaml").read_text("utf-8"))
    raw["tenants_file"] = str(ROOT / "inventory/production/group_vars/all/tenants.yml")
    raw["inventory"] = str(inventory)
    raw.update(changes)
    path = tmp_path / "paris.yaml"
    path.write_text(yaml.safe_dump(raw), "utf-8")
    return path


def test_the_hypervisors_are_the_inventorys(paris: FleetSpec) -> None:
    """One list of machines: Pulumi places VMs on the production inventory's group
    hypervisors, with its rooms, feeds, capacity and role hypervisor's pool and account."""
    groups, hostvars = flatten(
        yaml.safe_load((ROOT / "inventory/production/hosts.yml").read_text("utf-8"))
    )
    assert [hv.name for hv in paris.hypervisors] == groups["hypervisors"]
    for hv in paris.hypervisors:
        assert (hv.room, hv.feed) == (
            hostvars[hv.name]["site_room"],
            hostvars[hv.name]["site_feed"],
        )
        assert hv.uri.startswith(f"qemu+ssh://fleet@{hv.name}/system?")
        assert (hv.pool.name, hv.pool.path) == ("vmstore", "/srv/libvirt/vmstore")
    assert "hypervisors" not in yaml.safe_load(
        (ROOT / "pulumi/fleets/paris.yaml").read_text("utf-8")
    )


def test_a_hypervisor_of_another_model_says_its_capacity(tmp_path: Path) -> None:
    def bigger(group: dict[str, Any], _: dict[str, Any]) -> None:
        group["hosts"]["hv-b150"]["site_vcpus"] = 128

    spec = load_spec(paris_copy(tmp_path, bigger), "paris")
    vcpus = {hv.name: hv.vcpu for hv in spec.hypervisors}
    assert (vcpus["hv-b150"], vcpus["hv-b149"]) == (128, 64)


def _set(host: str, name: str, value: Any) -> Any:
    def change(group: dict[str, Any], shared: dict[str, Any]) -> None:
        if host:
            group["hosts"][host][name] = value
        else:
            shared[name] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("hv-a007", "site_feed", "C"), r"hypervisor hv-a007: site_feed must be one of A, B"),
        (_set("hv-a007", "site_room", None), r"hypervisor hv-a007: site_room is required"),
        (_set("hv-b002", "site_vcpus", "64"), r"hypervisor hv-b002: site_vcpus must be a positive"),
        (
            _set("", "site_storage_gib", 0),
            r"hypervisor hv-a001: site_storage_gib must be a positive",
        ),
        (_set("", "hypervisor_pools", []), r"hypervisor hv-a001: hypervisor_pools must list"),
        (
            _set("hv-a003", "site_memory_gib", "{{ lookup('pipe', 'id') }}"),
            r"hypervisor hv-a003: site_memory_gib is a Jinja expression",
        ),
        (
            _set("", "hypervisor_fleet_user", "root"),
            r"hypervisor hv-a001: uri .* root SSH is forbidden",
        ),
    ],
)
def test_a_wrong_hypervisor_in_the_inventory_is_named(
    tmp_path: Path, change: Any, message: str
) -> None:
    with pytest.raises(FleetError, match=message):
        load_spec(paris_copy(tmp_path, change), "paris")


def test_the_fleet_file_cannot_declare_hypervisors_of_its_own(tmp_path: Path) -> None:
    path = paris_copy(tmp_path, hypervisors=[{"name": "hv-x001"}])
    with pytest.raises(FleetError, match=r"'hypervisors' is not a fleet file's"):
        load_spec(path, "paris")


def test_an_inventory_without_hypervisors_is_refused(tmp_path: Path) -> None:
    def none(group: dict[str, Any], _: dict[str, Any]) -> None:
        group["hosts"] = {}

    with pytest.raises(FleetError, match=r"has no host in group 'hypervisors'"):
        load_spec(paris_copy(tmp_path, none), "paris")


@pytest.mark.parametrize(
    "uri", ["qemu+ssh://root@{name}/system", "qemu+ssh://{name}/system?keyfile=/k"]
)
def test_a_hypervisor_reached_as_root_is_refused(tmp_path: Path, uri: str) -> None:
    path = paris_copy(tmp_path, hypervisor_uri=uri)
    with pytest.raises(FleetError, match=r"hypervisor hv-a001: uri .* root SSH is forbidden"):
        load_spec(path)
