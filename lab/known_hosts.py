"""Pin each lab host's SSH host key, read from inside its container (no trust on first
use), into .cache/lab/known_hosts: what `-e lab_connection=ssh` checks the hosts against.

    python lab/known_hosts.py        (the lab must be up: make lab-up)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PODMAN = ROOT / "lab" / "bin" / "podman"
KNOWN_HOSTS = ROOT / ".cache" / "lab" / "known_hosts"


def lab_hosts() -> dict[str, str]:
    """Lab host -> site address, from the lab inventory."""
    out = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(ROOT / "inventory" / "lab"), "--list"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    return {h: v["site_address"] for h, v in json.loads(out)["_meta"]["hostvars"].items()}


def write() -> Path:
    lines = []
    for host, address in sorted(lab_hosts().items()):
        key = subprocess.run(
            [str(PODMAN), "exec", f"lab-{host}", "cat", "/etc/ssh/ssh_host_ed25519_key.pub"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[:2]
        lines.append(f"{address} {' '.join(key)}")
    KNOWN_HOSTS.write_text("\n".join(lines) + "\n", "utf-8")
    return KNOWN_HOSTS


if __name__ == "__main__":
    print(write())
