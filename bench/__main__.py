"""Measure the lab's converge times, the preflight at scale, the Pulumi evaluation and the
test suite, and write bench/results.md (docs/figures.md links it and explains).

    python -m bench                 everything (lab, preflight, pulumi, then `make test`)
    python -m bench --only lab      the lab converges (container connection and SSH)
    python -m bench --only preflight  the preflight at 350, 1,750 and 3,500 hosts
    python -m bench --only pulumi   the Pulumi evaluation (see bench/pulumi_eval.py)
    python -m bench --only backup   backup throughput and deduplication on the running lab
    python -m bench --only logging  log forwarding throughput, crash-safe and not (lab)
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.md"


def timed(label: str, cmd: list[str]) -> tuple[str, str]:
    """Run a command from the repository root; return (label, seconds) or fail loudly."""
    print(f"bench: {label}: {' '.join(cmd)}", flush=True)
    start = time.monotonic()
    result = subprocess.run(cmd, cwd=ROOT, check=False, stdout=subprocess.DEVNULL)
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        sys.exit(f"bench: {label} failed (exit {result.returncode}); no figure recorded")
    return label, f"{elapsed:.0f} s"


def lab() -> list[tuple[str, str]]:
    from bench.lab import measure

    return measure()


def preflight() -> list[tuple[str, str]]:
    from bench.preflight import measure

    return measure()


def tests() -> list[tuple[str, str]]:
    return [timed("make test (lint, pytest, every Molecule scenario, lab e2e)", ["make", "test"])]


def backup() -> list[tuple[str, str]]:
    from bench.backup import measure

    return measure()


def logging() -> list[tuple[str, str]]:
    from bench.logging import measure

    return measure()


def pulumi() -> list[tuple[str, str]]:
    from bench.pulumi_eval import measure

    return measure()


SUITES: dict[str, Callable[[], list[tuple[str, str]]]] = {
    "lab": lab,
    "preflight": preflight,
    "backup": backup,
    "logging": logging,
    "pulumi": pulumi,
    "tests": tests,
}


def _replace_block(text: str, begin: str, end: str, body: str) -> str:
    if begin not in text or end not in text:
        return text
    head, rest = text.split(begin, 1)
    return f"{head}{begin}\n{body}\n{end}{rest.split(end, 1)[1]}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def write(rows: dict[str, tuple[str, list[tuple[str, str]]]]) -> None:
    """``rows``: per suite, when it finished and its (measure, value) pairs."""
    machine = f"{os.cpu_count()} cores, {platform.platform()}"
    previous = RESULTS.read_text("utf-8") if RESULTS.exists() else ""
    for suite, (stamp, suite_rows) in rows.items():
        table = "\n".join(
            ["| Measure | Value |", "| --- | --- |", *(f"| {a} | {b} |" for a, b in suite_rows)]
        )
        body = f"Measured {stamp} on {machine}.\n\n{table}"
        begin, end = f"<!-- BEGIN {suite} -->", f"<!-- END {suite} -->"
        if begin not in previous:
            previous += f"\n## {suite}\n\n{begin}\n{end}\n"
        previous = _replace_block(previous, begin, end, body)
    if not previous.startswith("# "):
        previous = "# Benchmark results (written by `make bench`)\n" + previous
    RESULTS.write_text(previous, "utf-8")
    print(f"bench: wrote {RESULTS.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=sorted(SUITES), action="append")
    args = parser.parse_args()
    chosen = args.only or ["lab", "preflight", "pulumi", "tests"]
    results = {}
    for name in chosen:
        suite_rows = SUITES[name]()
        results[name] = (_now(), suite_rows)
    write(results)


if __name__ == "__main__":
    main()
