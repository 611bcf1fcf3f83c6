"""What the service roles need from the site model, computed in Python (one home).

The log and backup servers used to re-derive the tenants in Jinja loops in their vars;
these functions give them the same answers from the parsed, validated model, and raise
``ValueError`` naming the culprit when the data they are given does not hold.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sitemodel.model import RETENTION_KEYS, Host, SiteModel, parse_model, parse_policy, site_address
from sitemodel.validate import HOST_NAME, receiver_errors

# A room's name (a Prometheus label value, written in file_sd).
ROOM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,30}\Z")

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
    tenant's admin group, the site's log readers for shared networks), retention and
    quota ('' when the network has none of its own)."""
    return [
        {
            "id": net.id,
            "kind": net.kind,
            "admin_group": net.admin_group if net.kind == "tenant" else SHARED_LOG_READERS,
            "log_retention_days": net.log_retention_days,
            "log_quota": net.log_quota,
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


def _hosts_by_network(model: SiteModel, hosts: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    placed: dict[str, Any] = {}
    for name, data in sorted(hosts.items()):
        nets = model.network_of(Host(name, None, tuple(data.get("groups") or ())))
        if len(nets) == 1 and data.get("address"):
            placed[name] = nets[0]
    return placed


def placement_errors(host: str, room: Any, bmc: Any) -> list[str]:
    """What is wrong with a host's ``site_room`` and ``site_bmc`` (preflight)."""
    errors = []
    if room not in (None, "") and not ROOM.match(str(room)):
        errors.append(f"site_room {str(room)!r:.40} is not a room name")
    if bmc not in (None, ""):
        try:
            _bmc(bmc, host)
        except ValueError as exc:
            errors.append(str(exc).split(": ", 1)[1])
    return errors


def _bmc(value: Any, host: str) -> str:
    """A host's BMC as FreeIPMI's ``-h`` takes it: an IP address, ``address:port`` or
    ``[IPv6 address]:port``."""
    text = str(value)
    address, port = text, ""
    if text.startswith("["):
        address, _, port = text[1:].partition("]")
        if port and not port.startswith(":"):
            address = ""
        port = port[1:]
    elif text.count(":") == 1:
        address, port = text.split(":")
    try:
        site_address(address)
    except ValueError:
        raise ValueError(f"host {host!r}: site_bmc {text!r:.60} is not an address[:port]") from None
    with_port = text.startswith("[") or text.count(":") == 1
    if with_port and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"host {host!r}: site_bmc {text!r:.60} has no valid port")
    return text


def monitoring_targets(
    tenants: Any,
    shared: Any,
    hosts: Mapping[str, Mapping[str, Any]],
    node_port: int,
    policy: Any = None,
) -> dict[str, list[dict[str, Any]]]:
    """What the monitoring servers watch, as Prometheus file_sd entries.

    ``hosts``: inventory host -> {address, groups, room, bmc}. Every placed host's node
    exporter (labels host, network, tenant: '' for shared zones, room); every TCP service
    the model declares on a tenant's hosts (blackbox probes; UDP has no generic probe);
    every host's BMC (``site_bmc``, read by the IPMI exporter; the site's own: no tenant,
    whoever runs on the server)."""
    model = parsed(tenants, shared, policy)
    placed = _hosts_by_network(model, hosts)
    nodes: list[dict[str, Any]] = []
    services_: list[dict[str, Any]] = []
    bmcs: list[dict[str, Any]] = []
    for name, net in placed.items():
        data = hosts[name]
        tenant = net.id if net.kind == "tenant" else ""
        labels = {"host": name, "network": net.id, "tenant": tenant}
        if data.get("room"):
            room = str(data["room"])
            if not ROOM.match(room):
                raise ValueError(f"host {name!r}: site_room {room!r:.40} is not a room name")
            labels["room"] = room
        address = str(data["address"])
        nodes.append({"targets": [f"{address}:{int(node_port)}"], "labels": labels})
        for flow in net.services if tenant else ():
            if flow.proto == "tcp":
                target = f"{address}:{flow.port}"
                services_.append({"targets": [target], "labels": {**labels, "service": flow.name}})
        if data.get("bmc"):
            bmc_labels = {**labels, "tenant": ""}
            bmcs.append({"targets": [_bmc(data["bmc"], name)], "labels": bmc_labels})
    return {"nodes": nodes, "services": services_, "bmcs": bmcs}


def alert_receivers(
    tenants: Any, shared: Any, operations: list[Mapping[str, Any]], policy: Any = None
) -> list[dict[str, Any]]:
    """Alertmanager's receivers: one per tenant with receivers (webhooks, mail), and
    'operations' (the city's operations team) for the site's own alerts and for tenants
    that declared none."""

    def receiver(name: str, entries: Any) -> dict[str, Any]:
        webhooks = [{"url": e["webhook"], "send_resolved": True} for e in entries if "webhook" in e]
        mails = [{"to": e["email"], "send_resolved": True} for e in entries if "email" in e]
        found: dict[str, Any] = {"name": name}
        if webhooks:
            found["webhook_configs"] = webhooks
        if mails:
            found["email_configs"] = mails
        return found

    model = parsed(tenants, shared, policy)
    # The role checks it again (not only the preflight): a receiver on another tenant's
    # network is refused before Alertmanager's file is written.
    problems = receiver_errors(model)
    if problems:
        raise ValueError("; ".join(problems))
    found = [receiver("operations", operations)]
    found += [
        receiver(f"tenant-{t.id}", t.alert_receivers) for t in model.tenants if t.alert_receivers
    ]
    return found


def service_probe_openings(
    tenants: Any, shared: Any, network: str, sources: list[str], policy: Any = None
) -> list[dict[str, Any]]:
    """Firewall openings that let the monitoring servers (``sources``) probe the TCP
    services the model declares on ``network``'s hosts."""
    model = parsed(tenants, shared, policy)
    net = model.by_id().get(network)
    if net is None or net.kind != "tenant" or not sources:
        return []
    return [
        {"name": f"probe-{flow.name}", "port": flow.port, "proto": "tcp", "from": list(sources)}
        for flow in net.services
        if flow.proto == "tcp"
    ]


def bridge_name(vlan: int) -> str:
    """The Linux bridge that carries one VLAN on every hypervisor (role hypervisor creates
    it, pulumi/ binds each libvirt network to it)."""
    return f"br{int(vlan)}"


def hypervisor_bridges(
    tenants: Any,
    shared: Any,
    uplink: str,
    ports: Mapping[str, Any],
    policy: Any = None,
    own_network: str = "",
) -> list[dict[str, Any]]:
    """One bridge per network of the site model: its name, VLAN, and what it enslaves
    (``ports[network id]`` when given, else ``<uplink>.<vlan>`` when there is an uplink).
    The hypervisor's own network (``own_network``, where its address is) is never taken
    from the trunk into a bridge: its bridge has a port only when ``ports`` names one."""
    model = parsed(tenants, shared, policy)
    known = {net.id for net in model.networks}
    unknown = sorted(set(ports) - known)
    if unknown:
        raise ValueError(f"hypervisor bridge ports for unknown network(s) {', '.join(unknown)}")
    interface = re.compile(r"^[A-Za-z0-9_.-]{1,15}\Z")
    for value in [uplink, *ports.values()]:
        if value and not interface.match(str(value)):
            raise ValueError(f"hypervisor interface {str(value)!r:.40} is not an interface name")
    too_long = [
        f"{uplink}.{net.vlan}"
        for net in model.networks
        if uplink
        and net.id not in ports
        and net.id != own_network
        and len(f"{uplink}.{net.vlan}") > 15
    ]
    if too_long:
        raise ValueError(
            f"hypervisor uplink {uplink!r}: VLAN interface {too_long[0]!r} is longer than "
            "15 characters (Linux's limit): name the ports instead"
        )
    return [
        {
            "network": net.id,
            "vlan": net.vlan,
            "bridge": bridge_name(net.vlan),
            "port": str(ports.get(net.id, "")),
            "uplink": "" if net.id == own_network else str(uplink or ""),
        }
        for net in model.networks
    ]
