"""Ansible filter: what kind of machine a host is, from its gathered facts (one home).

- ``ansible_facts | host_is_container``: true when the host is a container (its kernel,
  clock, audit and mounts are its host's). Roles hardening, audit and time write their
  configuration everywhere and skip only the steps a container cannot take; each has a
  ``<role>_container`` knob that defaults to this.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

CONTAINER_TYPES = frozenset(
    {"container", "docker", "podman", "lxc", "systemd-nspawn", "containerd"}
)


def host_is_container(facts: Mapping[str, Any] | None) -> bool:
    facts = facts or {}
    return (
        facts.get("virtualization_role", "") == "guest"
        and facts.get("virtualization_type", "") in CONTAINER_TYPES
    )


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"host_is_container": host_is_container}
