"""The hypervisors Pulumi deploys to are the Ansible inventory's (one source of truth for
machines): every host of its group ``hypervisors``, as role ``hypervisor`` configures it.

From the inventory directory a fleet file names (``inventory:``):
- ``hosts.yml``: each hypervisor's ``site_address``, ``site_room`` and ``site_feed`` (its
  power feed), and, when it differs from its group's, its capacity;
- ``group_vars/hypervisors.yml``: the capacity the placement counts on (``site_vcpus``,
  ``site_memory_gib``, ``site_storage_gib``: the hardware, facts of the site like its
  rooms), the storage pool role ``hypervisor`` makes (the first of ``hypervisor_pools``)
  and its fleet account (``hypervisor_fleet_user``);
- the fleet file's ``hypervisor_uri``: how Pulumi reaches one, with ``{name}``,
  ``{address}`` and ``{user}`` filled in.

Only literal values are read (a Jinja expression is Ansible's to evaluate, and refused
here, naming the variable), and every error names the host and the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from fleet.errors import FleetError
from sitemodel.inventory import flatten

GROUP = "hypervisors"
FEEDS = ("A", "B")


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


def _literal(value: Any, name: str, where: str) -> Any:
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        raise FleetError(f"{where}: {name} is a Jinja expression; the fleet reads literals only")
    return value


def _positive(values: Mapping[str, Any], name: str, where: str) -> int:
    value = _literal(values.get(name), name, where)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise FleetError(f"{where}: {name} must be a positive integer, got {value!r}")
    return value


def _read(path: Path, where: str) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise FleetError(f"{where}: cannot read {path} ({error.strerror})") from None


def inventory_hypervisors(inventory: Path, uri_format: str, where: str) -> list[Hypervisor]:
    """The hypervisors of ``inventory``, in its order of names (unique: an inventory's
    host names are); each one's URI names the fleet account, never root."""
    groups, hostvars = flatten(_read(inventory / "hosts.yml", where))
    names = groups.get(GROUP, [])
    if not names:
        raise FleetError(f"{where}: {inventory}/hosts.yml has no host in group {GROUP!r}")
    shared = _read(inventory / "group_vars" / f"{GROUP}.yml", where)
    if not isinstance(shared, dict):
        raise FleetError(f"{where}: {inventory}/group_vars/{GROUP}.yml is not a mapping")
    user = str(_literal(shared.get("hypervisor_fleet_user", "fleet"), "hypervisor_fleet_user",
                        f"{where}: group_vars/{GROUP}.yml"))  # fmt: skip
    result = []
    for name in names:
        values = {**shared, **(hostvars.get(name) or {})}
        host = f"{where}: hypervisor {name}"
        pools = _literal(values.get("hypervisor_pools"), "hypervisor_pools", host)
        if not isinstance(pools, list) or not pools or not isinstance(pools[0], dict):
            raise FleetError(f"{host}: hypervisor_pools must list its storage pool")
        feed = _literal(values.get("site_feed"), "site_feed", host)
        if feed not in FEEDS:
            raise FleetError(f"{host}: site_feed must be one of {', '.join(FEEDS)}, got {feed!r}")
        room = _literal(values.get("site_room"), "site_room", host)
        if not isinstance(room, str) or not room:
            raise FleetError(f"{host}: site_room is required (the room it stands in)")
        address = _literal(values.get("site_address"), "site_address", host)
        uri = uri_format.format(name=name, address=address, user=user)
        login = urlsplit(uri).username
        if login == "root" or (uri.startswith("qemu+ssh://") and not login):
            raise FleetError(
                f"{host}: uri {uri!r} must name the fleet account "
                "(qemu+ssh://fleet@<hv>/system): root SSH is forbidden on hypervisors"
            )
        pool = {key: _literal(pools[0].get(key), f"hypervisor_pools[0].{key}", host)
                for key in ("name", "path")}  # fmt: skip
        if not all(isinstance(v, str) and v for v in pool.values()):
            raise FleetError(f"{host}: hypervisor_pools[0] needs a name and a path")
        result.append(
            Hypervisor(
                name=name,
                uri=uri,
                room=room,
                feed=feed,
                vcpu=_positive(values, "site_vcpus", host),
                memory_gib=_positive(values, "site_memory_gib", host),
                pool=Pool(pool["name"], pool["path"], _positive(values, "site_storage_gib", host)),
            )
        )
    return result
