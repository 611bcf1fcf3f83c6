"""The restore drill's comparison (plugins/modules/restore_compare.py), on real files."""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT

_spec = importlib.util.spec_from_file_location(
    "restore_compare", ROOT / "plugins" / "modules" / "restore_compare.py"
)
assert _spec
assert _spec.loader
rc = importlib.util.module_from_spec(_spec)
sys.modules["restore_compare"] = rc  # dataclasses look their module up
_spec.loader.exec_module(rc)


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    """A live tree and its restored copy (restored/<live path>), identical, all old."""
    live = tmp_path / "live"
    (live / "docs").mkdir(parents=True)
    (live / "docs" / "a.txt").write_text("alpha\n")
    (live / "docs" / "b.bin").write_bytes(os.urandom(4096))
    (live / "link").symlink_to("docs/a.txt")
    restored = tmp_path / "restored"
    copy = restored / str(live).lstrip("/")
    (copy / "docs").mkdir(parents=True)
    (copy / "docs" / "a.txt").write_text("alpha\n")
    (copy / "docs" / "b.bin").write_bytes((live / "docs" / "b.bin").read_bytes())
    (copy / "link").symlink_to("docs/a.txt")
    return live, restored


def compare(live: Path, restored: Path, since: float, **kw: list[str]) -> rc.Report:
    return rc.compare(
        str(restored),
        since,
        kw.get("roots", [str(live)]),
        kw.get("exclude", []),
        kw.get("ignore", []),
    )


def test_identical_trees_pass(trees: tuple[Path, Path]) -> None:
    live, restored = trees
    report = compare(live, restored, time.time() + 5)
    assert (report.compared, report.identical) == (3, 3)
    assert report.failures(strict=True) == []


def test_silent_difference_fails_naming_the_file(trees: tuple[Path, Path]) -> None:
    live, restored = trees
    (live / "docs" / "a.txt").write_text("alphA\n")  # changed, but "before" the archive below
    report = compare(live, restored, time.time() + 5)
    assert report.differ == [str(live / "docs" / "a.txt")]
    assert report.failures(strict=False) == [str(live / "docs" / "a.txt")]


def test_change_after_the_archive_is_tolerated_unless_strict(trees: tuple[Path, Path]) -> None:
    live, restored = trees
    since = time.time() - 5
    (live / "docs" / "a.txt").write_text("amended after the backup\n")
    report = compare(live, restored, since)
    assert report.changed_since == [str(live / "docs" / "a.txt")]
    assert report.differ == []
    assert report.failures(strict=False) == []
    assert report.failures(strict=True) == [str(live / "docs" / "a.txt")]


def test_deleted_since_and_missing_from_backup(trees: tuple[Path, Path]) -> None:
    live, restored = trees
    (live / "docs" / "b.bin").unlink()
    (live / "docs" / "never-backed-up.txt").write_text("x\n")
    (live / "cache").mkdir()
    (live / "cache" / "skip.tmp").write_text("excluded\n")
    report = compare(live, restored, time.time() + 5, exclude=[str(live / "cache")])
    assert report.deleted_since == [str(live / "docs" / "b.bin")]
    assert report.missing_from_backup == [str(live / "docs" / "never-backed-up.txt")]
    assert report.failures(strict=False) == [str(live / "docs" / "never-backed-up.txt")]


def test_symlink_target_change_is_a_difference(trees: tuple[Path, Path]) -> None:
    live, restored = trees
    (live / "link").unlink()
    (live / "link").symlink_to("docs/b.bin")
    report = compare(live, restored, time.time() + 5)
    assert report.differ == [str(live / "link")]


def test_ignored_paths_and_cache_dirs_are_left_out(trees: tuple[Path, Path]) -> None:
    live, restored = trees
    dumps = restored / "root" / ".borgmatic"
    dumps.mkdir(parents=True)
    (dumps / "dump.sql").write_text("INSERT\n")
    (live / "tagged").mkdir()
    (live / "tagged" / "CACHEDIR.TAG").write_text("Signature: 8a477f597d28d172789f06886806bc55\n")
    (live / "tagged" / "big.cache").write_text("cache\n")
    report = compare(live, restored, time.time() + 5, ignore=["/root/.borgmatic"])
    assert report.failures(strict=True) == []


def test_since_accepts_borg_iso_time_and_epoch() -> None:
    assert rc.parse_since("1795488121") == 1795488121.0
    iso = "2026-11-24T02:42:01.000000"
    from datetime import datetime

    assert rc.parse_since(iso) == datetime.fromisoformat(iso).timestamp()
