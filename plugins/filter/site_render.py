"""Ansible filters that check or quote a value where a template writes it (sitemodel/render.py).

- ``rule.comment | nft_string``: a quoted nftables string (comment, log prefix);
- ``groups | unix_groups``: group names for sshd's AllowGroups;
- ``network | log_path(host)``: '<network>/<host>' under a log server's store;
- ``repository | borg_forced_command(quota, program)``: the forced command of a backup
  client's authorized_keys line, shell-quoted and escaped;
- ``quota | size_bytes``: a size of the site model (500G) in bytes.

Each fails the task, naming the value, instead of writing something that would change
the meaning of the file (the site preflight refuses the same values earlier).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ansible.errors import AnsibleFilterError

from sitemodel import render


def _checked(function: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except ValueError as exc:
            raise AnsibleFilterError(str(exc)) from exc

    wrapper.__name__ = function.__name__
    return wrapper


def borg_forced_command(repository: Any, quota: Any, program: str) -> str:
    return render.borg_forced_command(program, repository, quota)


def unix_groups(names: Iterable[Any]) -> list[str]:
    return render.unix_groups(names, "sshd AllowGroups")


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "nft_string": _checked(render.nft_string),
            "unix_groups": _checked(unix_groups),
            "log_path": _checked(render.log_path),
            "borg_forced_command": _checked(borg_forced_command),
            "size_bytes": _checked(render.size_bytes),
        }
