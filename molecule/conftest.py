"""Shared by every scenario's testinfra tests.

Molecule points testinfra at its Ansible inventory, which costs an ansible run per
command. The containers are local, so each test talks to them with ``podman exec``
instead: same hosts (read from Molecule's inventory), ten times faster.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from sitemodel.inventory import flatten


def _molecule_hosts(inventory: Path) -> list[str]:
    hosts: set[str] = set()
    for path in sorted(inventory.glob("*.yml")) if inventory.is_dir() else [inventory]:
        _, hostvars = flatten(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        hosts.update(hostvars)
    return sorted(hosts)


def pytest_configure(config: pytest.Config) -> None:
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not inventory:
        return
    hosts = _molecule_hosts(Path(inventory))
    if hosts:
        config.option.hosts = ",".join(f"podman://{h}" for h in hosts)
