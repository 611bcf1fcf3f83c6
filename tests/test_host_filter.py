"""plugins/filter/host.py: one answer to "is this host a container?" for roles hardening,
audit and time (each role's <role>_container knob defaults to it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from testkit.plugins import load

host_is_container = load("filter", "host").host_is_container


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"virtualization_role": "guest", "virtualization_type": "podman"}, True),
        ({"virtualization_role": "guest", "virtualization_type": "container"}, True),
        ({"virtualization_role": "guest", "virtualization_type": "lxc"}, True),
        ({"virtualization_role": "guest", "virtualization_type": "kvm"}, False),
        ({"virtualization_role": "host", "virtualization_type": "kvm"}, False),
        ({}, False),
        (None, False),
    ],
)
def test_containers_and_machines(facts: dict | None, expected: bool) -> None:
    assert host_is_container(facts) is expected


@pytest.mark.parametrize("role", ["audit", "hardening", "time"])
def test_the_roles_ask_the_filter(role: str) -> None:
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text("utf-8"))
    assert defaults[f"{role}_container"] == "{{ ansible_facts | host_is_container }}"


def test_no_role_restates_the_container_list() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in Path(ROOT / "roles").glob("*/*/*.yml")
        if "'systemd-nspawn'" in p.read_text("utf-8")
    ]
    assert offenders == []
