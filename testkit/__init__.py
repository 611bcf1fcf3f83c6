"""Helpers shared by the pytest suite (tests/) and the Molecule scenarios' testinfra tests
(molecule/*/tests/): traffic between hosts, playbook runs on a scenario's inventory, the
repository's Ansible plugins loaded as modules. Installed with the project's packages
(`pip install -e .`), importable from anywhere in the venv."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
