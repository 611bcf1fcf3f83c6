"""Tenant isolation in the running lab, proven by real traffic (issue 4).

The lab's tenants sit on internal podman networks joined by lab-router, which forwards
everything (lab/up.yml): only the hosts' own firewalls (role firewall) keep tenants apart.
Every case below is derived from the inventory's site model, so a tenant added to the
inventory is covered without editing this file.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import permutations
from pathlib import Path

import pytest
import yaml

from conftest import BIN, ROOT, inventory_json, run, why_it_failed
from testkit import traffic

# One xdist group: the checks read the same firewall logs, one at a time.
pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("isolation")]
INVENTORY = inventory_json(ROOT / "inventory" / "lab")
HYPERVISORS = sorted(INVENTORY.get("hypervisors", {}).get("hosts", []))
HOSTVARS = INVENTORY["_meta"]["hostvars"]
ANY = next(iter(HOSTVARS.values()))
TENANTS = {t["id"]: t for t in ANY["site_tenants"]}
LOG = traffic.FIREWALL_LOG


def _hosts_of(group: str) -> list[str]:
    """Hosts of an inventory group (a tenant's id is its group)."""
    return sorted(INVENTORY[group]["hosts"])


FIRST = {tenant: _hosts_of(tenant)[0] for tenant in TENANTS}
BASTION = _hosts_of("bastions")[0]
INFRA = {
    "logs": INVENTORY["log_servers"]["hosts"][0],
    "backup": INVENTORY["backup_servers"]["hosts"][0],
}
TCP_SERVICE = {
    tenant: next(s for s in t["services"] if s.get("proto", "tcp") == "tcp")
    for tenant, t in TENANTS.items()
}


def address(host: str) -> str:
    return HOSTVARS[host]["site_address"] if host in HOSTVARS else FIFTH_ADDRESS


def sh(host: str, command: str) -> subprocess.CompletedProcess[str]:
    return traffic.in_container(f"lab-{host}", command, str(ROOT / "lab" / "bin" / "podman"))


def denials(host: str, tenant: str, source: str, port: int | None = None) -> list[str]:
    """Lines of the host's firewall log for packets from ``source`` denied as ``tenant``."""
    needles = [f"cs-deny tenant={tenant} ", f"SRC={source} "] + ([f"DPT={port} "] if port else [])
    return traffic.logged_lines(lambda: sh(host, f"cat {LOG}").stdout, *needles)


@pytest.fixture(scope="module", autouse=True)
def listeners() -> None:
    """Each tenant's first host listens on its tenant's TCP service port (and UDP ones);
    the log and backup servers on a port nobody opened (their services are the real ones:
    rsyslog's TLS syslog on 6514, the backup sshd on 2222)."""
    wanted = [
        (FIRST[t], s.get("proto", "tcp"), s["port"])
        for t in TENANTS
        for s in TENANTS[t]["services"]
    ]
    wanted += [(INFRA["logs"], "tcp", 8080), (INFRA["backup"], "tcp", 8080)]
    for host, proto, port in wanted:
        result = sh(host, traffic.listen(proto, port))
        assert result.returncode == 0, f"{host}: {result.stderr}"
    time.sleep(1)


def test_a_tenant_host_reaches_its_own_tenants_services_tcp_and_udp() -> None:
    web, db = _hosts_of("ville")[:2]
    accepted = sh(db, traffic.tcp_connect(address(web), 443))
    assert accepted.returncode == 0, accepted.stdout
    assert "probe-ok" in accepted.stdout
    assert sh(db, traffic.udp_send(address(web), 8125, "from-ville-db")).returncode == 0
    time.sleep(1)
    assert "from-ville-db" in sh(web, traffic.udp_received(8125)).stdout


@pytest.mark.parametrize(("source", "target"), list(permutations(sorted(TENANTS), 2)))
def test_the_same_service_on_another_tenant_is_dropped_and_logged(source: str, target: str) -> None:
    port = TCP_SERVICE[target]["port"]
    client, server = FIRST[source], FIRST[target]
    refused = sh(client, traffic.tcp_connect(address(server), port, timeout=2))
    assert refused.returncode != 0, f"{client} reached {server}:{port}"
    assert "timed out" in refused.stdout
    assert denials(server, source, address(client), port), f"no log on {server}"


@pytest.mark.parametrize("source", sorted(set(TENANTS) - {"ville"}))
def test_udp_from_another_tenant_is_dropped_and_logged(source: str) -> None:
    client, server = FIRST[source], FIRST["ville"]
    token = f"from-{source}"
    assert sh(client, traffic.udp_send(address(server), 8125, token)).returncode == 0
    assert denials(server, source, address(client), 8125)
    assert token not in sh(server, traffic.udp_received(8125)).stdout


def test_icmp_policy_admin_and_own_tenant_may_ping_other_tenants_may_not() -> None:
    web, db = _hosts_of("ville")[:2]
    assert sh(db, traffic.ping(address(web))).returncode == 0
    for host in HOSTVARS:
        if host != BASTION:
            assert sh(BASTION, traffic.ping(address(host))).returncode == 0, host
    assert sh(FIRST["aphp"], traffic.ping(address(web))).returncode != 0
    assert denials(web, "aphp", address(FIRST["aphp"]))


def test_the_bastion_reaches_every_host_over_ssh() -> None:
    for host in HOSTVARS:
        if host != BASTION:
            banner = sh(BASTION, traffic.ssh_banner(address(host)))
            assert banner.stdout.startswith("SSH-2.0"), f"{host}: {banner.stdout}"


@pytest.mark.parametrize(("source", "target"), list(permutations(sorted(TENANTS), 2)))
def test_no_tenant_host_can_ssh_to_another_tenants_host(source: str, target: str) -> None:
    client, server = FIRST[source], FIRST[target]
    assert sh(client, traffic.ssh_banner(address(server), timeout=2)).returncode != 0
    assert denials(server, source, address(client), 22)


@pytest.mark.parametrize("tenant", sorted(TENANTS))
def test_tenant_hosts_reach_the_log_and_backup_services_and_nothing_else_there(tenant: str) -> None:
    client = FIRST[tenant]
    for server, port in ((INFRA["logs"], 6514), (INFRA["backup"], 2222)):
        accepted = sh(client, traffic.tcp_open(address(server), port))
        assert accepted.returncode == 0, f"{client} -> {server}:{port}: {accepted.stdout}"
    for server in (INFRA["logs"], INFRA["backup"]):
        for port in (8080, 22):
            assert sh(client, traffic.tcp_connect(address(server), port, timeout=2)).returncode != 0
        assert denials(server, tenant, address(client), 8080)


@pytest.mark.parametrize("source", [BASTION, INFRA["logs"]])
def test_zones_without_backup_clients_cannot_reach_the_backup_sshd(source: str) -> None:
    """Least privilege from the model: the backup sshd answers the networks of the tenants
    that have backup clients, not the admin or infra zones."""
    result = sh(source, traffic.tcp_open(address(INFRA["backup"]), 2222, timeout=2))
    assert result.returncode != 0, f"{source} reached the backup sshd"


# --- a fifth tenant, onboarded as data only --------------------------------------------------
FIFTH = "bibliotheques"
FIFTH_HOST, FIFTH_ADDRESS, FIFTH_SUBNET = "bib-web01", "10.210.50.11", "10.210.50.0/24"


@pytest.fixture(scope="module")
def fifth_tenant() -> Iterator[Path]:
    """The lab inventory plus one tenant and one host, written as data (a copy beside the
    lab's, so that its relative paths hold); the lab gains its network and container with
    lab/up.yml and every host's firewall is re-rendered. Container, copy and rules go
    afterwards."""
    inventory = ROOT / "inventory" / "lab-e2e-fifth-tenant"
    shutil.rmtree(inventory, ignore_errors=True)
    shutil.copytree(ROOT / "inventory" / "lab", inventory)
    tenants_file = inventory / "group_vars" / "all" / "tenants.yml"
    data = yaml.safe_load(tenants_file.read_text("utf-8"))
    data["site_tenants"].append(
        {
            "id": FIFTH,
            "name": "Bibliothèques de Paris",
            "vlan": 150,
            "ipv4": FIFTH_SUBNET,
            # The lab's routers: every lab network's gateway is lab-router's leg (.254).
            "gateway": "10.210.50.254",
            "resolvers": ["10.210.50.1"],
            "admin_group": "adm_bibliotheques",
            "backup_quota": "10G",
            "log_retention_days": 365,
            "services": [{"name": "https", "port": 443, "proto": "tcp", "from": [FIFTH]}],
        }
    )
    tenants_file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
    hosts_file = inventory / "hosts.yml"
    hosts = yaml.safe_load(hosts_file.read_text("utf-8"))
    hosts["all"]["children"]["tenants"]["children"][FIFTH] = {
        "hosts": {FIFTH_HOST: {"site_address": FIFTH_ADDRESS, "lab_image": "trixie"}}
    }
    hosts_file.write_text(yaml.safe_dump(hosts, sort_keys=False), "utf-8")
    try:
        for playbook in ("lab/up.yml", "playbooks/firewall.yml"):
            result = run([str(BIN / "ansible-playbook"), "-i", str(inventory), playbook])
            assert result.returncode == 0, why_it_failed(result)
        assert sh(FIFTH_HOST, traffic.listen("tcp", 443)).returncode == 0
        time.sleep(1)
        yield inventory
    finally:
        podman = str(ROOT / "lab" / "bin" / "podman")
        run([podman, "rm", "-f", f"lab-{FIFTH_HOST}"])
        # The router's leg, and each hypervisor's trunk leg (lab/up.yml gave hv01 one).
        for container in ("lab-router", *(f"lab-{h}" for h in HYPERVISORS)):
            run([podman, "network", "disconnect", f"cs-{FIFTH}", container])
        removed = run([podman, "network", "rm", f"cs-{FIFTH}"])
        shutil.rmtree(inventory, ignore_errors=True)
        # Every host's firewall as the lab's inventory has it: without the fifth tenant's
        # rules, which a --check run after these tests would otherwise report as changes.
        restored = run([str(BIN / "ansible-playbook"), "playbooks/firewall.yml"])
        # Checked unless the set-up failed already (its error is the one to read).
        if sys.exc_info()[0] is None:
            assert removed.returncode == 0, f"cs-{FIFTH} left behind: {removed.stderr}"
            assert restored.returncode == 0, why_it_failed(restored)
            # Its bridge went with it: nothing on this machine holds its subnet any more
            # (a bridge left behind makes the next lab refuse to create that network).
            held = run(["ip", "-o", "-4", "address", "show", "to", FIFTH_SUBNET])
            assert held.returncode == 0, held.stderr
            assert not held.stdout.strip(), held.stdout


@pytest.mark.lab_alters  # a network, a container and every host's firewall
@pytest.mark.parametrize("tenant", sorted(TENANTS))
def test_a_fifth_tenant_added_as_data_is_isolated_both_ways(
    fifth_tenant: Path, tenant: str
) -> None:
    neighbour = FIRST[tenant]
    port = TCP_SERVICE[tenant]["port"]
    assert sh(FIFTH_HOST, traffic.tcp_connect(address(neighbour), port, timeout=2)).returncode
    assert denials(neighbour, FIFTH, FIFTH_ADDRESS, port)
    assert sh(neighbour, traffic.tcp_connect(FIFTH_ADDRESS, 443, timeout=2)).returncode
    assert denials(FIFTH_HOST, tenant, address(neighbour), 443)


@pytest.mark.lab_alters
def test_a_fifth_tenant_reaches_the_shared_services_and_the_bastion_reaches_it(
    fifth_tenant: Path,
) -> None:
    for server, port in ((INFRA["logs"], 6514), (INFRA["backup"], 2222)):
        assert sh(FIFTH_HOST, traffic.tcp_open(address(server), port)).returncode == 0
    assert sh(BASTION, traffic.ssh_banner(FIFTH_ADDRESS)).stdout.startswith("SSH-2.0")
