"""Role hardening's values that end up in files the system reads as code: checked first.

Most of role hardening's knobs are written into files that something privileged parses:
the GRUB drop-in is *sourced by a root shell* (update-grub), ``/etc/profile.d`` by every
login shell, modprobe runs an ``install`` line as a command, sudoers and sysctl.d read one
setting per line. A value with a quote, a ``$``, a back-quote or a newline in it would
inject code or settings there. Each knob therefore has a character class that its
legitimate values fit; anything else is refused with the knob and the value named.

One home: ``site.yml``'s preflight (plugins/action/site_preflight.py) calls
``input_errors`` for every host before any is touched, and role hardening asserts the same
through the ``hardening_input_errors`` filter when it runs on its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sitemodel.model import UNIX_GROUP, kind_of

# A kernel command-line option: name or name=value (no quote, no space, no shell character).
KERNEL_OPTION = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}(=[A-Za-z0-9_.,:/+@=-]{0,127})?")
# A sysctl key, dotted or slashed (net/ipv4/conf/eth0.100/rp_filter); "-" ignores errors.
SYSCTL_KEY = re.compile(r"-?[a-z][a-z0-9_]{0,31}([./][A-Za-z0-9_:@*-]{1,63}){1,8}")
# A sysctl value: a number or words of plain characters separated by single spaces.
SYSCTL_WORD = re.compile(r"[A-Za-z0-9_.,:/%+-]{1,64}( [A-Za-z0-9_.,:/%+-]{1,64}){0,7}")
MODULE = re.compile(r"[A-Za-z0-9_-]{1,64}")
# A sudoers Defaults entry: [!]name, or name [+-]= value (a plain word or a quoted list).
SUDO_DEFAULT = re.compile(
    r'!?[a-z_]{1,40}(\s?[+-]?=\s?([A-Za-z0-9_./:%,@+-]{1,200}|"[A-Za-z0-9_ ./:%,@+=-]{0,200}"))?'
)
UMASK = re.compile(r"0?[0-7]{3}")
PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]{1,99}")
ABSOLUTE_PATH = re.compile(r"(/[A-Za-z0-9_.+-]{1,100}){1,20}")
MOUNT_OPTION = re.compile(r"[a-z0-9_]{1,40}(=[A-Za-z0-9_.:/-]{1,64})?")
AIDE_CHECKSUMS = re.compile(r"[a-z0-9]{1,20}(\+[a-z0-9]{1,20}){0,7}")


def _show(value: Any) -> str:
    return f"{value!r:.80}"


def _matches(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def _path(value: Any) -> bool:
    return _matches(ABSOLUTE_PATH, value) and ".." not in value.split("/")


def _items(knob: str, value: Any, ok: Callable[[Any], bool], what: str, errors: list[str]) -> None:
    """A list whose every item must satisfy ``ok``."""
    if value is None:
        return
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        errors.append(f"{knob} must be a list, got {kind_of(value)} {_show(value)}")
        return
    bad = [item for item in value if not ok(item)]
    if bad:
        errors.append(f"{knob}: {', '.join(_show(b) for b in bad[:5])} {what}")


def _sysctl_value(value: Any) -> bool:
    if isinstance(value, bool):
        return False  # YAML's yes/no would be written True/False, which no key reads
    return isinstance(value, int) or _matches(SYSCTL_WORD, value)


def _sysctl(knob: str, value: Any, errors: list[str]) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        errors.append(f"{knob} must map a sysctl key to its value, got {kind_of(value)}")
        return
    bad_keys = [k for k in value if not _matches(SYSCTL_KEY, k)]
    bad_values = [k for k, v in value.items() if k not in bad_keys and not _sysctl_value(v)]
    if bad_keys:
        errors.append(
            f"{knob}: {', '.join(_show(k) for k in bad_keys[:5])} is not a sysctl key "
            "(e.g. net.ipv4.ip_forward)"
        )
    if bad_values:
        errors.append(
            f"{knob}: the value of {', '.join(f'{k} ({_show(value[k])})' for k in bad_values[:5])} "
            "is not a number or plain words (letters, digits, _.,:/%+- and single spaces)"
        )


def _group(knob: str, value: Any, errors: list[str]) -> None:
    if value in (None, "") or _matches(UNIX_GROUP, value):
        return
    errors.append(f"{knob}: {_show(value)} is not a group name ([a-z_][a-z0-9_-]{{0,31}})")


def _mounts(value: Any, errors: list[str]) -> None:
    knob = "hardening_mount_options"
    if value is None:
        return
    if not isinstance(value, Mapping):
        errors.append(f"{knob} must map a mount point to its options, got {kind_of(value)}")
        return
    bad = [k for k in value if not _path(k)]
    if bad:
        errors.append(
            f"{knob}: {', '.join(_show(b) for b in bad[:5])} is not an absolute path "
            "(letters, digits, _.+-, no '..')"
        )
    for mount, options in value.items():
        if mount not in bad:
            _items(
                f"{knob}[{mount}]",
                options,
                lambda o: _matches(MOUNT_OPTION, o),
                "is not a mount option (option or option=value)",
                errors,
            )


def _scalar(knob: str, value: Any, pattern: re.Pattern[str], what: str, errors: list[str]) -> None:
    if value is not None and not _matches(pattern, value):
        errors.append(f"{knob}: {_show(value)} {what}")


def input_errors(values: Mapping[str, Any]) -> list[str]:
    """Problems of role hardening's values (only the knobs present in ``values``)."""
    errors: list[str] = []
    get = values.get
    _items(
        "hardening_kernel_cmdline",
        get("hardening_kernel_cmdline"),
        lambda o: _matches(KERNEL_OPTION, o),
        "is not a kernel option (name or name=value: letters, digits, _.,:/+@=-; GRUB's "
        "drop-in is read by a shell)",
        errors,
    )
    for knob in ("hardening_sysctl_kernel", "hardening_sysctl_network", "hardening_sysctl_extra"):
        _sysctl(knob, get(knob), errors)
    _items(
        "hardening_blacklisted_modules",
        get("hardening_blacklisted_modules"),
        lambda o: _matches(MODULE, o),
        "is not a kernel module name (letters, digits, _ and -)",
        errors,
    )
    _items(
        "hardening_sudo_defaults",
        get("hardening_sudo_defaults"),
        lambda o: _matches(SUDO_DEFAULT, o),
        'is not one sudoers Defaults entry ([!]name, or name=value, or name="a b")',
        errors,
    )
    _scalar("hardening_umask", get("hardening_umask"), UMASK, "is not an octal umask", errors)
    _group("hardening_sudo_group", get("hardening_sudo_group"), errors)
    _group("hardening_su_group", get("hardening_su_group"), errors)
    _items(
        "hardening_cron_allow",
        get("hardening_cron_allow"),
        lambda o: _matches(UNIX_GROUP, o),
        "is not an account name ([a-z_][a-z0-9_-]{0,31})",
        errors,
    )
    for knob in ("hardening_removed_packages", "hardening_installed_packages"):
        _items(
            knob, get(knob), lambda o: _matches(PACKAGE, o), "is not a Debian package name", errors
        )
    _items(
        "hardening_compilers",
        get("hardening_compilers"),
        _path,
        "is not an absolute path (letters, digits, _.+-, no '..')",
        errors,
    )
    _mounts(get("hardening_mount_options"), errors)
    _scalar(
        "hardening_aide_checksums",
        get("hardening_aide_checksums"),
        AIDE_CHECKSUMS,
        "is not a list of AIDE checksums joined by + (e.g. sha256+sha512)",
        errors,
    )
    return errors


# The knobs input_errors reads (the preflight renders only these).
KNOBS = (
    "hardening_kernel_cmdline",
    "hardening_sysctl_kernel",
    "hardening_sysctl_network",
    "hardening_sysctl_extra",
    "hardening_blacklisted_modules",
    "hardening_sudo_defaults",
    "hardening_umask",
    "hardening_sudo_group",
    "hardening_su_group",
    "hardening_cron_allow",
    "hardening_removed_packages",
    "hardening_installed_packages",
    "hardening_compilers",
    "hardening_mount_options",
    "hardening_aide_checksums",
)
