"""Ansible filter: the roles' knobs that would inject code or settings (one home).

``{'hardening_umask': hardening_umask, ...} | input_errors`` returns one message per bad
value, naming the knob (sitemodel/inputs.py holds the classes; the site's preflight checks
the same knobs for every host at once).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sitemodel.inputs import input_errors


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"input_errors": _input_errors}


def _input_errors(values: Mapping[str, Any]) -> list[str]:
    return input_errors(values)
