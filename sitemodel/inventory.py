"""Read a YAML-shaped Ansible inventory (hosts.yml, or Pulumi's exported one) without
Ansible: every group with all its hosts (children included) and each host's own vars."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def flatten(inventory: Mapping[str, Any]) -> tuple[dict[str, list[str]], dict[str, dict[str, Any]]]:
    groups: dict[str, set[str]] = {}
    hostvars: dict[str, dict[str, Any]] = {}

    def walk(name: str, node: Mapping[str, Any]) -> set[str]:
        members = set()
        for host, data in (node.get("hosts") or {}).items():
            members.add(host)
            hostvars.setdefault(host, {}).update(data or {})
        for child, sub in (node.get("children") or {}).items():
            members |= walk(child, sub or {})
        groups[name] = groups.get(name, set()) | members
        return members

    walk("all", inventory.get("all") or {})
    return {g: sorted(m) for g, m in groups.items()}, hostvars
