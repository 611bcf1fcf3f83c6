"""Time to evaluate the `paris` fleet under Pulumi's mocks, from 350 to 3,500 VMs.

Each size runs in a fresh interpreter (no state carried between sizes); the 300
hypervisors stay, the VM groups are scaled.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = (0.1, 0.25, 0.5, 1.0)

_PROGRAM = """
import dataclasses, sys, time
sys.path[:0] = [{pulumi!r}, {root!r}]
import pulumi
from fleet.program import build
from fleet.spec import load_spec

class Mocks(pulumi.runtime.Mocks):
    count = 0
    def new_resource(self, args):
        Mocks.count += 1
        return args.name + "-id", dict(args.inputs)
    def call(self, args):
        return {{}}

spec = load_spec(__import__("pathlib").Path({fleet!r}))
groups = tuple(dataclasses.replace(g, count=max(1, round(g.count * {factor}))) for g in spec.groups)
spec = dataclasses.replace(spec, groups=groups)
pulumi.runtime.set_mocks(Mocks(), preview=False)
start = time.monotonic()

@pulumi.runtime.test
def evaluate():
    fleet = build(spec)
    return pulumi.Output.all(*[vm.domain.id for vm in fleet.vms])

evaluate()
print(sum(g.count for g in spec.groups), Mocks.count, time.monotonic() - start)
"""


def measure() -> list[tuple[str, str]]:
    rows = []
    for factor in SIZES:
        code = _PROGRAM.format(
            pulumi=str(ROOT / "pulumi"),
            root=str(ROOT),
            fleet=str(ROOT / "pulumi" / "fleets" / "paris.yaml"),
            factor=factor,
        )
        print(f"bench: pulumi paris x{factor}", flush=True)
        wall = time.monotonic()
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
        vms, resources, seconds = int(out[0]), int(out[1]), float(out[2])
        rows.append(
            (
                f"pulumi: evaluate paris under mocks, {vms} VMs ({resources} resources)",
                f"{seconds:.1f} s (process {time.monotonic() - wall:.1f} s)",
            )
        )
    return rows
