"""The site model's validation: each broken inventory gets an error naming the culprit."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from sitemodel import parse_model, site_errors

SHARED: list[dict[str, Any]] = [
    {"id": "admin", "vlan": 10, "ipv4": "10.0.10.0/24", "groups": ["bastions"]},
    {"id": "infra", "vlan": 20, "ipv4": "10.0.20.0/24", "groups": ["log_servers"]},
]
TENANTS: list[dict[str, Any]] = [
    {
        "id": "ville",
        "vlan": 110,
        "ipv4": "10.10.0.0/16",
        "ipv6": "fd00:110::/48",
        "admin_group": "adm_ville",
        "backup_quota": "20G",
        "services": [{"name": "https", "port": 443, "proto": "tcp", "from": ["ville"]}],
    },
    {
        "id": "aphp",
        "vlan": 120,
        "ipv4": "10.20.0.0/16",
        "admin_group": "adm_aphp",
        "backup_quota": "20G",
    },
]
HOSTS: dict[str, tuple[str | None, list[str]]] = {
    "bastion01": ("10.0.10.11", ["all", "bastions"]),
    "logs01": ("10.0.20.11", ["all", "infra", "log_servers"]),
    "ville-web01": ("10.10.0.11", ["all", "tenants", "ville"]),
    "aphp-dpi01": ("10.20.0.11", ["all", "tenants", "aphp"]),
}


def errors(tenants: Any = None, shared: Any = None, hosts: Any = None) -> list[str]:
    return site_errors(
        parse_model(
            TENANTS if tenants is None else tenants,
            SHARED if shared is None else shared,
            HOSTS if hosts is None else hosts,
        )
    )


def tenants_with(index: int, **changes: Any) -> list[dict[str, Any]]:
    tenants = copy.deepcopy(TENANTS)
    tenants[index].update(changes)
    return tenants


def test_a_consistent_model_has_no_error() -> None:
    assert errors() == []
    model = parse_model(TENANTS, SHARED, HOSTS)
    assert [t.id for t in model.tenants] == ["ville", "aphp"]
    assert model.tenants[0].services[0].sources == ("ville",)


@pytest.mark.parametrize(
    ("tenants", "expected"),
    [
        (
            tenants_with(1, ipv4="10.10.128.0/17"),
            "overlapping prefixes: 'ville' 10.10.0.0/16 and 'aphp' 10.10.128.0/17",
        ),
        (tenants_with(1, ipv6="fd00:110:0:1::/64"), "overlapping prefixes: 'ville' fd00:110::/48"),
        (tenants_with(1, vlan=110), "duplicate VLAN id 110: 'ville' and 'aphp'"),
        (tenants_with(1, id="ville"), "duplicate network id 'ville'"),
        (tenants_with(1, vlan=5000), "tenant 'aphp': vlan 5000 is outside 1-4094"),
        (tenants_with(1, ipv4="10.20.0.1/16"), "tenant 'aphp' ipv4: '10.20.0.1/16' is not a valid"),
        (tenants_with(1, ipv4="fd00::/64"), "tenant 'aphp' ipv4: fd00::/64 is not an IPv4 prefix"),
        (tenants_with(1, admin_group=""), "tenant 'aphp': admin_group is required"),
        (tenants_with(1, id="AP-HP"), "tenant 'AP-HP': id must match"),
        (
            tenants_with(0, services=[{"name": "https", "port": 443, "from": ["hopital"]}]),
            "tenant 'ville' service 'https' allows unknown network 'hopital'",
        ),
        (
            tenants_with(0, services=[{"name": "dns", "port": 53, "proto": "icmp", "from": []}]),
            "tenant 'ville' service 'dns': proto 'icmp' is not one of tcp, udp",
        ),
        (
            tenants_with(0, services=[{"name": "x", "port": 70000, "from": []}]),
            "tenant 'ville' service 'x': port 70000 is outside 1-65535",
        ),
        ({"ville": {}}, "site_tenants: expected a list, got dict"),
        (
            tenants_with(1, log_retention_days=0),
            "tenant 'aphp': log_retention_days must be at least 1 (days), got 0",
        ),
        (tenants_with(1, log_retention_days="1y"), "tenant 'aphp' log_retention_days"),
    ],
    ids=[
        "overlap-v4",
        "overlap-v6",
        "dup-vlan",
        "dup-id",
        "bad-vlan",
        "host-bits",
        "v6-as-v4",
        "no-admin-group",
        "bad-id",
        "unknown-flow-target",
        "bad-proto",
        "bad-port",
        "not-a-list",
        "no-retention",
        "retention-not-days",
    ],
)
def test_broken_networks_are_named(tenants: Any, expected: str) -> None:
    found = errors(tenants=tenants)
    assert any(expected in e for e in found), found


@pytest.mark.parametrize(
    ("host", "value", "expected"),
    [
        (
            "aphp-dpi01",
            ("10.10.0.11", ["tenants", "aphp"]),
            "duplicate address 10.10.0.11: hosts aphp-dpi01, ville-web01",
        ),
        (
            "aphp-dpi01",
            ("10.10.0.12", ["tenants", "aphp"]),
            "host 'aphp-dpi01': address 10.10.0.12 is outside tenant 'aphp' prefix 10.20.0.0/16",
        ),
        ("aphp-dpi01", ("10.20.0.0", ["tenants", "aphp"]), "is outside tenant 'aphp'"),
        (
            "aphp-dpi01",
            ("10.20.0.11", ["tenants", "aphp", "ville"]),
            "host 'aphp-dpi01' is in several networks: 'ville', 'aphp'",
        ),
        (
            "aphp-dpi01",
            ("10.20.0.11", ["tenants", "hopital"]),
            "host 'aphp-dpi01' belongs to no tenant and no shared network; unknown tenant group "
            "among ['hopital']",
        ),
        ("aphp-dpi01", ("10.20.0.11", ["ungrouped"]), "host 'aphp-dpi01' belongs to no tenant"),
        ("aphp-dpi01", (None, ["tenants", "aphp"]), "host 'aphp-dpi01' has no site_address"),
        ("aphp-dpi01", ("10.20.0.x", ["tenants", "aphp"]), "site_address '10.20.0.x' is not IPv4"),
        ("logs02", ("10.0.10.50", ["infra", "log_servers"]), "outside shared 'infra'"),
        (
            "aphp-dpi01",
            ("10.20.0.1", ["tenants", "aphp"]),
            "host 'aphp-dpi01': address 10.20.0.1 is the gateway of tenant 'aphp'",
        ),
    ],
    ids=[
        "dup-address",
        "outside-prefix",
        "network-address",
        "two-tenants",
        "unknown-tenant",
        "no-tenant",
        "no-address",
        "bad-address",
        "shared-outside",
        "the-gateway",
    ],
)
def test_broken_hosts_are_named(host: str, value: Any, expected: str) -> None:
    hosts = {**HOSTS, host: value}
    found = errors(hosts=hosts)
    assert any(expected in e for e in found), found


def test_all_errors_are_reported_at_once() -> None:
    tenants = tenants_with(1, vlan=110, ipv4="10.10.0.0/24")
    hosts = {**HOSTS, "x": (None, ["tenants", "nowhere"])}
    found = errors(tenants=tenants, hosts=hosts)
    assert len(found) >= 3, found


def test_alert_receivers_refuse_another_tenants_network_by_themselves() -> None:
    """Role monitoring_server's filter checks receivers itself, not only the preflight."""
    from sitemodel import services

    tenants = [
        {"id": "alpha", "vlan": 110, "ipv4": "10.231.10.0/24", "admin_group": "adm_alpha",
         "backup_quota": "1G", "alert_receivers": [{"webhook": "http://10.231.20.5:80/x"}]},
        {"id": "bravo", "vlan": 120, "ipv4": "10.231.20.0/24", "admin_group": "adm_bravo",
         "backup_quota": "1G"},
    ]  # fmt: skip
    with pytest.raises(ValueError, match="neither on the tenant's own network"):
        services.alert_receivers(tenants, [], [])
    tenants[0]["alert_receivers"] = [{"webhook": "http://10.231.10.5:80/x"}]
    names = [r["name"] for r in services.alert_receivers(tenants, [], [])]
    assert names == ["operations", "tenant-alpha"]


HV_TENANTS = [
    {"id": "alpha", "vlan": 110, "ipv4": "10.231.10.0/24", "admin_group": "adm_alpha",
     "backup_quota": "1G"},
]  # fmt: skip
HV_SHARED = [{"id": "mgmt", "vlan": 30, "ipv4": "10.231.30.0/24", "groups": ["hypervisors"]}]


def test_hypervisor_bridges_one_per_network_named_as_pulumi_names_them() -> None:
    from sitemodel import services

    bridges = services.hypervisor_bridges(HV_TENANTS, HV_SHARED, "bond0", {"mgmt": "eno1"})
    assert bridges == [
        {"network": "alpha", "vlan": 110, "bridge": "br110", "port": "", "uplink": "bond0"},
        {"network": "mgmt", "vlan": 30, "bridge": "br30", "port": "eno1", "uplink": "bond0"},
    ]
    assert {b["bridge"] for b in bridges} == {services.bridge_name(110), services.bridge_name(30)}


def test_a_hypervisors_own_network_is_not_taken_from_the_trunk() -> None:
    from sitemodel import services

    bridges = services.hypervisor_bridges(HV_TENANTS, HV_SHARED, "trunk", {}, None, "mgmt")
    assert [(b["bridge"], b["port"], b["uplink"]) for b in bridges] == [
        ("br110", "", "trunk"),
        ("br30", "", ""),
    ]


@pytest.mark.parametrize(
    ("uplink", "ports", "expected"),
    [
        ("bond0", {"hopital": "eno1"}, "unknown network(s) hopital"),
        ("bond0; reboot", {}, "is not an interface name"),
        ("", {"alpha": "$(id)"}, "is not an interface name"),
        ("enp65s0f0np0", {}, "longer than 15 characters"),
    ],
)
def test_hypervisor_bridges_refuse_bad_interfaces(
    uplink: str, ports: dict[str, str], expected: str
) -> None:
    from sitemodel import services

    with pytest.raises(ValueError, match=re.escape(expected)):
        services.hypervisor_bridges(HV_TENANTS, HV_SHARED, uplink, ports)


def test_gateway_and_resolvers_default_to_the_first_host() -> None:
    model = parse_model(TENANTS, SHARED, HOSTS)
    ville = model.by_id()["ville"]
    assert str(ville.gateway) == "10.10.0.1"
    assert [str(r) for r in ville.resolvers] == ["10.10.0.1"]


def test_gateway_and_resolvers_as_the_site_gives_them() -> None:
    tenants = tenants_with(1, gateway="10.20.255.254", resolvers=["10.0.20.53", "10.0.20.54"])
    model = parse_model(tenants, SHARED, HOSTS)
    aphp = model.by_id()["aphp"]
    assert str(aphp.gateway) == "10.20.255.254"
    assert [str(r) for r in aphp.resolvers] == ["10.0.20.53", "10.0.20.54"]
    assert site_errors(model) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"gateway": "10.10.0.1"},
            "tenant 'aphp': gateway 10.10.0.1 is not a host address of its prefix 10.20.0.0/16",
        ),
        ({"gateway": "10.20.255.255"}, "gateway 10.20.255.255 is not a host address"),
        ({"gateway": "10.20.0.0"}, "gateway 10.20.0.0 is not a host address"),
        (
            {"gateway": "router; reboot"},
            "tenant 'aphp': gateway 'router; reboot' is not an IPv4 address",
        ),
        ({"resolvers": "10.0.20.53"}, "tenant 'aphp' resolvers must be a list"),
        (
            {"resolvers": ["dns.example.com"]},
            "tenant 'aphp': resolver 'dns.example.com' is not an IPv4",
        ),
    ],
    ids=["other-prefix", "broadcast", "network", "not-an-address", "not-a-list", "a-name"],
)
def test_broken_gateways_and_resolvers_are_named(changes: dict[str, Any], expected: str) -> None:
    found = errors(tenants=tenants_with(1, **changes))
    assert any(expected in e for e in found), found
