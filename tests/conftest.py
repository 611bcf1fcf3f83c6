"""Shared helpers for the project's pytest suite (everything that is not a role test)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a project tool from the venv, in the repository, capturing its output."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
    return subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False, **kwargs
    )


FAILURE = re.compile(r"^(fatal: \[|failed: \[|ERROR!|An exception occurred)")


def why_it_failed(result: subprocess.CompletedProcess[str]) -> str:
    """What to show when an ansible-playbook run fails: each failing result (``fatal:``,
    ``failed:``, ``ERROR!``) with the lines around it, since the end of the output is only the
    recap, then the end of stdout and stderr."""
    lines = result.stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if FAILURE.match(line)][:4]
    shown = ["\n".join(lines[max(i - 2, 0) : i + 14]) for i in starts]
    return "\n...\n".join([*shown, result.stdout[-1500:], result.stderr[-1500:]])


def inventory_json(inventory: Path, *extra: str) -> dict[str, Any]:
    """``ansible-inventory --list`` of an inventory: groups and (unrendered) host vars."""
    result = run([str(BIN / "ansible-inventory"), "-i", str(inventory), "--list", *extra])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


LAB_FLEET = ROOT / "pulumi" / "fleets" / "lab.yaml"
TEST_ADMIN_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGxhYmJvb3RzdHJhcGtleWZvcmRvY3VtZW50YXRpb24 test"
)


def lab_fleet_copy(directory: Path, real_keys: bool = False, **changes: Any) -> Path:
    """pulumi/fleets/lab.yaml, written into ``directory`` with its relative paths made
    absolute and, unless ``real_keys``, its admin key file (made by lab/up.yml on a lab
    machine) replaced by a test key, so that the lab stack loads without a lab;
    ``changes`` override fields."""
    from fleet.spec import _relative_to, _uri_paths

    raw = yaml.safe_load(LAB_FLEET.read_text("utf-8"))
    base = LAB_FLEET.parent
    raw["tenants_file"] = _relative_to(base, raw["tenants_file"])
    raw["images"] = {k: _relative_to(base, v) for k, v in raw["images"].items()}
    if real_keys:
        raw["admin_ssh_key_files"] = [_relative_to(base, k) for k in raw["admin_ssh_key_files"]]
    else:
        key = directory / "admin.pub"
        key.write_text(TEST_ADMIN_KEY + "\n", encoding="utf-8")
        raw["admin_ssh_key_files"] = [str(key)]
    raw["inventory"] = _relative_to(base, raw["inventory"])
    raw["hypervisor_uri"] = _uri_paths(raw["hypervisor_uri"], base)
    raw.update(changes)
    path = directory / "lab.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


LAB_COPY_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGxhYmNvcHlrZXlmb3J0aGVwcmVmbGlnaHRvbmx5"


@pytest.fixture
def lab_copy(tmp_path: Path) -> Path:
    """A copy of the lab inventory whose hosts do not exist: any connection would fail."""
    inv = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventory" / "lab", inv)
    # The lab's public keys (made by `make lab`): the preflight checks their form.
    keys = tmp_path / "lab-keys"
    keys.mkdir()
    for name in ("id_ed25519.pub", "fleet.pub"):
        (keys / name).write_text(f"{LAB_COPY_KEY} {name}@lab-copy\n", encoding="utf-8")
    (inv / "group_vars" / "all" / "unreachable.yml").write_text(
        "ansible_connection: ssh\nansible_host: 192.0.2.1\nansible_ssh_timeout: 1\n"
        f"site_apt_mirror: http://mirror.invalid/debian\nlab_ssh_files: {keys}\n",
        encoding="utf-8",
    )
    make_vault(inv)
    return inv


def make_vault(inventory: Path) -> None:
    """The copy's vault: a backup passphrase per tenant, as lab/up.yml makes the lab's."""
    tenants = yaml.safe_load((inventory / "group_vars" / "all" / "tenants.yml").read_text("utf-8"))
    ids = [t["id"] for t in tenants["site_tenants"]]
    vault = inventory / "group_vars" / "all" / "vault.yml"
    result = run([str(BIN / "python"), "lab/vault.py", str(vault), *ids])
    assert result.returncode == 0, result.stderr


def edit_yaml(path: Path, change: Any) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def preflight(inventory: Path, *extra: str) -> tuple[int, str]:
    result = run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), "playbooks/preflight.yml", *extra]
    )
    return result.returncode, result.stdout + result.stderr
