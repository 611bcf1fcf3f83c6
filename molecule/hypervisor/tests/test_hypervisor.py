"""Role hypervisor in a privileged container: libvirtd with qemu software emulation, the
site's bridges, the fleet account reaching libvirt over SSH without root, a domain that
really starts, and role firewall replacing only its own table beside libvirt's."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from testkit import traffic
from testkit.scenario import playbook

ROOT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
HV = "hypervisor-debian12"
KEY = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "fleet"


def ok(command: str, timeout: float = 120) -> str:
    result = traffic.in_container(HV, command, timeout=timeout)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_one_bridge_per_site_network_with_its_port() -> None:
    links = {link["ifname"]: link for link in json.loads(ok("ip -j link show"))}
    for bridge in ("br110", "br120", "br30", "br10"):
        assert bridge in links, bridge
        assert "UP" in links[bridge]["flags"], bridge
    assert links["trunk-alpha"].get("master") == "br110"
    addresses = json.loads(ok("ip -j addr show dev br110"))[0]["addr_info"]
    assert [a for a in addresses if a["family"] == "inet"] == []


def test_fleet_account_reaches_libvirt_over_ssh_and_root_does_not() -> None:
    address = ok("hostname -I").split()[0]
    ssh = ["ssh", "-i", str(KEY), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
           "-o", "UserKnownHostsFile=/dev/null"]  # fmt: skip
    listed = subprocess.run(
        [*ssh, f"fleet@{address}", "virsh -c qemu:///system list --all"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert "Id" in listed.stdout
    assert ok("id -nG fleet").split().count("libvirt") == 1
    assert ok("getent shadow fleet").split(":")[1] in ("*", "!*", "!")
    root = subprocess.run(
        [*ssh, f"root@{address}", "true"], capture_output=True, text=True, timeout=60, check=False
    )
    assert root.returncode != 0


def test_a_qemu_domain_starts_on_a_site_bridge() -> None:
    xml = """<domain type='qemu'><name>cs-probe</name><memory unit='MiB'>64</memory>
<vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os>
<devices><interface type='bridge'><source bridge='br110'/><model type='virtio'/></interface>
</devices></domain>"""
    ok(f"cat > /run/cs-probe.xml <<'EOF'\n{xml}\nEOF")
    ok("virsh -c qemu:///system create /run/cs-probe.xml")
    try:
        assert ok("virsh -c qemu:///system domstate cs-probe").strip() == "running"
        links = json.loads(ok("ip -j link show master br110"))
        assert len([link for link in links if link["ifname"].startswith("vnet")]) == 1
    finally:
        ok("virsh -c qemu:///system destroy cs-probe")


def test_check_mode_with_rules_to_change_changes_nothing() -> None:
    # The role's handlers in --check: nothing loaded, no rollback timer armed or disarmed.
    before = ok("nft list table inet cite_souveraine")
    opening = {"firewall_openings": [{"name": "y", "port": 9998, "proto": "tcp", "from": ["all"]}]}
    converge = ROOT / "molecule" / "hypervisor" / "converge.yml"
    result = playbook(converge, "--check", "--tags", "firewall", "-e", json.dumps(opening))
    assert result.returncode == 0, result.stdout[-3000:]
    assert re.search(rf"{HV} : ok=\d+ changed=[1-9]", result.stdout), result.stdout[-2000:]
    assert ok("nft list table inet cite_souveraine") == before


def test_storage_pool_directory_and_libvirt_tables_survive_the_firewall() -> None:
    assert ok("stat -c '%U %a' /var/lib/libvirt/cs-test").split() == ["root", "711"]
    ok("nft add table inet libvirt_probe && nft add chain inet libvirt_probe forward")
    opening = {"firewall_openings": [{"name": "x", "port": 9999, "proto": "tcp", "from": ["all"]}]}
    converge = ROOT / "molecule" / "hypervisor" / "converge.yml"
    result = playbook(converge, "--tags", "firewall", "-e", json.dumps(opening))
    assert result.returncode == 0, result.stdout[-2000:]
    tables = ok("nft list tables")
    assert "table inet cite_souveraine" in tables
    assert "table inet libvirt_probe" in tables
    assert "dport 9999" in ok("nft list table inet cite_souveraine")


def test_libvirtd_stopped_when_idle_is_no_change_and_answers_on_demand() -> None:
    """Debian's libvirtd exits after 120 s idle: the next run must not see a change, and
    the next client (Pulumi) must find it through its socket."""
    ok("systemctl stop libvirtd.service")
    assert traffic.in_container(HV, "systemctl is-active libvirtd.service").stdout.strip() in (
        "inactive",
        "failed",
    )
    converge = ROOT / "molecule" / "hypervisor" / "converge.yml"
    check = playbook(converge, "--check", "--tags", "hypervisor")
    assert check.returncode == 0, check.stdout[-3000:]
    assert re.search(rf"{HV} : ok=\d+ changed=0 ", check.stdout), check.stdout[-3000:]
    assert ok("systemctl is-active libvirtd.socket").strip() == "active"
    assert "Id" in ok("virsh -c qemu:///system list --all")


BRIDGE_KEYS = ("iptables", "ip6tables", "arptables")


def test_bridge_netfilter_is_off_at_boot() -> None:
    conf = ok("cat /etc/sysctl.d/90-cite-hypervisor.conf").splitlines()
    assert {f"net.bridge.bridge-nf-call-{k}=0" for k in BRIDGE_KEYS} <= set(conf)


def test_bridge_netfilter_turned_on_is_turned_off_by_the_next_run() -> None:
    # With br_netfilter loaded, bridged VM frames would cross the firewall's forward chain
    # (policy drop): the lab's VMs were unreachable until the role set these keys.
    if traffic.in_container(HV, "test -e /proc/sys/net/bridge").returncode != 0:
        pytest.skip("br_netfilter is not loaded on this machine: no bridge keys to set")
    ok(" ".join(["sysctl -qw", *(f"net.bridge.bridge-nf-call-{k}=1" for k in BRIDGE_KEYS)]))
    result = playbook(ROOT / "molecule" / "hypervisor" / "converge.yml", "--tags", "hypervisor")
    assert result.returncode == 0, result.stdout[-3000:]
    for key in BRIDGE_KEYS:
        assert ok(f"sysctl -n net.bridge.bridge-nf-call-{key}").strip() == "0", key
