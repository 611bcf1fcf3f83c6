"""ansible-playbook on a running Molecule scenario, for its testinfra tests.

Molecule exports the scenario's inventory (MOLECULE_INVENTORY_FILE); the tests rerun a
playbook on it (converge with bad input, --check, a drill) to see what the roles do.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from testkit import ROOT


def playbook(
    path: str | Path, *extra: str, scenario_inventory: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``path`` on the scenario's inventory. ``stdout`` holds stdout and stderr (Ansible
    prints its errors on stderr) with whitespace runs folded to one space, so that messages
    the yaml callback wraps can be searched whole; ``stderr`` is kept as it came.
    ``scenario_inventory=False``: the caller gives its own ``-i`` in ``extra``."""
    scenario = ["-i", os.environ["MOLECULE_INVENTORY_FILE"]] if scenario_inventory else []
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-playbook"), *scenario, str(path), *extra],
        capture_output=True,
        text=True,
        check=False,
    )
    result.stdout = " ".join((result.stdout + result.stderr).split())
    return result


def extra_inventory(directory: Path, hosts: dict[str, dict[str, Any]], group: str) -> Path:
    """A second inventory source adding ``hosts`` (name -> vars) to ``group``: how a test
    gives a role a host Molecule's own inventory does not have."""
    path = directory / "extra-inventory.yml"
    inventory = {"all": {"children": {group: {"hosts": hosts}}}}
    path.write_text(yaml.safe_dump(inventory), "utf-8")
    return path
