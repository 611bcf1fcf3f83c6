"""The lab's converge figures: containers up, first and second converge, --check, and the
controller's CPU time per host for a re-converge, through the lab's container connection
and over SSH the way production converges (through the bastion, sudo with a password).

CPU time is the controller's: ansible-playbook and every process it waited for (workers,
Mitogen's multiplexer, the podman and ssh clients), from getrusage(RUSAGE_CHILDREN); what
runs inside the hosts is not counted, as it would run on the hosts in production.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bench.playbook import run_playbook

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

RECAP_CHANGED = " changed=0 "


def converge(label: str, *extra: str, unchanged: bool = False) -> tuple[float, float]:
    """Run site.yml; return (wall seconds, controller CPU seconds). Fails loudly."""
    print(f"bench: {label}: ansible-playbook site.yml {' '.join(extra)}", flush=True)
    run = run_playbook(label, "site.yml", *extra)
    recap = [line for line in run.stdout.splitlines() if " : ok=" in line]
    if unchanged and not all(RECAP_CHANGED in line for line in recap):
        sys.exit(f"bench: {label}: something changed:\n" + "\n".join(recap))
    return run.wall, run.cpu


def measure() -> list[tuple[str, str]]:
    make = ["make", "--no-print-directory"]
    subprocess.run([*make, "lab-down"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    start = time.monotonic()
    subprocess.run([*make, "lab-up"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    rows = [("lab: containers and networks up (make lab-up)", f"{time.monotonic() - start:.0f} s")]
    inventory = subprocess.run(
        [str(BIN / "ansible-inventory"), "--list"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    hosts = len(json.loads(inventory)["_meta"]["hostvars"])
    wall, _ = converge("first converge")
    rows.append(("lab: first converge of site.yml", f"{wall:.0f} s"))
    wall, cpu = converge("second converge", unchanged=True)
    rows.append(
        (
            "lab: second converge of site.yml (0 changed), container connection",
            f"{wall:.0f} s; controller {cpu:.0f} CPU-s, {cpu / hosts:.1f} CPU-s per host",
        )
    )
    wall, _ = converge("check", "--check", unchanged=True)
    rows.append(("lab: site.yml --check, converged (0 changed)", f"{wall:.0f} s"))
    subprocess.run([sys.executable, str(ROOT / "lab" / "known_hosts.py")], check=True)
    wall, cpu = converge("SSH re-converge", "-e", "lab_connection=ssh", unchanged=True)
    rows.append(
        (
            "lab: re-converge over SSH through the bastion, sudo (0 changed)",
            f"{wall:.0f} s; controller {cpu:.0f} CPU-s, {cpu / hosts:.1f} CPU-s per host",
        )
    )
    subprocess.run([*make, "lab-down"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return rows
