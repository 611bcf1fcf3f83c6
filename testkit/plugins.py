"""Load one of the repository's Ansible plugins (plugins/<kind>/<name>.py) as a module."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from testkit import ROOT


def load(kind: str, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"cite_{kind}_{name}", ROOT / "plugins" / kind / f"{name}.py"
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
