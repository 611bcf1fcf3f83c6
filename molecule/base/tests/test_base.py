"""Role base, verified inside the converged Debian 12 and 13 containers."""

import os

import pytest

MIRROR = os.environ["LAB_DEBIAN_MIRROR"].rstrip("/")
SECURITY = MIRROR.removesuffix("/debian") + "/debian-security"


@pytest.fixture
def codename(host):
    return host.system_info.codename


def test_sources_point_at_the_site_mirror(host, codename):
    sources = host.file("/etc/apt/sources.list.d/debian.sources")
    assert sources.mode == 0o644
    assert f"URIs: {MIRROR}\n" in sources.content_string
    assert f"URIs: {SECURITY}\nSuites: {codename}-security\n" in sources.content_string
    legacy = host.file("/etc/apt/sources.list").content_string
    assert [line for line in legacy.splitlines() if line.startswith("deb")] == []


def test_apt_really_uses_the_mirror(host, codename):
    policy = host.check_output("apt-cache policy")
    assert f"{SECURITY} {codename}-security/main" in policy
    assert f"{MIRROR} {codename}/main" in policy


def test_unattended_upgrades_allow_security_only(host, codename):
    out = host.run("unattended-upgrade --dry-run --debug 2>&1")
    assert out.rc == 0, out.stdout
    allowed = [line for line in out.stdout.splitlines() if line.startswith("Allowed origins are:")]
    assert allowed == [
        f"Allowed origins are: origin=Debian,codename={codename}-security,label=Debian-Security"
    ]
    periodic = host.check_output("apt-config dump APT::Periodic")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in periodic
    assert host.service("apt-daily-upgrade.timer").is_enabled


def test_site_admin_has_exactly_its_key_and_sudo(host):
    admin = host.user("exploit")
    assert admin.exists
    assert "sysadmins" in admin.groups
    assert admin.shell == "/bin/bash"
    keys = host.file("/home/exploit/.ssh/authorized_keys").content_string.split("\n")
    assert [k for k in keys if k] == [
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFJfQyhEpE5bWvOeKJyB5IR7SvR31kd0L5qZpA4y2m5b "
        "exploit@test"
    ]
    rights = host.check_output("sudo -l -U exploit")
    assert "(ALL : ALL) EXEC: ALL" in rights
    assert "NOPASSWD" not in rights


def test_tenant_admin_has_no_sudo(host):
    marie = host.user("marie")
    assert marie.exists
    assert "adm_ville" in marie.groups
    assert "sysadmins" not in marie.groups
    assert "is not allowed to run sudo" in host.check_output("sudo -l -U marie")


def test_departed_admin_is_removed(host):
    assert not host.user("ancien").exists


def test_sudoers_drop_in_is_valid_and_private(host):
    rule = host.file("/etc/sudoers.d/50-cite-admins")
    assert rule.mode == 0o440
    assert rule.user == "root"
    assert host.run("visudo -c").rc == 0
