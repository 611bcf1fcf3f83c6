"""Ansible filters over the site model (see sitemodel/).

- ``site_tenants | site_model_errors(site_shared_networks, groups, hostvars)``: every
  problem of the inventory's site model (playbooks/preflight.yml fails on any).
- ``group_names | site_network_of(site_tenants, site_shared_networks)``: the id of the
  tenant or shared network a host sits on ('' when none or ambiguous: preflight says why).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sitemodel.model import Host, parse_model
from sitemodel.validate import errors_from_inventory


def site_model_errors(
    tenants: Any, shared: Any, groups: dict[str, list[str]], hostvars: Any
) -> list[str]:
    return errors_from_inventory(tenants, shared, groups, hostvars)


def site_network_of(group_names: list[str], tenants: Any, shared: Any) -> str:
    model = parse_model(tenants, shared)
    networks = model.network_of(Host("", None, tuple(group_names)))
    return networks[0].id if len(networks) == 1 else ""


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"site_model_errors": site_model_errors, "site_network_of": site_network_of}
