"""Ansible filters over the site model (see sitemodel/); used by playbooks/preflight.yml."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sitemodel.validate import errors_from_inventory


def site_model_errors(
    tenants: Any, shared: Any, groups: dict[str, list[str]], hostvars: Any
) -> list[str]:
    """``site_tenants | site_model_errors(site_shared_networks, groups, hostvars)``."""
    return errors_from_inventory(tenants, shared, groups, hostvars)


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"site_model_errors": site_model_errors}
