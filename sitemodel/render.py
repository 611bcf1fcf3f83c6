"""Values checked (or quoted) where they are written into a configuration file.

The site model refuses hostile inventory data before any host is touched; this module is
the second wall, for a role run alone or a value that did not come through the model.
Each function either returns the value in the form its destination needs or raises
``ValueError`` naming the value and the place, so a template never writes it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

from sitemodel.model import ID_PATTERN, QUOTA, UNIX_GROUP, quota_bytes
from sitemodel.validate import HOST_NAME

# What a quoted nftables string (comment, log prefix) may hold: no quote, no backslash,
# no newline, nothing nft would read as the end of the string.
NFT_STRING = re.compile(r"^[A-Za-z0-9 _.:=/,@+-]{1,120}\Z")
# A repository path on a backup server: absolute, plain characters, no '..' component.
REPOSITORY = re.compile(r"^/(?:[A-Za-z0-9_.-]+/)*[A-Za-z0-9_.-]+\Z")
UNKNOWN_NETWORK = "_unknown"


def nft_string(value: object, where: str = "nftables string") -> str:
    text = str(value)
    if not NFT_STRING.match(text):
        raise ValueError(
            f"{where}: {text!r:.80} cannot be written into nftables rules (letters, digits, "
            "space and _ . : = / , @ + - only, up to 120 characters)"
        )
    return text


def unix_groups(names: Iterable[object], where: str = "groups") -> list[str]:
    """Unix group names for sshd's AllowGroups (space-separated: a space would add one)."""
    found = []
    for name in names:
        text = str(name)
        if not UNIX_GROUP.match(text):
            raise ValueError(
                f"{where}: {text!r:.60} is not a Unix group name ({UNIX_GROUP.pattern})"
            )
        found.append(text)
    return list(dict.fromkeys(found))


def log_path(network: object, host: object) -> str:
    """'<network>/<host>' under a log server's store: two plain path components."""
    net = str(network) or UNKNOWN_NETWORK
    name = str(host)
    if net != UNKNOWN_NETWORK and not ID_PATTERN.match(net):
        raise ValueError(f"log path: network {net!r:.60} is not a network id")
    if not HOST_NAME.match(name):
        raise ValueError(f"log path: host {name!r:.60} is not a DNS label")
    return f"{net}/{name}"


def borg_forced_command(program: str, repository: object, quota: object) -> str:
    """The ``command="..."`` value of a backup client's authorized_keys line (``quota``
    "maintenance": the backup maintainers' line, on a tenant's directory).

    sshd runs it through the account's shell: each argument is shell-quoted, and the whole
    is escaped for the double-quoted authorized_keys option."""
    repo = str(repository)
    size = str(quota)
    if not REPOSITORY.match(repo) or "/../" in f"{repo}/" or "/./" in f"{repo}/":
        raise ValueError(f"backup forced command: repository {repo!r:.80} is not a plain path")
    if size not in ("0", "maintenance") and not QUOTA.match(size):
        raise ValueError(f"backup forced command: quota {size!r:.40} is not a size such as 20G")
    if not REPOSITORY.match(program):
        raise ValueError(f"backup forced command: program {program!r:.80} is not a plain path")
    command = " ".join(shlex.quote(part) for part in (program, repo, size))
    return command.replace("\\", "\\\\").replace('"', '\\"')


def size_bytes(value: object, where: str = "size") -> int:
    """A size of the site model (500G, 2T: decimal units, as quotas are written) in bytes."""
    text = str(value)
    if not QUOTA.match(text):
        raise ValueError(f"{where}: {text!r:.40} is not a size such as 500G or 2T")
    return quota_bytes(text)
