"""Roles monitoring_agent and monitoring_server, proven with the real daemons.

monitoring-server (Debian 12) runs Prometheus, Alertmanager and the exporters;
monitoring-alpha (Debian 13, tenant alpha, which has a webhook receiver) and
monitoring-bravo (Debian 12, tenant bravo, none) run the node exporter. Alerts are read
from Alertmanager's API, which says which receiver each one went to.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from testkit import traffic
from testkit.scenario import playbook

ROOT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
SERVER, ALPHA, BRAVO = "monitoring-server", "monitoring-alpha", "monitoring-bravo"
HOSTS = [SERVER, ALPHA, BRAVO]
TENANT = {ALPHA: "alpha", BRAVO: "bravo"}


def sh(container: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return traffic.in_container(container, command, timeout=timeout)


def ok(container: str, command: str, timeout: float = 60) -> str:
    return traffic.checked(container, command, timeout=timeout)


def address(container: str) -> str:
    return ok(container, "hostname -I").split()[0]


def get(url: str) -> Any:
    code = (
        f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=10).read().decode())"
    )
    return json.loads(ok(SERVER, f"python3 -c {json.dumps(code)}"))


def query(expr: str) -> list[dict[str, Any]]:
    url = f"http://{address(SERVER)}:9090/api/v1/query?query={urllib.parse.quote(expr)}"
    return get(url)["data"]["result"]


def wait_for(check: Callable[[], Any], seconds: float, what: str) -> Any:
    return traffic.until(check, seconds, what, every=3)


def test_daemons_run_and_are_enabled() -> None:
    units = [
        "prometheus",
        "prometheus-alertmanager",
        "prometheus-blackbox-exporter",
        "prometheus-ipmi-exporter",
        "prometheus-node-exporter",
    ]
    for unit in units:
        assert ok(SERVER, f"systemctl is-active {unit}").strip() == "active", unit
        assert ok(SERVER, f"systemctl is-enabled {unit}").strip() == "enabled", unit
    for host in (ALPHA, BRAVO):
        assert ok(host, "systemctl is-active prometheus-node-exporter").strip() == "active"
        assert ok(host, "systemctl is-enabled cite-node-metrics.timer").strip() == "enabled"
        assert sh(host, "systemctl is-active prometheus").returncode != 0


def test_configuration_passes_prometheus_own_checks() -> None:
    out = ok(SERVER, "promtool check config /etc/prometheus/prometheus.yml")
    assert "SUCCESS" in out
    assert "SUCCESS" in ok(SERVER, "amtool check-config /etc/prometheus/alertmanager.yml")


def test_exporters_listen_where_they_should() -> None:
    """The node exporter on the site address only; the server's exporters on the loopback."""
    for host in HOSTS:
        listening = ok(host, "ss -Htlnp")
        assert f"{address(host)}:9100" in listening, host
        assert "*:9100" not in listening, host
        assert "0.0.0.0:9100" not in listening, host
    listening = ok(SERVER, "ss -Htlnp")
    assert "127.0.0.1:9115" in listening
    assert "127.0.0.1:9290" in listening


def test_targets_come_from_the_site_model() -> None:
    nodes = json.loads(ok(SERVER, "cat /etc/prometheus/targets/nodes.json"))
    labels = {n["labels"]["host"]: n["labels"] for n in nodes}
    assert set(labels) == set(HOSTS)
    assert labels[ALPHA]["tenant"] == "alpha"
    assert labels[BRAVO]["tenant"] == "bravo"
    assert labels[SERVER]["tenant"] == ""
    services = json.loads(ok(SERVER, "cat /etc/prometheus/targets/services.json"))
    assert [(s["labels"]["host"], s["labels"]["service"]) for s in services] == [(ALPHA, "https")]
    assert services[0]["targets"] == [f"{address(ALPHA)}:443"]


def test_every_host_is_scraped_with_its_tenant() -> None:
    def all_up() -> dict[str, Any]:
        # Debian's package first starts Prometheus with its own configuration (a job
        # "node" on localhost:9100, no host label); the role's replaces it, and those
        # last samples stay visible for the 5-minute lookback: not a target any more.
        found = {r["metric"]["host"]: r for r in query('up{job="node",host!=""}')}
        return found if len(found) == 3 and {r["value"][1] for r in found.values()} == {"1"} else {}

    found = wait_for(all_up, 60, "every node exporter scraped")
    assert found[ALPHA]["metric"]["tenant"] == "alpha"
    assert "tenant" not in found[SERVER]["metric"]


def test_host_metrics_are_written_and_exported() -> None:
    ok(ALPHA, "systemctl start cite-node-metrics.service")
    text = ok(ALPHA, "cat /var/lib/prometheus/node-exporter/cite_node.prom")
    assert "cite_node_metrics_errors" in text
    found = wait_for(
        lambda: query(f'cite_node_metrics_errors{{host="{ALPHA}"}}'), 60, "cite_node_metrics_errors"
    )
    assert found[0]["metric"]["tenant"] == "alpha"


def alertmanager_alerts() -> list[dict[str, Any]]:
    return get(f"http://{address(SERVER)}:9093/api/v2/alerts")


def routed(alertname: str, host: str, **labels: str) -> list[str]:
    return [
        r["name"]
        for a in alertmanager_alerts()
        if a["labels"].get("alertname") == alertname
        and a["labels"].get("host") == host
        and all(a["labels"].get(k) == v for k, v in labels.items())
        for r in a["receivers"]
    ]


@pytest.mark.parametrize(("host", "receiver"), [(ALPHA, "tenant-alpha"), (BRAVO, "operations")])
def test_a_host_down_reaches_its_tenant_and_only_it(host: str, receiver: str) -> None:
    ok(host, "systemctl stop prometheus-node-exporter")
    try:
        receivers = wait_for(lambda: routed("HostDown", host), 90, f"HostDown for {host}")
    finally:
        ok(host, "systemctl start prometheus-node-exporter")
    assert receivers == [receiver]


def test_a_failed_unit_is_an_alert_of_the_hosts_tenant() -> None:
    ok(ALPHA, "systemd-run --unit=cite-test-fails --property=RemainAfterExit=no false || true")
    try:
        receivers = wait_for(
            lambda: routed("SystemdUnitFailed", ALPHA, name="cite-test-fails.service"),
            90,
            "SystemdUnitFailed for alpha",
        )
        assert receivers == ["tenant-alpha"]
        # Every failed unit of alpha's (whatever else fails in a container) goes there only.
        assert set(routed("SystemdUnitFailed", ALPHA)) == {"tenant-alpha"}
    finally:
        sh(ALPHA, "systemctl reset-failed cite-test-fails.service")


def test_a_receiver_on_another_tenants_network_is_refused(tmp_path: Path) -> None:
    before = ok(SERVER, "md5sum /etc/prometheus/alertmanager.yml")
    hostile = [
        {"id": "alpha", "vlan": 110, "ipv4": "10.231.10.0/24", "admin_group": "adm_alpha",
         "backup_quota": "1G", "alert_receivers": [{"webhook": "http://10.231.20.5:80/steal"}]},
        {"id": "bravo", "vlan": 120, "ipv4": "10.231.20.0/24", "admin_group": "adm_bravo",
         "backup_quota": "1G"},
    ]  # fmt: skip
    result = playbook(
        ROOT / "molecule" / "monitoring" / "converge.yml",
        "--limit",
        SERVER,
        "-e",
        json.dumps({"site_tenants": hostile}),
    )
    assert result.returncode != 0
    assert "is neither on the tenant's own network nor on a shared zone" in result.stdout
    assert ok(SERVER, "md5sum /etc/prometheus/alertmanager.yml") == before
