"""ansible-playbook as every benchmark runs it: the project's ansible.cfg, from the
repository's root, timed (wall and the controller's CPU), loud on failure."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


@dataclass(frozen=True)
class Run:
    """One ansible-playbook run: wall seconds, controller CPU seconds, its output."""

    wall: float
    cpu: float
    stdout: str


def run_playbook(label: str, *args: str) -> Run:
    """Run ``ansible-playbook *args``; exit the benchmark with its output when it fails.

    CPU is the controller's: ansible-playbook and every process it waited for (workers,
    Mitogen's multiplexer, the podman and ssh clients), from getrusage(RUSAGE_CHILDREN)."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    result = subprocess.run(
        [PLAYBOOK, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"bench: {label} failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall=wall, cpu=cpu, stdout=result.stdout)
