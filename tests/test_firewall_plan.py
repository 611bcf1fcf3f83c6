"""sitemodel/firewall.py: what each host's firewall lets in, from the lab's site model."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from conftest import ROOT
from sitemodel.firewall import firewall_plan

MODEL = yaml.safe_load((ROOT / "inventory/lab/group_vars/all/tenants.yml").read_text("utf-8"))


def plan(network: str, model: dict[str, Any] = MODEL, **options: Any) -> dict[str, Any]:
    return firewall_plan(model["site_tenants"], model["site_shared_networks"], network, **options)


def test_a_tenant_host_denies_every_other_tenant_and_only_them() -> None:
    found = plan("ville")
    assert [d["tenant"] for d in found["deny"]] == ["aphp", "paris_habitat", "eau_de_paris"]
    assert found["deny"][0]["sources4"] == ["10.210.20.0/24"]


def test_a_tenant_service_is_open_to_the_networks_its_entry_names() -> None:
    https = next(r for r in plan("ville")["accept"] if r["comment"] == "ville: https")
    assert (https["proto"], https["port"], https["sources4"]) == ("tcp", 443, ["10.210.10.0/24"])
    statsd = next(r for r in plan("ville")["accept"] if r["comment"] == "ville: statsd")
    assert statsd["proto"] == "udp"


def test_shared_hosts_deny_all_tenants_except_declared_openings() -> None:
    declared = {"time": [{"name": "ntp", "port": 123, "proto": "udp", "from": ["all"]}]}
    found = plan("infra", declared=declared)
    assert found["tenant"] == ""
    assert len(found["deny"]) == 4
    ntp = found["accept"][0]
    assert ntp["comment"] == "time: ntp"
    assert "10.210.40.0/24" in ntp["sources4"]
    assert len(ntp["sources4"]) == 7  # admin, infra, mgmt and the four tenants


def test_ssh_and_icmp_sources_resolve_ids_and_addresses() -> None:
    found = plan("aphp", ssh_sources=["10.210.0.10", "admin"], icmp_sources=["admin"])
    assert found["ssh"]["sources4"] == ["10.210.0.10/32", "10.210.0.0/24"]
    assert found["icmp"]["sources4"] == ["10.210.20.0/24", "10.210.0.0/24"]


def test_ipv6_prefixes_are_used_when_the_model_has_them() -> None:
    model = copy.deepcopy(MODEL)
    model["site_tenants"][1]["ipv6"] = "fd42:c17e:0:120::/64"
    deny = plan("ville", model)["deny"][0]
    assert deny["sources6"] == ["fd42:c17e:0:120::/64"]


def test_a_fifth_tenant_is_denied_everywhere_by_data_alone() -> None:
    model = copy.deepcopy(MODEL)
    model["site_tenants"].append(
        {
            "id": "bibliotheques",
            "name": "Bibliothèques",
            "vlan": 150,
            "ipv4": "10.210.50.0/24",
            "admin_group": "adm_bib",
            "backup_quota": "5G",
        }
    )
    for network in ("ville", "aphp", "infra", "admin"):
        assert "bibliotheques" in [d["tenant"] for d in plan(network, model)["deny"]]
    assert len(plan("bibliotheques", model)["deny"]) == 4


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"openings": [{"name": "x", "port": 1, "from": ["hopital_x"]}]},
            "unknown source 'hopital_x'",
        ),
        ({"openings": [{"name": "x", "port": 70000, "from": ["all"]}]}, "port 70000 is outside"),
        ({"openings": [{"name": "x", "port": 1, "proto": "sctp", "from": []}]}, "proto 'sctp'"),
        ({"ssh_sources": ["bastion"]}, "SSH sources: unknown source 'bastion'"),
    ],
)
def test_bad_openings_are_refused_with_the_culprit_named(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan("ville", **options)


def test_an_unknown_host_network_is_refused() -> None:
    with pytest.raises(ValueError, match="host network 'nowhere'"):
        plan("nowhere")
