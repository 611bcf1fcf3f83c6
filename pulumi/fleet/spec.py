"""The fleet specification of a stack: hypervisors and VM groups, as data.

Networks (tenants and shared zones) and hypervisors are not repeated here: the spec names
the Ansible inventory (``inventory``: its group ``hypervisors``, fleet/hypervisors.py)
and its ``tenants.yml`` (the site model, sitemodel/, reads it), so Pulumi and Ansible
share one copy of the machines and of the tenant data. The spec declares the VMs.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import yaml

from fleet.errors import FleetError
from fleet.hypervisors import Hypervisor, Pool, inventory_hypervisors
from sitemodel import Network, parse_model

__all__ = ["FleetError", "FleetSpec", "Hypervisor", "Pool", "VmGroup", "load_spec"]


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


def _relative_to(base: Path, value: str) -> str:
    return value if Path(value).is_absolute() else str((base / value).resolve())


def _uri_paths(uri: str, base: Path) -> str:
    """A qemu+ssh URI's keyfile and knownhosts, relative to the fleet file, made absolute
    (the provider runs elsewhere)."""
    parts = urlsplit(uri)
    if not parts.query:
        return uri
    query = [
        (k, _relative_to(base, v) if k in ("keyfile", "knownhosts") else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query, safe="/")))


def _admin_keys(raw: Mapping[str, Any], base: Path, where: str) -> tuple[str, ...]:
    """``admin_ssh_keys`` as given, then one key per line of each ``admin_ssh_key_files``
    (paths relative to the fleet file: a key made on the machine, such as the lab's)."""
    keys = [str(k) for k in raw.get("admin_ssh_keys", [])]
    for name in raw.get("admin_ssh_key_files", []):
        path = Path(_relative_to(base, str(name)))
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise FleetError(
                f"{where}: admin_ssh_key_files: cannot read {path} ({error.strerror})"
            ) from None
        keys += [line.strip() for line in text.splitlines() if line.strip()]
    for key in keys:
        if not key.startswith(("ssh-ed25519 ", "ecdsa-sha2-", "ssh-rsa ")) or "\n" in key:
            raise FleetError(f"{where}: admin key {key[:40]!r} is not an OpenSSH public key")
    return tuple(keys)


def _inventory_hypervisors(raw: Mapping[str, Any], base: Path, where: str) -> list[Hypervisor]:
    if "hypervisors" in raw:
        raise FleetError(
            f"{where}: 'hypervisors' is not a fleet file's: the hypervisors are the hosts of "
            "the inventory's group hypervisors (name it with 'inventory')"
        )
    inventory = Path(_relative_to(base, str(_require(raw, "inventory", where))))
    return inventory_hypervisors(inventory, str(_require(raw, "hypervisor_uri", where)), where)


def load_spec(path: Path, stack: str | None = None) -> FleetSpec:
    """Read a stack's fleet file; the paths it gives (tenants file, images, key files, a
    URI's keyfile and knownhosts) are relative to it."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    where = str(path)
    tenants_file = (path.parent / str(_require(raw, "tenants_file", where))).resolve()
    site = yaml.safe_load(tenants_file.read_text(encoding="utf-8")) or {}
    model = parse_model(site.get("site_tenants"), site.get("site_shared_networks"))
    if model.errors:
        raise FleetError(f"{tenants_file}: " + "; ".join(model.errors))
    base = path.parent
    images = {
        str(k): _relative_to(base, str(v)) for k, v in dict(_require(raw, "images", where)).items()
    }
    overcommit = raw.get("overcommit", {})
    spec = FleetSpec(
        stack=stack or path.stem,
        domain_type=str(raw.get("domain_type", "kvm")),
        cpu_overcommit=float(overcommit.get("cpu", 1.0)),
        memory_overcommit=float(overcommit.get("memory", 1.0)),
        feed_diversity=bool(raw.get("feed_diversity", True)),
        images=images,
        admin_ssh_keys=_admin_keys(raw, base, where),
        networks=tuple(model.networks),
        hypervisors=tuple(
            dataclasses.replace(hv, uri=_uri_paths(hv.uri, base))
            for hv in _inventory_hypervisors(raw, base, where)
        ),
        groups=tuple(_groups(raw.get("groups", []), model.networks, images)),
        bridges=dict(raw.get("bridges", {})),
    )
    if spec.domain_type not in ("kvm", "qemu"):
        raise FleetError(f"{where}: domain_type must be kvm or qemu, got {spec.domain_type!r}")
    duplicates = _duplicates(n for g in spec.groups for n in g.vm_names())
    if duplicates:
        raise FleetError(f"duplicate VM names: {', '.join(duplicates[:10])}")
    return spec
