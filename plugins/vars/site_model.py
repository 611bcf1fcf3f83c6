"""Ansible vars plugin: where each host sits in the site model, computed in Python once.

For every host of an inventory that holds a site model (``group_vars/all/tenants.yml``
beside its hosts file), it provides:

- ``site_network``: the id of the tenant or shared network the host's groups place it
  in ('' when none or several: playbooks/preflight.yml says why);
- ``site_tenant``: that id when the network is a tenant, else '';
- ``site_network_ipv4``: that network's IPv4 prefix ('' when there is none).

These were Jinja templates in group_vars, rendered again on every task of every host and
walking every tenant each time. Here the site file is read once per run (and again only
if it changes), an index from inventory group to network is built once, and each host
costs a dictionary lookup. The values are data: a sysadmin never sets them, and a host
var of the same name is overridden. The site data is read as data and never rendered.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ansible.inventory.group import InventoryObjectType
from ansible.plugins.vars import BaseVarsPlugin

DOCUMENTATION = r"""
name: site_model
short_description: site_network, site_tenant and site_network_ipv4 of every host
description:
  - Reads the inventory's group_vars/all/tenants.yml (site_tenants, site_shared_networks)
    and places each host on the network its groups name.
options:
  stage:
    ini:
      - key: stage
        section: vars_site_model
    env:
      - name: ANSIBLE_VARS_PLUGIN_STAGE
extends_documentation_fragment:
  - vars_plugin_staging
"""

SITE_FILE = os.path.join("group_vars", "all", "tenants.yml")
# path -> (mtime, group -> [(network id, kind, ipv4)])
_INDEX: dict[str, tuple[float, dict[str, list[tuple[str, str, str]]]]] = {}


def build_index(data: Any) -> dict[str, list[tuple[str, str, str]]]:
    """Inventory group -> the networks it places a host in, from raw site data."""
    index: dict[str, list[tuple[str, str, str]]] = {}
    if not isinstance(data, Mapping):
        return index
    for key, kind in (("site_tenants", "tenant"), ("site_shared_networks", "shared")):
        networks = data.get(key)
        for raw in networks if isinstance(networks, list) else []:
            if not isinstance(raw, Mapping):
                continue
            net_id = str(raw.get("id", ""))
            ipv4 = raw.get("ipv4")
            entry = (net_id, kind, ipv4 if isinstance(ipv4, str) else "")
            groups = [net_id] if kind == "tenant" else raw.get("groups")
            for group in groups if isinstance(groups, list) else []:
                index.setdefault(str(group), []).append(entry)
    return index


def placement(groups: list[str], index: Mapping[str, list[tuple[str, str, str]]]) -> dict[str, str]:
    found = {entry for group in groups for entry in index.get(group, [])}
    if len(found) != 1:
        return {"site_network": "", "site_tenant": "", "site_network_ipv4": ""}
    net_id, kind, ipv4 = found.pop()
    return {
        "site_network": net_id,
        "site_tenant": net_id if kind == "tenant" else "",
        "site_network_ipv4": ipv4,
    }


class VarsModule(BaseVarsPlugin):
    """See the module docstring."""

    REQUIRES_ENABLED = True
    is_stateless = True

    def _index(self, loader: Any, path: str) -> dict[str, list[tuple[str, str, str]]] | None:
        site = os.path.join(path, SITE_FILE)
        try:
            mtime = os.stat(site).st_mtime
        except OSError:
            return None
        cached = _INDEX.get(site)
        if cached is None or cached[0] != mtime:
            data = loader.load_from_file(site, cache="all", unsafe=True)
            cached = _INDEX[site] = (mtime, build_index(data))
        return cached[1]

    def get_vars(self, loader: Any, path: str, entities: Any, cache: bool = True) -> dict:
        super().get_vars(loader, path, entities)
        index = self._index(loader, path if os.path.isdir(path) else os.path.dirname(path))
        if index is None:
            return {}
        data: dict[str, str] = {}
        for entity in entities if isinstance(entities, list) else [entities]:
            if getattr(entity, "base_type", None) is InventoryObjectType.HOST:
                data.update(placement([g.name for g in entity.get_groups()], index))
        return data
