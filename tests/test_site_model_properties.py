"""Random site models, valid and broken (hypothesis): the site checks either accept one,
and then every host's firewall plan renders to rules that `nft -c` accepts, or refuse it
with sentences naming the culprit. Never a traceback, never a hang."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT
from sitemodel.firewall import Index, plan
from sitemodel.model import Host, parse_model
from sitemodel.preflight import HostInput, check_site
from sitemodel.render import nft_string

NFT = shutil.which("nft")
TEMPLATE = (ROOT / "roles" / "firewall" / "templates" / "nftables.conf.j2").read_text("utf-8")
DEFAULTS = yaml.safe_load((ROOT / "roles" / "firewall" / "defaults" / "main.yml").read_text())

IDS = st.from_regex(r"[a-z][a-z0-9_]{1,8}", fullmatch=True)
GARBAGE = st.one_of(st.none(), st.integers(-5, 99999), st.text(max_size=12), st.booleans())


def maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a valid value (39 times in 40), sometimes anything."""
    return st.integers(0, 39).flatmap(lambda n: GARBAGE if n == 0 else valid)


@st.composite
def services(draw: st.DrawFn, ids: list[str]) -> list[dict[str, Any]]:
    return draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "name": maybe(st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)),
                    "port": maybe(st.integers(1, 65535)),
                    "proto": maybe(st.sampled_from(["tcp", "udp"])),
                    "from": maybe(st.lists(st.sampled_from(ids), max_size=3)),
                }
            ),
            max_size=3,
        )
    )


@st.composite
def sites(draw: st.DrawFn) -> tuple[list[Any], list[Any], dict[str, HostInput]]:
    ids = draw(st.lists(IDS, min_size=2, max_size=6, unique=True))
    tenants, shared, hosts = [], [], {}
    for i, net_id in enumerate(ids):
        # Aligned prefixes, one /16 per network index: valid unless garbage is drawn.
        third = draw(st.sampled_from([0, 16, 128]))
        length = draw(st.sampled_from([16, 24, 28])) if third == 0 else 24
        entry: dict[str, Any] = {
            "id": draw(maybe(st.just(net_id))),
            "vlan": draw(maybe(st.integers(1, 4094))),
            "ipv4": draw(maybe(st.just(f"10.{i}.{third}.0/{length}"))),
        }
        if draw(st.booleans()):
            entry["ipv6"] = draw(maybe(st.sampled_from([f"fd42:{i:x}::/48", f"fd42:{i:x}::/64"])))
        entry["services"] = draw(maybe(services(ids)))
        if i == 0:
            entry["groups"] = draw(maybe(st.just(["bastions"])))
            shared.append(entry)
        else:
            entry["admin_group"] = draw(maybe(st.just(f"adm_{net_id}")))
            entry["backup_quota"] = draw(maybe(st.sampled_from(["1G", "500G", "2T"])))
            tenants.append(entry)
        groups = ("all", "bastions") if i == 0 else ("all", "tenants", net_id)
        hosts[f"h{i}-web01"] = HostInput(
            address=draw(maybe(st.just(f"10.{i}.{third}.11"))),
            groups=groups,
            ssh_sources=draw(maybe(st.lists(st.sampled_from([*ids, "all"]), max_size=2))),
            icmp_sources=draw(maybe(st.lists(st.sampled_from(ids), max_size=2))),
            apt_mirror="http://mirror.example/debian",
        )
    return tenants, shared, hosts


def render(firewall_plan: dict[str, Any]) -> str:
    environment = jinja2.Environment(trim_blocks=True, undefined=jinja2.StrictUndefined)
    environment.filters["nft_string"] = nft_string
    variables = {
        **{k: v for k, v in DEFAULTS.items() if not isinstance(v, str) or "{{" not in v},
        "firewall_ssh_port": 22,
        "ansible_managed": "test",
        "inventory_hostname": "h",
        "_firewall_plan": firewall_plan,
    }
    return environment.from_string(TEMPLATE).render(**variables)


@pytest.mark.skipif(NFT is None, reason="nft is installed by make setup (Debian package nftables)")
@settings(
    max_examples=120,
    deadline=5000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(site=sites())
def test_a_random_site_is_refused_by_name_or_gives_rules_nft_accepts(site: Any) -> None:
    tenants, shared, hosts = site
    found = check_site(tenants, shared, hosts)
    assert all(isinstance(e, str) and e for e in found)
    if found:
        return
    index = Index(parse_model(tenants, shared))
    with tempfile.TemporaryDirectory() as scratch:
        for name, inputs in hosts.items():
            network = index.model.network_of(Host(name, None, inputs.groups))[0]
            rules = render(
                plan(index, network.id, ssh_sources=inputs.ssh_sources or [],
                     icmp_sources=inputs.icmp_sources or [])
            )  # fmt: skip
            path = Path(scratch) / f"{name}.nft"
            path.write_text(rules, "utf-8")
            result = subprocess.run([NFT, "-c", "-f", str(path)], capture_output=True, text=True)
            assert result.returncode == 0, result.stderr + rules
