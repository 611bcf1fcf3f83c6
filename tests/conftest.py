"""Shared helpers for the project's pytest suite (everything that is not a role test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# The Pulumi program's package (pulumi/fleet), importable as `fleet` like Pulumi does.
sys.path.insert(0, str(ROOT / "pulumi"))


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a project tool from the venv, in the repository, capturing its output."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
    return subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False, **kwargs
    )


def inventory_json(inventory: Path) -> dict[str, Any]:
    """``ansible-inventory --list`` of an inventory: groups and (unrendered) host vars."""
    result = run([str(BIN / "ansible-inventory"), "-i", str(inventory), "--list"])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
