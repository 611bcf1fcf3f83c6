"""Backups in the running lab (`make lab` first): every tenant host backs up to backup01
through the firewalls, the restore drill passes on one host of each tenant, and a host of
one tenant cannot reach another tenant's repository."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import BIN, ROOT, inventory_json, run, why_it_failed
from testkit import traffic

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("backup")]
DATA = inventory_json(ROOT / "inventory" / "lab")
LAB = DATA["_meta"]["hostvars"]
PODMAN = str(ROOT / "lab" / "bin" / "podman")
# borg remembers each repository's location in its security directory and its cache
# (root's on a client, each tenant's state directory on the maintainer): both forgotten.
RELOCATION = (
    "find / -xdev -path '*/borg/security/*/location' -delete && "
    "find / -xdev -type d -path '*/.cache/borg' -prune -exec rm -rf {} +"
)
TENANT_HOSTS = {h: t for t in DATA["tenants"]["children"] for h in DATA[t]["hosts"]}
ONE_PER_TENANT = sorted({tenant: host for host, tenant in sorted(TENANT_HOSTS.items())}.values())
SERVER = DATA["backup_servers"]["hosts"][0]
SERVER_ADDRESS = LAB[SERVER]["site_address"]


def sh(host: str, command: str) -> subprocess.CompletedProcess[str]:
    return traffic.in_container(f"lab-{host}", command, podman=PODMAN)


def test_every_tenant_host_has_its_backup_timer() -> None:
    for host in TENANT_HOSTS:
        assert sh(host, "systemctl is-enabled cite-backup.timer").stdout.strip() == "enabled", host


@pytest.mark.lab_alters  # a backup of each, borg's locks held: not beside the --check
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
    assert result.returncode == 0, why_it_failed(result)
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


def _playbook(inventory: Path, *args: str) -> None:
    result = run([str(BIN / "ansible-playbook"), "-i", str(inventory), *args])
    assert result.returncode == 0, why_it_failed(result)


@pytest.mark.lab_alters
def test_the_replica_alone_restores_after_the_primary_is_destroyed(tmp_path: Path) -> None:
    """The bad day of docs/bad-day.md (case 5), end to end: a host's repository is copied to
    the other room, destroyed on the primary, the replica is promoted to backup server,
    and the restore drill restores the host's data bit for bit from it alone."""
    host = ONE_PER_TENANT[0]
    tenant = TENANT_HOSTS[host]
    replica = DATA["backup_replicas"]["hosts"][0]
    assert sh(host, "systemctl start cite-backup.service").returncode == 0
    pulled = sh(replica, "systemctl start cite-backup-replica.service")
    assert pulled.returncode == 0, pulled.stderr
    # The primary's copy of that repository is destroyed.
    assert sh(SERVER, f"rm -rf /srv/borg/{tenant}/{host}").returncode == 0
    # The inventory of the bad day: the replica is the backup server, the primary is gone.
    # The lab's inventory reads its admin key at inventory_dir/../../.cache/lab.
    inventory = tmp_path / "copy" / "inventory"
    shutil.copytree(ROOT / "inventory" / "lab", inventory)
    (tmp_path / ".cache").symlink_to(ROOT / ".cache")
    hosts_file = inventory / "hosts.yml"
    data = yaml.safe_load(hosts_file.read_text("utf-8"))
    infra = data["all"]["children"]["infra"]["children"]
    infra["backup_servers"]["hosts"] = infra.pop("backup_replicas")["hosts"]
    hosts_file.write_text(yaml.safe_dump(data), "utf-8")
    keep = [
        "-e", f"pki_dir={ROOT / 'inventory' / 'pki' / 'lab'}",
        "-e", f"backup_maintainer_keys_dir={ROOT / 'inventory' / 'backup-keys' / 'lab'}",
    ]  # fmt: skip
    maintainer = DATA["backup_maintainers"]["hosts"][0]
    try:
        # The replica becomes the backup server (its firewall, its accounts; the keys play
        # needs every client); the maintenance and the clients wait for the promotion (the
        # maintenance would create a new, empty repository where one is missing).
        _playbook(inventory, "playbooks/firewall.yml", "--limit", replica, *keep)
        _playbook(
            inventory, "playbooks/backup.yml", "--skip-tags", "backup_maintenance,backup_clients",
            *keep,
        )  # fmt: skip
        promoted = sh(replica, f"cite-backup-replica promote {SERVER} /srv/borg")
        assert f"promoted {tenant}/{host}" in promoted.stdout, promoted.stderr
        # borg refuses a repository that moved (BORG_RELOCATED_REPO_ACCESS_IS_OK=no): the
        # sysadmins acknowledge the move once, on the maintainer and the clients.
        for where in [maintainer, *TENANT_HOSTS]:
            forget = sh(where, RELOCATION)
            assert forget.returncode == 0, forget.stderr
        _playbook(inventory, "playbooks/backup.yml", *keep)
        drill = run(
            [str(BIN / "ansible-playbook"), "-i", str(inventory), "playbooks/restore-drill.yml",
             "-e", f"restore_drill_hosts={host}", *keep]
        )  # fmt: skip
        assert drill.returncode == 0, drill.stdout[-3000:]
        assert "0 differences" in " ".join(drill.stdout.split())
        # The drill read the replica: the host's repository is on it.
        replica_address = LAB[replica]["site_address"]
        assert replica_address in sh(host, "cat /usr/local/sbin/cite-borg").stdout
    finally:
        # The lab as it was: the replica keeps no promoted copy, the host backs up to the
        # primary again (a new repository), the replica's firewall as a replica's.
        sh(replica, "rm -rf /srv/borg")
        _playbook(ROOT / "inventory" / "lab", "playbooks/firewall.yml", "--limit", replica)
        for where in [maintainer, *TENANT_HOSTS]:  # the repositories move back
            sh(where, RELOCATION)
        _playbook(ROOT / "inventory" / "lab", "playbooks/backup.yml")
