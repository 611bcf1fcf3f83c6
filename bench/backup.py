"""Backup figures on the running lab (`make lab` first): throughput of a first backup of a
generated data set from a tenant host to the backup server (through the host firewalls,
the backup sshd and its forced command), and the size a second backup of the same data
adds, in percent of the first.

    python -m bench --only backup
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parent.parent
HOST = "ville-web01"
DATA = "/srv/bench-backup"
# 256 MiB of random bytes (incompressible) + about 150 MiB of text (compressible), in
# 2,000 files: roughly what a tenant's application server holds besides its database.
MAKE = f"""
import os
os.makedirs("{DATA}/docs", exist_ok=True)
for i in range(64):
    with open(f"{DATA}/blob{{i:02}}.bin", "wb") as out:
        out.write(os.urandom(4 * 1024 * 1024))
for i in range(2000):
    with open(f"{DATA}/docs/{{i:04}}.txt", "w") as out:
        out.write(f"dossier {{i}} ligne de texte administratif\\n" * 1800)
"""


def _exec(command: str) -> str:
    result = subprocess.run(
        [str(ROOT_DIR / "lab" / "bin" / "podman"), "exec", f"lab-{HOST}", "sh", "-c", command],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"bench: backup: {command!r} failed on {HOST}: {result.stderr[-2000:]}")
    return result.stdout


def _create(name: str) -> dict:
    out = _exec(f"cite-borg create --json --compression zstd,3 ::{name} {DATA}")
    return json.loads(out)["archive"]


def measure() -> list[tuple[str, str]]:
    _exec(f"rm -rf {DATA} && python3 -c '{MAKE}'")
    size = int(_exec(f"du -sb {DATA}").split()[0])
    stamp = _exec("date +%s").strip()
    try:
        first = _create(f"bench-{stamp}-1")
        second = _create(f"bench-{stamp}-2")
    finally:
        _exec(f"rm -rf {DATA}")
    mb = 1_000_000
    original = first["stats"]["original_size"]
    added = second["stats"]["deduplicated_size"]
    share = 100 * added / first["stats"]["deduplicated_size"]
    return [
        (
            f"backup: first backup of {size / mb:.0f} MB ({HOST} to backup01, zstd,3)",
            f"{first['duration']:.1f} s, {original / mb / first['duration']:.1f} MB/s",
        ),
        (
            "backup: stored by the first backup (compressed, deduplicated)",
            f"{first['stats']['deduplicated_size'] / mb:.1f} MB",
        ),
        (
            "backup: second backup of the same data, added size (% of the first)",
            f"{added / mb:.3f} MB ({share:.4f} %), {second['duration']:.1f} s",
        ),
    ]
