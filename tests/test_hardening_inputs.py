"""Role hardening's values that reach files the system reads as code (sitemodel/hardening.py):
GRUB's drop-in is sourced by a root shell, /etc/profile.d by every login shell, modprobe runs
install lines, sudoers and sysctl.d take one setting per line. Hostile values are refused
with the knob named, by the function, by the role on its own, and by the site's preflight."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import BIN, ROOT, edit_yaml, preflight, run
from sitemodel.hardening import KNOBS, input_errors

DEFAULTS = yaml.safe_load((ROOT / "roles/hardening/defaults/main.yml").read_text("utf-8"))
# The two group knobs default to a template naming base_admin_group.
RENDERED = {**DEFAULTS, "hardening_sudo_group": "sysadmins", "hardening_su_group": "sysadmins"}

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
        "is not a group name",
    ),
    "su-group-newline": ("hardening_su_group", "wheel\nauth sufficient", "is not a group name"),
    "cron-allow-newline": ("hardening_cron_allow", ["root\nmallory"], "is not an account name"),
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
}

LEGITIMATE: dict[str, Any] = {
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


def test_the_roles_defaults_are_accepted_and_every_knob_is_checked() -> None:
    assert input_errors(RENDERED) == []
    assert set(KNOBS) <= set(DEFAULTS)


def test_values_a_site_legitimately_sets_are_accepted() -> None:
    assert input_errors({**RENDERED, **LEGITIMATE}) == []


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_value_is_refused_with_its_knob_named(case: str) -> None:
    knob, value, message = HOSTILE[case]
    found = input_errors({**RENDERED, knob: value})
    assert len(found) == 1, found
    assert found[0].startswith(f"{knob}"), found
    assert message in found[0], found


def _role_play(tmp_path: Path, values: dict[str, Any]) -> tuple[int, str]:
    """Role hardening's own check (tasks/inputs.yml), run alone on the controller."""
    play = [
        {
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": values,
            "tasks": [
                {
                    "ansible.builtin.import_role": {"name": "hardening", "tasks_from": "inputs"},
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
    ("values", "message"),
    [
        (
            {"hardening_kernel_cmdline": ["iommu=force", "x=$(touch /tmp/cs-grub-pwned)"]},
            "hardening_kernel_cmdline: 'x=$(touch /tmp/cs-grub-pwned)' is not a kernel option",
        ),
        (
            {"hardening_sysctl_extra": {"kernel.sysrq": "0\nkernel.modprobe = /tmp/x"}},
            "hardening_sysctl_extra: the value of kernel.sysrq",
        ),
        (
            {"hardening_blacklisted_modules": ["sctp /bin/sh"]},
            "hardening_blacklisted_modules: 'sctp /bin/sh' is not a kernel module name",
        ),
    ],
    ids=["grub-shell", "sysctl-newline", "modprobe-command"],
)
def test_the_site_preflight_refuses_it_naming_the_hosts_before_any_is_touched(
    lab_copy: Path, values: dict[str, Any], message: str
) -> None:
    edit_yaml(lab_copy / "group_vars" / "hypervisors.yml", lambda d: d.update(values))
    rc, out = preflight(lab_copy)
    flat = " ".join(out.split())
    assert rc != 0, flat[-2000:]
    assert f"host 'hv01': {message}" in flat, flat[-3000:]
    assert "UNREACHABLE" not in out
