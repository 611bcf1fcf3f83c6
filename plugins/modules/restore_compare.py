#!/usr/bin/python3
"""Ansible module: compare a restored archive with the live files it was taken from."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
from dataclasses import dataclass, field
from datetime import datetime

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: restore_compare
short_description: Compare a restored backup with the live data, file by file (SHA-256)
description:
  - Walks I(restored) (an archive extracted there, absolute paths kept below it) and
    compares every regular file and symbolic link with the live one at the same path.
  - A live file whose ctime or mtime is later than I(since) (the archive's start) changed
    after the backup; it is reported, and fails the comparison only when I(strict).
  - A live file or link absent from the backup, under I(roots) and not changed since,
    is a failure (something that should have been backed up was not), unless it matches
    I(exclude) (borg shell-style patterns, a plain path also excludes what is below it).
options:
  restored:
    {type: path, required: true, description: Directory the archive was extracted into.}
  since:
    type: str
    required: true
    description: "Start of the archive: borg's local ISO time, or seconds since the epoch."
  roots:
    {type: list, elements: path, default: [], description: Live directories it covers.}
  exclude:
    {type: list, elements: str, default: [], description: Patterns left out of the backup.}
  ignore:
    {type: list, elements: str, default: [], description: Restored paths not compared.}
  strict:
    {type: bool, default: false, description: Changes after the archive are failures too.}
"""


SAMPLE = 20  # paths listed per category in the result


@dataclass
class Report:
    compared: int = 0
    identical: int = 0
    differ: list[str] = field(default_factory=list)
    changed_since: list[str] = field(default_factory=list)
    deleted_since: list[str] = field(default_factory=list)
    missing_from_backup: list[str] = field(default_factory=list)

    def failures(self, strict: bool) -> list[str]:
        found = self.differ + self.missing_from_backup
        return found + self.changed_since + self.deleted_since if strict else found


def digest(path: str) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def excluded(path: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        bare = pattern.rstrip("/")
        if path == bare or path.startswith(bare + "/") or fnmatch.fnmatch(path, pattern):
            return True
        if fnmatch.fnmatch(os.path.basename(path), pattern):
            return True
    return False


def special_target(path: str) -> bool:
    """A link to a device, FIFO or socket: borgmatic leaves those out when it dumps databases."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def parse_since(value: str) -> float:
    """Seconds since the epoch, from a number or borg's ISO time (this host's local time)."""
    try:
        return float(value)
    except ValueError:
        return datetime.fromisoformat(value).timestamp()


def changed_after(st: os.stat_result, since: float) -> bool:
    return max(st.st_mtime, st.st_ctime) > since


def same(restored: str, live: str, kind: int) -> bool:
    if stat.S_ISLNK(kind):
        return os.readlink(restored) == os.readlink(live)
    return digest(restored) == digest(live)


def compare(
    restored: str, since: float, roots: list[str], exclude: list[str], ignore: list[str]
) -> Report:
    report = Report()
    seen: set[str] = set()
    for directory, dirs, files in os.walk(restored):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(directory, d))]:
            copy = os.path.join(directory, name)
            live = "/" + os.path.relpath(copy, restored)
            if excluded(live, ignore):
                continue
            kind = os.lstat(copy).st_mode
            if not (stat.S_ISREG(kind) or stat.S_ISLNK(kind)):
                continue
            seen.add(live)
            try:
                st = os.lstat(live)
            except FileNotFoundError:
                report.deleted_since.append(live)
                continue
            report.compared += 1
            if stat.S_IFMT(st.st_mode) == stat.S_IFMT(kind) and same(copy, live, kind):
                report.identical += 1
            elif changed_after(st, since):
                report.changed_since.append(live)
            else:
                report.differ.append(live)
    for root in roots:
        if not os.path.isdir(root) or excluded(root, exclude):
            continue
        device = os.lstat(root).st_dev
        for directory, dirs, files in os.walk(root):
            if "CACHEDIR.TAG" in files:  # borg create --exclude-caches
                dirs[:] = []
                continue
            dirs[:] = [
                d
                for d in dirs
                if not excluded(os.path.join(directory, d), exclude)
                and os.lstat(os.path.join(directory, d)).st_dev == device
            ]
            for name in files + [d for d in dirs if os.path.islink(os.path.join(directory, d))]:
                live = os.path.join(directory, name)
                if live in seen or excluded(live, exclude):
                    continue
                st = os.lstat(live)
                if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                    continue
                if st.st_dev != device:  # a file mounted over (borg --one-file-system)
                    continue
                if stat.S_ISLNK(st.st_mode) and special_target(live):
                    continue
                if not changed_after(st, since):
                    report.missing_from_backup.append(live)
    for paths in (
        report.differ,
        report.changed_since,
        report.deleted_since,
        report.missing_from_backup,
    ):
        paths.sort()
    return report


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "restored": {"type": "path", "required": True},
            "since": {"type": "str", "required": True},
            "roots": {"type": "list", "elements": "path", "default": []},
            "exclude": {"type": "list", "elements": "str", "default": []},
            "ignore": {"type": "list", "elements": "str", "default": []},
            "strict": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    params = module.params
    if not os.path.isdir(params["restored"]):
        module.fail_json(msg=f"nothing restored in {params['restored']}")
    try:
        since = parse_since(params["since"])
    except ValueError:
        module.fail_json(msg=f"since: not a time: {params['since']!r}")
    report = compare(
        params["restored"], since, params["roots"], params["exclude"], params["ignore"]
    )
    failures = report.failures(params["strict"])
    result = {
        "changed": False,
        "compared": report.compared,
        "identical": report.identical,
        "differ": report.differ[:SAMPLE],
        "differ_count": len(report.differ),
        "changed_since": report.changed_since[:SAMPLE],
        "changed_since_count": len(report.changed_since),
        "deleted_since": report.deleted_since[:SAMPLE],
        "deleted_since_count": len(report.deleted_since),
        "missing_from_backup": report.missing_from_backup[:SAMPLE],
        "missing_from_backup_count": len(report.missing_from_backup),
    }
    if failures:
        module.fail_json(
            msg=(
                f"restore drill FAILED: {len(report.differ)} file(s) differ from the live "
                "data without having changed since the archive, "
                f"{len(report.missing_from_backup)} live file(s) missing from the backup"
                + (", and strict mode counts every later change" if params["strict"] else "")
                + f"; first: {failures[:SAMPLE]}"
            ),
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
