"""End-to-end checks of the running lab (`make lab` first; `make test` does it all).

They run the real site.yml again (check mode) and inspect the fleet from outside, the way a
sysadmin would: check mode (nothing left to change), SSH through the bastion, ssh-audit,
time from ntp01.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from compliance import summary
from conftest import BIN, ROOT, inventory_json, run, why_it_failed
from testkit import traffic

# Read-only: make e2e runs these beside the --check (its own xdist group), two at a time.
pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("lab-ssh-time")]
LAB = inventory_json(ROOT / "inventory" / "lab")["_meta"]["hostvars"]
KEY = ROOT / ".cache" / "lab" / "id_ed25519"
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def _podman(*args: str) -> subprocess.CompletedProcess[str]:
    return run([str(ROOT / "lab" / "bin" / "podman"), *args])


@pytest.fixture(scope="module", autouse=True)
def _lab_is_up() -> None:
    running = _podman("ps", "--format", "{{.Names}}").stdout.split()
    missing = [h for h in LAB if f"lab-{h}" not in running]
    assert not missing, f"lab hosts not running (run `make lab` first): {missing}"


def _recap(*extra: str) -> dict[str, tuple[int, int, int]]:
    result = run([str(BIN / "ansible-playbook"), "site.yml", *extra])
    assert result.returncode == 0, why_it_failed(result)
    found = {m[1]: (int(m[2]), int(m[3]), int(m[4])) for m in RECAP.finditer(result.stdout)}
    assert set(found) == set(LAB), f"recap hosts {sorted(found)}"
    return found


@pytest.mark.xdist_group("check")
def test_check_mode_on_a_converged_lab_reports_no_change() -> None:
    # The lab was converged by `make lab`; a --check run predicting no change on every
    # host is the site-wide idempotence check (each role's second converge is Molecule's).
    assert {h: c for h, (c, _, _) in _recap("--check").items() if c} == {}


def _ssh(address: str, command: str, *options: str) -> subprocess.CompletedProcess[str]:
    return run(traffic.ssh_argv(KEY, f"exploit@{address}", command, *options))


def _address(prefix: str) -> str:
    return next(v["site_address"] for h, v in LAB.items() if h.startswith(prefix))


def test_sysadmin_logs_in_to_the_bastion_with_its_key_and_sudo_asks_a_password() -> None:
    # requiretty (BP-028 R39): sudo needs a terminal, so the session gets one (-tt).
    result = _ssh(_address("bastion"), "id -nG; sudo -n true", "-tt")
    assert "sysadmins" in result.stdout.split()
    assert result.returncode != 0
    assert "a password is required" in result.stdout


def test_sudo_without_a_terminal_is_refused() -> None:
    result = _ssh(_address("bastion"), "sudo -n true")
    assert result.returncode != 0
    assert "you must have a tty" in result.stderr


def test_sysadmin_reaches_a_tenant_host_only_through_the_bastion() -> None:
    bastion, target = _address("bastion"), _address("ville-web")
    jump = [
        "-o",
        f"ProxyCommand=ssh -i {KEY} -o BatchMode=yes -o StrictHostKeyChecking=no "
        f"-o UserKnownHostsFile=/dev/null -W %h:%p exploit@{bastion}",
    ]
    result = _ssh(target, "hostname", *jump)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ville-web01"


def _open_libvirt_socket_over_ssh(key: Path, destination: str) -> str:
    """Forward hv01's libvirtd socket as Pulumi's provider does (an SSH stream-local
    forward, no command run), open it once, and return ssh's messages."""
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "libvirt.sock"
        forward = ["-N", "-L", f"{local}:/run/libvirt/libvirt-sock"]
        argv = traffic.ssh_argv(key, destination, "", *forward)[:-1]
        ssh = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
        try:
            traffic.until(
                lambda: local.exists() or ssh.poll() is not None, 20, f"{destination}: ssh"
            )
            assert local.exists(), f"{destination}: no forward ({ssh.poll()})"
            with socket.socket(socket.AF_UNIX) as client:
                client.settimeout(3)
                client.connect(str(local))
                # A refused forward is closed by ssh as soon as sshd says no, sometimes
                # before the first word is sent (CI, 2026-12-02): what counts is what ssh
                # and sshd say, checked by the caller.
                with contextlib.suppress(TimeoutError, ConnectionResetError, BrokenPipeError):
                    client.sendall(b"\0\0\0\x1c")  # the first word of a libvirt RPC call
                    client.recv(1)
        finally:
            errors = _stop(ssh)
    return errors


def _stop(process: subprocess.Popen[str]) -> str:
    """Stop ssh and return what it wrote on stderr. SIGTERM first; on a loaded machine
    ssh has been seen to outlive it by more than 10 s (CI, 2026-12-02), so SIGKILL then:
    what it said before is in the pipe either way."""
    process.terminate()
    try:
        return process.communicate(timeout=10)[1]
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()[1]


def test_only_the_fleet_account_reaches_libvirt_over_an_ssh_socket_forward() -> None:
    # Role ssh: AllowStreamLocalForwarding for ssh_unix_socket_forwarding_users only.
    hv = LAB["hv01"]["site_address"]
    fleet = _open_libvirt_socket_over_ssh(KEY.with_name("fleet"), f"fleet@{hv}")
    assert "open failed" not in fleet, fleet
    since = _podman("exec", "lab-hv01", "date", "+%Y-%m-%d %H:%M:%S").stdout.strip()
    sysadmin = _open_libvirt_socket_over_ssh(KEY, f"exploit@{hv}")
    assert "open failed" in sysadmin, sysadmin
    # Refused by sshd's policy, not by the socket's permissions (the client sees the same
    # "open failed" for both): sshd says so in its log.
    log = _podman("exec", "lab-hv01", "journalctl", "--since", since, "--no-pager", "-q").stdout
    assert "refused streamlocal port forward" in log, log[-2000:]


def test_udev_accepts_role_hardenings_usbguard_rule() -> None:
    """The rule that starts USBGuard when a USB bus appears (role hardening), checked by
    udev itself where udev runs: hv01 (libvirt brings udev; Debian 13's udevadm verifies
    rules files, and fails a malformed one)."""
    rules = "/etc/udev/rules.d/70-cite-usbguard.rules"
    result = _podman("exec", "lab-hv01", "udevadm", "verify", rules)
    said = result.stdout + result.stderr
    assert result.returncode == 0, said
    assert "Success: 1" in said, said


@pytest.mark.parametrize("host", sorted(LAB))
def test_no_unit_has_failed_on_any_host(host: str) -> None:
    """What the monitoring's SystemdUnitFailed would page on, on every host after the
    converge: no failed unit (kernel-bound units are skipped in a container, role base; the
    masked D-Bus bridge of USBGuard and borgmatic's timer, roles hardening and backup_client)."""
    failed = _podman("exec", f"lab-{host}", "systemctl", "--failed", "--no-legend", "--plain")
    assert failed.returncode == 0, failed.stderr
    units = [line.split()[0] for line in failed.stdout.splitlines() if line.strip()]
    if units:  # one status for all of them: the reason is in each one's last lines
        status = _podman(
            "exec", f"lab-{host}", "systemctl", "status", "--no-pager", "-n", "5", *units
        )
        pytest.fail(f"{host}: failed units {units}\n{status.stdout[-4000:]}")


@pytest.mark.parametrize("host", sorted(LAB))
def test_ssh_audit_finds_no_failure_and_no_warning_on_every_host(host: str) -> None:
    # 15 s to connect and read, not ssh-audit's 5: its TCP connection to ville-db01 once timed
    # out (2026-12-02, the lab tests two at a time beside the --check); nothing refused it.
    address = LAB[host]["site_address"]
    result = run([str(BIN / "ssh-audit"), "--json", "--no-colors", "--timeout", "15", address])
    assert result.stdout.startswith("{"), result.stdout
    report = json.loads(result.stdout)
    assert summary.ssh_audit_findings(report) == []
    assert result.returncode == 0


@pytest.mark.parametrize("host", sorted(LAB))
def test_every_host_follows_the_site_time_server(host: str) -> None:
    ntp = next(v["site_address"] for h, v in LAB.items() if h.startswith("ntp"))
    deadline = time.monotonic() + 60
    sources = ""
    while time.monotonic() < deadline:
        sources = _podman("exec", f"lab-{host}", "chronyc", "-n", "sources").stdout
        if host.startswith("ntp") or f"^* {ntp}" in sources:
            break
        time.sleep(3)
    if host.startswith("ntp"):
        assert "Stratum         : 8" in _podman("exec", f"lab-{host}", "chronyc", "tracking").stdout
    else:
        assert f"^* {ntp}" in sources, sources
