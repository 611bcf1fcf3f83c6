"""Monitoring in the running lab (`make lab` first), end to end through the real firewalls:
every host is scraped, the BMC simulator is read, and each alert reaches its tenant's
webhook (lab/receivers.yml) and no other: a stopped host, a backup made old, a power
supply cut in the simulated BMC."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from conftest import ROOT, inventory_json
from testkit import traffic

# One xdist group, in this order: the old backup and the power supply cut change only what
# no play manages (a metrics file, the BMC simulator), and put it back; the BMC test reads
# the simulator before them. They run beside the --check; a stopped host cannot.
pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("monitoring")]
DATA = inventory_json(ROOT / "inventory" / "lab")
LAB = DATA["_meta"]["hostvars"]
PODMAN = str(ROOT / "lab" / "bin" / "podman")
ALL_HOSTS = sorted(LAB)
MON = DATA["monitoring_servers"]["hosts"][0]
MON_ADDRESS = LAB[MON]["site_address"]
TENANT_OF = {h: t for t in DATA["tenants"]["children"] for h in DATA[t]["hosts"]}
RECEIVERS = sorted(h for h in ALL_HOSTS if LAB[h].get("lab_alert_receiver"))
SITE = yaml.safe_load(
    (ROOT / "inventory" / "lab" / "group_vars" / "all" / "tenants.yml").read_text("utf-8")
)
WITH_RECEIVERS = {t["id"] for t in SITE["site_tenants"] if t.get("alert_receivers")}
BMC = yaml.safe_load(
    (ROOT / "inventory" / "lab" / "group_vars" / "all" / "lab.yml").read_text("utf-8")
)["lab_bmc"]
SERVER_WITH_BMC = next(h for h in ALL_HOSTS if LAB[h].get("site_bmc"))
# lab/up.yml: the router's leg on each zone is the prefix's last host address.
NETWORKS = [
    ipaddress.ip_network(n["ipv4"]) for n in SITE["site_shared_networks"] + SITE["site_tenants"]
]
ROUTER = {
    LAB[h]["site_address"]: str(
        next(n for n in NETWORKS if ipaddress.ip_address(LAB[h]["site_address"]) in n)[-2]
    )
    for h in ALL_HOSTS
}
TEXTFILE = "/var/lib/prometheus/node-exporter/cite_backup.prom"
# How long an alert may take from its cause to its receiver in the lab (scrapes and rules
# every 10 s, 10 to 30 s of "for", Alertmanager's 5 s group wait).
ALERT_WITHIN = 180


def sh(host: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return traffic.in_container(f"lab-{host}", command, podman=PODMAN, timeout=timeout)


def receiver_of(tenant: str | None) -> str:
    """The host whose webhook gets ``tenant``'s alerts (the bastion: operations)."""
    if tenant in WITH_RECEIVERS:
        return next(h for h in RECEIVERS if TENANT_OF.get(h) == tenant)
    return next(h for h in RECEIVERS if h not in TENANT_OF)


def query(expr: str) -> list[dict[str, Any]]:
    """A PromQL query on the monitoring server (from itself: its UI takes the admin zone)."""
    url = f"http://{MON_ADDRESS}:9090/api/v1/query?query={urllib.parse.quote(expr)}"
    code = (
        f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=10).read().decode())"
    )
    result = sh(MON, f"python3 -c {json.dumps(code)}")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["data"]["result"]


def wait_for(check: Callable[[], Any], seconds: float, what: str) -> Any:
    return traffic.until(check, seconds, what, every=3)


def received(host: str, since: float) -> list[dict[str, Any]]:
    """Every alert ``host``'s webhook recorded since ``since`` (Unix time)."""
    text = sh(host, "cat /var/lib/lab-alerts/received.jsonl 2>/dev/null || true").stdout
    alerts = []
    for line in text.splitlines():
        record = json.loads(line)
        if record["received"] >= since:
            alerts += [{**a, "_from": record["from"]} for a in record["body"]["alerts"]]
    return alerts


def firing(host: str, since: float, alertname: str, about: str) -> list[dict[str, Any]]:
    return [
        a
        for a in received(host, since)
        if a["status"] == "firing"
        and a["labels"].get("alertname") == alertname
        and a["labels"].get("host") == about
    ]


def test_every_lab_host_is_scraped() -> None:
    def all_up() -> dict[str, str]:
        found = {r["metric"]["host"]: r["value"][1] for r in query('up{job="node"}')}
        return found if set(found) == set(ALL_HOSTS) and set(found.values()) == {"1"} else {}

    wait_for(all_up, 120, "every host's node exporter answering Prometheus")
    tenants = {r["metric"]["host"]: r["metric"].get("tenant") for r in query('up{job="node"}')}
    assert tenants == {h: TENANT_OF.get(h) for h in ALL_HOSTS}


def test_the_bmc_is_read_power_and_temperature() -> None:
    sensors = wait_for(
        lambda: query(f'ipmi_sensor_state{{host="{SERVER_WITH_BMC}",type="Power Supply"}}'),
        120,
        "the BMC's power supply sensors",
    )
    assert {s["metric"]["name"] for s in sensors} == {"PS1 Status", "PS2 Status"}
    assert {s["value"][1] for s in sensors} == {"0"}
    temperature = query(f'ipmi_temperature_celsius{{host="{SERVER_WITH_BMC}"}}')
    assert [t["value"][1] for t in temperature] == ["24"]
    draw = wait_for(lambda: query("site:it_load_kilowatts"), 60, "the IT load recording rule")
    assert float(draw[0]["value"][1]) == pytest.approx(0.32)


def test_host_metrics_of_the_platform_are_there() -> None:
    """cite-node-metrics' sources on every host: clock, certificates, firewall counters."""
    for metric in (
        "cite_chrony_offset_seconds",
        "cite_tls_certificate_expiry_timestamp_seconds",
        "cite_firewall_denied_packets_total",
    ):
        hosts = wait_for(
            lambda m=metric: {r["metric"]["host"] for r in query(m)} >= set(ALL_HOSTS),
            150,
            metric,
        )
        assert hosts
    assert {r["value"][1] for r in query("cite_node_metrics_errors")} == {"0"}


def test_the_exporters_answer_the_monitoring_server_only() -> None:
    target = next(h for h in RECEIVERS if h in TENANT_OF)
    address = LAB[target]["site_address"]
    assert sh(MON, traffic.tcp_open(address, 9100)).returncode == 0
    bastion = DATA["bastions"]["hosts"][0]
    assert sh(bastion, traffic.tcp_open(address, 9100)).returncode != 0
    # The UIs answer the admin zone (the bastion), not a tenant.
    assert sh(bastion, traffic.tcp_open(MON_ADDRESS, 9090)).returncode == 0
    assert sh(target, traffic.tcp_open(MON_ADDRESS, 9090)).returncode != 0


def restart(host: str) -> None:
    """Start a stopped lab container again, with its route (lab/up.yml sets it)."""
    subprocess.run([PODMAN, "start", f"lab-{host}"], check=True, capture_output=True)
    router = ROUTER[LAB[host]["site_address"]]
    deadline = time.monotonic() + 60
    while sh(host, f"ip route replace default via {router}").returncode != 0:
        assert time.monotonic() < deadline, f"{host} did not come back"
        time.sleep(2)


@pytest.mark.lab_alters
def test_a_stopped_host_alerts_its_tenant_and_no_one_else() -> None:
    victim = next(
        h for h in sorted(TENANT_OF) if TENANT_OF[h] in WITH_RECEIVERS and h not in RECEIVERS
    )
    tenant = TENANT_OF[victim]
    since = time.time()
    subprocess.run([PODMAN, "stop", "-t", "5", f"lab-{victim}"], check=True, capture_output=True)
    try:
        alerts = wait_for(
            lambda: firing(receiver_of(tenant), since, "HostDown", victim),
            ALERT_WITHIN,
            f"HostDown for {victim} at {tenant}'s receiver",
        )
        assert alerts[0]["labels"]["tenant"] == tenant
        assert alerts[0]["_from"] == MON_ADDRESS
    finally:
        restart(victim)
    for other in RECEIVERS:
        if other != receiver_of(tenant):
            assert firing(other, since, "HostDown", victim) == [], other


def test_an_old_backup_alerts_its_tenant() -> None:
    host = next(h for h in sorted(TENANT_OF) if TENANT_OF[h] in WITH_RECEIVERS)
    saved = sh(host, f"cat {TEXTFILE} 2>/dev/null || true").stdout
    old = int(time.time()) - 30 * 3600
    since = time.time()
    metric = f"cite_backup_last_success_timestamp_seconds {old}"
    assert (
        sh(
            host, f"printf '%s\\n' '{metric}' > {TEXTFILE}.tmp && mv {TEXTFILE}.tmp {TEXTFILE}"
        ).returncode
        == 0
    )
    try:
        wait_for(
            lambda: firing(receiver_of(TENANT_OF[host]), since, "BackupTooOld", host),
            ALERT_WITHIN,
            f"BackupTooOld for {host}",
        )
    finally:
        if saved:
            sh(host, f"cat > {TEXTFILE} <<'EOF'\n{saved}EOF")
        else:
            sh(host, f"rm -f {TEXTFILE}")


def bmc_console(command: str) -> str:
    """One command on the simulator's console (loopback inside its container)."""
    code = (
        "import socket,time; s=socket.create_connection(('127.0.0.1', 9624), timeout=5); "
        f"s.sendall({command!r}.encode() + b'\\n'); time.sleep(1); "
        # The console speaks telnet: its negotiation bytes (0xff ...) are not text.
        "print(s.recv(4096).decode(errors='replace'))"
    )
    result = subprocess.run(
        [PODMAN, "exec", BMC["container"], "python3", "-c", code],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_power_supply_cut_fires_feed_lost_to_operations_only() -> None:
    since = time.time()
    bmc_console("sensor_set_bit 0x20 0 2 1 1 1")
    try:
        wait_for(
            lambda: firing(receiver_of(None), since, "PowerFeedLost", SERVER_WITH_BMC),
            ALERT_WITHIN,
            "PowerFeedLost at the operations receiver",
        )
    finally:
        bmc_console("sensor_set_bit 0x20 0 2 1 0 1")
    for other in RECEIVERS:
        if other != receiver_of(None):
            assert firing(other, since, "PowerFeedLost", SERVER_WITH_BMC) == [], other


@pytest.mark.lab_alters  # reads what the alerts above left: after them
def test_no_receiver_ever_got_another_tenants_alert() -> None:
    """Everything each webhook recorded since the lab came up."""
    seen = 0
    for host in RECEIVERS:
        mine = TENANT_OF.get(host)
        for alert in received(host, 0):
            seen += 1
            tenant = alert["labels"].get("tenant")
            if mine is None:
                assert tenant is None or tenant not in WITH_RECEIVERS, (host, alert["labels"])
            else:
                assert tenant == mine, (host, alert["labels"])
    assert seen > 0
