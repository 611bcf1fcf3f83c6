"""The roles' knobs that reach files the system reads as code (sitemodel/inputs.py): GRUB's
drop-in is sourced by a root shell, /etc/profile.d by every login shell, modprobe runs
install lines, apt.conf, deb822 sources, sshd, fail2ban, rsyslog, systemd units, logrotate,
chrony, auditd and sysctl.d take one setting per line. Hostile values are refused with the
knob named, by the function, by role hardening on its own, and by the site's preflight."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import BIN, ROOT, edit_yaml, preflight, run
from sitemodel.inputs import KNOBS, ROLES, input_errors

DEFAULTS: dict[str, Any] = {}
for _role in ROLES:
    DEFAULTS.update(
        yaml.safe_load((ROOT / "roles" / _role / "defaults/main.yml").read_text("utf-8")) or {}
    )
# Defaults that are templates, as they render in the lab.
RENDERED = {
    **DEFAULTS,
    "hardening_sudo_group": "sysadmins",
    "hardening_su_group": "sysadmins",
    "base_apt_mirror": "http://deb.debian.org/debian",
    "base_apt_security_mirror": "http://deb.debian.org/debian-security",
    "logging_tls_dir": "/etc/cite/pki",
    "log_server_tls_dir": "/etc/cite/pki",
    "time_ntp_servers": ["10.210.1.13"],
    "time_serve_networks": ["10.210.0.0/24", "10.210.10.0/24"],
}

HOSTILE: dict[str, tuple[str, Any, str]] = {
    "grub-command-substitution": (
        "hardening_kernel_cmdline",
        ["quiet", "x=$(touch /tmp/cs-pwned)"],
        "'x=$(touch /tmp/cs-pwned)' is not a kernel option",
    ),
    "grub-quote": ("hardening_kernel_cmdline", ['a"; reboot; "'], "is not a kernel option"),
    "grub-space": ("hardening_kernel_cmdline", ["pti=on mitigations=off"], "is not a kernel"),
    "sysctl-newline-value": (
        "hardening_sysctl_extra",
        {"kernel.sysrq": "0\nkernel.modprobe = /tmp/x"},
        "the value of kernel.sysrq",
    ),
    "sysctl-newline-key": (
        "hardening_sysctl_extra",
        {"kernel.sysrq = 0\nkernel.core_pattern": "|/tmp/x"},
        "is not a sysctl key",
    ),
    "sysctl-pipe": ("hardening_sysctl_kernel", {"kernel.core_pattern": "|/tmp/x %p"}, "value"),
    "sysctl-yaml-bool": ("hardening_sysctl_network", {"net.ipv4.ip_forward": False}, "(False)"),
    "modprobe-install-command": (
        "hardening_blacklisted_modules",
        ["usb-storage /bin/sh -c id\ninstall ext4"],
        "is not a kernel module name",
    ),
    "sudoers-newline": (
        "hardening_sudo_defaults",
        ["noexec\nALL ALL=(ALL) NOPASSWD: ALL"],
        "is not one sudoers Defaults entry",
    ),
    "umask-shell": ("hardening_umask", "077; curl x | sh", "is not an octal umask"),
    "umask-yaml-octal": ("hardening_umask", 63, "63 is not an octal umask"),
    "sudo-group-arguments": (
        "hardening_sudo_group",
        "root --remove /usr/bin/sudo",
        "is not an account or group name",
    ),
    "su-group-newline": (
        "hardening_su_group",
        "wheel\nauth sufficient",
        "is not an account or group name",
    ),
    "cron-allow-newline": (
        "hardening_cron_allow",
        ["root\nmallory"],
        "is not an account or group name",
    ),
    "package-option": (
        "hardening_installed_packages",
        ["-oAPT::Update::Pre-Invoke::=id"],
        "is not a Debian package name",
    ),
    "compiler-traversal": ("hardening_compilers", ["/usr/../etc/shadow"], "no '..'"),
    "fstab-newline": (
        "hardening_mount_options",
        {"/tmp": ["nodev\n/dev/sdb /root ext4 defaults 0 0"]},
        "is not a mount option",
    ),
    "fstab-mount-point": ("hardening_mount_options", {"tmp": ["nodev"]}, "is not an absolute"),
    "aide-newline": ("hardening_aide_checksums", "sha256\n!/etc", "AIDE checksums"),
    "list-as-string": ("hardening_kernel_cmdline", "pti=on", "must be a list, got str"),
    # Beyond role hardening: apt, unattended-upgrades, sshd, fail2ban, units, chrony, audit.
    "apt-mirror-trusted": (
        "base_apt_mirror",
        "http://mirror.example/debian\nTrusted: yes",
        "is not a URL",
    ),
    "unattended-origin-quote": (
        "base_unattended_origins",
        ['origin=Debian";};DPkg::Pre-Invoke{"touch /tmp/cs-pwned'],
        "is not an origin pattern",
    ),
    "fail2ban-ignorecommand": (
        "ssh_fail2ban_ignoreip",
        ["127.0.0.1/8\nignorecommand = touch /tmp/cs-pwned"],
        "is not an IP address or network",
    ),
    "sshd-listen-directive": (
        "ssh_listen_addresses",
        ["10.0.0.1\nPermitRootLogin yes"],
        "is not an address[:port]",
    ),
    "sftp-chroot-match": (
        "ssh_sftp_chroot_groups",
        [{"group": "depot", "directory": "/srv/sftp\nMatch all"}],
        "has a directory that is not an absolute path",
    ),
    "unit-exec-space": ("log_server_root", "/srv/log -exec sh {} ;", "is not an absolute path"),
    "rsyslog-quote": ("logging_stats_file", '/var/log/x" action(type="omprog', "is not an"),
    "chrony-allow-all": ("time_serve_networks", ["10.0.0.0/8\nallow all"], "is not an IP"),
    "audit-never": ("audit_privileged_commands", ["/usr/bin/sudo\n-A never,exit"], "path"),
    "nft-rate-accept": ("firewall_log_rate", "10/minute accept", "is not a rate"),
    "prometheus-remote-write": (
        "monitoring_server_scrape_interval",
        "30s\nremote_write: [{url: 'https://saas.example'}]",
        "is not a Prometheus duration",
    ),
}

LEGITIMATE: dict[str, Any] = {
    "base_apt_mirror": "http://10.210.0.5:3142/debian",
    "base_apt_security_mirror": "file:///srv/mirror/debian-security",
    "ssh_listen_addresses": ["10.210.0.10", "[fd42::10]:22", "10.210.0.10:2222"],
    "ssh_sftp_chroot_groups": [{"group": "sftp_depot", "directory": "/srv/sftp/%u"}],
    "ssh_fail2ban_ignoreip": ["127.0.0.1/8", "::1", "10.210.0.0/24"],
    "time_upstream_servers": ["ntp1.ville.example", "10.210.0.1"],
    "monitoring_server_retention": "1y",
    "monitoring_server_repeat_interval": "1h30m",
    "backup_client_schedule": "Mon..Fri *-*-* 01:30:00",
    "logging_journald_max_retention": "6month",
    "hardening_kernel_cmdline": ["mds=full,nosmt", "console=ttyS0,115200n8", "lsm=yama,apparmor"],
    "hardening_sysctl_extra": {
        "net.ipv4.ip_forward": 1,
        "net/ipv4/conf/eth0.100/rp_filter": 2,
        "-net.ipv6.conf.all.disable_ipv6": 1,
        "net.ipv4.ip_local_port_range": "49152 65535",
        "kernel.core_pattern": "/var/crash/core.%e.%p",
    },
    "hardening_sudo_defaults": ['env_keep += "LANG LC_ALL"', "!visiblepw", "passwd_tries=3"],
    "hardening_umask": "0027",
    "hardening_mount_options": {"/srv/data": ["nodev", "size=2G", "mode=1777"]},
}


def test_the_roles_defaults_are_accepted_and_every_knob_is_a_documented_default() -> None:
    assert input_errors(RENDERED) == []
    assert set(KNOBS) <= set(DEFAULTS)


def _hostile(default: Any) -> Any:
    """A value shaped like the knob's default, with a newline-injected setting in it."""
    injected = "x\nInjected = yes"
    if isinstance(default, list):
        return [*default[:1], injected]
    if isinstance(default, dict):
        return {next(iter(default), "net.ipv4.ip_forward"): injected}
    return injected


@pytest.mark.parametrize("knob", sorted(KNOBS))
def test_every_checked_knob_refuses_a_line_injected_into_it(knob: str) -> None:
    found = input_errors({knob: _hostile(DEFAULTS[knob])})
    assert len(found) == 1, found
    assert found[0].startswith(knob), found


def test_values_a_site_legitimately_sets_are_accepted() -> None:
    assert input_errors({**RENDERED, **LEGITIMATE}) == []


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_value_is_refused_with_its_knob_named(case: str) -> None:
    knob, value, message = HOSTILE[case]
    found = input_errors({**RENDERED, knob: value})
    assert len(found) == 1, found
    assert found[0].startswith(f"{knob}"), found
    assert message in found[0], found


def _role_play(
    tmp_path: Path, values: dict[str, Any], role: str = "hardening", tasks: str = "inputs"
) -> tuple[int, str]:
    """A role's own check (role hardening's tasks/inputs.yml by default), run alone on the
    controller."""
    play = [
        {
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": values,
            "tasks": [
                {
                    "ansible.builtin.import_role": {"name": role, "tasks_from": tasks},
                }
            ],
        }
    ]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play), encoding="utf-8")
    result = run([str(BIN / "ansible-playbook"), "-i", "localhost,", str(path)])
    return result.returncode, result.stdout + result.stderr


def test_the_role_on_its_own_refuses_a_hostile_value_and_accepts_its_defaults(
    tmp_path: Path,
) -> None:
    rc, out = _role_play(tmp_path, {"hardening_kernel_cmdline": ["x=`reboot`"]})
    assert rc != 0
    assert "hardening_kernel_cmdline: 'x=`reboot`' is not a kernel option" in out
    rc, out = _role_play(tmp_path, {})
    assert rc == 0, out[-2000:]


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        (
            {"hardening_kernel_cmdline": ["iommu=force", "x=$(touch /tmp/cs-grub-pwned)"]},
            "'x=$(touch /tmp/cs-grub-pwned)' is not a kernel option",
        ),
        (
            {"hardening_sysctl_extra": {"kernel.sysrq": "0\nkernel.modprobe = /tmp/x"}},
            "the value of kernel.sysrq",
        ),
        ({"hardening_blacklisted_modules": ["sctp /bin/sh"]}, "is not a kernel module name"),
        ({"base_apt_mirror": "http://mirror.example/debian\nTrusted: yes"}, "is not a URL"),
        (
            {"ssh_fail2ban_ignoreip": ["::1", "10.0.0.0/8\nignorecommand = /tmp/x"]},
            "is not an IP address or network",
        ),
        (
            {"log_server_root": "/srv/log -exec /tmp/x {} ;"},
            "'/srv/log -exec /tmp/x {} ;' is not an absolute path",
        ),
    ],
    ids=[
        "grub-shell",
        "sysctl-newline",
        "modprobe-command",
        "apt-trusted",
        "fail2ban-command",
        "unit-exec",
    ],
)
def test_the_site_preflight_refuses_it_naming_the_hosts_before_any_is_touched(
    lab_copy: Path, values: dict[str, Any], problem: str
) -> None:
    edit_yaml(lab_copy / "group_vars" / "hypervisors.yml", lambda d: d.update(values))
    rc, out = preflight(lab_copy)
    flat = " ".join(out.split())
    assert rc != 0, flat[-2000:]
    (knob,) = values
    assert f"host 'hv01': {knob}: " in flat, flat[-3000:]
    assert problem in flat, flat[-3000:]
    assert "UNREACHABLE" not in out


def test_role_hardening_checks_alone_every_knob_of_its_own() -> None:
    """tasks/inputs.yml hands the filter a dict of the role's knobs: the same as KNOBS'."""
    text = (ROOT / "roles/hardening/tasks/inputs.yml").read_text("utf-8")
    handed = set(re.findall(r"'(hardening_\w+)': hardening_\w+", text))
    assert handed == {knob for knob in KNOBS if knob.startswith("hardening_")}


def test_role_base_alone_checks_the_whole_mirror_url(tmp_path: Path) -> None:
    hostile = {"base_apt_mirror": "http://mirror.example/debian\nTrusted: yes"}
    rc, out = _role_play(tmp_path, hostile, role="base", tasks="preflight")
    assert rc != 0
    assert "base_apt_mirror: 'http://mirror.example/debian\\nTrusted: yes' is not a URL" in out
    rc, out = _role_play(
        tmp_path,
        {"base_apt_mirror": "http://mirror.example/debian"},
        role="base",
        tasks="preflight",
    )
    assert rc == 0, out[-2000:]
