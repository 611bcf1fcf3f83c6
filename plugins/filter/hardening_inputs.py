"""Ansible filter: role hardening's values that would inject code or settings (one home).

``{'hardening_umask': hardening_umask, ...} | hardening_input_errors`` returns one message
per bad value, naming the knob (sitemodel/hardening.py holds the character classes; the
site's preflight uses the same function for every host at once).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sitemodel.hardening import input_errors


def hardening_input_errors(values: Mapping[str, Any]) -> list[str]:
    return input_errors(values)


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"hardening_input_errors": hardening_input_errors}
