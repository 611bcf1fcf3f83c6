"""The rsyslog drop-in check (plugins/filter/rsyslog.py), run as Ansible's `validate` runs
it, with a stand-in rsyslogd that accepts or refuses the configuration it is given."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT

_spec = importlib.util.spec_from_file_location(
    "rsyslog_filter", ROOT / "plugins" / "filter" / "rsyslog.py"
)
assert _spec
assert _spec.loader
rsyslog_filter = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rsyslog_filter)

STUB = """#!/bin/sh
# rsyslogd -N1 -f FILE: keep the configuration it was given, refuse a drop-in saying BAD.
cp "$3" "$(dirname "$0")/seen.conf"
! grep -q BAD "$(sed -n 's/^include(file="\\(.*\\)")$/\\1/p' "$3")"
"""


@pytest.mark.parametrize(("content", "accepted"), [("*.* /var/log/x\n", True), ("BAD\n", False)])
def test_dropin_check_includes_the_candidate_and_keeps_its_verdict(
    tmp_path: Path, content: str, accepted: bool
) -> None:
    (tmp_path / "rsyslogd").write_text(STUB)
    (tmp_path / "rsyslogd").chmod(0o755)
    candidate = tmp_path / "candidate.conf"
    candidate.write_text(content)
    # What Ansible's validate does with it: Python's %-formatting with the candidate's path.
    command = rsyslog_filter.rsyslog_dropin_check("%s") % candidate
    result = subprocess.run(
        command, shell=True, env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, check=False
    )
    assert (result.returncode == 0) is accepted
    seen = (tmp_path / "seen.conf").read_text()
    assert f'include(file="{candidate}")' in seen
    assert "*.* /dev/null" in seen
    assert not Path(f"{candidate}.check").exists()
