"""Typed view of the site data found in ``group_vars/all/tenants.yml``.

Parsing never raises on bad data: each problem becomes an error message that names the
culprit, so the preflight can report all of them at once before any host is touched.
Every value that later reaches a shell, a path, a firewall rule or sshd is checked here
against the narrow form it needs (identifiers, Unix group names, sizes, counts); the
roles still quote or escape it where they use it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# A network (tenant or shared zone) id: also an inventory group, a directory, an nft set.
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,30}\Z")
# A service name: an nftables comment and a Prometheus label.
FLOW_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,30}\Z")
# A Unix group (Debian's useradd NAME_REGEX, without the trailing '$' of machine accounts).
UNIX_GROUP = re.compile(r"^[a-z_][a-z0-9_-]{0,31}\Z")
# An inventory group name (a shared network's groups).
GROUP_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}\Z")
# A display name: printable, no quote or backslash (it is shown, never interpreted).
DISPLAY_NAME = re.compile(r"^[^\x00-\x1f\x7f\"\\]{1,80}\Z")
# borg's --storage-quota: a whole number and a decimal unit.
QUOTA = re.compile(r"^(?P<number>[1-9][0-9]{0,5})(?P<unit>[MGTP])\Z")
QUOTA_BYTES = {"M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}
QUOTA_MAX = "100P"
RETENTION_KEYS = ("keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")
RETENTION_MAX = 3650
LOG_RETENTION_MAX = 3650
PROTOCOLS = ("tcp", "udp")
# Prefix lengths a site network may have: not an address (or two), not half the Internet.
PREFIX_LENGTHS = {4: (8, 32), 6: (32, 64)}
# Private prefixes: RFC 1918 and unique local IPv6 addresses (RFC 4193).
PRIVATE_BLOCKS: dict[int, tuple[IPNetwork, ...]] = {
    4: tuple(ipaddress.IPv4Network(b) for b in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")),
    6: (ipaddress.IPv6Network("fc00::/7"),),
}
# Groups a tenant's administrators must never be given through admin_group: Debian's
# system groups and the groups this repository gives powers to.
RESERVED_GROUPS = frozenset(
    {
        "root", "daemon", "bin", "sys", "adm", "tty", "disk", "lp", "mail", "news", "uucp",
        "man", "proxy", "kmem", "dialout", "fax", "voice", "cdrom", "floppy", "tape", "sudo",
        "audio", "dip", "www-data", "backup", "operator", "list", "irc", "src", "shadow",
        "utmp", "video", "sasl", "plugdev", "staff", "games", "users", "nogroup", "wheel",
        "crontab", "messagebus", "input", "kvm", "render", "sgx", "netdev", "_ssh", "ssh",
        "systemd-journal", "systemd-network", "systemd-resolve", "systemd-timesync",
        "libvirt", "libvirt-qemu", "docker", "lxd", "lpadmin", "prometheus", "_chrony",
        "borg-clients", "sysadmins",
    }
)  # fmt: skip
TENANT_FIELDS = frozenset(
    {"id", "name", "vlan", "ipv4", "ipv6", "gateway", "resolvers", "admin_group", "services",
     "backup_quota", "backup_retention", "log_retention_days", "log_quota", "alert_receivers"}
)  # fmt: skip
# A mail address for alerts (delivered by the site's own mail relay).
MAIL = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+\Z")
# A webhook for alerts: http(s), to an address of the site, a port, a plain path.
WEBHOOK = re.compile(
    r"^https?://(?P<host>[0-9.]+|\[[0-9a-fA-F:]+\]):(?P<port>[0-9]{1,5})(/[A-Za-z0-9_./-]*)?\Z"
)
SHARED_FIELDS = frozenset(
    {"id", "name", "vlan", "ipv4", "ipv6", "gateway", "resolvers", "groups", "services",
     "log_retention_days", "log_quota"}
)  # fmt: skip


@dataclass(frozen=True)
class Policy:
    """Site-wide rules that are a choice of the site, written as data (``site_policy``).

    ``public_prefixes``: whether a network may use public (globally routed) addresses;
    by default only private IPv4 (RFC 1918) and unique local IPv6 (fc00::/7) prefixes.
    ``reserved_groups``: more Unix groups no tenant may use as its admin group (the
    site's sysadmins' group comes from the inventory's ``base_admin_group``).
    """

    public_prefixes: bool = False
    reserved_groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Flow:
    """A service a network's hosts expose: ``port/proto`` reachable from ``sources``."""

    name: str
    port: int
    proto: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Network:
    """A tenant (``kind='tenant'``) or a shared zone such as admin or infra."""

    id: str
    kind: str
    name: str
    vlan: int
    ipv4: ipaddress.IPv4Network
    ipv6: ipaddress.IPv6Network | None = None
    # The network's router (default: the prefix's first host) and the resolvers its hosts
    # ask (default: the router, which relays DNS). VMs get them at first boot (pulumi/).
    gateway: ipaddress.IPv4Address | None = None
    resolvers: tuple[ipaddress.IPv4Address, ...] = ()
    admin_group: str = ""
    groups: tuple[str, ...] = ()
    services: tuple[Flow, ...] = ()
    backup_quota: str = ""
    backup_retention: Mapping[str, int] | None = None
    log_retention_days: int = 365
    # Space its logs may take on each log server ('' : the log servers' default).
    log_quota: str = ""
    # Where the tenant's alerts go: ({"webhook": url} | {"email": address}, ...).
    alert_receivers: tuple[Mapping[str, str], ...] = ()


@dataclass(frozen=True)
class Host:
    name: str
    address: str | None
    groups: tuple[str, ...]


@dataclass
class SiteModel:
    networks: list[Network] = field(default_factory=list)
    hosts: list[Host] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    policy: Policy = field(default_factory=Policy)

    @property
    def tenants(self) -> list[Network]:
        return [n for n in self.networks if n.kind == "tenant"]

    def by_id(self) -> dict[str, Network]:
        return {n.id: n for n in self.networks}

    def network_of(self, host: Host) -> list[Network]:
        """Every network a host's groups place it in (a valid model has exactly one)."""
        found = []
        for net in self.networks:
            member_groups = (net.id,) if net.kind == "tenant" else net.groups
            if any(g in host.groups for g in member_groups):
                found.append(net)
        return found


def _as_int(value: Any, what: str, errors: list[str]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        errors.append(f"{what}: expected an integer, got {value!r:.60}")
        return None
    try:
        return int(value)
    except ValueError:
        errors.append(f"{what}: expected an integer, got {value!r:.60}")
        return None


def kind_of(value: Any) -> str:
    """The YAML kind of a value, for messages (Ansible's tagged types say their base)."""
    for kind, types in (("str", str), ("mapping", Mapping), ("bool", bool), ("int", int)):
        if isinstance(value, types):
            return kind
    return "list" if isinstance(value, Sequence) else type(value).__name__


def _as_list(value: Any, what: str, errors: list[str]) -> list[Any]:
    """A YAML list; anything else (a string most often) is an error naming ``what``."""
    if value is None:
        return []
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        errors.append(f"{what} must be a list, got {kind_of(value)} {str(value)!r:.60}")
        return []
    return list(value)


def prefix_problem(net: IPNetwork, policy: Policy) -> str:
    """Why a site network may not use this prefix ('' when it may)."""
    low, high = PREFIX_LENGTHS[net.version]
    if not low <= net.prefixlen <= high:
        return f"prefix length /{net.prefixlen} is outside /{low}-/{high}"
    if net.is_multicast or net.is_loopback or net.is_link_local or net.is_unspecified:
        return "is not a unicast site prefix (multicast, loopback, link-local or unspecified)"
    private = any(net.subnet_of(block) for block in PRIVATE_BLOCKS[net.version])  # type: ignore[arg-type]
    if private:
        return ""
    if not net.is_global:
        return "is reserved (documentation, benchmarking, shared or future use): not a site prefix"
    if not policy.public_prefixes:
        kind = "RFC 1918" if net.version == 4 else "unique local (fc00::/7)"
        return (
            f"is public: only {kind} prefixes are allowed unless site_policy.public_prefixes "
            "is true"
        )
    return ""


SCOPED = "carries a scope id ('%'): not a site {}"


def site_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """``ipaddress.ip_address`` without IPv6 scope ids (``fe80::1%eth0``): Python accepts
    any character after the ``%``, a newline included, and ``str()`` gives it back into the
    files it is written to; the site never needs one. ValueError like ipaddress."""
    if "%" in text:
        raise ValueError(SCOPED.format("address"))
    return ipaddress.ip_address(text)


def site_network(text: str, strict: bool = True) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """``ipaddress.ip_network`` without IPv6 scope ids (see site_address)."""
    if "%" in text:
        raise ValueError(SCOPED.format("prefix"))
    return ipaddress.ip_network(text, strict=strict)


def _as_net(value: Any, version: int, what: str, errors: list[str], policy: Policy) -> Any:
    if isinstance(value, bool) or not isinstance(value, str):
        errors.append(f"{what}: expected a prefix such as 10.0.0.0/24, got {value!r:.60}")
        return None
    try:
        net = site_network(value, strict=True)
    except ValueError as exc:
        errors.append(f"{what}: {value!r} is not a valid network prefix ({exc})")
        return None
    if net.version != version:
        errors.append(f"{what}: {value} is not an IPv{version} prefix")
        return None
    problem = prefix_problem(net, policy)
    if problem:
        errors.append(f"{what}: {net} {problem}")
        return None
    return net


def quota_bytes(quota: str) -> int:
    match = QUOTA.match(quota)
    assert match, quota
    return int(match["number"]) * QUOTA_BYTES[match["unit"]]


def _quota(
    value: Any, where: str, errors: list[str], name: str = "backup_quota", required: bool = True
) -> str:
    if value is None or value == "":
        if required:
            errors.append(
                f"{where}: {name} is required (e.g. 20G; a tenant without one would be unlimited)"
            )
        return ""
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not QUOTA.match(text):
        errors.append(
            f"{where}: {name} {value!r:.60} is not a size such as 500G or 2T "
            "(a whole number, then M, G, T or P)"
        )
        return ""
    if quota_bytes(text) > quota_bytes(QUOTA_MAX):
        errors.append(f"{where}: {name} {text} is more than {QUOTA_MAX}")
        return ""
    return text


def _retention(value: Any, where: str, errors: list[str]) -> dict[str, int] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        errors.append(f"{where}: backup_retention must map {', '.join(RETENTION_KEYS)} to counts")
        return None
    count = len(errors)
    kept: dict[str, int] = {}
    for key, raw in value.items():
        if key not in RETENTION_KEYS:
            errors.append(
                f"{where}: backup_retention has unknown key {key!r:.40} "
                f"(known: {', '.join(RETENTION_KEYS)})"
            )
            continue
        number = _as_int(raw, f"{where} backup_retention {key}", errors)
        if number is not None and not 0 <= number <= RETENTION_MAX:
            errors.append(f"{where}: backup_retention {key} {number} is outside 0-{RETENTION_MAX}")
        elif number is not None:
            kept[key] = number
    if len(errors) == count and not any(kept.values()):
        errors.append(f"{where}: backup_retention keeps no archive at all (every count is 0)")
    return kept if len(errors) == count else None


def receiver_problem(item: Any) -> str | None:
    """What is wrong with one alert receiver ({webhook: URL} or {email: address}), if
    anything: webhooks only on a site's address, no SaaS."""
    if not isinstance(item, Mapping) or len(item) != 1 or not set(item) <= {"webhook", "email"}:
        return "expected {webhook: URL} or {email: address}"
    kind, value = next(iter(item.items()))
    value = str(value)
    if kind == "email" and not MAIL.match(value):
        return f"{value!r:.60} is not a mail address"
    if kind == "webhook" and not WEBHOOK.match(value):
        return (
            f"{value!r:.80} is not http(s)://<site address>:<port>/<path> "
            "(alerts go to the site's own hosts, never outside)"
        )
    return None


def _receivers(raw: Any, where: str, errors: list[str]) -> tuple[Mapping[str, str], ...]:
    """A tenant's alert receivers: webhooks on the site's own addresses, mail addresses
    (the site's relay delivers them). No receiver outside the site: no SaaS."""
    found = []
    for i, item in enumerate(_as_list(raw, f"{where} alert_receivers", errors)):
        problem = receiver_problem(item)
        if problem:
            errors.append(f"{where} alert receiver #{i + 1}: {problem}")
            continue
        kind, value = next(iter(item.items()))
        found.append({kind: str(value)})
    return tuple(found)


def parse_flows(raw: Any, where: str, errors: list[str]) -> tuple[Flow, ...]:
    """Flows (name, port, proto, from) of a network's services or of firewall openings;
    problems land in ``errors``, each naming ``where`` and the flow."""
    flows = []
    for i, item in enumerate(_as_list(raw, f"{where} services", errors)):
        what = f"{where} service #{i + 1}"
        if not isinstance(item, Mapping):
            errors.append(f"{what}: expected a mapping, got {item!r:.60}")
            continue
        name = str(item.get("name", f"#{i + 1}"))
        if not FLOW_NAME.match(name):
            errors.append(f"{what}: name {name!r:.40} must match {FLOW_NAME.pattern}")
            continue
        what = f"{where} service {name!r}"
        port = _as_int(item.get("port"), f"{what} port", errors)
        proto = str(item.get("proto", "tcp"))
        if proto not in PROTOCOLS:
            errors.append(f"{what}: proto {proto!r:.20} is not one of {', '.join(PROTOCOLS)}")
        if port is not None and not 1 <= port <= 65535:
            errors.append(f"{what}: port {port} is outside 1-65535")
        sources = item.get("from", [])
        if isinstance(sources, str) or not isinstance(sources, Sequence):
            errors.append(f"{what}: 'from' must be a list of network ids, got {sources!r:.60}")
            sources = []
        if port is not None:
            flows.append(Flow(name, port, proto, tuple(str(s) for s in sources)))
    return tuple(flows)


def _routing(
    raw: Mapping[str, Any],
    ipv4: ipaddress.IPv4Network | None,
    where: str,
    errors: list[str],
) -> tuple[ipaddress.IPv4Address | None, tuple[ipaddress.IPv4Address, ...]]:
    """``gateway`` (a host address of the prefix; default its first) and ``resolvers``
    (IPv4 addresses; default the gateway)."""
    gateway = None
    raw_gateway = raw.get("gateway")
    if raw_gateway is not None:
        try:
            gateway = ipaddress.IPv4Address(str(raw_gateway))
        except ValueError:
            errors.append(f"{where}: gateway {raw_gateway!r:.60} is not an IPv4 address")
        else:
            if ipv4 is not None and (
                gateway not in ipv4 or gateway in (ipv4.network_address, ipv4[-1])
            ):
                errors.append(
                    f"{where}: gateway {gateway} is not a host address of its prefix {ipv4}"
                )
                gateway = None
    elif ipv4 is not None and ipv4.num_addresses > 2:
        gateway = ipv4.network_address + 1
    resolvers: list[ipaddress.IPv4Address] = []
    for item in _as_list(raw.get("resolvers"), f"{where} resolvers", errors):
        try:
            resolvers.append(ipaddress.IPv4Address(str(item)))
        except ValueError:
            errors.append(f"{where}: resolver {item!r:.60} is not an IPv4 address")
    if not resolvers and gateway is not None:
        resolvers = [gateway]
    return gateway, tuple(resolvers)


def _parse_network(
    raw: Any, kind: str, index: int, errors: list[str], policy: Policy
) -> Network | None:
    label = "site_tenants" if kind == "tenant" else "site_shared_networks"
    if not isinstance(raw, Mapping):
        errors.append(f"{label}[{index}]: expected a mapping, got {raw!r:.60}")
        return None
    net_id = str(raw.get("id", ""))
    where = f"{kind} {net_id!r:.40}" if net_id else f"{label}[{index}]"
    count = len(errors)
    if not ID_PATTERN.match(net_id):
        errors.append(f"{where}: id must match {ID_PATTERN.pattern}")
    allowed = TENANT_FIELDS if kind == "tenant" else SHARED_FIELDS
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        errors.append(
            f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(allowed))})"
        )
    name = raw.get("name", net_id)
    if not isinstance(name, str) or not DISPLAY_NAME.match(name):
        errors.append(f"{where}: name must be printable text without quotes, up to 80 characters")
    vlan = _as_int(raw.get("vlan"), f"{where} vlan", errors)
    if vlan is not None and not 1 <= vlan <= 4094:
        errors.append(f"{where}: vlan {vlan} is outside 1-4094")
    ipv4 = _as_net(raw.get("ipv4"), 4, f"{where} ipv4", errors, policy)
    ipv6 = None
    if raw.get("ipv6") is not None:
        ipv6 = _as_net(raw["ipv6"], 6, f"{where} ipv6", errors, policy)
    gateway, resolvers = _routing(raw, ipv4, where, errors)
    services = parse_flows(raw.get("services"), where, errors)
    retention = _as_int(raw.get("log_retention_days", 365), f"{where} log_retention_days", errors)
    if retention is not None and retention < 1:
        # 0 would delete each day's logs as they are written: refused, not "corrected".
        errors.append(f"{where}: log_retention_days must be at least 1 (days), got {retention}")
    elif retention is not None and retention > LOG_RETENTION_MAX:
        errors.append(
            f"{where}: log_retention_days {retention} is more than {LOG_RETENTION_MAX} "
            "(GDPR: logs are kept no longer than needed)"
        )
    log_quota = _quota(raw.get("log_quota"), where, errors, "log_quota", required=False)
    admin_group = ""
    quota = ""
    backup_retention = None
    receivers: tuple[Mapping[str, str], ...] = ()
    groups: list[Any] = []
    if kind == "tenant":
        admin_group = raw.get("admin_group") or ""
        if not admin_group:
            errors.append(f"{where}: admin_group is required")
        elif not isinstance(admin_group, str) or not UNIX_GROUP.match(admin_group):
            errors.append(
                f"{where}: admin_group {admin_group!r:.40} is not a Unix group name "
                f"({UNIX_GROUP.pattern})"
            )
        elif admin_group in RESERVED_GROUPS | policy.reserved_groups:
            errors.append(
                f"{where}: admin_group {admin_group!r} is a system or privileged group: its "
                "members would get more than this tenant's logs and hosts"
            )
        quota = _quota(raw.get("backup_quota"), where, errors)
        backup_retention = _retention(raw.get("backup_retention"), where, errors)
        receivers = _receivers(raw.get("alert_receivers"), where, errors)
    else:
        groups = _as_list(raw.get("groups"), f"{where} groups", errors)
        if not groups:
            errors.append(f"{where}: 'groups' must list the inventory groups on this network")
        for group in groups:
            if not isinstance(group, str) or not GROUP_NAME.match(group):
                errors.append(f"{where}: group {group!r:.40} is not an inventory group name")
    if len(errors) > count or vlan is None or ipv4 is None:
        return None
    return Network(
        id=net_id,
        kind=kind,
        name=str(name),
        vlan=vlan,
        ipv4=ipv4,
        ipv6=ipv6,
        gateway=gateway,
        resolvers=resolvers,
        admin_group=str(admin_group),
        groups=tuple(str(g) for g in groups),
        services=services,
        backup_quota=quota,
        backup_retention=backup_retention,
        log_retention_days=retention or 365,
        log_quota=log_quota,
        alert_receivers=receivers,
    )


def network_id_of(group_names: Sequence[str], tenants: Any, shared: Any) -> str:
    """The id of the one network a host's groups place it in ('' when none or several).

    Read from the raw data (ids and groups only, no validation): the preflight says what
    is wrong with a model, this only answers where a host sits, cheaply, on every task."""
    found = []
    names = set(group_names)
    for raw_list, kind in ((tenants, "tenant"), (shared, "shared")):
        for raw in raw_list if isinstance(raw_list, list | tuple) else []:
            if not isinstance(raw, Mapping):
                continue
            net_id = str(raw.get("id", ""))
            groups = [net_id] if kind == "tenant" else raw.get("groups") or []
            if isinstance(groups, list | tuple) and names.intersection(map(str, groups)):
                found.append(net_id)
    return found[0] if len(found) == 1 else ""


def parse_policy(raw: Any, errors: list[str], reserved: Sequence[str] = ()) -> Policy:
    """``site_policy`` from the inventory (absent: the defaults of ``Policy``)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        errors.append(f"site_policy: expected a mapping, got {raw!r:.60}")
        raw = {}
    unknown = sorted(str(k) for k in raw if k != "public_prefixes")
    if unknown:
        errors.append(
            f"site_policy: unknown setting(s) {', '.join(unknown)} (known: public_prefixes)"
        )
    public = raw.get("public_prefixes", False)
    if not isinstance(public, bool):
        errors.append(f"site_policy.public_prefixes: expected true or false, got {public!r:.40}")
        public = False
    return Policy(public_prefixes=public, reserved_groups=frozenset(str(g) for g in reserved))


def parse_model(
    tenants: Any,
    shared: Any,
    hosts: Mapping[str, tuple[str | None, Sequence[str]]] | None = None,
    policy: Policy | None = None,
) -> SiteModel:
    """Build the model from raw inventory data; problems land in ``model.errors``.

    ``hosts`` maps each inventory host to ``(site_address, group_names)``.
    """
    model = SiteModel(policy=policy or Policy())
    for kind, raw_list, label in (
        ("tenant", tenants, "site_tenants"),
        ("shared", shared, "site_shared_networks"),
    ):
        if not isinstance(raw_list, Sequence) or isinstance(raw_list, str):
            model.errors.append(f"{label}: expected a list, got {type(raw_list).__name__}")
            continue
        for i, raw in enumerate(raw_list):
            net = _parse_network(raw, kind, i, model.errors, model.policy)
            if net is not None:
                model.networks.append(net)
    for name, (address, groups) in sorted((hosts or {}).items()):
        model.hosts.append(Host(name, address, tuple(groups)))
    return model
