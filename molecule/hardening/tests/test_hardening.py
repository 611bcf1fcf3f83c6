"""Role hardening, verified inside the converged Debian 12 and 13 containers.

Kernel parameters, mounts, auditd and process accounting cannot take effect in a
container: their configuration is checked here, the auditors' scores in
test_compliance.py.
"""

import json
import os
import re
import time
from pathlib import Path

import pytest

from testkit.scenario import playbook

ROOT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])


def test_kernel_and_network_parameters_are_configured(host):
    conf = host.file("/etc/sysctl.d/zz-cite-hardening.conf")
    assert conf.mode == 0o644
    for line in (
        "kernel.kptr_restrict = 2",
        "kernel.yama.ptrace_scope = 1",
        "fs.suid_dumpable = 0",
        "net.ipv4.conf.all.rp_filter = 1",
        "net.ipv4.conf.all.accept_redirects = 0",
        "net.ipv6.conf.all.accept_ra = 0",
    ):
        assert line in conf.content_string.splitlines()


def _sysctl_assignments(text: str) -> dict[str, str]:
    """key -> value of a sysctl.d text, the last assignment of a key winning."""
    found: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, _, value = line.partition("=")
        found[key.strip().lstrip("-")] = " ".join(value.split())
    return found


def test_the_roles_kernel_parameters_are_the_last_word(host):
    """systemd-sysctl (at boot) and sysctl --system apply every sysctl.d file in the order of
    their names, and the last value of a key wins. Debian 12's 99-protect-links.conf
    (fs.protected_fifos = 1) came after the role's file and undid it (OpenSCAP on a VM)."""
    merged = host.run("/lib/systemd/systemd-sysctl --cat-config")
    assert merged.rc == 0, merged.stderr
    ours = _sysctl_assignments(host.file("/etc/sysctl.d/zz-cite-hardening.conf").content_string)
    assert ours["fs.protected_fifos"] == "2"
    effective = _sysctl_assignments(merged.stdout)
    assert {key: effective[key] for key in ours} == ours
    assert not host.file("/etc/sysctl.d/90-cite-hardening.conf").exists


def test_unused_kernel_modules_cannot_load(host):
    conf = host.file("/etc/modprobe.d/cite-hardening.conf").content_string
    for module in ("usb-storage", "cramfs", "dccp", "sctp"):
        assert f"install {module} /bin/true" in conf
        assert f"blacklist {module}" in conf


def test_pam_enforces_quality_lockout_and_strong_hashing(host):
    pwquality = host.file("/etc/security/pwquality.conf").content_string
    assert "minlen = 15" in pwquality
    assert "minclass = 4" in pwquality
    assert "enforce_for_root" in pwquality
    assert "deny = 3" in host.file("/etc/security/faillock.conf").content_string
    auth = host.file("/etc/pam.d/common-auth").content_string
    assert "pam_faillock.so preauth" in auth
    assert "pam_faillock.so authfail" in auth
    assert "nullok" not in auth
    password = host.file("/etc/pam.d/common-password").content_string
    assert "pam_pwquality.so" in password
    assert "yescrypt rounds=11 remember=2" in " ".join(password.split())
    logindefs = host.file("/etc/login.defs").content_string
    assert "ENCRYPT_METHOD\tYESCRYPT" in logindefs
    assert "UMASK\t\t077" in logindefs


def test_a_weak_password_is_refused_and_a_strong_one_accepted(host):
    host.run("useradd -m lambda 2>/dev/null || true")
    weak = host.run("echo 'lambda:password123' | chpasswd")
    assert weak.rc != 0
    assert "BAD PASSWORD" in weak.stderr, weak.stderr
    strong = host.run("echo 'lambda:Gr4nd-Palais#Seine2026' | chpasswd")
    assert strong.rc == 0, strong.stderr
    assert host.check_output("getent shadow lambda | cut -d: -f2").startswith("$y$")


def test_root_password_ages(host):
    assert host.check_output("chage -l root | grep 'Maximum number'").endswith("365")


def test_sudo_defaults_and_dedicated_group(host):
    sudoers = host.file("/etc/sudoers.d/00-cite-hardening")
    assert sudoers.mode == 0o440
    for option in ("noexec", "requiretty", "use_pty", "umask=0077", "ignore_dot"):
        assert f"Defaults {option}\n" in sudoers.content_string
    assert host.run("visudo -c").rc == 0
    sudo = host.file("/usr/bin/sudo")
    assert (sudo.user, sudo.group, sudo.mode) == ("root", "sysadmins", 0o4110)
    assert "root sysadmins 4110 /usr/bin/sudo" in host.check_output("dpkg-statoverride --list")


def test_an_ordinary_user_cannot_run_sudo_nor_su(host):
    host.run("useradd -m lambda 2>/dev/null || true")
    assert host.run("runuser -u lambda -- /usr/bin/sudo -n true").rc != 0
    su_pam = host.file("/etc/pam.d/su").content_string
    assert "auth       required   pam_wheel.so use_uid group=sysadmins" in su_pam


def test_no_core_dumps_and_idle_shells_end(host):
    assert (
        "*     hard    core    0"
        in host.file("/etc/security/limits.d/cite-hardening.conf").content_string
    )
    assert (
        "Storage=none"
        in host.file("/etc/systemd/coredump.conf.d/cite-hardening.conf").content_string
    )
    profile = host.file("/etc/profile.d/cite-hardening.sh").content_string
    # The form OpenSCAP's accounts_tmout reads, for bash; the POSIX form for sh.
    assert re.search(r"^\s*declare -xr TMOUT=600\b", profile, re.M)
    assert "readonly TMOUT" in profile
    assert "umask 077" in profile
    assert host.check_output("bash -lc 'umask'") == "0077"
    # Read-only and exported in both login shells (bash prints -rx); sh reads profile.d too.
    assert host.check_output("bash -lc 'declare -p TMOUT'") == 'declare -rx TMOUT="600"'
    assert host.check_output("sh -lc 'echo $TMOUT'") == "600"
    assert "TMOUT" in host.check_output("sh -lc 'readonly -p'")


def test_root_logins_on_a_terminal_are_refused_and_root_is_locked_after_failures(host):
    securetty = host.file("/etc/securetty")
    assert securetty.content_string == "\n"
    assert (securetty.user, securetty.mode) == ("root", 0o600)
    faillock = host.file("/etc/security/faillock.conf").content_string
    assert re.search(r"^even_deny_root$", faillock, re.M)
    assert re.search(r"^root_unlock_time = 60$", faillock, re.M)


def test_a_tool_directory_left_open_in_a_home_is_closed(host):
    # prepare.yml made it 0755, as Mitogen leaves ~/.ansible.
    opened = host.file("/home/outsider/.ansible")
    assert opened.is_directory
    assert opened.mode & 0o027 == 0, oct(opened.mode)


def test_sensitive_files_and_cron_are_restricted(host):
    assert host.file("/etc/shadow").mode == 0o640
    assert host.file("/etc/crontab").mode == 0o600
    assert host.file("/etc/cron.d").mode == 0o700
    assert host.file("/etc/cron.allow").content_string == "root\n"
    assert not host.file("/etc/cron.deny").exists
    assert host.file("/home/exploit").mode == 0o700
    assert host.file("/home/exploit/.bashrc").mode & 0o037 == 0


@pytest.mark.parametrize("package", ["telnet", "rsh-client", "nis", "xinetd", "tftp"])
def test_legacy_packages_are_absent(host, package):
    assert not host.package(package).is_installed


def test_compilers_are_reserved_to_root(host):
    assembler = host.file(host.check_output("readlink -f /usr/bin/as"))
    assert assembler.mode == 0o750


def test_accounts_created_later_get_private_shell_init_files(host):
    # OpenSCAP's file_permission_user_init_files: a user created after the converge
    # (useradd -m copies /etc/skel) must not get world-readable init files.
    for name in (".bashrc", ".profile"):
        assert host.file(f"/etc/skel/{name}").mode & 0o037 == 0


def test_debsums_checks_installed_files_every_week(host):
    assert host.file("/etc/default/debsums").contains("^CRON_CHECK=weekly$")
    assert host.file("/etc/cron.d/debsums").exists or host.file("/etc/cron.weekly/debsums").exists


def test_auditd_has_the_bp028_rules_and_is_enabled(host):
    rules = host.file("/etc/audit/rules.d/50-cite-bp028.rules")
    assert rules.mode == 0o600
    for rule in (
        "-w /etc/shadow -p wa -k identity",
        "-a always,exit -F path=/usr/bin/sudo -F perm=x -F auid>=1000 -F auid!=unset -k privileged",
        "-a always,exit -F arch=b64 -S init_module,finit_module,delete_module -k modules",
        "-e 2",
    ):
        assert rule in rules.content_string
    # The rules compile (augenrules merges them; auditctl would load them on a real host).
    assert host.run("augenrules --check").rc == 0
    assert host.service("auditd").is_enabled


def _unit_state(host, unit: str) -> dict[str, str]:
    shown = host.run(
        "systemctl show -p ActiveState,SubState,ConditionResult,MainPID,DropInPaths,"
        f"TimeoutStopUSec {unit}"
    )
    return dict(line.split("=", 1) for line in shown.stdout.splitlines() if "=" in line)


@pytest.mark.parametrize("unit", ["auditd.service", "acct.service", "usbguard.service"])
def test_kernel_bound_units_are_skipped_not_failed_in_a_container(host, unit):
    """Enabled (a real host runs them), but a container does not own the kernel's audit,
    accounting or USB: not running, a start is skipped by its condition, and the unit is
    never left failed (role base; the monitoring would raise SystemdUnitFailed on every lab
    host). Not running before the start matters: a unit systemd wrongly holds active (a
    forking daemon whose child it lost) makes every start a no-op that reads no condition."""
    assert host.service(unit).is_enabled
    status = host.run(f"systemctl status --no-pager --lines 15 {unit}").stdout
    before = _unit_state(host, unit)
    assert f"/etc/systemd/system/{unit}.d/cite-container.conf" in before["DropInPaths"].split()
    # A stop that systemd cannot see end (cgroup v1 in a container) gives up in seconds.
    assert before["TimeoutStopUSec"] == "5s", before
    assert before["ActiveState"] == "inactive", f"{unit} before any start: {before}\n{status}"
    started = host.run(f"systemctl start {unit}")
    after = _unit_state(host, unit)
    assert started.rc == 0, started.stderr
    assert (after["ActiveState"], after["ConditionResult"]) == ("inactive", "no"), (
        f"{unit} after a start: {after}\n{status}"
    )


def test_usbguard_waits_for_a_usb_bus_and_udev_starts_it_when_one_appears(host):
    """usbguard-daemon exits with an error on a kernel with no USB bus (the fleet's VMs):
    its unit is skipped there by a condition, and udev starts it once a bus appears."""
    # systemd loaded the drop-in (systemctl cat shows what the unit is made of).
    unit = host.run("systemctl cat usbguard.service").stdout
    assert "ConditionPathIsDirectory=/sys/bus/usb/devices" in unit
    rules = "/etc/udev/rules.d/70-cite-usbguard.rules"
    assert 'ENV{SYSTEMD_WANTS}+="usbguard.service"' in host.file(rules).content_string
    # (udev checks the rule's syntax on the lab's hv01: tests/test_lab.py.)


def test_usbguards_dbus_bridge_is_masked_and_not_failed(host):
    """The D-Bus bridge serves desktop prompts (none on a server); enabled by the package,
    it failed at every boot where the daemon is skipped (a container, a VM)."""
    unit = "usbguard-dbus.service"
    state = host.run(f"systemctl show -P LoadState,ActiveState {unit}").stdout.split()
    assert state == ["masked", "inactive"], state
    assert host.run(f"systemctl start {unit}").rc != 0  # masked: refused


def test_aide_database_exists_with_strong_hashes(host):
    """Debian 13's container builds it in the background (hardening_aide_init_wait: false,
    as the lab's software-emulated VMs do): cite-aide-init.service, started once by the
    converge (the idempotence run found it running or done), finishes with a database."""
    unit = "cite-aide-init.service"
    background = {"hardening-debian12": False, "hardening-debian13": True}
    if not background[host.backend.get_hostname()]:
        # Built during the converge: no unit of its own.
        assert not host.file(f"/etc/systemd/system/{unit}").exists
    else:
        deadline = time.monotonic() + 900
        while host.run(f"systemctl is-active {unit}").stdout.strip() == "activating":
            assert time.monotonic() < deadline, f"{unit} still running after 15 minutes"
            time.sleep(5)
        # Done, and remembered as done (RemainAfterExit): "active (exited)", status 0.
        shown = host.run(f"systemctl show -p ActiveState,SubState,Result,ExecMainStatus {unit}")
        state = dict(line.split("=", 1) for line in shown.stdout.splitlines() if "=" in line)
        assert state == {
            "ActiveState": "active", "SubState": "exited", "Result": "success",
            "ExecMainStatus": "0",
        }, state  # fmt: skip
    assert host.file("/var/lib/aide/aide.db").exists
    assert "Checksums = sha256+sha512" in host.file("/etc/aide/aide.conf").content_string


def test_banner_and_accounting(host):
    assert "authorized users" in host.file("/etc/issue.net").content_string
    assert host.service("acct").is_enabled
    assert 'ENABLED="true"' in host.file("/etc/default/sysstat").content_string
    assert (
        "ImplicitPolicyTarget=block"
        in host.file("/etc/usbguard/usbguard-daemon.conf").content_string
    )


def test_waivers_in_force_are_recorded_on_the_host(host):
    fact = json.loads(host.file("/etc/ansible/facts.d/cite_hardening.fact").content_string)
    expected = {
        "hardening-debian12": {},
        "hardening-debian13": {
            "kernel_cmdline": "container: the kernel and its command line are the host's"
        },
    }
    assert fact == {"waivers": expected[host.backend.get_hostname()]}


# The same check as site.yml's preflight (tests/test_inventories.py covers its cases), here
# through the role itself, as when it runs alone.
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"hardening_sysctl_enabled": False},
            "turned off without a reason (10 characters or more): sysctl",
        ),
        (
            {"hardening_waivers": {"sysctl": "tuned by the vendor"}},
            "a waiver for control(s) still on: sysctl",
        ),
    ],
)
def test_control_off_without_its_reason_is_refused_before_any_change(extra, message):
    result = playbook(ROOT / "molecule" / "hardening" / "converge.yml", "-e", json.dumps(extra))
    assert result.returncode != 0
    assert message in result.stdout
    assert re.findall(r"changed=(\d+)", result.stdout) == ["0", "0"]
