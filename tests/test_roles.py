"""Every role is complete: specs, documented defaults, README in sync, its own scenario."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, run

ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir())


def test_there_are_roles() -> None:
    assert {"base", "time"} <= set(ROLES)


# Roles whose scenario is named after another role they only work with.
SHARED_SCENARIOS = {
    "log_server": "logging",  # logging, log_server and audit: molecule/logging
    "audit": "hardening",  # BP-028 R73, judged with the rest of BP-028 (also in logging)
    "ssh": "hardening",  # the SSH server is judged with the rest of the baseline
    "pki": "logging",  # the certificates central logging runs on
    "time": "hardening",  # the baseline's time server and client (the same two hosts)
}


def scenario_of(role: str) -> Path:
    """molecule/<role>, or molecule/<family> for roles that only work together and share one
    multi-host scenario (backup_server and backup_client: molecule/backup), or the scenario
    SHARED_SCENARIOS names."""
    own = ROOT / "molecule" / SHARED_SCENARIOS.get(role, role)
    return own if own.is_dir() else ROOT / "molecule" / role.split("_")[0]


@pytest.mark.parametrize("role", ROLES)
def test_role_is_complete(role: str) -> None:
    path = ROOT / "roles" / role
    for part in ("meta/argument_specs.yml", "meta/main.yml", "defaults/main.yml", "README.md"):
        assert (path / part).is_file(), f"{role}: {part} is missing"
    scenario = scenario_of(role)
    assert (scenario / "molecule.yml").is_file(), f"{role}: no Molecule scenario"
    assert list((scenario / "tests").glob("test_*.py")), f"{role}: no testinfra"
    converged = (scenario / "converge.yml").read_text("utf-8")
    playbooks = [ROOT / "playbooks" / m for m in re.findall(r"playbooks/([\w-]+\.yml)", converged)]
    assert role in converged + "".join(p.read_text("utf-8") for p in playbooks), (
        f"{scenario} does not run {role}"
    )


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_specified_and_prefixed(role: str) -> None:
    path = ROOT / "roles" / role
    defaults = yaml.safe_load((path / "defaults" / "main.yml").read_text("utf-8")) or {}
    specs = yaml.safe_load((path / "meta" / "argument_specs.yml").read_text("utf-8"))
    options = specs["argument_specs"]["main"]["options"]
    assert set(defaults) - set(options) == set(), "defaults missing from argument_specs"
    assert [v for v in options if not v.startswith(f"{role}_")] == []


def test_readmes_match_argument_specs() -> None:
    result = run([sys.executable, str(Path("tools") / "role_docs.py"), "--check"])
    assert result.returncode == 0, result.stdout


def test_every_role_that_declares_openings_is_listed_in_the_firewall_play() -> None:
    """Which role opens which port is read in playbooks/firewall.yml: a role with a
    tasks/firewall.yml entry point that the play does not import would open nothing."""
    declaring = {p.parent.parent.name for p in (ROOT / "roles").glob("*/tasks/firewall.yml")}
    play = yaml.safe_load((ROOT / "playbooks" / "firewall.yml").read_text("utf-8"))[0]
    imported = {
        t["ansible.builtin.import_role"]["name"]
        for t in play["tasks"]
        if t.get("ansible.builtin.import_role", {}).get("tasks_from") == "firewall"
    }
    assert declaring
    assert imported == declaring


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_defaults_equal_the_defaults_file(role: str) -> None:
    """meta/argument_specs.yml documents the same default values as defaults/main.yml
    (a template default is documented in words, without a value)."""
    path = ROOT / "roles" / role
    defaults = yaml.safe_load((path / "defaults" / "main.yml").read_text("utf-8")) or {}
    specs = yaml.safe_load((path / "meta" / "argument_specs.yml").read_text("utf-8"))
    options = specs["argument_specs"]["main"]["options"]
    differ = {}
    for name, value in defaults.items():
        templated = isinstance(value, str) and "{{" in value
        spec = options.get(name, {})
        if templated:
            if "default" in spec:
                differ[name] = ("a template", spec["default"])
        elif spec.get("default") != value:
            differ[name] = (value, spec.get("default"))
    assert differ == {}


LAYOUT_KEYS = {"ansible.builtin.import_tasks", "ansible.builtin.include_tasks", "when"}


def _task_blocks() -> dict[str, list[str]]:
    """Every task of every role, as its YAML without name and tags, -> where it is."""
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "roles").glob("*/tasks/*.yml")):
        for task in yaml.safe_load(path.read_text("utf-8")) or []:
            body = {k: v for k, v in task.items() if k not in ("name", "tags")}
            if set(body) <= LAYOUT_KEYS:
                continue  # a file's layout, not work
            key = yaml.safe_dump(body, sort_keys=True)
            found.setdefault(key, []).append(f"{path.relative_to(ROOT)}: {task.get('name')}")
    return found


def test_no_two_roles_carry_the_same_task() -> None:
    """The YAML counterpart of the `duplicates` check on the Python: a task written twice
    (same module, same arguments) in two roles belongs in one home."""
    repeated = {k: v for k, v in _task_blocks().items() if len({p.split("/")[1] for p in v}) > 1}
    assert repeated == {}
