"""Backups in the running lab (`make lab` first): every tenant host backs up to backup01
through the firewalls, the restore drill passes on one host of each tenant, and a host of
one tenant cannot reach another tenant's repository."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import BIN, ROOT, inventory_json, run
from testkit import traffic

pytestmark = pytest.mark.lab
DATA = inventory_json(ROOT / "inventory" / "lab")
LAB = DATA["_meta"]["hostvars"]
PODMAN = str(ROOT / "lab" / "bin" / "podman")
TENANT_HOSTS = {h: t for t in DATA["tenants"]["children"] for h in DATA[t]["hosts"]}
ONE_PER_TENANT = sorted({tenant: host for host, tenant in sorted(TENANT_HOSTS.items())}.values())
SERVER = DATA["backup_servers"]["hosts"][0]
SERVER_ADDRESS = LAB[SERVER]["site_address"]


def sh(host: str, command: str) -> subprocess.CompletedProcess[str]:
    return traffic.in_container(f"lab-{host}", command, podman=PODMAN)


def test_every_tenant_host_has_its_backup_timer() -> None:
    for host in TENANT_HOSTS:
        assert sh(host, "systemctl is-enabled cite-backup.timer").stdout.strip() == "enabled", host


def test_restore_drill_passes_on_one_host_of_each_tenant() -> None:
    result = run(
        [
            str(BIN / "ansible-playbook"),
            "playbooks/restore-drill.yml",
            "-e",
            f"restore_drill_hosts={','.join(ONE_PER_TENANT)}",
            "-e",
            "restore_drill_backup_first=true",
        ]
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    text = " ".join(result.stdout.split())
    for host in ONE_PER_TENANT:
        assert f"{host}: archive {host}-" in text
        assert "0 differences" in text
        last = json.loads(sh(host, "cite-borg list --json --last 1").stdout)["archives"]
        assert last, host


@pytest.mark.parametrize("host", ONE_PER_TENANT)
def test_no_tenant_reaches_another_tenants_repository(host: str) -> None:
    tenant = TENANT_HOSTS[host]
    other = next(h for h, t in sorted(TENANT_HOSTS.items()) if t != tenant)
    path = f"/srv/borg/{TENANT_HOSTS[other]}/{other}"
    own_account = sh(host, f"cite-borg list ssh://borg-{tenant}@{SERVER_ADDRESS}:2222{path}")
    assert own_account.returncode != 0
    assert "Repository path not allowed" in own_account.stderr
    their_account = sh(
        host,
        "ssh -i /etc/borgmatic/ssh/id_ed25519 -o BatchMode=yes "
        "-o UserKnownHostsFile=/etc/borgmatic/ssh/known_hosts "
        f"-p 2222 borg-{TENANT_HOSTS[other]}@{SERVER_ADDRESS} true </dev/null",
    )
    assert "Permission denied (publickey)" in their_account.stderr
