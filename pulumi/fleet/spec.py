"""The fleet specification of a stack: hypervisors and VM groups, as data.

Networks (tenants and shared zones) are not repeated here: the spec names the Ansible
inventory's ``tenants.yml`` and the site model (sitemodel/) reads it, so Pulumi and
Ansible share one copy of the tenant data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from sitemodel import Network, parse_model


class FleetError(ValueError):
    """A fleet specification that cannot be deployed; the message names the culprit."""


@dataclass(frozen=True)
class Pool:
    name: str
    path: str
    capacity_gib: int


@dataclass(frozen=True)
class Hypervisor:
    name: str
    uri: str
    room: str
    feed: str
    vcpu: int
    memory_gib: int
    pool: Pool


@dataclass(frozen=True)
class VmGroup:
    """``count`` identical VMs named ``<name><nn>`` on ``network``, Ansible group ``role``.

    Numbering starts at ``first`` (1 by default), so that two groups can share a name
    (``backup01`` a server, ``backup02`` a replica).
    """

    name: str
    network: str
    role: str
    count: int
    vcpu: int
    memory_gib: int
    disk_gib: int
    image: str
    offset: int
    digits: int = 2
    first: int = 1

    @property
    def key(self) -> str:
        return f"{self.network}/{self.name}"

    def vm_names(self) -> list[str]:
        first = self.first
        return [f"{self.name}{i:0{self.digits}d}" for i in range(first, first + self.count)]


@dataclass(frozen=True)
class FleetSpec:
    stack: str
    domain_type: str
    cpu_overcommit: float
    memory_overcommit: float
    feed_diversity: bool
    images: Mapping[str, str]
    admin_ssh_keys: tuple[str, ...]
    networks: tuple[Network, ...]
    hypervisors: tuple[Hypervisor, ...]
    groups: tuple[VmGroup, ...]
    bridges: Mapping[str, str] = field(default_factory=dict)

    def network(self, net_id: str) -> Network:
        return next(n for n in self.networks if n.id == net_id)


def _duplicates(names: Iterable[str]) -> list[str]:
    return sorted(name for name, seen in Counter(names).items() if seen > 1)


def _require(raw: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in raw or raw[key] in (None, ""):
        raise FleetError(f"{where}: '{key}' is required")
    return raw[key]


def _positive(raw: Mapping[str, Any], key: str, where: str) -> int:
    value = _require(raw, key, where)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise FleetError(f"{where}: '{key}' must be a positive integer, got {value!r}")
    return value


def _hypervisors(raw_list: list[Mapping[str, Any]]) -> list[Hypervisor]:
    """Explicit entries, or ranges: ``name: hv-a{:03d}``, ``count``, ``first``, ``feeds``."""
    result = []
    for i, raw in enumerate(raw_list):
        where = f"hypervisors[{i}]"
        pool_raw = _require(raw, "pool", where)
        pool = Pool(
            str(_require(pool_raw, "name", f"{where}.pool")),
            str(_require(pool_raw, "path", f"{where}.pool")),
            _positive(pool_raw, "capacity_gib", f"{where}.pool"),
        )
        count = raw.get("count", 1)
        feeds = raw.get("feeds") or [_require(raw, "feed", where)]
        uri_format = str(_require(raw, "uri", where))
        user = urlsplit(uri_format.replace("{name}", "hv")).username
        if user == "root" or (uri_format.startswith("qemu+ssh://") and not user):
            raise FleetError(
                f"{where}: uri {uri_format!r} must name the fleet account "
                "(qemu+ssh://fleet@<hv>/system): root SSH is forbidden on hypervisors"
            )
        for n in range(count):
            index = raw.get("first", 1) + n
            name = str(_require(raw, "name", where)).format(index)
            result.append(
                Hypervisor(
                    name=name,
                    uri=uri_format.format(name=name),
                    room=str(_require(raw, "room", where)),
                    feed=str(feeds[n % len(feeds)]),
                    vcpu=_positive(raw, "vcpu", where),
                    memory_gib=_positive(raw, "memory_gib", where),
                    pool=pool,
                )
            )
    duplicates = _duplicates(h.name for h in result)
    if duplicates:
        raise FleetError(f"duplicate hypervisor names: {', '.join(duplicates)}")
    return result


def _groups(
    raw_list: list[Mapping[str, Any]], networks: list[Network], images: Any
) -> list[VmGroup]:
    known = {n.id: n for n in networks}
    groups = []
    for i, raw in enumerate(raw_list):
        where = f"groups[{i}] ({raw.get('name', '?')})"
        network = str(_require(raw, "network", where))
        if network not in known:
            raise FleetError(f"{where}: unknown network {network!r} (known: {', '.join(known)})")
        role = str(raw.get("role", network))
        net = known[network]
        if net.kind == "shared" and role not in net.groups:
            raise FleetError(
                f"{where}: role {role!r} is not one of the groups of shared network "
                f"{network!r} ({', '.join(net.groups)})"
            )
        shared_roles = {g for n in networks if n.kind == "shared" for g in n.groups}
        if net.kind == "tenant" and role != network and (role in known or role in shared_roles):
            raise FleetError(f"{where}: role {role!r} is a network or shared group name")
        image = str(_require(raw, "image", where))
        if image not in images:
            raise FleetError(f"{where}: unknown image {image!r}")
        count = raw.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise FleetError(f"{where}: 'count' must be an integer >= 0, got {count!r}")
        group = VmGroup(
            name=str(_require(raw, "name", where)),
            network=network,
            role=role,
            count=count,
            vcpu=_positive(raw, "vcpu", where),
            memory_gib=_positive(raw, "memory_gib", where),
            disk_gib=_positive(raw, "disk_gib", where),
            image=image,
            offset=_positive(raw, "offset", where),
            digits=int(raw.get("digits", 2)),
            first=_positive(raw, "first", where) if "first" in raw else 1,
        )
        if group.first + count - 1 >= 10**group.digits:
            raise FleetError(f"{where}: {count} VMs need more than {group.digits} digits")
        groups.append(group)
    return groups


def load_spec(path: Path, stack: str | None = None) -> FleetSpec:
    """Read a stack's fleet file; the tenants file path is relative to it."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    where = str(path)
    tenants_file = (path.parent / str(_require(raw, "tenants_file", where))).resolve()
    site = yaml.safe_load(tenants_file.read_text(encoding="utf-8")) or {}
    model = parse_model(site.get("site_tenants"), site.get("site_shared_networks"))
    if model.errors:
        raise FleetError(f"{tenants_file}: " + "; ".join(model.errors))
    images = dict(_require(raw, "images", where))
    overcommit = raw.get("overcommit", {})
    spec = FleetSpec(
        stack=stack or path.stem,
        domain_type=str(raw.get("domain_type", "kvm")),
        cpu_overcommit=float(overcommit.get("cpu", 1.0)),
        memory_overcommit=float(overcommit.get("memory", 1.0)),
        feed_diversity=bool(raw.get("feed_diversity", True)),
        images=images,
        admin_ssh_keys=tuple(raw.get("admin_ssh_keys", [])),
        networks=tuple(model.networks),
        hypervisors=tuple(_hypervisors(_require(raw, "hypervisors", where))),
        groups=tuple(_groups(raw.get("groups", []), model.networks, images)),
        bridges=dict(raw.get("bridges", {})),
    )
    if spec.domain_type not in ("kvm", "qemu"):
        raise FleetError(f"{where}: domain_type must be kvm or qemu, got {spec.domain_type!r}")
    duplicates = _duplicates(n for g in spec.groups for n in g.vm_names())
    if duplicates:
        raise FleetError(f"duplicate VM names: {', '.join(duplicates[:10])}")
    return spec
