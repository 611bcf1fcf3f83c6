"""Every hardening task names the ANSSI BP-028 recommendation it implements.

An auditor's finding must map to one task: task names start with their R-numbers (or with
the name of a control BP-028 does not number: banner, USB), and every task file imported by
tasks/main.yml is tagged with the same R-numbers and switched by a hardening_*_enabled knob
that hardening_waivers can name (a control is turned off only with its reason).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

TASKS = ROOT / "roles" / "hardening" / "tasks"
# The role's own machinery, not BP-028 controls: facts, the inputs' and waivers' checks, the record.
FRAMEWORK = {"main.yml", "facts.yml", "inputs.yml", "waivers.yml", "waivers_record.yml"}
NAMED = re.compile(r"^(R\d+( R\d+)*|Banner|USB) \| \S")


@pytest.mark.parametrize(
    "path",
    [
        *sorted(p for p in TASKS.glob("*.yml") if p.name not in FRAMEWORK),
        ROOT / "roles" / "audit" / "tasks" / "main.yml",  # R73's audit trail, its own role
    ],
    ids=lambda p: p.name,
)
def test_every_task_names_its_recommendation(path: Path) -> None:
    tasks = yaml.safe_load(path.read_text("utf-8"))
    unnamed = [t.get("name") for t in tasks if not NAMED.match(t.get("name", ""))]
    assert unnamed == []


def test_every_control_family_is_tagged_and_can_be_turned_off() -> None:
    imports = yaml.safe_load((TASKS / "main.yml").read_text("utf-8"))
    defaults = yaml.safe_load((ROOT / "roles/hardening/defaults/main.yml").read_text("utf-8"))
    role_vars = yaml.safe_load((ROOT / "roles/hardening/vars/main.yml").read_text("utf-8"))
    waivable = {
        v.strip("{} ").removesuffix("| bool").strip()
        for v in role_vars["_hardening_controls"].values()
    }
    for entry in imports:
        if entry["ansible.builtin.import_tasks"] in FRAMEWORK:
            continue
        switch = entry["when"]
        assert switch in defaults, f"{entry['name']}: {switch} is not a documented knob"
        assert switch in waivable, f"{entry['name']}: {switch} is not in _hardening_controls"
        numbers = re.findall(r"R\d+", entry["name"])
        assert set(numbers) <= set(entry["tags"]), entry["name"]
    imported = {e["ansible.builtin.import_tasks"] for e in imports}
    assert imported == {p.name for p in TASKS.glob("*.yml")} - {"main.yml"}
