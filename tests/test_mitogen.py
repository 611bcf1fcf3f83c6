"""The Mitogen plumbing: the strategy shim turns Mitogen's CPU pinning off, the lab's
connection declares its options so that Ansible renders the container's name."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT
from sitemodel.inventory import flatten
from testkit.plugins import load

# The strategy shim runs inside ansible-playbook, after Ansible has installed its collection
# loader; these tests load it the same way, in a Python of their own.
SHIM = r"""
import gc, json, sys
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader()
import ansible_mitogen.affinity, ansible_mitogen.planner, ansible_mitogen.strategy
from ansible.executor.process.worker import WorkerProcess
from ansible.plugins.strategy.linear import StrategyModule as Linear
sys.path.insert(0, sys.argv[1])
from testkit.plugins import load

strategy = load("strategy", "mitogen_linear")
seen = []
strategy._fork_worker = lambda worker: seen.append(gc.get_freeze_count())
before = gc.get_freeze_count()
WorkerProcess.start(object())
after = gc.get_freeze_count()
again = load("strategy", "mitogen_linear")


class Invocation:
    _extra_sys_paths = set()


invocation = Invocation()
again._load_collections(invocation)
print(json.dumps({
    "linear": issubclass(strategy.StrategyModule, Linear),
    "policy": type(ansible_mitogen.affinity.policy) is ansible_mitogen.affinity.Policy,
    "redirected": list(ansible_mitogen.strategy.REDIRECTED_CONNECTION_PLUGINS),
    "frozen": [before, seen, after],
    "wrapped_once": WorkerProcess.start.__wrapped__ is again._fork_worker
    and getattr(again._fork_worker, "__wrapped__", None) is None,
    "planner": ansible_mitogen.planner._load_collections is again._load_collections,
    "paths": list(again.COLLECTION_PATHS),
    "added": sorted(invocation._extra_sys_paths),
}))
"""


@pytest.fixture(scope="module")
def shim() -> dict:
    result = subprocess.run(
        [sys.executable, "-c", SHIM, str(ROOT)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_the_strategy_is_mitogen_linear_without_cpu_pinning(shim: dict) -> None:
    assert shim["linear"]
    # Mitogen's own no-op policy: the controller and its workers may use every core.
    assert shim["policy"]
    # Tasks on the controller keep Ansible's local connection (async jobs work there).
    assert "local" not in shim["redirected"]
    assert "ssh" in shim["redirected"]
    config = (ROOT / "ansible.cfg").read_text("utf-8")
    assert re.search(r"^strategy = mitogen_linear$", config, re.M)
    assert re.search(r"^strategy_plugins = plugins/strategy$", config, re.M)


def test_workers_are_forked_with_the_controller_objects_frozen(shim: dict) -> None:
    before, seen, after = shim["frozen"]
    assert len(seen) == 1
    assert seen[0] > before  # frozen while the worker is forked
    assert after == before  # and collected again by the controller afterwards
    # Loaded twice (Ansible may), the fork is wrapped once, around Ansible's own.
    assert shim["wrapped_once"]


def test_collection_paths_are_listed_once_by_the_controller(shim: dict) -> None:
    assert shim["planner"]
    assert any(path.endswith("ansible_collections/ansible/posix") for path in shim["paths"])
    assert shim["added"] == sorted(set(shim["paths"]))


def test_the_lab_connection_renders_its_container_name() -> None:
    connection = load("connection", "lab_podman")
    options = yaml.safe_load(connection.DOCUMENTATION)["options"]
    assert {"name": "ansible_host"} in options["host"]["vars"]
    assert connection.Connection.transport == "podman"


def test_forks_cover_every_lab_host() -> None:
    # Fewer forks than hosts runs every task in two waves (docs/figures.md).
    config = (ROOT / "ansible.cfg").read_text("utf-8")
    forks = int(re.search(r"^forks = (\d+)$", config, re.M).group(1))  # type: ignore[union-attr]
    _, hosts = flatten(
        yaml.safe_load((ROOT / "inventory" / "lab" / "hosts.yml").read_text("utf-8"))
    )
    assert forks >= len(hosts) > 5
