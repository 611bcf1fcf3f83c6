"""What one host's firewall lets in, computed from the site model (role firewall renders it).

The plan is data, so that it can be tested without nftables:

- ``accept``: one entry per opening (the host's tenant services from ``site_tenants``, the
  openings service roles declare, the site's extra openings), each with the IPv4 and IPv6
  prefixes it accepts, in the order they are written;
- ``deny``: every *other* tenant with its prefixes: its packets are logged (rate-limited,
  prefix naming the tenant) and dropped after the openings had their chance;
- ``ssh`` and ``icmp``: who may open an SSH session and who may ping.

Sources are network ids (a tenant or shared zone of the model), ``all`` (every site
network), or literal addresses/prefixes. An unknown id raises ``ValueError`` naming it, so
a bad opening stops the play before any rule is written.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sitemodel.model import Flow, SiteModel, parse_flows, parse_model

ALL = "all"


def _prefixes(model: SiteModel, sources: Iterable[Any], what: str) -> tuple[list[str], list[str]]:
    """IPv4 and IPv6 prefixes (as text, deduplicated, in order) for a list of sources."""
    by_id = {net.id: net for net in model.networks}
    v4: list[str] = []
    v6: list[str] = []
    for source in sources:
        text = str(source)
        if text == ALL:
            nets = list(model.networks)
        elif text in by_id:
            nets = [by_id[text]]
        else:
            try:
                prefix = ipaddress.ip_network(text, strict=False)
            except ValueError:
                known = ", ".join(sorted(by_id))
                raise ValueError(
                    f"{what}: unknown source {text!r} (a network id among {known}, "
                    f"'{ALL}', or an address/prefix)"
                ) from None
            (v4 if prefix.version == 4 else v6).append(str(prefix))
            continue
        for net in nets:
            v4.append(str(net.ipv4))
            if net.ipv6 is not None:
                v6.append(str(net.ipv6))
    return list(dict.fromkeys(v4)), list(dict.fromkeys(v6))


def _accept(model: SiteModel, flow: Flow, owner: str) -> dict[str, Any]:
    v4, v6 = _prefixes(model, flow.sources, f"{owner} opening {flow.name!r}")
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


def firewall_plan(
    tenants: Any,
    shared: Any,
    network: str,
    *,
    ssh_sources: Sequence[Any] = (),
    icmp_sources: Sequence[Any] = (),
    declared: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    openings: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The input policy of a host on ``network`` (a tenant or shared zone id)."""
    model = parse_model(tenants, shared)
    if model.errors:
        raise ValueError("site model: " + "; ".join(model.errors))
    by_id = {net.id: net for net in model.networks}
    if network not in by_id:
        raise ValueError(f"host network {network!r} is not in the site model")
    own = by_id[network]
    accept = [_accept(model, flow, own.id) for flow in own.services]
    for service, entries in sorted((declared or {}).items()):
        accept.extend(_accept(model, flow, service) for flow in _openings(entries, service))
    accept.extend(_accept(model, flow, "site") for flow in _openings(openings, "site"))
    ssh4, ssh6 = _prefixes(model, ssh_sources, "SSH sources")
    icmp4, icmp6 = _prefixes(model, [own.id, *icmp_sources], "ICMP sources")
    deny = []
    for tenant in model.tenants:
        if tenant.id != own.id:
            v4, v6 = _prefixes(model, [tenant.id], f"tenant {tenant.id}")
            deny.append({"tenant": tenant.id, "sources4": v4, "sources6": v6})
    return {
        "network": own.id,
        "tenant": own.id if own.kind == "tenant" else "",
        "accept": accept,
        "deny": deny,
        "ssh": {"sources4": ssh4, "sources6": ssh6},
        "icmp": {"sources4": icmp4, "sources6": icmp6},
    }
