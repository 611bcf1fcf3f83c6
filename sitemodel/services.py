"""What the service roles need from the site model, computed in Python (one home).

The log and backup servers used to re-derive the tenants in Jinja loops in their vars;
these functions give them the same answers from the parsed, validated model, and raise
``ValueError`` naming the culprit when the data they are given does not hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sitemodel.model import RETENTION_KEYS, SiteModel, parse_model, parse_policy
from sitemodel.validate import HOST_NAME

# The group that reads shared networks' logs on the log servers (Debian's log readers).
SHARED_LOG_READERS = "adm"


def parsed(tenants: Any, shared: Any, policy: Any = None) -> SiteModel:
    errors: list[str] = []
    model = parse_model(tenants, shared, policy=parse_policy(policy, errors))
    problems = errors + model.errors
    if problems:
        raise ValueError("site model: " + "; ".join(problems))
    return model


def log_networks(tenants: Any, shared: Any, policy: Any = None) -> list[dict[str, Any]]:
    """Every network whose hosts log to the log servers: its directory's group (a
    tenant's admin group, the site's log readers for shared networks) and retention."""
    return [
        {
            "id": net.id,
            "kind": net.kind,
            "admin_group": net.admin_group if net.kind == "tenant" else SHARED_LOG_READERS,
            "log_retention_days": net.log_retention_days,
        }
        for net in parsed(tenants, shared, policy).networks
    ]


def backup_tenants(
    tenants: Any,
    shared: Any,
    clients: Mapping[str, Any],
    default_retention: Mapping[str, Any],
    policy: Any = None,
) -> list[dict[str, Any]]:
    """Each tenant with backup clients: its quota, its retention (the site default
    completed by the tenant's own), and its client hosts (``clients``: host -> tenant)."""
    model = parsed(tenants, shared, policy)
    known = {t.id: t for t in model.tenants}
    hosts_of: dict[str, list[str]] = {}
    for host, tenant in sorted(clients.items()):
        if not HOST_NAME.match(str(host)):
            raise ValueError(f"backup client {host!r:.60}: the name is not a DNS label")
        if str(tenant) not in known:
            raise ValueError(
                f"backup client {host!r}: tenant {tenant!r:.40} is not in the site model "
                f"(known: {', '.join(sorted(known))})"
            )
        hosts_of.setdefault(str(tenant), []).append(str(host))
    unknown = sorted(set(default_retention) - set(RETENTION_KEYS))
    if unknown:
        raise ValueError(f"backup retention: unknown key(s) {', '.join(unknown)}")
    plan = []
    for tenant in model.tenants:
        retention = {k: int(default_retention.get(k, 0)) for k in RETENTION_KEYS}
        retention.update(tenant.backup_retention or {})
        plan.append(
            {
                "id": tenant.id,
                "quota": tenant.backup_quota,
                "retention": retention,
                "clients": hosts_of.get(tenant.id, []),
            }
        )
    return plan
