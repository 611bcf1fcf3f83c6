"""Ansible filter for the services that accept exactly the site's current certificates.

- ``hosts | pki_fingerprints(directory)``: the SHA-1 fingerprints (librelp's form,
  ``SHA1:AB:CD:...``) of the certificates role pki recorded on the controller for these
  inventory hosts (``<directory>/<host>.crt``); a host without one (never converged) is
  left out. librelp, which carries the site's logs, reads no certificate revocation list:
  a log server that accepts these certificates and no other refuses a host removed from
  the inventory and a rekeyed host's old certificate (role pki's README).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleFilterError
from cryptography import x509
from cryptography.hazmat.primitives import hashes


def fingerprint(pem: bytes) -> str:
    digest = x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA1())
    return "SHA1:" + ":".join(f"{byte:02X}" for byte in digest)


def pki_fingerprints(hosts: Iterable[Any], directory: str) -> list[str]:
    if not directory:
        raise AnsibleFilterError("pki_fingerprints: no certificates directory (run role pki first)")
    found = []
    for host in hosts:
        path = Path(directory) / f"{host}.crt"
        if path.is_file():
            try:
                found.append(fingerprint(path.read_bytes()))
            except ValueError as exc:
                raise AnsibleFilterError(f"pki_fingerprints: {path}: {exc}") from exc
    return found


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"pki_fingerprints": pki_fingerprints}
