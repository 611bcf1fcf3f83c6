"""Log forwarding throughput on the running lab (`make lab` first): messages per second
from a tenant host's journal to the log server's files, through rsyslog's forwarding (RELP
in TLS) and the host firewalls, with the crash-safe configuration (logging_durable: one
forwarder per log server reading the journal itself, no queue, its cursor replayed at each
start) and without it (the main rsyslog's memory queues), one after the other on the same
host; the host is put back as it was.

    python -m bench --only logging
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench.playbook import run_playbook

ROOT_DIR = Path(__file__).resolve().parent.parent
PODMAN = str(ROOT_DIR / "lab" / "bin" / "podman")
HOST, SERVER, TENANT = "ville-web01", "logs01", "ville"
COUNT = 20000
# One process writes every message to the journal (no fork per message).
WRITE = """
import syslog, sys
syslog.openlog("cite-bench")
for i in range(1, {count} + 1):
    syslog.syslog(syslog.LOG_INFO, "run={run} n=%d " % i + "x" * 120)
"""


def _exec(container: str, command: str, timeout: float = 600) -> str:
    result = subprocess.run(
        [PODMAN, "exec", f"lab-{container}", "sh", "-c", command],
        capture_output=True, text=True, check=False, timeout=timeout,
    )  # fmt: skip
    if result.returncode != 0:
        sys.exit(f"bench: logging: {command[:80]!r} failed on {container}: {result.stderr[-1500:]}")
    return result.stdout


def _converge(durable: bool) -> None:
    extra = ["--limit", HOST, "-e", f"logging_durable={str(durable).lower()}"]
    run_playbook(f"logging: converge (durable={durable})", "playbooks/logging.yml", *extra)


def _rate() -> float:
    run = uuid.uuid4().hex[:12]
    store = f"/srv/log/{TENANT}/{HOST}/syslog-*.log"
    start = time.monotonic()
    _exec(HOST, f"python3 -c '{WRITE.format(count=COUNT, run=run)}'")
    deadline = start + 900
    while time.monotonic() < deadline:
        found = _exec(SERVER, f"cat {store} 2>/dev/null | grep -cF 'run={run} ' || true").strip()
        if int(found or 0) >= COUNT:
            return COUNT / (time.monotonic() - start)
        time.sleep(0.5)
    sys.exit(f"bench: logging: {COUNT} messages did not all arrive within 900 s")


def measure() -> list[tuple[str, str]]:
    rows = []
    try:
        for durable in (False, True):
            _converge(durable)
            rate = _rate()
            what = "crash-safe (journal forwarders)" if durable else "memory queues"
            rows.append((f"log forwarding, {what}, {COUNT} messages", f"{rate:.0f} msg/s"))
    finally:
        _converge(True)
    return rows
