"""The Mitogen plumbing: the strategy shim turns Mitogen's CPU pinning off, the lab's
connection declares its options so that Ansible renders the container's name."""

from __future__ import annotations

import re

import ansible_mitogen.affinity
import ansible_mitogen.strategy
import yaml
from ansible.plugins.strategy.linear import StrategyModule as Linear

from conftest import ROOT
from testkit.plugins import load


def test_the_strategy_is_mitogen_linear_without_cpu_pinning() -> None:
    strategy = load("strategy", "mitogen_linear")
    assert issubclass(strategy.StrategyModule, Linear)
    # Mitogen's own no-op policy: the controller and its workers may use every core.
    assert type(ansible_mitogen.affinity.policy) is ansible_mitogen.affinity.Policy
    # Tasks on the controller keep Ansible's local connection (async jobs work there).
    assert "local" not in ansible_mitogen.strategy.REDIRECTED_CONNECTION_PLUGINS
    assert "ssh" in ansible_mitogen.strategy.REDIRECTED_CONNECTION_PLUGINS
    config = (ROOT / "ansible.cfg").read_text("utf-8")
    assert re.search(r"^strategy = mitogen_linear$", config, re.M)
    assert re.search(r"^strategy_plugins = plugins/strategy$", config, re.M)


def test_the_lab_connection_renders_its_container_name() -> None:
    connection = load("connection", "lab_podman")
    options = yaml.safe_load(connection.DOCUMENTATION)["options"]
    assert {"name": "ansible_host"} in options["host"]["vars"]
    assert connection.Connection.transport == "podman"
