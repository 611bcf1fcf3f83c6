"""The fleet with a real Pulumi engine on a real libvirt (`make fleet-e2e`, issue 18).

The engine and the libvirt provider are the ones `make fleet-engine` builds from Go
modules; the hypervisor is the Molecule scenario `hypervisor`'s host (role hypervisor
converged in a privileged container, libvirtd with qemu software emulation), reached as
Pulumi reaches production: qemu+ssh as the non-root fleet account, host key checked.

What only a real engine shows, checked here: libvirt accepts the program's pool, networks,
volumes, cloud-init disks and domains; a second preview is empty (no perpetual diff); a new
admin key replaces nothing; a group grown by one VM creates that VM only; destroy leaves
the hypervisor clean. The VMs boot a blank disk (no OS image is built here yet): their
domains run, nothing runs inside them.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from testkit import traffic

pytestmark = pytest.mark.fleet

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "tools" / "pulumi" / "run"
HV = "hypervisor-debian12"
STACK = "fleet-e2e"
FIGURES = ROOT / "docs" / "fleet-e2e.md"
TIMES: dict[str, float] = {}


def molecule(action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["molecule", action, "-s", "hypervisor"],
        cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip


def on_hv(command: str) -> str:
    result = traffic.in_container(HV, command, timeout=120)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def pulumi(spec: Path, action: str, *extra: str, label: str = "") -> str:
    started = time.monotonic()
    result = subprocess.run(
        [str(RUN), STACK, action, "--spec", str(spec), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    TIMES[f"pulumi {action}{f' ({label})' if label else ''}"] = time.monotonic() - started
    assert result.returncode == 0, f"{action}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout


def summary(output: str) -> dict[str, int]:
    """The change counts of tools/pulumi/run's last line: `summary: [action result,] {...}`."""
    line = [line for line in output.splitlines() if line.startswith("summary: ")][-1]
    return {k: int(v) for k, v in json.loads(line[line.index("{") :]).items()}


def changed(counts: dict[str, int]) -> dict[str, int]:
    return {op: n for op, n in counts.items() if op != "same" and n}


def ephemeral_dir() -> Path:
    """Molecule's directory of the scenario: prepare.yml made the fleet's key there."""
    found = sorted(
        Path.home().glob(".ansible/tmp/molecule.*.hypervisor/fleet"),
        key=lambda p: p.stat().st_mtime,
    )
    assert found, "no fleet key: molecule prepare -s hypervisor did not run"
    return found[-1].parent


@pytest.fixture(scope="module")
def hypervisor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    molecule("destroy")
    started = time.monotonic()
    for action in ("create", "prepare", "converge"):
        result = molecule(action)
        assert result.returncode == 0, f"molecule {action}\n{result.stdout[-6000:]}"
    TIMES["hypervisor converge (molecule create+prepare+converge)"] = time.monotonic() - started
    work = tmp_path_factory.mktemp("fleet")
    address = on_hv("hostname -I").split()[0]
    known_hosts = work / "known_hosts"
    scan = subprocess.run(
        ["ssh-keyscan", "-T", "10", "-t", "ed25519", address],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    known_hosts.write_text(scan.stdout, encoding="utf-8")
    on_hv("qemu-img create -q -f qcow2 /var/tmp/blank.qcow2 64M")
    image = work / "blank.qcow2"
    subprocess.run(["podman", "cp", f"{HV}:/var/tmp/blank.qcow2", str(image)], check=True)
    scenario = yaml.safe_load((ROOT / "molecule/hypervisor/molecule.yml").read_text("utf-8"))
    site = scenario["provisioner"]["inventory"]["group_vars"]["all"]
    tenants = work / "tenants.yml"
    tenants.write_text(
        yaml.safe_dump(
            {k: site[k] for k in ("site_tenants", "site_shared_networks")}, sort_keys=False
        ),
        encoding="utf-8",
    )
    key = ephemeral_dir() / "fleet"
    uri = f"qemu+ssh://fleet@{address}/system?keyfile={key}&knownhosts={known_hosts}"
    pool = site["hypervisor_pools"][0]
    spec: dict[str, Any] = {
        "tenants_file": str(tenants),
        "domain_type": "qemu",
        "feed_diversity": False,
        "images": {"blank": str(image)},
        "admin_ssh_keys": [(ephemeral_dir() / "fleet.pub").read_text("utf-8").strip()],
        "hypervisors": [
            {
                "name": "hv-e2e",
                "uri": uri,
                "room": "e2e",
                "feed": "A",
                "vcpu": 4,
                "memory_gib": 4,
                "pool": {"name": pool["name"], "path": pool["path"], "capacity_gib": 10},
            }
        ],
        "groups": [vm_group("alpha"), vm_group("bravo")],
    }
    yield {"work": work, "spec": spec}
    # Whatever happened, nothing is left behind: the stack, then the container.
    path = write_spec(work, spec)
    subprocess.run(
        [str(RUN), STACK, "destroy", "--spec", str(path), "--remove"],
        cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    molecule("destroy")


def vm_group(tenant: str) -> dict[str, Any]:
    return {
        "name": f"{tenant}-vm",
        "network": tenant,
        "count": 1,
        "offset": 50,
        "vcpu": 1,
        "memory_gib": 1,
        "disk_gib": 1,
        "image": "blank",
    }


def write_spec(work: Path, spec: dict[str, Any]) -> Path:
    path = work / "fleet.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def virsh_names(command: str) -> set[str]:
    return set(on_hv(f"virsh -c qemu:///system {command} --all --name").split())


def domains() -> dict[str, str]:
    listed = on_hv("virsh -c qemu:///system list --all --name").split()
    return {name: on_hv(f"virsh -c qemu:///system domstate {name}").strip() for name in listed}


def test_the_real_engine_creates_updates_and_destroys_the_fleet(hypervisor: dict[str, Any]) -> None:
    work, spec = hypervisor["work"], hypervisor["spec"]
    path = write_spec(work, spec)
    networks_before = virsh_names("net-list")
    pools_before = virsh_names("pool-list")

    # pulumi up: libvirt accepts every resource of the program.
    created = summary(pulumi(path, "up", label="2 VMs of 2 tenants, from nothing"))
    assert changed(created) == {"create": created["create"]}
    assert domains() == {"alpha-vm01": "running", "bravo-vm01": "running"}
    # Each VM's only NIC is on its own tenant's bridge (br<vlan>, role hypervisor's); the
    # tenant's libvirt network names that bridge too.
    for vm, bridge in (("alpha-vm01", "br110"), ("bravo-vm01", "br120")):
        xml = on_hv(f"virsh -c qemu:///system dumpxml {vm}")
        assert xml.count("<interface type=") == 1, vm
        assert "<interface type='bridge'>" in xml, vm
        assert f"<source bridge='{bridge}'/>" in xml, vm
        assert "<type arch='x86_64' machine=" in xml
        assert "type='qemu'" in xml
    for tenant, bridge in (("alpha", "br110"), ("bravo", "br120")):
        network = on_hv(f"virsh -c qemu:///system net-dumpxml cs-{tenant}")
        assert f"<bridge name='{bridge}'/>" in network, network
    before_ids = {vm: on_hv(f"virsh -c qemu:///system domuuid {vm}").strip() for vm in domains()}

    # A second preview, after a refresh, shows no change at all.
    pulumi(path, "refresh")
    preview = pulumi(path, "preview", "--diff", label="after refresh, no change")
    assert changed(summary(preview)) == {}, preview[-6000:]

    # A new admin key reaches new VMs only: nothing is replaced.
    spec["admin_ssh_keys"].append(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNlY29uZGFkbWlua2V5Zm9ydGhlZmxlZXRlMmV0ZXN0 e2e"
    )
    path = write_spec(work, spec)
    assert changed(summary(pulumi(path, "preview", "--diff"))) == {}

    # One more VM in a group: that VM (disk, cloud-init disk, domain) is created, nothing else.
    spec["groups"][0]["count"] = 2
    path = write_spec(work, spec)
    preview = summary(pulumi(path, "preview", "--diff"))
    assert changed(preview) == {"create": 4}  # component, disk, cloud-init disk, domain
    grown = summary(pulumi(path, "up", label="one VM more"))
    assert changed(grown) == {"create": 4}
    after = domains()
    assert after == {
        "alpha-vm01": "running",
        "alpha-vm02": "running",
        "bravo-vm01": "running",
    }
    for vm, uuid in before_ids.items():
        assert on_hv(f"virsh -c qemu:///system domuuid {vm}").strip() == uuid, vm
    assert changed(summary(pulumi(path, "preview"))) == {}

    # destroy: no domain, network, volume or pool of the fleet is left on the hypervisor.
    pulumi(path, "destroy")
    assert on_hv("virsh -c qemu:///system list --all --name").split() == []
    assert virsh_names("net-list") == networks_before
    assert virsh_names("pool-list") == pools_before
    # The bridges are the hypervisor's (role hypervisor), not the stack's: they stay.
    links = {link["ifname"] for link in json.loads(on_hv("ip -j link show"))}
    assert {"br110", "br120"} <= links
    write_figures()


def write_figures() -> None:
    rows = "\n".join(f"| {name} | {seconds:.0f} s |" for name, seconds in TIMES.items())
    FIGURES.write_text(
        "<!-- Written by tests/test_fleet_engine.py (make fleet-e2e); do not edit. -->\n"
        f"# The fleet with a real Pulumi engine: last run {time.strftime('%Y-%m-%d')}\n\n"
        "Measured on this project's 2-core machine; the hypervisor is the Molecule scenario\n"
        "`hypervisor`'s privileged container, qemu software emulation, two tenants' VMs\n"
        "(blank disks: the domains run, no OS boots).\n\n"
        f"| step | time |\n|---|---|\n{rows}\n",
        encoding="utf-8",
    )
