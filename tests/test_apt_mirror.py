"""lab/apt_mirror.py finds the machine's Debian mirror in both apt source formats."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from conftest import ROOT


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("apt_mirror", ROOT / "lab" / "apt_mirror.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _apt_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_deb822_main_archive_is_found_and_security_skipped(tmp_path: Path) -> None:
    apt = _apt_dir(
        tmp_path,
        {
            "sources.list.d/debian.sources": (
                "Types: deb\nURIs: http://mirror.example/debian-security\n"
                "Suites: bookworm-security\nComponents: main\n\n"
                "Types: deb\nURIs: http://mirror.example/debian/\n"
                "Suites: bookworm bookworm-updates\nComponents: main\n"
            ),
            "sources.list.d/other.sources": (
                "Types: deb\nURIs: https://vendor.example/apt\nSuites: stable\nComponents: main\n"
            ),
        },
    )
    assert _module().debian_mirrors(apt) == ["http://mirror.example/debian"]


def test_one_line_sources_and_disabled_stanzas(tmp_path: Path) -> None:
    apt = _apt_dir(
        tmp_path,
        {
            "sources.list": (
                "# deb http://commented.example/debian bookworm main\n"
                "deb [arch=amd64] http://one.example/debian bookworm main contrib\n"
                "deb http://one.example/debian-security bookworm-security main\n"
            ),
            "sources.list.d/off.sources": (
                "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\n"
                "Components: main\nEnabled: no\n"
            ),
        },
    )
    assert _module().debian_mirrors(apt) == ["http://one.example/debian"]


def test_no_mirror_is_an_error_with_advice(tmp_path: Path, capsys: object) -> None:
    module = _module()
    module.APT_DIR = _apt_dir(tmp_path, {})
    assert module.main() == 1
    assert "LAB_DEBIAN_MIRROR" in capsys.readouterr().err  # type: ignore[attr-defined]
