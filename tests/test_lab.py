"""End-to-end checks of the running lab (`make lab` first; `make test` does it all).

They converge the real site.yml again and inspect the fleet from outside, the way a
sysadmin would: idempotence, check mode, SSH through the bastion, time from ntp01.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from conftest import BIN, ROOT, inventory_json, run

pytestmark = pytest.mark.lab
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
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    found = {m[1]: (int(m[2]), int(m[3]), int(m[4])) for m in RECAP.finditer(result.stdout)}
    assert set(found) == set(LAB), f"recap hosts {sorted(found)}"
    return found


def test_second_converge_changes_nothing() -> None:
    assert {h: c for h, (c, _, _) in _recap().items() if c} == {}


def test_check_mode_on_a_converged_lab_reports_no_change() -> None:
    assert {h: c for h, (c, _, _) in _recap("--check").items() if c} == {}


def _ssh(address: str, command: str) -> subprocess.CompletedProcess[str]:
    return run(
        [
            "ssh",
            "-i",
            str(KEY),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=5",
            f"exploit@{address}",
            command,
        ]
    )


def test_sysadmin_logs_in_to_the_bastion_with_its_key_and_sudo_asks_a_password() -> None:
    bastion = next(v["site_address"] for h, v in LAB.items() if h.startswith("bastion"))
    result = _ssh(bastion, "id -nG; sudo -n true")
    assert "sysadmins" in result.stdout.split()
    assert result.returncode != 0
    assert "a password is required" in result.stderr


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
