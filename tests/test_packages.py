"""Roles ask apt only for missing packages: the installed_packages fact module and the
packages_missing filter, and that every role's install task goes through them."""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import ROOT
from testkit.plugins import load

fact_module = load("modules", "installed_packages")
packages_filter = load("filter", "packages")

DPKG_QUERY = """installed openssh-server
installed libc6:amd64
config-files telnet
not-installed nis
half-installed auditd
installed chrony
"""


def test_only_installed_packages_are_listed_without_architecture() -> None:
    assert fact_module.parse(DPKG_QUERY) == ["chrony", "libc6", "openssh-server"]


def test_missing_packages_are_those_the_fact_does_not_list() -> None:
    facts = {"installed_packages": fact_module.parse(DPKG_QUERY)}
    assert packages_filter.packages_missing(["chrony", "auditd", "nis"], facts) == [
        "auditd",
        "nis",
    ]
    assert packages_filter.packages_missing(["chrony"], facts) == []


@pytest.mark.parametrize("facts", [None, {}, {"installed_packages": "chrony"}])
def test_without_the_fact_every_package_is_asked_of_apt(facts: object) -> None:
    assert packages_filter.packages_missing(["chrony", "auditd"], facts) == ["chrony", "auditd"]


def _install_tasks() -> list[tuple[str, dict]]:
    found = []
    for path in sorted((ROOT / "roles").glob("*/tasks/*.yml")):
        for task in yaml.safe_load(path.read_text("utf-8")) or []:
            for inner in [task, *task.get("block", [])]:
                apt = inner.get("ansible.builtin.apt")
                if (
                    isinstance(apt, dict)
                    and apt.get("state", "present") == "present"
                    and "name" in apt
                ):
                    found.append((f"{path.relative_to(ROOT)}: {inner['name']}", inner))
    return found


def test_the_roles_install_tasks_were_found() -> None:
    assert len(_install_tasks()) >= 10


@pytest.mark.parametrize(("where", "task"), _install_tasks(), ids=lambda v: str(v)[:70])
def test_every_install_asks_apt_only_for_missing_packages(where: str, task: dict) -> None:
    names = task["ansible.builtin.apt"]["name"]
    assert re.fullmatch(r"\{\{ \S+ \| packages_missing\(ansible_facts\) \}\}", names), where
    listed = names.removeprefix("{{ ").split(" |")[0]
    assert task["when"] == f"{listed} | packages_missing(ansible_facts) | length > 0", where


def test_the_fact_is_gathered_with_the_other_facts() -> None:
    config = (ROOT / "ansible.cfg").read_text("utf-8")
    assert re.search(r"^facts_modules = ansible\.builtin\.setup, installed_packages$", config, re.M)
