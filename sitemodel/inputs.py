"""Role knobs that end up in files the system reads as code: each checked against a class.

Many knobs are written into files that something privileged parses: GRUB's drop-in is
*sourced by a root shell* (update-grub), ``/etc/profile.d`` by every login shell, modprobe
runs ``install`` lines, apt.conf and deb822 sources, sshd_config, fail2ban, rsyslog,
systemd units (``ExecStart=``), logrotate (``postrotate`` runs as root), chrony, auditd's
rules and sysctl.d take one setting per line. A value with a quote, a ``$``, a back-quote,
a space or a newline in it would inject code or settings there. Each such knob has a class
that its legitimate values fit (``KNOBS``); anything else is refused, naming the knob and
the value.

One home: ``site.yml``'s preflight (plugins/action/site_preflight.py) checks every knob of
``KNOBS`` on every host before any host is touched; role hardening asserts its own through
the ``input_errors`` filter when it runs alone (tasks/inputs.yml).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sitemodel.model import RESERVED_GROUPS, kind_of, receiver_problem, site_address, site_network

Check = Callable[[str, Any, list[str]], None]


def _show(value: Any) -> str:
    return f"{value!r:.80}"


def _label(item: Any, index: int) -> str:
    """An entry as a message names it: a record by its name, or by its position when it
    has none and holds a password hash, which no message may show."""
    if isinstance(item, Mapping) and "name" in item:
        return f"the entry named {_show(item['name'])}"
    if isinstance(item, Mapping) and "password_hash" in item:
        return f"entry #{index + 1}"
    return _show(item)


def _fits(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def pattern(regex: str, what: str) -> Callable[[Any], str | None]:
    """A test: None when ``value`` is a string that the whole of ``regex`` matches."""
    compiled = re.compile(regex)

    def test(value: Any) -> str | None:
        return None if _fits(compiled, value) else what

    return test


_PATH_RE = re.compile(r"(/[A-Za-z0-9_.+-]{1,100}){1,20}")


def _path(value: Any) -> str | None:
    if _fits(_PATH_RE, value) and ".." not in value.split("/"):
        return None
    return "is not an absolute path (letters, digits, _.+-, no '..')"


def _ip(value: Any) -> str | None:
    try:
        site_address(value if isinstance(value, str) else "x")
    except ValueError:
        return "is not an IP address (no scope id)"
    return None


def _network(value: Any) -> str | None:
    try:
        site_network(value if isinstance(value, str) else "x", strict=False)
    except ValueError:
        return "is not an IP address or network (address/prefix)"
    return None


def _sysctl_value(value: Any) -> str | None:
    if isinstance(value, bool):  # YAML's yes/no would be written True/False
        return "is not a number or plain words (YAML's yes/no is a bool: quote it)"
    if isinstance(value, int):
        return None
    return SYSCTL_WORDS(value)


PATH = _path
IP = _ip
NETWORK = _network
HOST = pattern(r"[A-Za-z0-9][A-Za-z0-9.:-]{0,252}", "is not a host name or address")
URL = pattern(
    r"(https?|file)://[A-Za-z0-9.:\[\]-]{0,255}(/[A-Za-z0-9._~%+-]*)*(\?[A-Za-z0-9._~%+=&-]*)?",
    "is not a URL (http(s):// or file://, no space, quote or newline)",
)
SIZE = pattern(r"[0-9]{1,9}[kKmMgGtT]?", "is not a size (a number and k, M, G or T)")
SPAN = pattern(
    r"[0-9]{1,9}(\.[0-9]+)?(us|ms|s|sec|min|m|h|d|w|month|y)?",
    "is not a time span (e.g. 30s, 15min, 1month)",
)
CALENDAR = pattern(r"[A-Za-z0-9*,./:~ -]{1,64}", "is not a systemd calendar (e.g. *-*-* 01:00:00)")
DURATION = pattern(
    r"0|([0-9]{1,9}(ms|s|m|h|d|w|y)){1,4}", "is not a Prometheus duration (e.g. 30s)"
)
CLOCK = pattern(r"([01][0-9]|2[0-3]):[0-5][0-9]", "is not a time of day (HH:MM)")
WORD = pattern(r"[A-Za-z0-9_-]{1,64}", "is not a word (letters, digits, _ and -)")
ALGORITHM = pattern(r"[a-z0-9@.+-]{1,64}", "is not an algorithm name")
GROUP = pattern(
    r"[a-z_][a-z0-9_-]{0,31}", "is not an account or group name ([a-z_][a-z0-9_-]{0,31})"
)
RATE = pattern(r"[0-9]{1,6}/(second|minute|hour|day)", "is not a rate (e.g. 10/minute)")
MODULE = pattern(r"[A-Za-z0-9_-]{1,64}", "is not a kernel module name (letters, digits, _ and -)")
PACKAGE = pattern(r"[a-z0-9][a-z0-9+.-]{1,99}", "is not a Debian package name")
KERNEL_OPTION = pattern(
    r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}(=[A-Za-z0-9_.,:/+@=-]{0,127})?",
    "is not a kernel option (name or name=value: letters, digits, _.,:/+@=-; GRUB's drop-in "
    "is read by a shell)",
)
SYSCTL_KEY = pattern(
    r"-?[a-z][a-z0-9_]{0,31}([./][A-Za-z0-9_:@*-]{1,63}){1,8}",
    "is not a sysctl key (e.g. net.ipv4.ip_forward)",
)
SYSCTL_WORDS = pattern(
    r"[A-Za-z0-9_.,:/%+-]{1,64}( [A-Za-z0-9_.,:/%+-]{1,64}){0,7}",
    "is not a number or plain words (letters, digits, _.,:/%+- and single spaces)",
)
SUDO_DEFAULT = pattern(
    r'!?[a-z_]{1,40}(\s?[+-]?=\s?([A-Za-z0-9_./:%,@+-]{1,200}|"[A-Za-z0-9_ ./:%,@+=-]{0,200}"))?',
    'is not one sudoers Defaults entry ([!]name, or name=value, or name="a b")',
)
UMASK = pattern(r"0?[0-7]{3}", "is not an octal umask (quote it: '077')")
MOUNT_OPTION = pattern(r"[a-z0-9_]{1,40}(=[A-Za-z0-9_.:/-]{1,64})?", "is not a mount option")
AIDE_CHECKSUMS = pattern(
    r"[a-z0-9]{1,20}(\+[a-z0-9]{1,20}){0,7}",
    "is not AIDE checksums joined by + (e.g. sha256+sha512)",
)
# An unattended-upgrades origin pattern (apt.conf string: no quote, no brace, no semicolon).
ORIGIN = pattern(r"[A-Za-z0-9=,:._/${}*+ -]{1,200}", "is not an origin pattern (no quote or ;)")
PACKAGE_PATTERN = pattern(r"[A-Za-z0-9.+*^$()|_:-]{1,100}", "is not a package name or pattern")
LISTEN = pattern(
    r"(\[[0-9A-Fa-f:.]{2,45}\]|[0-9A-Fa-f:.]{2,45})(:[0-9]{1,5})?",
    "is not an address[:port]",
)
STARTUPS = pattern(r"[0-9]{1,5}(:[0-9]{1,3}:[0-9]{1,5})?", "is not MaxStartups (n or s:r:f)")
LOG_LEVEL = pattern(
    r"QUIET|FATAL|ERROR|INFO|VERBOSE|DEBUG[1-3]?", "is not an sshd log level (e.g. VERBOSE)"
)


SSH_KEY = pattern(
    r"(ssh-ed25519|sk-ssh-ed25519@openssh\.com|ecdsa-sha2-nistp(256|384|521)"
    r"|sk-ecdsa-sha2-nistp256@openssh\.com|ssh-rsa) [A-Za-z0-9+/]{16,16384}={0,3}"
    r"([ \t][^\x00-\x08\x0a-\x1f\x7f]{0,200})?",
    "is not one SSH public key (type, base64 key, optional comment; one line, no options)",
)
# A file name in a directory the role owns: no '/', no leading dot (so no '..').
FILE_NAME = pattern(
    r"[A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,99}", "is not a file name (no '/', no leading dot)"
)
_DIGEST = r"sha256:[0-9a-fA-F]{64}|sha384:[0-9a-fA-F]{96}|sha512:[0-9a-fA-F]{128}"


def CHECKSUM(value: Any) -> str | None:
    """A digest, or (get_url's other form) a SHA-2 sums file's URL: sha512:https://..."""
    kind, _, rest = value.partition(":") if isinstance(value, str) else ("", "", "")
    if re.fullmatch(_DIGEST, value if isinstance(value, str) else "") or (
        kind in ("sha256", "sha384", "sha512") and URL(rest) is None
    ):
        return None
    return "is not sha256:, sha384: or sha512: and the hex digest or a sums file's URL"


# An inventory name that also names a systemd unit instance and a file (role logging's
# forwarder to each log server: cite-log-forward@<name>.service, <name>.conf).
INVENTORY_NAME = pattern(
    r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", "is not an inventory name (letters, digits, _.- )"
)
UNIT = pattern(r"[A-Za-z0-9@_.:-]{1,200}\.service", "is not a service unit name")
DATABASE_NAME = pattern(r"[A-Za-z0-9_.-]{1,63}", "is not a database name (letters, digits, _.-)")
# A GECOS full name: any printable character but ':' (the field separator of /etc/passwd).
FULL_NAME = pattern(r"[^\x00-\x1f\x7f:]{0,100}", "is not a full name (one line, no ':')")
# A crypt(3) hash (yescrypt, sha512crypt, ...) or a locked password: one shadow field.
PASSWORD_HASH = pattern(
    r"[!*]{0,2}\$[A-Za-z0-9./=,$-]{8,300}|[!*]{1,2}", "is not a crypt hash (one field)"
)
# Groups that give root, or root's data, to their members (Debian's): never a tenant
# admin's (role base grants the site admins' sudo through base_admin_group).
PRIVILEGED_GROUPS = RESERVED_GROUPS | {"ssl-cert", "borg-replica", "incus", "incus-admin"}
# Accounts that exist for the system or the site's services: an admin entry by that name
# would take the account over (its keys, its shell, its groups).
RESERVED_ACCOUNTS = RESERVED_GROUPS | {
    "sync", "games", "gnats", "nobody", "_apt", "sshd", "postgres", "mysql", "Debian-exim",
    "postfix", "statd", "tss", "dnsmasq", "libvirt-dnsmasq", "syslog", "uuidd", "tcpdump",
    "_rpc", "polkitd", "usbguard", "nagios", "redis", "ntp",
}  # fmt: skip
_RESERVED_PREFIXES = ("borg-", "systemd-", "cite-")


def _account_name(value: Any) -> str | None:
    problem = GROUP(value)
    if problem:
        return problem
    if value in RESERVED_ACCOUNTS or value.startswith(_RESERVED_PREFIXES):
        return "is a system or service account (an admin entry would take it over)"
    return None


# Text shown before login (/etc/issue, sshd's Banner, motd): lines of printable text, no
# terminal escape or other control character.
TEXT = pattern(
    r"[^\x00-\x08\x0b-\x1f\x7f-\x9f\\]{0,4000}",
    "holds a control character or a backslash (agetty expands \\e in /etc/issue)",
)


def _number(value: Any) -> str | None:
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,12}(\.[0-9]{1,12})?", value):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "is not a number (a finite one: .nan or .inf would silence the alert)"
    return None


def unset_or(test: Callable[[Any], str | None], *unset: Any) -> Callable[[Any], str | None]:
    """``test``, except for the values that mean "none" ('' by default)."""
    blank = unset or ("",)
    return lambda value: None if value in blank else test(value)


def scalar(test: Callable[[Any], str | None]) -> Check:
    def check(knob: str, value: Any, errors: list[str]) -> None:
        if value is None:
            return
        problem = test(value)
        if problem:
            errors.append(f"{knob}: {_show(value)} {problem}")

    return check


def items(test: Callable[[Any], str | None]) -> Check:
    def check(knob: str, value: Any, errors: list[str]) -> None:
        if value is None:
            return
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
            shown = "" if isinstance(value, Mapping) else f" {_show(value)}"
            errors.append(f"{knob} must be a list, got {kind_of(value)}{shown}")
            return
        found = [(i, item, test(item)) for i, item in enumerate(value)]
        bad = [(i, item, problem) for i, item, problem in found if problem]
        if bad:
            shown = ", ".join(_label(item, i) for i, item, _ in bad[:5])
            errors.append(f"{knob}: {shown} {bad[0][2]}")

    return check


def mapping(
    key: Callable[[Any], str | None], value: Callable[[Any], str | None], what: str
) -> Check:
    def check(knob: str, data: Any, errors: list[str]) -> None:
        if data is None:
            return
        if not isinstance(data, Mapping):
            errors.append(f"{knob} must map {what}, got {kind_of(data)}")
            return
        bad_keys = [k for k in data if key(k)]
        if bad_keys:
            errors.append(f"{knob}: {', '.join(_show(k) for k in bad_keys[:5])} {key(bad_keys[0])}")
        bad = [k for k, v in data.items() if k not in bad_keys and value(v)]
        if bad:
            shown = ", ".join(f"{k} ({_show(data[k])})" for k in bad[:5])
            errors.append(f"{knob}: the value of {shown} {value(data[bad[0]])}")

    return check


def _mount_options(options: Any) -> str | None:
    if isinstance(options, str | bytes) or not isinstance(options, Sequence):
        return "must be a list of mount options"
    bad = [o for o in options if MOUNT_OPTION(o)]
    return f"holds {_show(bad[0])}, which is not a mount option" if bad else None


def _sftp_group(entry: Any) -> str | None:
    if not isinstance(entry, Mapping):
        return "is not {group: <name>, directory: <path>}"
    if GROUP(entry.get("group")):
        return "has a group that is not a name ([a-z_][a-z0-9_-]{0,31})"
    directory = entry.get("directory")
    # sshd expands %u (user) and %h (home) in ChrootDirectory.
    if PATH(directory.replace("%u", "u").replace("%h", "/h") if isinstance(directory, str) else 0):
        return "has a directory that is not an absolute path (letters, digits, _.+-, %u, %h)"
    return None


def _record(
    fields: Mapping[str, Callable[[Any], str | None]], required: Sequence[str], what: str
) -> Callable[[Any], str | None]:
    """A test of one entry: a mapping of known fields only, each of its class."""

    def test(entry: Any) -> str | None:
        if not isinstance(entry, Mapping):
            return f"is not {what}"
        unknown = sorted(str(k) for k in entry if k not in fields)
        if unknown:
            return f"has field(s) {', '.join(unknown)} not among {', '.join(fields)}"
        missing = [k for k in required if entry.get(k) is None]
        if missing:
            return f"lacks {', '.join(missing)}"
        for key, field_test in fields.items():
            # An optional field left empty in YAML (``comment:``) is unset.
            problem = field_test(entry[key]) if entry.get(key) is not None else None
            if problem:
                return f"has {key}: {problem}"
        return None

    return test


def _list_of(test: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
            return "is not a list"
        return next((f"holds {_show(v)}, which {p}" for v in value if (p := test(v))), None)

    return check


def _nonempty(check: Check) -> Check:
    def nonempty(knob: str, value: Any, errors: list[str]) -> None:
        if isinstance(value, Sequence) and not isinstance(value, str | bytes) and not value:
            errors.append(f"{knob} is empty")
            return
        check(knob, value, errors)

    return nonempty


def _one_of(*allowed: Any) -> Callable[[Any], str | None]:
    return lambda value: None if value in allowed else f"is not one of {', '.join(allowed)}"


def _port(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535
    return None if ok else "is not a port (1-65535)"


def _tenant_group(value: Any) -> str | None:
    if value in PRIVILEGED_GROUPS or (isinstance(value, str) and value.startswith("borg-")):
        return "gives root or root's data (never a tenant admin's group)"
    return GROUP(value)


_ADMIN_FIELDS: dict[str, Callable[[Any], str | None]] = {
    "name": _account_name,
    "comment": FULL_NAME,
    "ssh_keys": _list_of(SSH_KEY),
    "password_hash": PASSWORD_HASH,
    "state": _one_of("present", "absent"),
    "groups": _list_of(GROUP),
}


def _account(fields: Mapping[str, Callable[[Any], str | None]]) -> Callable[[Any], str | None]:
    """An admin account: its fields, and at least one key unless it is being removed."""
    record = _record(fields, ["name"], "{name, comment, ssh_keys, password_hash, state, groups}")

    def test(entry: Any) -> str | None:
        problem = record(entry)
        if (
            problem is None
            and entry.get("state", "present") == "present"
            and not entry.get("ssh_keys")
        ):
            return "has no ssh_keys (a present account logs in with a key only)"
        return problem

    return test


ADMIN = _account(_ADMIN_FIELDS)
TENANT_ADMIN = _account({**_ADMIN_FIELDS, "groups": _list_of(_tenant_group)})
# borgmatic's database hooks: only these fields. Others (pg_dump_command, options, ...)
# are commands or arguments borgmatic runs as root. A password goes in root's ~/.pgpass or
# ~/.my.cnf, never in the inventory's clear text.
_DATABASE_RECORD = _record(
    {
        "type": _one_of("postgresql", "mysql", "sqlite"),
        "name": DATABASE_NAME,
        "label": DATABASE_NAME,
        "path": PATH,
        # A server's name or address, or the directory of its Unix socket.
        "hostname": lambda v: None if PATH(v) is None else HOST(v),
        "port": lambda v: _port(int(v) if isinstance(v, str) and v.isdigit() else v),
        "username": pattern(r"[A-Za-z0-9_.@-]{1,63}", "is not a database user name"),
        "format": _one_of("plain", "custom", "directory", "tar", "sql"),
        "ssl_mode": _one_of("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    },
    ["type", "name"],
    "{type, name, label, path, hostname, port, username, format, ssl_mode}",
)
_DATABASE_FORMATS = {
    "postgresql": ("plain", "custom", "directory", "tar"),
    "mysql": ("sql",),
    "sqlite": (),
}


def DATABASE(entry: Any) -> str | None:
    """A database to dump: known fields only, the format its type knows."""
    problem = _DATABASE_RECORD(entry)
    if problem is None and entry.get("format") is not None:
        known = _DATABASE_FORMATS[entry["type"]]
        if entry["format"] not in known:
            allowed = ", ".join(known) or "no format"
            return f"has format: {entry['format']!r} is not for {entry['type']} ({allowed})"
    return problem


POOL = _record({"name": WORD, "path": PATH}, ["name", "path"], "{name, path}")
IMAGE = _record(
    {"name": FILE_NAME, "url": URL, "checksum": CHECKSUM},
    ["name", "url", "checksum"],
    "{name, url, checksum}",
)
# auditctl options a rule may use: the control options (-D deletes every rule, -e 0 turns
# auditing off, -f, -b, -r ...) are the role's alone, even in the middle of a line.
# auditctl options a rule may use: the control options (-D deletes every rule, -e 0 turns
# auditing off, -f, -b, -r ...) are the role's alone, even in the middle of a line. Only the
# exit list is open: "never,task" would stop auditing every process, an "exclude" or
# "user" rule would drop records, and -A would put a rule before the role's.
_AUDIT_OPTIONS = frozenset({"-w", "-p", "-k", "-F", "-S", "-C"})
_AUDIT_LISTS = frozenset({"always,exit", "never,exit", "exit,always", "exit,never"})
_AUDIT_TOKEN = re.compile(r"[A-Za-z0-9_.,:/=!<>&|@*+-]{1,200}")


def _audit_rule(value: Any) -> str | None:
    tokens = value.split() if isinstance(value, str) and _fits(_AUDIT_LINE, value) else []
    if not tokens:
        return "is not one audit rule (one line; letters, digits, _.,:/=!<>&|@*+-)"
    if tokens[0] == "-a":
        if len(tokens) < 2 or tokens[1] not in _AUDIT_LISTS:
            return "is not an exit-list rule (-a always,exit or -a never,exit ...)"
        tokens = tokens[2:]
    elif tokens[0] != "-w":
        return "is not one audit rule (-a always,exit ... or -w <path> ...)"
    for token in tokens:
        if not _AUDIT_TOKEN.fullmatch(token):
            return "is not one audit rule (one line; letters, digits, _.,:/=!<>&|@*+-)"
        if token.startswith("-") and token not in _AUDIT_OPTIONS and not token[1:].isdigit():
            return f"uses {token}, not a rule option ({', '.join(sorted(_AUDIT_OPTIONS))})"
    return None


_AUDIT_LINE = re.compile(r"[A-Za-z0-9_.,:/=!<>&|@*+ -]{1,400}")
_NFT_STATEMENT = re.compile(r"[A-Za-z0-9 _.,:/@\"'!=<>&|\[\]{}()*+-]{1,400}")
# Commands and directives nft takes inside a chain's body, never part of a rule; a rule
# may add to or delete from a set (add @meter { ... }), but not begin with "add".
_NFT_DIRECTIVES = frozenset(
    {"include", "define", "redefine", "undefine", "table", "chain", "flush"}
)
_NFT_COMMANDS = frozenset({"add", "delete", "insert", "replace", "create", "list", "reset"})


def _nft_statement(value: Any) -> str | None:
    """One rule of the input chain: anonymous sets ({ 80, 443 }) are balanced, so that no
    '}' closes the chain to open another; no directive or command among its words."""
    if not _fits(_NFT_STATEMENT, value):
        return "is not one nftables statement (one line; no ; # $)"
    depth = 0
    for char in value:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0 or depth > 1:
            return "is not one nftables statement (its braces leave or nest the chain)"
    if depth:
        return "is not one nftables statement (its braces leave or nest the chain)"
    words = re.sub(r'"[^"]*"', " ", value).split()
    if not words or words[0] in _NFT_COMMANDS or _NFT_DIRECTIVES.intersection(words):
        return "holds a command or directive, not a rule statement of the input chain"
    return None


# Every checked knob, by role. A default computed from the site model (already checked by
# sitemodel.validate) is left to it: MODEL_DEFAULTS.
KNOBS: dict[str, Check] = {
    # hardening
    "hardening_kernel_cmdline": items(KERNEL_OPTION),
    "hardening_sysctl_kernel": mapping(SYSCTL_KEY, _sysctl_value, "a sysctl key to its value"),
    "hardening_sysctl_network": mapping(SYSCTL_KEY, _sysctl_value, "a sysctl key to its value"),
    "hardening_sysctl_extra": mapping(SYSCTL_KEY, _sysctl_value, "a sysctl key to its value"),
    "hardening_blacklisted_modules": items(MODULE),
    "hardening_sudo_defaults": items(SUDO_DEFAULT),
    "hardening_umask": scalar(UMASK),
    "hardening_sudo_group": scalar(unset_or(GROUP)),
    "hardening_su_group": scalar(unset_or(GROUP)),
    "hardening_cron_allow": items(GROUP),
    "hardening_removed_packages": items(PACKAGE),
    "hardening_installed_packages": items(PACKAGE),
    "hardening_compilers": items(PATH),
    "hardening_mount_options": mapping(PATH, _mount_options, "a mount point to its options"),
    "hardening_aide_checksums": scalar(AIDE_CHECKSUMS),
    # base: apt's sources and unattended-upgrades (apt.conf strings)
    "base_apt_mirror": scalar(unset_or(URL)),
    "base_apt_security_mirror": scalar(unset_or(URL)),
    "base_apt_components": items(WORD),
    "base_apt_signed_by": scalar(PATH),
    "base_unattended_origins": items(ORIGIN),
    "base_unattended_blacklist": items(PACKAGE_PATTERN),
    "base_unattended_reboot_time": scalar(CLOCK),
    "base_admin_group": scalar(GROUP),
    # ssh and fail2ban (names written into AllowGroups and Match blocks)
    "ssh_allow_groups_extra": items(GROUP),
    "ssh_unix_socket_forwarding_users": items(GROUP),
    "ssh_fail2ban_ignoreip": items(NETWORK),
    "ssh_listen_addresses": items(LISTEN),
    "ssh_max_startups": scalar(STARTUPS),
    "ssh_log_level": scalar(LOG_LEVEL),
    "ssh_banner": scalar(unset_or(PATH, "", "none")),
    "ssh_sftp_chroot_groups": items(_sftp_group),
    # backup server's sshd
    "backup_server_listen": scalar(IP),
    "backup_server_ssh_kex": items(ALGORITHM),
    "backup_server_ssh_ciphers": items(ALGORITHM),
    "backup_server_ssh_macs": items(ALGORITHM),
    "backup_server_ssh_host_key_algorithms": items(ALGORITHM),
    "backup_server_storage": scalar(PATH),
    # logging and log servers (rsyslog, journald, logrotate, systemd units)
    "logging_tls_dir": scalar(PATH),
    "logging_servers": items(INVENTORY_NAME),
    "logging_queue_max_disk_space": scalar(SIZE),
    "logging_stats_file": scalar(PATH),
    "logging_journald_max_use": scalar(SIZE),
    "logging_journald_keep_free": scalar(SIZE),
    "logging_journald_max_retention": scalar(SPAN),
    "logging_journald_sync_interval": scalar(SPAN),
    "log_server_root": scalar(PATH),
    "log_server_tls_dir": scalar(PATH),
    "log_server_metrics_dir": scalar(PATH),
    "log_server_quota_interval": scalar(SPAN),
    # firewall (nftables, ulogd, logrotate)
    "firewall_log_file": scalar(PATH),
    "firewall_log_rate": scalar(RATE),
    # backups: units and timers
    "backup_client_schedule": scalar(CALENDAR),
    "backup_client_randomized_delay": scalar(SPAN),
    "backup_maintainer_metrics_dir": scalar(PATH),
    "backup_maintainer_schedule": scalar(CALENDAR),
    "backup_maintainer_delay": scalar(SPAN),
    "backup_replica_root": scalar(PATH),
    "backup_replica_metrics_dir": scalar(PATH),
    "backup_replica_schedule": scalar(CALENDAR),
    "backup_replica_delay": scalar(SPAN),
    # monitoring
    "monitoring_agent_textfile_dir": scalar(PATH),
    "monitoring_agent_collectors": items(WORD),
    "monitoring_server_scrape_interval": scalar(DURATION),
    "monitoring_server_evaluation_interval": scalar(DURATION),
    "monitoring_server_bmc_scrape_interval": scalar(DURATION),
    "monitoring_server_bmc_scrape_timeout": scalar(DURATION),
    "monitoring_server_group_wait": scalar(DURATION),
    "monitoring_server_group_interval": scalar(DURATION),
    "monitoring_server_repeat_interval": scalar(DURATION),
    "monitoring_server_retention": scalar(DURATION),
    "monitoring_server_probe_timeout": scalar(DURATION),
    # time (chrony) and audit (auditd's rules)
    "time_ntp_servers": items(HOST),
    "time_upstream_servers": items(HOST),
    "time_serve_networks": items(NETWORK),
    "audit_privileged_commands": items(PATH),
    "audit_extra_rules": items(_audit_rule),
    "firewall_extra_input_rules": items(_nft_statement),
    # admins (passwd, shadow, authorized_keys, groups)
    "base_admins": items(ADMIN),
    "base_tenant_admins": items(TENANT_ADMIN),
    "base_container_skipped_units": items(UNIT),
    # backups of a host: borgmatic's hooks, known_hosts, unit names
    "backup_client_databases": items(DATABASE),
    "backup_client_tenant": scalar(unset_or(WORD)),
    "backup_client_server": scalar(unset_or(HOST)),
    "backup_client_server_address": scalar(unset_or(HOST)),
    # monitoring's rules (PromQL thresholds, durations) and receivers
    "monitoring_server_thresholds": mapping(WORD, _number, "an alert to its threshold"),
    "monitoring_server_alert_for": mapping(WORD, DURATION, "an alert to a duration"),
    "monitoring_server_operations_receivers": items(receiver_problem),
    # hypervisors: modules-load.d, directories, downloads, the fleet account
    "hypervisor_modules": items(MODULE),
    "hypervisor_pools": items(POOL),
    "hypervisor_images_dir": scalar(PATH),
    "hypervisor_base_images": items(IMAGE),
    "hypervisor_fleet_user": scalar(_account_name),
    "hypervisor_fleet_keys": items(SSH_KEY),
    # FreeIPMI's configuration (ipmi_exporter writes these into it as they are)
    "monitoring_server_bmc_privilege": scalar(_one_of("user", "operator", "admin")),
    "monitoring_server_bmc_workarounds": items(WORD),
    # directories made root's and 0755, files written as root
    "pki_tls_dir": scalar(PATH),
    "backup_client_metrics_dir": scalar(PATH),
    "base_admin_shell": scalar(PATH),
    # before login on every terminal; the host keys kept (the others are deleted)
    "hardening_banner": scalar(TEXT),
    "ssh_host_key_types": _nonempty(items(_one_of("ed25519", "ecdsa", "rsa"))),
}

# Knobs whose role default is computed from the site model, which sitemodel.validate
# checks: the preflight checks them only where the inventory sets them.
MODEL_DEFAULTS = frozenset({"time_ntp_servers", "time_serve_networks"})

# The roles whose defaults the preflight loads to read these knobs.
ROLES = tuple(
    dict.fromkeys(
        [
            "base",
            "pki",
            "hardening",
            "ssh",
            "firewall",
            "time",
            "logging",
            "log_server",
            "audit",
            "backup_client",
            "backup_server",
            "backup_maintainer",
            "backup_replica",
            "monitoring_agent",
            "monitoring_server",
            "hypervisor",
        ]
    )
)


def _names(entries: Any) -> set[str]:
    return {str(e["name"]) for e in entries or () if isinstance(e, Mapping) and "name" in e}


def _account_errors(values: Mapping[str, Any]) -> list[str]:
    """Between the accounts' knobs, once each is well formed: a login is a site admin, a
    tenant admin or the fleet account, never two of them (its keys would be replaced by
    the other's), and no tenant admin is in the site admins' sudo group."""
    errors = []
    site, tenant = _names(values.get("base_admins")), _names(values.get("base_tenant_admins"))
    if site & tenant:
        errors.append(
            f"base_admins and base_tenant_admins both have {', '.join(sorted(site & tenant))} "
            "(a login is a site admin or a tenant admin, never both)"
        )
    fleet = values.get("hypervisor_fleet_user")
    if fleet in site | tenant:
        errors.append(f"hypervisor_fleet_user {fleet!r} is also an admin's login")
    admin_group = values.get("base_admin_group")
    in_group = sorted(
        str(e["name"])
        for e in values.get("base_tenant_admins") or ()
        if admin_group in (e.get("groups") or ())
    )
    if admin_group and in_group:
        errors.append(
            f"base_tenant_admins: {', '.join(in_group)} in base_admin_group {admin_group!r} "
            "(the site admins' sudo group, never a tenant admin's)"
        )
    return errors


def input_errors(values: Mapping[str, Any]) -> list[str]:
    """Problems of the knobs present in ``values`` (those of ``KNOBS``), one per knob, then
    those between knobs (the accounts)."""
    errors: list[str] = []
    for knob, check in KNOBS.items():
        if knob in values:
            check(knob, values[knob], errors)
    return errors or _account_errors(values)
