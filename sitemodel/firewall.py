"""What one host's firewall lets in, computed from the site model (role firewall renders it).

The plan is data, so that it can be tested without nftables:

- ``accept``: one entry per opening (the host's tenant services from ``site_tenants``, the
  openings service roles declare, the site's extra openings), each with the IPv4 and IPv6
  prefixes it accepts, in the order they are written;
- ``deny``: every *other* tenant with its prefixes: its packets are logged (rate-limited,
  prefix naming the tenant) and dropped after the openings had their chance;
- ``ssh`` and ``icmp``: who may open an SSH session and who may ping.

Sources are network ids (a tenant or shared zone of the model), ``all`` (every site
network), or literal addresses/prefixes (no wider than /8 in IPv4, /16 in IPv6: "::/0"
is a mistake, not an opening). An unknown id raises ``ValueError`` naming it, so a bad
opening stops the play before any rule is written.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sitemodel.model import (
    Flow,
    Network,
    SiteModel,
    parse_flows,
    parse_model,
    parse_policy,
    site_network,
)

ALL = "all"
# The widest literal source prefix accepted, per IP version.
WIDEST_SOURCE = {4: 8, 6: 16}


class Index:
    """A parsed model's networks by id, with their prefixes as text (built once)."""

    def __init__(self, model: SiteModel) -> None:
        self.model = model
        self.by_id: dict[str, Network] = model.by_id()
        self.text4 = {n.id: str(n.ipv4) for n in model.networks}
        self.text6 = {n.id: str(n.ipv6) for n in model.networks if n.ipv6 is not None}

    def prefixes(self, sources: Iterable[Any], what: str) -> tuple[list[str], list[str]]:
        """IPv4 and IPv6 prefixes (as text, deduplicated, in order) for a list of sources."""
        v4: list[str] = []
        v6: list[str] = []
        for source in sources:
            text = str(source)
            if text == ALL:
                ids = list(self.by_id)
            elif text in self.by_id:
                ids = [text]
            else:
                v4_or_v6 = self._literal(text, what)
                (v4 if v4_or_v6.version == 4 else v6).append(str(v4_or_v6))
                continue
            for net_id in ids:
                v4.append(self.text4[net_id])
                if net_id in self.text6:
                    v6.append(self.text6[net_id])
        return list(dict.fromkeys(v4)), list(dict.fromkeys(v6))

    def _literal(self, text: str, what: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        try:
            prefix = site_network(text, strict=False)
        except ValueError:
            known = ", ".join(sorted(self.by_id))
            raise ValueError(
                f"{what}: unknown source {text!r:.60} (a network id among {known}, "
                f"'{ALL}', or an address/prefix)"
            ) from None
        if prefix.prefixlen < WIDEST_SOURCE[prefix.version]:
            raise ValueError(
                f"{what}: source {prefix} is wider than /{WIDEST_SOURCE[prefix.version]}: "
                f"name the networks instead ('{ALL}' is every site network)"
            )
        return prefix


def _accept(index: Index, flow: Flow, owner: str) -> dict[str, Any]:
    v4, v6 = index.prefixes(flow.sources, f"{owner} opening {flow.name!r}")
    return {
        "comment": f"{owner}: {flow.name}",
        "proto": flow.proto,
        "port": flow.port,
        "sources4": v4,
        "sources6": v6,
    }


def _openings(raw: Sequence[Mapping[str, Any]], owner: str) -> tuple[Flow, ...]:
    """Openings given as data, checked like the model's services (sitemodel.model)."""
    errors: list[str] = []
    flows = parse_flows(raw, owner, errors)
    if errors:
        raise ValueError("; ".join(errors))
    return flows


def plan(
    index: Index,
    network: str,
    *,
    ssh_sources: Sequence[Any] = (),
    icmp_sources: Sequence[Any] = (),
    declared: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    openings: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The input policy of a host on ``network``, from an already parsed model."""
    if network not in index.by_id:
        raise ValueError(f"host network {network!r:.40} is not in the site model")
    own = index.by_id[network]
    accept = [_accept(index, flow, own.id) for flow in own.services]
    for service, entries in sorted((declared or {}).items()):
        accept.extend(_accept(index, flow, service) for flow in _openings(entries, service))
    accept.extend(_accept(index, flow, "site") for flow in _openings(openings, "site"))
    ssh4, ssh6 = index.prefixes(ssh_sources, "SSH sources")
    icmp4, icmp6 = index.prefixes([own.id, *icmp_sources], "ICMP sources")
    deny = []
    for tenant in index.model.tenants:
        if tenant.id != own.id:
            v4, v6 = index.prefixes([tenant.id], f"tenant {tenant.id}")
            deny.append({"tenant": tenant.id, "sources4": v4, "sources6": v6})
    return {
        "network": own.id,
        "tenant": own.id if own.kind == "tenant" else "",
        "accept": accept,
        "deny": deny,
        "ssh": {"sources4": ssh4, "sources6": ssh6},
        "icmp": {"sources4": icmp4, "sources6": icmp6},
    }


def firewall_plan(
    tenants: Any, shared: Any, network: str, *, policy: Any = None, **options: Any
) -> dict[str, Any]:
    """The input policy of a host on ``network`` (a tenant or shared zone id);
    ``policy`` is the inventory's ``site_policy`` (public prefixes allowed or not)."""
    errors: list[str] = []
    model = parse_model(tenants, shared, policy=parse_policy(policy, errors))
    model.errors[:0] = errors
    if model.errors:
        raise ValueError("site model: " + "; ".join(model.errors))
    return plan(Index(model), network, **options)
