"""Role hypervisor in a privileged container: libvirtd with qemu software emulation, the
site's bridges, the fleet account reaching libvirt over SSH without root, a domain that
really starts, and role firewall replacing only its own table beside libvirt's."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

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
