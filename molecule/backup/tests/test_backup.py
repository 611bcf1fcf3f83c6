"""Roles backup_server, backup_maintainer, backup_replica and backup_client, proven with
real backups and restores.

backup-debian12 is the backup server (borg 1.2), which holds no passphrase and no key;
backup-maint the maintainer (passphrases, key files, prune, tamper check); backup-replica
the copy in the other room; backup-debian13 is a client of tenant alpha (borg 1.4, sqlite
dump), backup-bravo a client of tenant bravo (borg 1.2, 40 MB quota, one daily archive
kept). Tests run in file order: the data set made by the first ones is used by the next.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from testkit import traffic
from testkit.scenario import extra_inventory, playbook

ROOT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
SERVER, ALPHA, BRAVO = "backup-debian12", "backup-debian13", "backup-bravo"
MAINT, REPLICA = "backup-maint", "backup-replica"
REPO = {ALPHA: "/srv/borg/alpha/backup-debian13", BRAVO: "/srv/borg/bravo/backup-bravo"}
PROM = "/var/lib/prometheus/node-exporter/cite_backup.prom"

# A data set: 3,000 small text files in 30 directories, 60 binary files, two large ones
# (random and compressible), some sparse-ish zeros; then a change script for the second run.
MAKE_DATA = r"""
import os, random
random.seed(20261124)
base = "/srv/data"
for d in range(30):
    os.makedirs(f"{base}/dir{d:02}", exist_ok=True)
    for f in range(100):
        with open(f"{base}/dir{d:02}/note{f:03}.txt", "w") as out:
            out.write(f"dossier {d}-{f}\n" * random.randint(1, 200))
os.makedirs(f"{base}/bin", exist_ok=True)
for f in range(60):
    with open(f"{base}/bin/blob{f:02}.bin", "wb") as out:
        out.write(os.urandom(random.randint(1, 400) * 1024))
with open(f"{base}/large-random.bin", "wb") as out:
    out.write(os.urandom(48 * 1024 * 1024))
with open(f"{base}/large-text.log", "w") as out:
    for i in range(400000):
        out.write(f"{i:08} citizen request handled\n")
os.symlink("dir00/note000.txt", f"{base}/latest-note")
"""
CHANGE_DATA = r"""
import os
base = "/srv/data"
for f in range(20):
    with open(f"{base}/dir05/note{f:03}.txt", "a") as out:
        out.write("amended\n")
    os.remove(f"{base}/dir07/note{f:03}.txt")
with open(f"{base}/bin/blob00.bin", "r+b") as out:
    out.write(b"\0" * 4096)
with open(f"{base}/new-file.txt", "w") as out:
    out.write("created after the first backup\n")
"""


def sh(container: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return traffic.in_container(container, command, timeout=timeout)


def ok(container: str, command: str, timeout: float = 60) -> str:
    result = sh(container, command, timeout=timeout)
    assert result.returncode == 0, f"{container}: {command}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def archives(container: str) -> list[str]:
    return [a["name"] for a in json.loads(ok(container, "cite-borg list --json"))["archives"]]


def backup(container: str) -> subprocess.CompletedProcess[str]:
    return sh(container, "systemctl start cite-backup.service", timeout=600)


def drill(*extra: str) -> subprocess.CompletedProcess[str]:
    return playbook(
        str(ROOT / "playbooks" / "restore-drill.yml"), "-e", f"restore_drill_hosts={ALPHA}", *extra
    )


def metric(container: str, name: str) -> float | None:
    match = re.search(rf"^{name} (\S+)$", sh(container, f"cat {PROM}").stdout, re.M)
    return float(match.group(1)) if match else None


@pytest.fixture(scope="module", autouse=True)
def ledger() -> None:
    """alpha declares a sqlite database (molecule.yml): it exists before the first backup."""
    ok(
        ALPHA,
        "mkdir -p /srv/app && sqlite3 /srv/app/ledger.db "
        '"create table if not exists entries(ref text); '
        "insert into entries values ('ledger-7731');\"",
    )


def test_server_forced_commands_are_root_owned_and_append_only() -> None:
    for tenant, host, quota in (("alpha", ALPHA, "2G"), ("bravo", BRAVO, "40M")):
        path = f"/etc/cite-backup/authorized_keys/borg-{tenant}"
        assert ok(SERVER, f"stat -c '%U %a' {path}").split() == ["root", "644"]
        keys = [line for line in ok(SERVER, f"cat {path}").splitlines() if not line.startswith("#")]
        assert len(keys) == 2
        assert keys[0].startswith(
            'restrict,command="/usr/local/libexec/cite-borg-serve '
            f'{REPO[host]} {quota}" ssh-ed25519 '
        )
        # The maintainer's key: from its address only, on this tenant's directory only.
        maint = ok(MAINT, "hostname -I").split()[0]
        assert keys[1].startswith(
            f'restrict,from="{maint}",command="/usr/local/libexec/cite-borg-serve '
            f'/srv/borg/{tenant} maintenance" ssh-ed25519 '
        )
        assert ok(SERVER, f"stat -c '%U %G %a' /srv/borg/{tenant}").split() == [
            f"borg-{tenant}",
            "borg-replica",
            "2750",
        ]
    replica = ok(SERVER, "cat /etc/cite-backup/authorized_keys/borg-replica")
    assert 'command="/usr/bin/rrsync -ro /srv/borg"' in replica
    guard = ok(SERVER, "cat /usr/local/libexec/cite-borg-serve")
    assert '"--append-only"' in guard
    effective = ok(SERVER, "sshd -T -f /etc/ssh/sshd_backup_config")
    for line in (
        "port 2222",
        "passwordauthentication no",
        "permittty no",
        "permitrootlogin no",
        "disableforwarding yes",
    ):
        assert line in effective.splitlines(), line
    allowed = {g for line in effective.splitlines() if line.startswith("allowgroups ")
               for g in line.split()[1:]}  # fmt: skip
    assert allowed == {"borg-clients", "borg-replica"}
    assert ok(SERVER, "systemctl is-active cite-backup-sshd").strip() == "active"


def test_clients_have_their_timer_and_no_packaged_one() -> None:
    for client in (ALPHA, BRAVO):
        assert ok(client, "systemctl is-enabled cite-backup.timer").strip() == "enabled"
        assert sh(client, "systemctl is-enabled borgmatic.timer").stdout.strip() == "masked"
        assert ok(client, "stat -c '%U %a' /etc/borgmatic/passphrase").split() == ["root", "400"]


def test_data_set_backed_up_changed_and_restored_identical() -> None:
    ok(ALPHA, "rm -rf /srv/data /var/tmp/r1")
    ok(ALPHA, f"python3 -c '{MAKE_DATA}'")
    assert int(ok(ALPHA, "find /srv/data -type f | wc -l")) > 3000
    ok(
        ALPHA,
        "cd / && find srv/data -type f -print0 | sort -z | xargs -0 sha256sum > /root/manifest1",
    )
    assert backup(ALPHA).returncode == 0
    first = archives(ALPHA)[-1]
    assert metric(ALPHA, "cite_backup_last_run_success") == 1
    assert time.time() - (metric(ALPHA, "cite_backup_last_success_timestamp_seconds") or 0) < 300

    ok(ALPHA, f"python3 -c '{CHANGE_DATA}'")
    assert backup(ALPHA).returncode == 0
    assert archives(ALPHA)[-1] != first

    # The first archive still gives back the first data set, bit for bit.
    ok(ALPHA, f"mkdir -p /var/tmp/r1 && cd /var/tmp/r1 && cite-borg extract ::{first} srv/data")
    check = sh(ALPHA, "cd /var/tmp/r1 && sha256sum --quiet --strict -c /root/manifest1")
    assert check.returncode == 0, check.stdout[-2000:]
    assert ok(ALPHA, "cd /var/tmp/r1 && find srv/data -type f | wc -l") == ok(
        ALPHA, "wc -l < /root/manifest1"
    )
    assert ok(ALPHA, "readlink /var/tmp/r1/srv/data/latest-note").strip() == "dir00/note000.txt"
    ok(ALPHA, "rm -rf /var/tmp/r1")

    # The latest archive equals the live data (changed files included), strictly.
    result = drill("-e", "restore_drill_strict=true")
    assert result.returncode == 0, result.stdout[-3000:]
    assert re.search(r"(\d+) of\s+\1\s+files\s+identical", result.stdout), result.stdout[-1500:]


def test_restore_drill_fails_loudly_on_a_difference() -> None:
    ok(ALPHA, "echo tampered >> /srv/data/dir01/note001.txt")
    strict = drill("-e", "restore_drill_strict=true")
    assert strict.returncode != 0
    assert "restore drill FAILED" in strict.stdout
    assert "/srv/data/dir01/note001.txt" in strict.stdout
    # Without strict mode a file changed after the archive is reported, not a failure...
    tolerant = drill()
    assert tolerant.returncode == 0, tolerant.stdout[-2000:]
    assert "1 changed" in tolerant.stdout
    # A file deleted since the archive: reported; a failure in strict mode only.
    ok(ALPHA, "sed -i '$ d' /srv/data/dir01/note001.txt && rm /srv/data/dir03/note003.txt")
    assert drill("-e", "restore_drill_strict=true").returncode != 0
    tolerant = drill()
    assert tolerant.returncode == 0, tolerant.stdout[-2000:]
    assert "1 deleted" in tolerant.stdout
    assert backup(ALPHA).returncode == 0


def test_client_can_neither_delete_nor_prune_its_history() -> None:
    before = archives(ALPHA)
    first = before[0]
    deleted = sh(ALPHA, f"cite-borg delete ::{first}")
    assert deleted.returncode != 0
    assert "'delete' refused" in deleted.stderr
    pruned = sh(ALPHA, "cite-borg prune --keep-last 1")
    assert pruned.returncode != 0
    assert "refused" in pruned.stderr
    whole = sh(ALPHA, "BORG_DELETE_I_KNOW_WHAT_I_AM_DOING=YES cite-borg delete")
    assert whole.returncode != 0
    assert archives(ALPHA) == before


def test_client_reaches_no_other_repository() -> None:
    address = ok(SERVER, "hostname -I").split()[0]
    server = f"{address}:2222"
    other_tenant = sh(ALPHA, f"cite-borg list ssh://borg-alpha@{server}{REPO[BRAVO]}")
    assert other_tenant.returncode != 0
    assert "Repository path not allowed" in other_tenant.stderr
    sibling = sh(ALPHA, f"cite-borg list ssh://borg-alpha@{server}/srv/borg/alpha/another-host")
    assert sibling.returncode != 0
    assert "Repository path not allowed" in sibling.stderr
    ssh = (
        "ssh -i /etc/borgmatic/ssh/id_ed25519 -o BatchMode=yes "
        "-o UserKnownHostsFile=/etc/borgmatic/ssh/known_hosts "
        f"-p 2222 {{}}@{address} id </dev/null"
    )
    as_bravo = sh(ALPHA, ssh.format("borg-bravo"))
    assert as_bravo.returncode != 0
    assert "Permission denied (publickey)" in as_bravo.stderr
    shell = sh(ALPHA, ssh.format("borg-alpha"))
    assert "uid=" not in shell.stdout
    # On the server, one tenant's account cannot even list another tenant's repositories.
    assert sh(SERVER, "runuser -u borg-alpha -- ls /srv/borg/bravo").returncode != 0


def test_server_stopped_during_a_backup() -> None:
    last_success = metric(ALPHA, "cite_backup_last_success_timestamp_seconds")
    ok(ALPHA, "head -c 400M /dev/urandom > /srv/data/interrupted.bin")
    ok(ALPHA, "systemctl start --no-block cite-backup.service")
    deadline = time.monotonic() + 60
    while sh(SERVER, "pgrep -u borg-alpha -f 'borg serve'").returncode != 0:
        assert time.monotonic() < deadline, "the backup never reached the server"
        time.sleep(0.2)
    time.sleep(2)
    ok(SERVER, "systemctl stop cite-backup-sshd")
    try:
        deadline = time.monotonic() + 180
        while sh(ALPHA, "systemctl is-active cite-backup.service").stdout.strip() in (
            "activating",
            "active",
        ):
            assert time.monotonic() < deadline, "the backup did not end after the server stopped"
            time.sleep(1)
        assert (
            ok(ALPHA, "systemctl show -p Result --value cite-backup.service").strip() == "exit-code"
        )
        journal = ok(ALPHA, "journalctl -u cite-backup.service -n 60 --no-pager")
        assert re.search(r"Connection closed by remote host|Broken pipe|Error running", journal), (
            journal[-2000:]
        )
        assert metric(ALPHA, "cite_backup_last_run_success") == 0
        assert metric(ALPHA, "cite_backup_last_success_timestamp_seconds") == last_success
    finally:
        ok(SERVER, "systemctl start cite-backup-sshd")
    # The interrupted session committed nothing that breaks the repository.
    check = sh(MAINT, "/usr/local/libexec/cite-backup-maint check alpha", timeout=600)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "alpha/backup-debian13: check passed" in check.stdout
    assert backup(ALPHA).returncode == 0
    assert metric(ALPHA, "cite_backup_last_run_success") == 1
    ok(ALPHA, "rm /srv/data/interrupted.bin")


def test_sqlite_database_is_dumped_into_the_archive() -> None:
    assert backup(ALPHA).returncode == 0
    latest = archives(ALPHA)[-1]
    paths = ok(ALPHA, f"cite-borg list --short ::{latest}").splitlines()
    dumps = [p for p in paths if "sqlite_databases" in p and p.endswith("ledger")]
    assert dumps, [p for p in paths if "borgmatic" in p]
    dump = ok(ALPHA, f"cite-borg extract --stdout ::{latest} {dumps[0]}")
    assert "INSERT INTO entries VALUES('ledger-7731');" in dump


def test_tenant_quota_is_enforced_by_the_server() -> None:
    ok(BRAVO, "mkdir -p /srv/data && echo small > /srv/data/small.txt")
    assert backup(BRAVO).returncode == 0
    ok(BRAVO, "head -c 60M /dev/urandom > /srv/data/too-big.bin")
    assert backup(BRAVO).returncode != 0
    assert "quota" in ok(BRAVO, "journalctl -u cite-backup.service -n 40 --no-pager").lower()
    ok(BRAVO, "rm /srv/data/too-big.bin")
    assert backup(BRAVO).returncode == 0


def maintenance(tenant: str) -> subprocess.CompletedProcess[str]:
    # As long as a backup may take: the unit waits up to lock_wait (600 s) for a lock.
    return sh(MAINT, f"systemctl start cite-backup-maint@{tenant}.service", timeout=900)


def test_the_maintainer_prunes_with_the_tenant_retention() -> None:
    assert backup(BRAVO).returncode == 0
    assert len(archives(BRAVO)) >= 2
    started = maintenance("bravo")
    journal = ok(MAINT, "journalctl -u cite-backup-maint@bravo.service --no-pager")
    assert started.returncode == 0, journal[-3000:]
    assert archives(BRAVO) == archives(BRAVO)[-1:]  # keep_daily 1: today's last only
    prom = ok(MAINT, "cat /var/lib/prometheus/node-exporter/cite_backup_maint_bravo.prom")
    assert (
        'cite_backup_repository_ok{tenant_repository="bravo",host_repository="backup-bravo"} 1'
        in prom
    )
    assert (
        'cite_backup_tamper_detected{tenant_repository="bravo",host_repository="backup-bravo"} 0'
        in prom
    )


def test_wrong_passphrase_is_refused_before_any_change() -> None:
    watched = {
        ALPHA: "/etc/borgmatic/passphrase /etc/borgmatic/config.yaml",
        MAINT: " ".join(f"/etc/cite-backup-maint/passphrases/{t}" for t in ("alpha", "bravo")),
    }
    before = {host: ok(host, f"sha256sum {paths}") for host, paths in watched.items()}
    converge = str(ROOT / "molecule" / "backup" / "converge.yml")
    wrong_client = playbook(
        converge, "--tags", "backup", "-e", "backup_client_passphrase=not-the-passphrase"
    )
    assert wrong_client.returncode != 0
    assert "does not open" in wrong_client.stdout
    assert "wrong vault value" in wrong_client.stdout
    wrong_server = playbook(
        converge,
        "--tags",
        "backup",
        "-e",
        '{"vault_backup_passphrases": {"alpha": "x", "bravo": "y"}}',
    )
    assert wrong_server.returncode != 0
    assert "tenant(s) alpha, bravo" in wrong_server.stdout
    missing = playbook(converge, "--tags", "backup", "-e", '{"vault_backup_passphrases": {}}')
    assert missing.returncode != 0
    assert "vault_backup_passphrases" in missing.stdout
    assert "not-the-passphrase" not in wrong_client.stdout + wrong_client.stderr
    assert {host: ok(host, f"sha256sum {paths}") for host, paths in watched.items()} == before


@pytest.mark.parametrize("flag", ["--check"])
def test_check_mode_on_a_converged_fleet_changes_nothing(flag: str) -> None:
    result = playbook(str(ROOT / "molecule" / "backup" / "converge.yml"), flag)
    assert result.returncode == 0, result.stdout[-3000:]
    recap = re.findall(r"(\S+) : ok=\d+ changed=(\d+)", result.stdout)
    assert {host for host, _ in recap} >= {SERVER, ALPHA, BRAVO, MAINT, REPLICA}, result.stdout[
        -2000:
    ]
    assert all(changed == "0" for _, changed in recap), recap


@pytest.mark.parametrize("name", ["x;reboot", "$(touch /tmp/pwned)", "../aphp"])
def test_a_hostile_client_name_never_reaches_the_forced_command(tmp_path: Path, name: str) -> None:
    """The role run alone on a client list that did not go through the site preflight: the
    name is refused before authorized_keys (run by sshd through a shell) is written."""
    keys = "/etc/cite-backup/authorized_keys/borg-alpha"
    before = sh(SERVER, f"sha256sum {keys}").stdout
    client = {"site_tenant": "alpha", "backup_client_public_key": "ssh-ed25519 AAAAC3Nz x"}
    extra = extra_inventory(tmp_path, {name: client}, "tenants")
    result = playbook(
        ROOT / "molecule" / "backup" / "converge.yml", "-i", str(extra), "--limit", SERVER
    )
    assert result.returncode != 0
    assert "the name is not a DNS label" in result.stdout
    assert sh(SERVER, f"sha256sum {keys}").stdout == before


# The client's borg settings (repository, ssh, passphrase command, keys), as cite-borg sets them.
CITE_BORG_ENV = 'eval "$(grep ^export /usr/local/sbin/cite-borg)"'
# What a compromised client can do through its append-only access: load the manifest, drop
# an archive from it, write it back (a put and a commit, which the guard lets through).
DROP_ARCHIVE = r"""
import os, sys
try:
    from borg.manifest import Manifest
except ImportError:
    from borg.helpers import Manifest
from borg.archiver import Archiver
from borg.helpers import Location
from borg.logger import setup_logging
from borg.remote import RemoteRepository
# As borg's command line does: its logging, then its parser's options for a remote
# repository (rsh, remote path, umask).
setup_logging()
args = Archiver().get_args(["borg", "list", os.environ["BORG_REPO"]], None)
location = Location(os.environ["BORG_REPO"])
with RemoteRepository(location, exclusive=True, lock_wait=60, args=args) as repository:
    manifest, key = Manifest.load(repository, (Manifest.Operation.WRITE,))
    del manifest.archives[sys.argv[1]]
    manifest.write()
    repository.commit(compact=False)
"""

SAMPLER = r"""
import os, sys, time
needles = [line.strip().encode() for line in open(sys.argv[1]) if line.strip()]
hits, end = set(), time.monotonic() + float(sys.argv[2])
while time.monotonic() < end and not os.path.exists("/run/sampler.stop"):
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        for part in ("cmdline", "environ"):
            try:
                data = open(f"/proc/{pid}/{part}", "rb").read()
            except OSError:
                continue
            if any(n in data for n in needles):
                hits.add(f"{pid}/{part}")
    time.sleep(0.02)
print(len(hits), " ".join(sorted(hits)))
"""


def passphrases() -> list[str]:
    return [ok(MAINT, f"cat /etc/cite-backup-maint/passphrases/{t}") for t in ("alpha", "bravo")]


def key_material() -> list[str]:
    """The base64 lines of every repository key file (the maintainer's exports)."""
    text = ok(MAINT, "cat /var/lib/cite-backup-maint/exports/*/*.key")
    return [
        line for line in text.splitlines() if len(line) > 40 and not line.startswith("BORG_KEY")
    ]


def sampling(container: str, needles: list[str], seconds: int) -> None:
    """Start a sampler of every process's command line and environment in ``container``.
    A sampler left by an interrupted run is stopped first: it would see the needles being
    written below (in a shell's command line) and report them into this run's output."""
    sh(container, "pkill -f '[/]run/sampler.py'; rm -f /run/sampler.out")
    ok(container, "cat > /run/needles <<'EOF'\n" + "\n".join(needles) + "\nEOF")
    ok(container, f"rm -f /run/sampler.stop && cat > /run/sampler.py <<'EOF'\n{SAMPLER}\nEOF")
    subprocess.run(
        ["podman", "exec", "-d", container, "sh", "-c",
         f"python3 /run/sampler.py /run/needles {seconds} > /run/sampler.out 2>&1"],
        check=True,
    )  # fmt: skip


def sampled(container: str) -> str:
    ok(container, "touch /run/sampler.stop")
    deadline = time.monotonic() + 30
    while sh(container, "test -s /run/sampler.out").returncode != 0:
        assert time.monotonic() < deadline, f"{container}: the sampler never finished"
        time.sleep(1)
    return ok(
        container, "cat /run/sampler.out && rm -f /run/sampler.out /run/needles /run/sampler.stop"
    )


def test_passphrases_never_in_a_process_arguments_environment_or_journal() -> None:
    """During a backup, a maintenance run and a converge, no tenant passphrase appears in
    any /proc/*/cmdline or /proc/*/environ of the client, the maintainer or the server, nor
    in their journals."""
    secrets = passphrases()
    for container in (ALPHA, MAINT, SERVER):
        sampling(container, secrets, 900)
    time.sleep(1)
    assert backup(ALPHA).returncode == 0
    assert maintenance("alpha").returncode == 0
    converge = playbook(str(ROOT / "molecule" / "backup" / "converge.yml"), "--tags", "backup")
    assert converge.returncode == 0, converge.stdout[-2000:]
    for container in (ALPHA, MAINT, SERVER):
        assert sampled(container).split()[0] == "0", container
        journal = sh(container, "journalctl --no-pager -o cat").stdout
        assert not any(secret in journal for secret in secrets), container
    assert not any(secret in converge.stdout for secret in secrets)


def test_a_client_rewriting_its_manifest_is_caught_and_rolled_back() -> None:
    """A compromised client renames its archive (an ordinary transaction its append-only
    access allows): the maintenance sees it, stops before prune and compact, raises the
    metric; the server's rollback brings back the archive as it was, which the restore
    drill restores."""
    prom = "/var/lib/prometheus/node-exporter/cite_backup_maint_alpha.prom"
    labels = 'tenant_repository="alpha",host_repository="backup-debian13"'
    assert backup(ALPHA).returncode == 0
    assert maintenance("alpha").returncode == 0
    before = archives(ALPHA)
    logged = [
        line.split("\t") for line in ok(SERVER, f"cite-backup-rollback {REPO[ALPHA]}").splitlines()
    ]
    # The maintenance's compaction is logged (borg logs append-only transactions only).
    assert logged[-1][2] == "maintenance", logged
    good = logged[-1][0]
    older = [number for number, _, kind in logged if kind == "client"][-1]
    # Renaming would delete the old archive's metadata: the server's guard refuses it...
    renamed = sh(ALPHA, f"cite-borg rename ::{before[-1]} {before[-1]}-gone")
    assert renamed.returncode != 0
    assert "'delete' refused" in renamed.stderr
    # ... but a manifest written without that archive is an ordinary put and commit.
    attack = sh(ALPHA, f"{CITE_BORG_ENV}; python3 - {before[-1]} <<'EOF'\n{DROP_ARCHIVE}\nEOF")
    assert attack.returncode == 0, attack.stderr
    assert archives(ALPHA) == before[:-1]
    assert maintenance("alpha").returncode != 0
    journal = ok(MAINT, "journalctl -u cite-backup-maint@alpha.service -n 30 --no-pager")
    assert "TAMPERING" in journal
    assert f"archive {before[-1]} disappeared" in journal
    assert f"cite_backup_tamper_detected{{{labels}}} 1" in ok(MAINT, f"cat {prom}")
    # Nothing was pruned or compacted: the rollback finds the earlier transaction whole.
    # Never past a compaction: the transaction before it lost its segments.
    refused = sh(SERVER, f"cite-backup-rollback {REPO[ALPHA]} {older}")
    assert refused.returncode == 2
    assert "older than the last maintenance" in refused.stderr
    ok(SERVER, f"cite-backup-rollback {REPO[ALPHA]} {good}")
    # borg remembers the last manifest it saw (against rollback attacks): this rollback is
    # the sysadmins', so the client's and the maintainer's memory of it is reset.
    ok(ALPHA, "rm -rf /root/.config/borg/security /root/.cache/borg")
    ok(MAINT, "rm -rf /var/lib/cite-backup-maint/alpha/.config/borg/security "
              "/var/lib/cite-backup-maint/alpha/.cache/borg")  # fmt: skip
    assert archives(ALPHA) == before
    assert maintenance("alpha").returncode == 0
    assert f"cite_backup_tamper_detected{{{labels}}} 0" in ok(MAINT, f"cat {prom}")
    result = drill("-e", f"restore_drill_archive={before[-1]}")
    assert result.returncode == 0, result.stdout[-3000:]


def test_the_replica_pulls_a_read_only_copy_identical_to_the_primary() -> None:
    pulled = sh(REPLICA, "systemctl start cite-backup-replica.service", timeout=600)
    journal = sh(REPLICA, "journalctl -u cite-backup-replica.service -n 30 --no-pager").stdout
    assert pulled.returncode == 0, journal
    status = ok(REPLICA, "cite-backup-replica status")
    assert status.startswith(f"{SERVER} 20"), status
    metrics = ok(REPLICA, "cat /var/lib/prometheus/node-exporter/cite_backup_replica.prom")
    assert 'tenant_repository="alpha",host_repository="backup-debian13"' in metrics
    listing = "find . -type f ! -path './*/lock*' -printf '%P\\n' | sort | xargs sha256sum"
    primary = ok(SERVER, f"cd /srv/borg && {listing}", timeout=300)
    copy = ok(REPLICA, f"cd /srv/borg-replica/{SERVER}/latest && {listing}", timeout=300)
    assert copy == primary
    # The replica's key cannot write to the primary (rrsync -ro).
    ssh = (
        "ssh -i /etc/cite-backup-replica/ssh/id_ed25519 -o BatchMode=yes "
        "-o UserKnownHostsFile=/etc/cite-backup-replica/ssh/known_hosts -p 2222"
    )
    pushed = sh(REPLICA, f"rsync -e '{ssh}' /etc/hostname borg-replica@{SERVER}:/alpha/planted")
    assert pushed.returncode != 0
    assert sh(SERVER, "test -e /srv/borg/alpha/planted").returncode != 0


def test_the_backup_servers_hold_no_passphrase_and_no_key() -> None:
    """The primary's and the replica's whole filesystems searched for every tenant's
    passphrase and every repository key."""
    needles = passphrases() + key_material()
    assert len(needles) > 2
    for container in (SERVER, REPLICA):
        ok(container, "cat > /run/needles <<'EOF'\n" + "\n".join(needles) + "\nEOF")
        found = sh(
            container,
            "grep -rlF -f /run/needles / --exclude-dir=proc --exclude-dir=sys "
            "--exclude-dir=dev --exclude-dir=run 2>/dev/null; rm -f /run/needles",
            timeout=600,
        )
        assert found.stdout.strip() == "", f"{container}: {found.stdout}"
