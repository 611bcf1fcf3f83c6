"""Ansible filter for the roles that write rsyslog drop-ins (logging, log_server, audit).

- ``'%s' | rsyslog_dropin_check``: the ``validate`` command of a task writing an rsyslog
  drop-in. ``rsyslogd -N1`` checks a configuration that includes the candidate file plus one
  harmless action (a drop-in alone may have no action, which rsyslogd refuses); the
  candidate replaces the old file only if the check passes. ``%%s`` is printf's own
  placeholder (Ansible's ``validate`` turns ``%%`` into ``%``); ``$1`` is the candidate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_CHECK = (
    r"""sh -c 'printf "global(workDirectory=\"/var/spool/rsyslog\")\ninclude(file=\"%%s\")"""
    r"""\n*.* /dev/null\n" "$1" > "$1.check" && rsyslogd -N1 -f "$1.check"; r=$?; """
    r"""rm -f "$1.check"; exit $r' rsyslog-check """
)


def rsyslog_dropin_check(placeholder: str) -> str:
    return _CHECK + placeholder


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"rsyslog_dropin_check": rsyslog_dropin_check}
