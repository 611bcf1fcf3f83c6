"""How `make test` runs things: their order (make's dry run: nothing is executed) and the
lab's teardown."""

from __future__ import annotations

import subprocess

import yaml

from conftest import ROOT


def _planned(target: str) -> list[str]:
    result = subprocess.run(
        ["make", "-n", "--no-print-directory", target],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def _first(lines: list[str], needle: str) -> int:
    return next(i for i, line in enumerate(lines) if needle in line)


def test_a_left_lab_is_removed_before_the_scenarios_and_before_the_e2e() -> None:
    # A lab left by a failed run, beside two scenarios, used up root's inotify instances
    # and hung the scenarios' converges (Makefile, target no-lab).
    for target in ("molecule", "e2e"):
        lines = _planned(target)
        down = _first(lines, "lab/down.yml")
        start = _first(lines, "tools/molecule-all" if target == "molecule" else "lab/up.yml")
        assert down < start, (target, lines)
    lines = _planned("test")
    assert _first(lines, "lab/down.yml") < _first(lines, "tools/molecule-all"), lines


def test_the_lab_tests_that_change_the_lab_run_alone_after_the_read_only_ones() -> None:
    # The read-only lab tests run two at a time beside the --check; those that stop a host,
    # add a tenant or promote the replica (marker lab_alters) would make it report changes
    # or fail the tests beside them: they run after, one at a time.
    lines = _planned("e2e")
    read_only = _first(lines, '-m "lab and not lab_alters"')
    alters = _first(lines, '-m "lab and lab_alters"')
    down = next(i for i, line in enumerate(lines) if i > alters and "lab-down" in line)
    assert _first(lines, "make --no-print-directory lab") < read_only < alters < down, lines
    assert "-n " in lines[read_only], lines[read_only]
    assert "--dist loadgroup" in lines[read_only], lines[read_only]
    assert "-n " not in lines[alters], lines[alters]


def test_the_lab_teardown_kills_its_containers_without_waiting() -> None:
    # The router and the BMC simulator run `sleep infinity`, which ignores podman's stop
    # signal: without --time 0 each removal waited 10 s (lab/down.yml: 42.9 s, then 15.2 s).
    module = "containers.podman.podman_container"
    play = yaml.safe_load((ROOT / "lab" / "down.yml").read_text("utf-8"))[0]
    assert play["module_defaults"][module]["delete_time"] == "0", play.get("module_defaults")
    removals = [t[module] for t in play["tasks"] if t.get(module, {}).get("state") == "absent"]
    assert len(removals) == 3, removals
    assert all(r.get("delete_time", "0") == "0" for r in removals), removals
