"""Pulumi program of the data center's VM fleet (see README.md beside this file).

Stack configuration:
  fleet:spec                 path of the fleet file (default fleets/<stack>.yaml)
  fleet:consolePasswordHash  optional secret: crypt hash of the bootstrap account's
                             console password (pulumi config set --secret ...)
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from fleet.program import build
from fleet.runtime import tune_gc
from fleet.spec import load_spec

HERE = Path(__file__).resolve().parent

# Before the first resource: the SDK's growing heap is not rescanned (fleet/runtime.py).
tune_gc()

config = pulumi.Config("fleet")
stack = pulumi.get_stack()
fleet = build(
    load_spec(HERE / (config.get("spec") or f"fleets/{stack}.yaml"), stack),
    config.get_secret("consolePasswordHash"),
)
pulumi.export("ansible_inventory", fleet.inventory)
pulumi.export("summary", fleet.summary())
