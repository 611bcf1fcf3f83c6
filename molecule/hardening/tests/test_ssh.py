"""Role ssh: configuration inside the containers, logins and ssh-audit from the controller."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from compliance import summary
from testkit import traffic
from testkit.scenario import playbook

ROOT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
KEY = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "id_ed25519"
PQ_KEX = {"mlkem768x25519-sha256", "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com"}


@pytest.fixture
def address(host) -> str:
    return host.check_output("hostname -I").split()[0]


def _ssh(address: str, user: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        traffic.ssh_argv(KEY, f"{user}@{address}", "id -un", *options),
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def test_effective_configuration(host):
    effective = dict(
        line.split(" ", 1) for line in host.check_output("sshd -T").splitlines() if " " in line
    )
    assert effective["permitrootlogin"] == "no"
    # What auditors read: the main file says it too (OpenSCAP's sshd_disable_root_login).
    main = host.file("/etc/ssh/sshd_config").content_string
    assert re.findall(r"^\s*PermitRootLogin\s+(\S+)", main, re.M) == ["no"]
    assert effective["passwordauthentication"] == "no"
    assert effective["kbdinteractiveauthentication"] == "no"
    assert effective["authenticationmethods"] == "publickey"
    allowed = [
        line.split()[1]
        for line in host.check_output("sshd -T").splitlines()
        if line.startswith("allowgroups ")
    ]
    assert allowed == ["sysadmins", "sftp_depot"]
    assert effective["x11forwarding"] == "no"
    assert effective["allowtcpforwarding"] == "no"
    assert effective["maxauthtries"] == "3"
    assert effective["loglevel"] == "VERBOSE"
    assert effective["banner"] == "/etc/issue.net"
    assert set(effective["kexalgorithms"].split(",")) <= PQ_KEX
    assert effective["hostkeyalgorithms"].startswith("ssh-ed25519")
    assert effective["subsystem"].startswith("sftp internal-sftp")


def test_sftp_only_group_is_jailed(host):
    effective = host.check_output("sshd -T -C user=depot,host=client,addr=192.0.2.1")
    assert "forcecommand internal-sftp -f AUTHPRIV -l INFO" in effective
    assert "chrootdirectory /srv/sftp/%u" in effective
    assert "permittty no" in effective
    admin = host.check_output("sshd -T -C user=exploit,host=client,addr=192.0.2.1")
    assert "chrootdirectory none" in admin


def test_drop_in_is_read_first_and_valid(host):
    assert host.file("/etc/ssh/sshd_config.d/00-cite-souveraine.conf").mode == 0o600
    assert host.run("sshd -t").rc == 0
    assert "# Subsystem" in host.file("/etc/ssh/sshd_config").content_string


def test_weak_moduli_and_host_keys_are_gone(host):
    sizes = {
        int(line.split()[4])
        for line in host.file("/etc/ssh/moduli").content_string.splitlines()
        if line and not line.startswith("#")
    }
    assert sizes
    assert min(sizes) >= 3071
    assert not host.file("/etc/ssh/ssh_host_ecdsa_key").exists
    assert not host.file("/etc/ssh/ssh_host_rsa_key").exists
    assert host.file("/etc/ssh/ssh_host_ed25519_key").mode == 0o600


def test_admin_logs_in_with_key(address):
    result = _ssh(address, "exploit")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "exploit"


def test_root_is_refused_even_with_a_valid_key(address):
    assert _ssh(address, "root").returncode == 255


def test_valid_key_outside_allowed_groups_is_refused(address):
    assert _ssh(address, "outsider").returncode == 255


def test_password_authentication_is_not_offered(address):
    result = _ssh(address, "exploit", "-o", "PubkeyAuthentication=no")
    assert result.returncode == 255
    assert "Permission denied (publickey)" in result.stderr


def test_fail2ban_watches_sshd(host):
    assert host.service("fail2ban").is_running
    assert "Jail list:\tsshd" in host.check_output("fail2ban-client status")


def test_ssh_audit_reports_no_failure_and_no_warning(address):
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ssh-audit"), "--json", "--no-colors", address],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    report = json.loads(result.stdout)
    assert summary.ssh_audit_findings(report) == []
    assert report.get("cves", []) == []
    assert result.returncode == 0


def _ssh_role_alone(host, tmp_path: Path, extra: dict) -> subprocess.CompletedProcess[str]:
    """Role ssh alone on this instance, with ``extra`` variables."""
    play = tmp_path / "ssh-alone.yml"
    play.write_text(
        json.dumps(
            [
                {
                    "name": "Role ssh alone",
                    "hosts": host.check_output("hostname"),
                    "gather_facts": True,
                    "roles": [{"role": str(ROOT / "roles" / "ssh")}],
                }
            ]
        ),
        "utf-8",
    )
    return playbook(play, "-e", json.dumps(extra))


def test_invalid_input_is_refused_before_the_host_is_touched(host, tmp_path):
    before = host.file("/etc/ssh/sshd_config.d/00-cite-souveraine.conf").md5sum
    result = _ssh_role_alone(host, tmp_path, {"ssh_allow_tcp_forwarding": "sometimes"})
    assert result.returncode != 0
    assert "ssh_allow_tcp_forwarding" in result.stdout
    assert "Validating arguments against arg spec" in result.stdout
    assert host.file("/etc/ssh/sshd_config.d/00-cite-souveraine.conf").md5sum == before


def test_a_hostile_group_never_reaches_allow_groups(host, tmp_path):
    """The role run alone: a group name with a space would allow one more group."""
    before = host.file("/etc/ssh/sshd_config.d/00-cite-souveraine.conf").md5sum
    result = _ssh_role_alone(host, tmp_path, {"ssh_allow_groups": ["sysadmins root"]})
    assert result.returncode != 0
    assert "'sysadmins root' is not a Unix group name" in result.stdout
    assert host.file("/etc/ssh/sshd_config.d/00-cite-souveraine.conf").md5sum == before
