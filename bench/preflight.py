"""The preflight of the paris stack's exported inventory at 350, 1,750 and 3,500 hosts.

The inventory is what the Pulumi program exports (fleet/inventory.py: the same placement
and addressing functions the program calls), with the production inventory's group_vars
and a generated vault, in a scratch directory. No host is contacted: the preflight is
the first play of site.yml and refuses a bad site before any connection.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from bench.playbook import run_playbook
from fleet.addressing import allocate
from fleet.inventory import ansible_inventory
from fleet.placement import place
from fleet.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
SIZES = (0.1, 0.5, 1.0)


def paris_inventory(factor: float, dest: Path) -> int:
    """production's group_vars + the paris export scaled by ``factor``; returns the hosts."""
    spec = load_spec(ROOT / "pulumi" / "fleets" / "paris.yaml")
    groups = tuple(
        dataclasses.replace(g, count=max(1, round(g.count * factor))) for g in spec.groups
    )
    spec = dataclasses.replace(spec, groups=groups)
    shutil.copytree(ROOT / "inventory" / "production", dest)
    (dest / "hosts.yml").write_text(
        yaml.safe_dump(ansible_inventory(spec, place(spec), allocate(spec))), "utf-8"
    )
    tenants = [
        t["id"]
        for t in yaml.safe_load((dest / "group_vars" / "all" / "tenants.yml").read_text("utf-8"))[
            "site_tenants"
        ]
    ]
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "lab" / "vault.py"),
            str(dest / "group_vars/all/vault.yml"),
            *tenants,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return sum(g.count for g in spec.groups)


def measure() -> list[tuple[str, str]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-preflight.") as scratch:
        for factor in SIZES:
            inventory = Path(scratch) / f"paris-{factor}"
            hosts = paris_inventory(factor, inventory)
            print(f"bench: preflight of the paris export, {hosts} hosts", flush=True)
            label = f"preflight at {hosts} hosts"
            elapsed = run_playbook(label, "-i", str(inventory), "playbooks/preflight.yml").wall
            rows.append(
                (
                    f"preflight of the paris export, {hosts} hosts (production group_vars)",
                    f"{elapsed:.1f} s ({1000 * elapsed / hosts:.1f} ms per host)",
                )
            )
    return rows
