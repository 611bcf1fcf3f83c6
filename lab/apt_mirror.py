"""Find the Debian mirror this machine's own apt sources use.

The lab images are debootstrapped from the same mirror apt already trusts here, so the
project never hard-codes a mirror host. Both source formats are read: one-line
``sources.list`` entries and deb822 ``*.sources`` stanzas. Security and updates suites are
skipped: debootstrap needs the main archive.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path

APT_DIR = Path("/etc/apt")
_ONE_LINE = re.compile(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(?P<uri>\S+)\s+(?P<suite>\S+)\s")


def _is_archive_suite(suite: str) -> bool:
    return "-" not in suite and "/" not in suite


def _from_one_line(text: str) -> Iterable[str]:
    for line in text.splitlines():
        match = _ONE_LINE.match(line)
        if match and _is_archive_suite(match["suite"]) and "security" not in match["uri"]:
            yield match["uri"]


def _from_deb822(text: str) -> Iterable[str]:
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if ":" in line and not line.lstrip().startswith("#"):
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        suites = fields.get("suites", "").split()
        components = fields.get("components", "").split()
        if "main" not in components or not any(_is_archive_suite(s) for s in suites):
            continue
        for uri in fields.get("uris", "").split():
            if "security" not in uri:
                yield uri


def debian_mirrors(apt_dir: Path | None = None) -> list[str]:
    """Return candidate Debian mirrors, in the order apt lists them, without duplicates."""
    apt_dir = apt_dir or APT_DIR
    found: list[str] = []
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list"))]
    for path in files:
        if path.is_file():
            found.extend(_from_one_line(path.read_text(encoding="utf-8")))
    for path in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        found.extend(_from_deb822(path.read_text(encoding="utf-8")))
    debian = [uri.rstrip("/") for uri in found if uri.rstrip("/").endswith("/debian")]
    return list(dict.fromkeys(debian))


def main() -> int:
    mirrors = debian_mirrors()
    if not mirrors:
        print(
            "apt_mirror: no Debian archive found in /etc/apt sources; "
            "set LAB_DEBIAN_MIRROR to your mirror's URL",
            file=sys.stderr,
        )
        return 1
    print(mirrors[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
