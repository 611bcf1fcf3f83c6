"""Role firewall, proven by real traffic between the scenario's two containers.

firewall-debian12 is tenant alpha, firewall-debian13 tenant bravo; this controller is the
admin network (see molecule.yml).
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
from testkit.scenario import playbook

ROOT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
ALPHA, BRAVO = "firewall-debian12", "firewall-debian13"
ADDRESS = {
    name: subprocess.run(
        [
            "podman",
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            name,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for name in (ALPHA, BRAVO)
}
LOG = traffic.FIREWALL_LOG


def sh(container: str, command: str) -> subprocess.CompletedProcess[str]:
    return traffic.in_container(container, command)


def local(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=False)


def converge(*extra: str) -> subprocess.CompletedProcess[str]:
    return playbook(ROOT / "molecule" / "firewall" / "converge.yml", *extra)


def logged(container: str, *needles: str) -> bool:
    return bool(traffic.logged_lines(lambda: sh(container, f"cat {LOG}").stdout, *needles))


def ruleset(container: str) -> str:
    return sh(container, "nft list table inet cite_souveraine").stdout


@pytest.fixture(scope="module", autouse=True)
def listeners() -> None:
    for proto, port in (("tcp", 443), ("tcp", 8443), ("udp", 8125)):
        assert sh(ALPHA, traffic.listen(proto, port)).returncode == 0
    time.sleep(1)


@pytest.mark.parametrize("container", [ALPHA, BRAVO])
def test_input_and_forward_default_to_drop_and_load_at_boot(container: str) -> None:
    rules = ruleset(container)
    assert "hook input priority filter; policy drop;" in rules
    assert "hook forward priority filter; policy drop;" in rules
    assert sh(container, "systemctl is-enabled nftables").stdout.strip() == "enabled"
    assert sh(container, "systemctl is-active ulogd2").stdout.strip() == "active"
    # The rollback armed while loading was disarmed once Ansible reconnected.
    assert sh(container, "systemctl is-active cite-firewall-rollback.timer").returncode != 0


def test_another_tenant_is_dropped_and_logged_with_its_name() -> None:
    refused = sh(BRAVO, traffic.tcp_connect(ADDRESS[ALPHA], 443, timeout=2))
    assert refused.returncode != 0, refused.stdout
    assert "timed out" in refused.stdout  # dropped, not rejected
    assert logged(ALPHA, "cs-deny tenant=bravo ", f"SRC={ADDRESS[BRAVO]} ", "DPT=443 ")


def test_a_flow_the_model_opens_to_another_tenant_is_accepted() -> None:
    accepted = sh(BRAVO, traffic.tcp_connect(ADDRESS[ALPHA], 8443))
    assert accepted.returncode == 0, accepted.stdout
    assert "probe-ok" in accepted.stdout


def test_udp_follows_the_model() -> None:
    assert sh(BRAVO, traffic.udp_send(ADDRESS[ALPHA], 8125, "from-bravo")).returncode == 0
    local(traffic.udp_send(ADDRESS[ALPHA], 8125, "from-admin"))
    time.sleep(1)
    received = sh(ALPHA, traffic.udp_received(8125)).stdout
    assert "from-admin" in received
    assert "from-bravo" not in received
    assert logged(ALPHA, "cs-deny tenant=bravo ", "PROTO=UDP", "DPT=8125 ")


def test_ping_only_from_its_network_and_admin() -> None:
    assert local(traffic.ping(ADDRESS[ALPHA])).returncode == 0
    assert sh(BRAVO, traffic.ping(ADDRESS[ALPHA])).returncode != 0


def test_ssh_only_from_the_admin_network() -> None:
    banner = local(traffic.ssh_banner(ADDRESS[ALPHA]))
    assert banner.returncode == 0, banner.stdout
    assert banner.stdout.startswith("SSH-2.0")
    assert sh(BRAVO, traffic.ssh_banner(ADDRESS[ALPHA], timeout=2)).returncode != 0


def test_a_broken_rule_set_is_refused_and_the_previous_rules_stay() -> None:
    before = ruleset(ALPHA), sh(ALPHA, "sha256sum /etc/nftables.conf").stdout
    result = converge("-e", json.dumps({"firewall_extra_input_rules": ["tcp dport 22 acept"]}))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "failed to validate" in output  # nft -c -f refused the candidate file
    assert "acept" in output
    after = ruleset(ALPHA), sh(ALPHA, "sha256sum /etc/nftables.conf").stdout
    assert after == before
    assert local(traffic.ssh_banner(ADDRESS[ALPHA])).returncode == 0


def test_an_opening_from_an_unknown_network_is_refused_before_any_change() -> None:
    opening = {"name": "x", "port": 9000, "proto": "tcp", "from": ["hopital_x"]}
    bad = {"firewall_openings": [opening]}
    result = converge("-e", json.dumps(bad))
    assert result.returncode != 0
    assert "unknown source 'hopital_x'" in result.stdout + result.stderr
    assert "changed=0" in result.stdout


@pytest.mark.parametrize(
    "bad",
    [
        {"firewall_log_prefix": 'cs-deny" accept'},
        {
            "firewall_declared_openings": {
                'x" accept': [{"name": "y", "port": 9, "from": ["alpha"]}]
            }
        },
    ],
    ids=["log-prefix", "opening-owner"],
)
def test_a_hostile_value_given_to_the_role_never_reaches_the_rules(bad: dict) -> None:
    """The role run alone (no site preflight): the value is refused where it would be written."""
    before = ruleset(ALPHA), sh(ALPHA, "sha256sum /etc/nftables.conf").stdout
    result = converge("-e", json.dumps(bad))
    assert result.returncode != 0
    assert "cannot be written into nftables rules" in result.stdout
    assert (ruleset(ALPHA), sh(ALPHA, "sha256sum /etc/nftables.conf").stdout) == before


def _rules(container: str) -> str:
    """The loaded rules without their counters' values (traffic changes those), a set of one
    element written as that element (nft lists it either way, depending on its source)."""
    rules = re.sub(r"counter packets \d+ bytes \d+", "counter", ruleset(container))
    return re.sub(r"\{ ([^,{}]+) \}", r"\1", rules)


def test_rules_that_cut_the_controllers_ssh_are_rolled_back_by_the_timer(tmp_path: Path) -> None:
    """The rollback armed for real: the converge reaches alpha over SSH (as in production),
    loads rules that let SSH in from bravo only, cannot reconnect, and fails; the timer then
    restores the previous rules, in force and in /etc/nftables.conf (a reboot keeps them)."""
    key = tmp_path / "id_ed25519"
    keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)]
    assert subprocess.run(keygen, check=False).returncode == 0
    public = key.with_suffix(".pub").read_text("utf-8").strip()
    authorize = f"install -d -m 0700 /root/.ssh && echo '{public}' >> /root/.ssh/authorized_keys"
    assert sh(ALPHA, authorize).returncode == 0
    over_ssh = tmp_path / "over-ssh.yml"
    alpha = {
        "ansible_connection": "ssh",
        "ansible_host": ADDRESS[ALPHA],
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(key),
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
        "ansible_timeout": 5,
    }
    over_ssh.write_text(json.dumps({"all": {"hosts": {ALPHA: alpha}}}), "utf-8")
    rules_before = _rules(ALPHA)
    file_before = sh(ALPHA, "sha256sum /etc/nftables.conf").stdout
    cutting = {"firewall_ssh_sources": ["bravo"], "firewall_rollback_seconds": 30}
    try:
        cut = converge("-i", str(over_ssh), "-e", json.dumps(cutting))
        assert cut.returncode != 0, cut.stdout[-2000:]
        assert "Firewall | the host still answers" in cut.stdout
        # Cut for real (the timer fires 30 s after it was armed; the reconnection gave up
        # after 22 s): SSH rule from bravo only, the controller's SSH refused.
        ssh_rules = [line for line in ruleset(ALPHA).splitlines() if 'comment "ssh"' in line]
        assert ssh_rules, ruleset(ALPHA)
        assert all(ADDRESS[BRAVO] in line for line in ssh_rules), ssh_rules
        assert local(traffic.ssh_banner(ADDRESS[ALPHA], timeout=2)).returncode != 0
        traffic.until(lambda: _rules(ALPHA) == rules_before, 60, "the previous rules restored")
        assert local(traffic.ssh_banner(ADDRESS[ALPHA])).returncode == 0
        restored = sh(ALPHA, "cmp /etc/nftables.conf /etc/cite-souveraine/nftables.previous")
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert sh(ALPHA, "nft -c -f /etc/nftables.conf").returncode == 0
        timer = sh(ALPHA, "systemctl is-active cite-firewall-rollback.timer").stdout.strip()
        assert timer != "active"
    finally:
        again = converge()
    assert again.returncode == 0, again.stdout[-2000:]
    assert _rules(ALPHA) == rules_before
    assert sh(ALPHA, "sha256sum /etc/nftables.conf").stdout == file_before
