"""Role logging's cite-journal-rewind, run as systemd's ExecStartPre runs it, against a
stand-in journalctl that prints a journal of numbered cursors (newest first, from the
cursor it is given, as journalctl --reverse --cursor does)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

SCRIPT = ROOT / "roles" / "logging" / "files" / "cite-journal-rewind"
# A journal of 100 entries, cursors c0 ... c99; journalctl fails on a cursor it lacks.
JOURNALCTL = """#!/usr/bin/python3
import json, sys
cursor = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--cursor=")][0]
if not cursor.startswith("c") or not cursor[1:].isdigit() or int(cursor[1:]) >= 100:
    print("Failed to seek to cursor: Invalid argument", file=sys.stderr)
    sys.exit(1)
for i in range(int(cursor[1:]), -1, -1):
    print(json.dumps({"__CURSOR": f"c{i}"}), flush=True)
"""


def rewind(tmp_path: Path, state: Path, replay: int = 32) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "journalctl").write_text(JOURNALCTL)
    (bin_dir / "journalctl").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(state), str(replay)],
        capture_output=True, text=True, env=env, check=False, timeout=30,
    )  # fmt: skip


def test_the_cursor_moves_back_by_the_replay_once(tmp_path: Path) -> None:
    state = tmp_path / "journal.state"
    state.write_text("c80")
    result = rewind(tmp_path, state)
    assert result.returncode == 0, result.stderr
    assert state.read_text() == "c48"
    assert "moved 32 entries back" in result.stdout
    # rsyslog died before saving a cursor (a restart loop): no further back at each start.
    result = rewind(tmp_path, state)
    assert state.read_text() == "c48"
    assert "already moved back" in result.stdout
    # rsyslog saved a newer cursor: the next start moves back from it.
    state.write_text("c90")
    rewind(tmp_path, state)
    assert state.read_text() == "c58"


def test_near_the_journals_head_imjournal_starts_at_the_head(tmp_path: Path) -> None:
    state = tmp_path / "journal.state"
    state.write_text("c10")
    result = rewind(tmp_path, state)
    assert result.returncode == 0, result.stderr
    assert not state.exists(), "no state file: imjournal reads the journal from its head"


def test_no_saved_cursor_is_a_first_start(tmp_path: Path) -> None:
    state = tmp_path / "journal.state"
    result = rewind(tmp_path, state)
    assert result.returncode == 0
    assert not state.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("c400", "found no entry at the cursor"),  # a cursor from a journal since deleted
        ("c1\nc2", "not a journal cursor"),
        (b"\xff\xfe", "unreadable"),
    ],
)
def test_a_cursor_that_cannot_be_moved_is_left_and_the_forwarder_still_starts(
    tmp_path: Path, content: str | bytes, message: str
) -> None:
    state = tmp_path / "journal.state"
    if isinstance(content, bytes):
        state.write_bytes(content)
    else:
        state.write_text(content)
    before = state.read_bytes()
    result = rewind(tmp_path, state)
    assert result.returncode == 0, "a failed rewind must not keep the forwarder from starting"
    assert message in result.stderr + result.stdout
    assert state.read_bytes() == before
