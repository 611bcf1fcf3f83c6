"""Ansible filter for the roles' package installs.

- ``_time_packages | packages_missing(ansible_facts)``: the names that the fact
  ``installed_packages`` (plugins/modules/installed_packages.py, gathered with the other
  facts: ansible.cfg's ``facts_modules``) does not list; every name when that fact was
  not gathered. A role's apt task runs only when something is missing: opening apt's cache
  costs about a second of CPU per host and task, the largest part of a converge that has
  nothing to change. The facts date from the start of the play: a package installed since
  then by another role looks missing and apt is asked (and finds it there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any


def packages_missing(names: Iterable[str], facts: Mapping[str, Any] | None) -> list[str]:
    wanted = [str(name) for name in names]
    installed = (facts or {}).get("installed_packages")
    if not isinstance(installed, list | tuple | set | frozenset):
        return wanted
    present = set(installed)
    return [name for name in wanted if name not in present]


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"packages_missing": packages_missing}
