"""Time to evaluate the `paris` fleet under Pulumi's mocks, with Python's garbage
collector as the SDK leaves it and as the program sets it (fleet/runtime.py), side by
side in one run.

Each evaluation runs in a fresh interpreter (no state carried between runs); the 300
hypervisors stay, the VM groups are scaled. Wall time and the process's CPU time are
both reported: the evaluation is single-threaded Python.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = (0.1, 0.5, 1.0)

_PROGRAM = """
import dataclasses, json, resource, time
import pulumi
from fleet.program import build
from fleet.runtime import tune_gc
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
if {tuned!r}:
    tune_gc()
pulumi.runtime.set_mocks(Mocks(), preview=False)
start, cpu = time.monotonic(), time.process_time()

@pulumi.runtime.test
def evaluate():
    fleet = build(spec)
    return pulumi.Output.all(*[vm.domain.id for vm in fleet.vms])

evaluate()
print(json.dumps({{"vms": sum(g.count for g in spec.groups), "resources": Mocks.count,
                  "wall": time.monotonic() - start, "cpu": time.process_time() - cpu,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def evaluate(factor: float, *, tuned: bool) -> dict[str, float]:
    code = _PROGRAM.format(
        fleet=str(ROOT / "pulumi" / "fleets" / "paris.yaml"),
        factor=factor,
        tuned=tuned,
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def measure() -> list[tuple[str, str]]:
    rows = []
    for factor in SIZES:
        print(f"bench: pulumi paris x{factor}, SDK defaults then tuned", flush=True)
        before = evaluate(factor, tuned=False)
        after = evaluate(factor, tuned=True)
        rows.append(
            (
                f"pulumi: evaluate paris under mocks, {after['vms']} VMs "
                f"({after['resources']} resources): GC as the SDK leaves it -> "
                "fleet.runtime.tune_gc",
                f"{before['wall']:.1f} s wall ({before['cpu']:.1f} s CPU, "
                f"{before['rss_mib']:.0f} MiB) -> **{after['wall']:.1f} s** wall "
                f"({after['cpu']:.1f} s CPU, {after['rss_mib']:.0f} MiB)",
            )
        )
    return rows
