"""Role monitoring_server's rules and routes, checked by Prometheus's own tools.

The rules template is rendered with the role's defaults (the thresholds a site gets), then
``promtool check rules`` and ``promtool test rules``: every alert has a case where it fires,
with its labels and text, and one where it stays quiet. Alertmanager's configuration is
rendered for the lab's tenants and ``amtool`` checks it and shows where each tenant's alerts
go. promtool and amtool come from Debian's packages, unpacked by `make unit`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from ansible.plugins.filter.core import FilterModule

from conftest import ROOT
from sitemodel import services

ROLE = ROOT / "roles" / "monitoring_server"
TOOLS = ROOT / ".cache" / "tools"
PROMTOOL = TOOLS / "prometheus" / "usr" / "bin" / "promtool"
AMTOOL = TOOLS / "prometheus-alertmanager" / "usr" / "bin" / "amtool"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text("utf-8"))
TENANTS = yaml.safe_load(
    (ROOT / "inventory" / "lab" / "group_vars" / "all" / "tenants.yml").read_text("utf-8")
)


def tool(path: Path) -> str:
    assert path.exists(), f"{path} is missing: `make unit` unpacks it from Debian's package"
    return str(path)


def render(template: str, **variables: Any) -> str:
    """Render one of the role's templates as Ansible does (its #jinja2: header honoured,
    Ansible's core filters), with the role's defaults and ``variables`` on top."""
    text = (ROLE / "templates" / template).read_text("utf-8")
    options: dict[str, Any] = {}
    if text.startswith("#jinja2:"):
        header, text = text.split("\n", 1)
        for item in header.removeprefix("#jinja2:").split(","):
            key, value = item.split(":", 1)
            options[key.strip()] = value.strip().strip("'\"")
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, **options
    )
    env.filters.update(FilterModule().filters())
    return env.from_string(text).render(
        {**DEFAULTS, "ansible_managed": "managed by Ansible (test)", **variables}
    )


def rules(tmp_path: Path, **variables: Any) -> Path:
    path = tmp_path / "cite-souveraine.yml"
    path.write_text(render("rules.yml.j2", **variables), "utf-8")
    return path


def alert_names(path: Path) -> set[str]:
    groups = yaml.safe_load(path.read_text("utf-8"))["groups"]
    return {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}


NODE = {"job": "node", "instance": "10.210.10.11:9100", "host": "ville-web01"}
NODE_LABELS = {**NODE, "network": "ville", "tenant": "ville"}
SEL = ",".join(f'{k}="{v}"' for k, v in NODE_LABELS.items())
UNIT = 'name="cite-backup.service",state="failed"'
BMC = {"job": "bmc", "instance": "10.210.1.200:623", "host": "backup01", "network": "infra"}
# An empty label is no label: the site's own targets carry no tenant.
BMC_SEL = ",".join(f'{k}="{v}"' for k, v in {**BMC, "tenant": "", "room": "s1"}.items())


def case(
    alert: str,
    series: dict[str, str],
    eval_time: str,
    labels: dict[str, str] | None,
    summary: str = "",
) -> dict[str, Any]:
    """One promtool test: ``series`` (selector -> values) evaluated at ``eval_time``;
    ``labels`` None means the alert must not fire."""
    expected = []
    if labels is not None:
        expected = [{"exp_labels": labels, "exp_annotations": {"summary": summary}}]
    return {
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in series.items()],
        "alert_rule_test": [{"eval_time": eval_time, "alertname": alert, "exp_alerts": expected}],
    }


def with_tenant(extra: dict[str, str], severity: str) -> dict[str, str]:
    return {**NODE_LABELS, **extra, "severity": severity}


CASES: list[dict[str, Any]] = [
    # A host down for the whole delay fires, with its tenant; a short blip does not.
    case("HostDown", {f"up{{{SEL}}}": "1 0x5"}, "4m", with_tenant({}, "critical"),
         "ville-web01 does not answer (node exporter unreachable)"),
    case("HostDown", {f"up{{{SEL}}}": "1 0 1 1 1"}, "4m", None),
    # A filesystem 90 % full fires; 80 % does not; a tmpfs is never counted.
    case("DiskFull",
         {f'node_filesystem_avail_bytes{{{SEL},mountpoint="/srv",fstype="ext4"}}': "10x20",
          f'node_filesystem_size_bytes{{{SEL},mountpoint="/srv",fstype="ext4"}}': "100x20"},
         "15m", with_tenant({"mountpoint": "/srv", "fstype": "ext4"}, "warning"),
         "ville-web01: /srv is 90% full"),
    case("DiskFull",
         {f'node_filesystem_avail_bytes{{{SEL},mountpoint="/srv",fstype="ext4"}}': "20x20",
          f'node_filesystem_size_bytes{{{SEL},mountpoint="/srv",fstype="ext4"}}': "100x20",
          f'node_filesystem_avail_bytes{{{SEL},mountpoint="/run",fstype="tmpfs"}}': "1x20",
          f'node_filesystem_size_bytes{{{SEL},mountpoint="/run",fstype="tmpfs"}}': "100x20"},
         "15m", None),
    case("SystemdUnitFailed",
         {f'node_systemd_unit_state{{{SEL},{UNIT}}}': "1x10"},
         "6m", with_tenant({"name": "cite-backup.service", "state": "failed"}, "warning"),
         "ville-web01: unit cite-backup.service failed"),
    case("SystemdUnitFailed", {f'node_systemd_unit_state{{{SEL},{UNIT}}}': "0x10"}, "6m", None),
    case("ServiceDown",
         {'probe_success{job="services",instance="10.210.10.11:443",host="ville-web01",network="ville",'
          'tenant="ville",service="https"}': "0x5"},
         "3m", {"job": "services", "instance": "10.210.10.11:443", "host": "ville-web01",
                "network": "ville", "tenant": "ville", "service": "https", "severity": "critical"},
         "ville-web01: service https (10.210.10.11:443) does not answer"),
    case("ServiceDown",
         {'probe_success{job="services",host="ville-web01",tenant="ville"}': "1x5"},
         "3m", None),
    # The last good backup 27 h 10 min old at evaluation: over 26 h for 10 min.
    case("BackupTooOld", {f"cite_backup_last_success_timestamp_seconds{{{SEL}}}": "0x1700"},
         "27h10m", with_tenant({}, "critical"), "ville-web01: last good backup 1d 3h 10m 0s ago"),
    case("BackupTooOld", {f"cite_backup_last_success_timestamp_seconds{{{SEL}}}": "7200x1700"},
         "27h", None),
    case("BackupNeverSucceeded", {f"cite_backup_last_run_timestamp_seconds{{{SEL}}}": "0+60x30"},
         "20m", with_tenant({}, "critical"), "ville-web01: backups run but none ever succeeded"),
    case("BackupNeverSucceeded",
         {f"cite_backup_last_run_timestamp_seconds{{{SEL}}}": "0+60x30",
          f"cite_backup_last_success_timestamp_seconds{{{SEL}}}": "0+60x30"},
         "20m", None),
    case("BackupCopyTooOld",
         {'cite_backup_replica_last_success_timestamp_seconds{job="node",instance="10.210.1.21:9100",'
          'host="backup02",network="infra",tenant="",tenant_repository="ville"}': "0x1700"},
         "27h10m", {"job": "node", "instance": "10.210.1.21:9100", "host": "backup02",
                    "network": "infra", "tenant_repository": "ville", "severity": "critical"},
         "backup02: second copy of ville is 1d 3h 10m 0s old"),
    case("BackupCopyTooOld",
         {'cite_backup_replica_last_success_timestamp_seconds{host="backup02",tenant_repository="ville"}':
          "0+60x1700"},
         "27h10m", None),
    case("BackupTampered",
         {'cite_backup_tamper_detected{job="node",host="bkpmaint01",tenant_repository="ville",'
          'host_repository="ville-web01"}': "0 1"},
         "1m", {"job": "node", "host": "bkpmaint01", "tenant_repository": "ville",
                "host_repository": "ville-web01", "severity": "critical"},
         "ville/ville-web01: archives vanished or changed outside maintenance; prune and compact "
         "stopped (docs/bad-day.md)"),
    case("BackupTampered",
         {'cite_backup_tamper_detected{job="node",host="bkpmaint01",tenant_repository="ville",'
          'host_repository="ville-web01"}': "0 0"},
         "1m", None),
    case("BackupMaintenanceFailed",
         {'cite_backup_repository_ok{job="node",host="bkpmaint01",tenant_repository="ville",'
          'host_repository="ville-web01"}': "0x20"},
         "15m", {"job": "node", "host": "bkpmaint01", "tenant_repository": "ville",
                 "host_repository": "ville-web01", "severity": "critical"},
         "ville/ville-web01: maintenance failed on bkpmaint01"),
    case("BackupMaintenanceFailed",
         {'cite_backup_repository_ok{job="node",host="bkpmaint01",tenant_repository="ville",'
          'host_repository="ville-web01"}': "1x20"},
         "15m", None),
    # A certificate with 29 days left fires after an hour; 31 days does not.
    case("CertificateExpiring",
         {f'cite_tls_certificate_expiry_timestamp_seconds{{{SEL},path="/etc/cite/pki/host.crt"}}':
          f"{29 * 86400}x120"},
         "90m", with_tenant({"path": "/etc/cite/pki/host.crt"}, "warning"),
         "ville-web01: /etc/cite/pki/host.crt expires in 28d 22h 30m 0s"),
    case("CertificateExpiring",
         {f'cite_tls_certificate_expiry_timestamp_seconds{{{SEL},path="/etc/cite/pki/host.crt"}}':
          f"{31 * 86400 + 7200}x120"},
         "90m", None),
    case("LogQueueBuildingUp", {f'cite_rsyslog_queue_size{{{SEL},queue="fwd-logs01"}}': "5000x20"},
         "15m", with_tenant({"queue": "fwd-logs01"}, "warning"),
         "ville-web01: rsyslog queue fwd-logs01 holds 5000 messages"),
    case("LogQueueBuildingUp", {f'cite_rsyslog_queue_size{{{SEL},queue="fwd-logs01"}}': "10x20"},
         "15m", None),
    case("LogServerNotHeard",
         {f'cite_rsyslog_action_suspended_total{{{SEL},action="fwd-logs01"}}': "0+1x30"},
         "20m", with_tenant({"action": "fwd-logs01"}, "warning"),
         "ville-web01: rsyslog action fwd-logs01 cannot reach its log server"),
    case("LogServerNotHeard",
         {f'cite_rsyslog_action_suspended_total{{{SEL},action="fwd-logs01"}}': "3x30"},
         "20m", None),
    # A long outage: suspended once (the count steps once), then nothing sent, marks included.
    case("LogServerNotHeard",
         {f'cite_rsyslog_action_suspended_total{{{SEL},action="cite_journal_logs01"}}': "0 1x60",
          f'cite_rsyslog_action_processed_total{{{SEL},action="cite_journal_logs01"}}':
          "0+10x5 50x55"},
         "50m", with_tenant({"action": "cite_journal_logs01"}, "warning"),
         "ville-web01: rsyslog action cite_journal_logs01 cannot reach its log server"),
    case("LogServerNotHeard",
         {f'cite_rsyslog_action_processed_total{{{SEL},action="cite_journal_logs01"}}': "0+1x60"},
         "50m", None),
    # The main rsyslog's auditd forwarding may well be quiet for long: not an outage.
    case("LogServerNotHeard",
         {f'cite_rsyslog_action_processed_total{{{SEL},action="fwd-logs01"}}': "5x60"},
         "50m", None),
    case("LogStoreOverQuota",
         {'cite_log_store_blocked{job="node",host="logs01",network="infra",store_network="ville"}':
          "1x30"},
         "15m", {"job": "node", "host": "logs01", "network": "infra", "store_network": "ville",
                 "severity": "critical"},
         "logs01: ville's logs are over their quota: new ones are discarded"),
    case("LogStoreOverQuota",
         {'cite_log_store_blocked{job="node",host="logs01",store_network="ville"}': "0x30"},
         "15m", None),
    case("ClockOffset", {f"cite_chrony_offset_seconds{{{SEL}}}": "-0.25x10"},
         "6m", with_tenant({}, "warning"), "ville-web01: clock 0.25 s off"),
    case("ClockOffset", {f"cite_chrony_offset_seconds{{{SEL}}}": "0.02x10"}, "6m", None),
    case("MetricsCollectionFailing", {f"cite_node_metrics_errors{{{SEL}}}": "1x10"},
         "6m", with_tenant({}, "warning"),
         "ville-web01: cite-node-metrics could not read 1 source(s)"),
    case("MetricsCollectionFailing", {f"cite_node_metrics_errors{{{SEL}}}": "0x10"}, "6m", None),
    # Power and temperature: the BMC's own states (its thresholds).
    case("PowerFeedLost",
         {f'ipmi_sensor_state{{{BMC_SEL},id="2",name="PS2 Status",type="Power Supply"}}': "0 2x5"},
         "3m", {**BMC, "room": "s1", "id": "2", "name": "PS2 Status",
                "type": "Power Supply", "severity": "critical"},
         "backup01 runs on one power feed: PS2 Status failed (redundancy lost)"),
    case("PowerFeedLost",
         {f'ipmi_sensor_state{{{BMC_SEL},id="2",name="PS2 Status",type="Power Supply"}}': "0x5",
          f'ipmi_sensor_state{{{BMC_SEL},id="7",name="Fan 1",type="Fan"}}': "2x5"},
         "3m", None),
    case("InletTemperature",
         {f'ipmi_temperature_state{{{BMC_SEL},id="3",name="Inlet Temp"}}': "1x10"},
         "6m", {**BMC, "room": "s1", "id": "3", "name": "Inlet Temp", "severity": "warning"},
         "backup01: Inlet Temp over its threshold"),
    case("InletTemperature",
         {f'ipmi_temperature_state{{{BMC_SEL},id="3",name="Inlet Temp"}}': "0x10",
          f'ipmi_temperature_state{{{BMC_SEL},id="9",name="CPU Temp"}}': "1x10"},
         "6m", None),
    case("BmcUnreachable", {f'ipmi_up{{{BMC_SEL},collector="ipmi"}}': "0x5"},
         "3m", {**BMC, "room": "s1", "collector": "ipmi", "severity": "warning"},
         "backup01: its BMC does not answer (power and temperature unknown)"),
    case("BmcUnreachable", {f'ipmi_up{{{BMC_SEL},collector="ipmi"}}': "1x5",
                            f'ipmi_up{{{BMC_SEL},collector="dcmi"}}': "0x5"}, "3m", None),
]  # fmt: skip

# The IT load: DCMI where the BMC has it, its Watts sensors otherwise; per room and site.
RECORDING = {
    "interval": "1m",
    "input_series": [
        {"series": 'ipmi_dcmi_power_consumption_watts{host="hv01",room="s1"}', "values": "400x5"},
        {"series": 'ipmi_power_watts{host="hv01",room="s1",name="PSU1"}', "values": "999x5"},
        {"series": 'ipmi_power_watts{host="hv02",room="s1",name="PSU1"}', "values": "300x5"},
        {"series": 'ipmi_power_watts{host="hv02",room="s1",name="PSU2"}', "values": "300x5"},
        {"series": 'ipmi_power_watts{host="hv03",room="s2",name="PSU1"}', "values": "500x5"},
    ],
    "promql_expr_test": [
        {
            "expr": "host:power_draw_watts",
            "eval_time": "2m",
            "exp_samples": [
                {"labels": 'host:power_draw_watts{host="hv01",room="s1"}', "value": 400},
                {"labels": 'host:power_draw_watts{host="hv02",room="s1"}', "value": 600},
                {"labels": 'host:power_draw_watts{host="hv03",room="s2"}', "value": 500},
            ],
        },
        {
            "expr": "room:it_load_kilowatts",
            "eval_time": "2m",
            "exp_samples": [
                {"labels": 'room:it_load_kilowatts{room="s1"}', "value": 1.0},
                {"labels": 'room:it_load_kilowatts{room="s2"}', "value": 0.5},
            ],
        },
        {
            "expr": "site:it_load_kilowatts",
            "eval_time": "2m",
            "exp_samples": [{"labels": "site:it_load_kilowatts", "value": 1.5}],
        },
    ],
}


def promtool_test(tmp_path: Path, rule_file: Path, tests: list[dict[str, Any]]) -> str:
    spec = tmp_path / "tests.yml"
    spec.write_text(
        yaml.safe_dump(
            {"rule_files": [rule_file.name], "evaluation_interval": "1m", "tests": tests}
        ),
        "utf-8",
    )
    result = subprocess.run(
        [tool(PROMTOOL), "test", "rules", spec.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout + result.stderr if result.returncode else ""


def test_the_rules_are_valid(tmp_path: Path) -> None:
    result = subprocess.run(
        [tool(PROMTOOL), "check", "rules", str(rules(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_fires_when_it_should_and_only_then(tmp_path: Path) -> None:
    rule_file = rules(tmp_path)
    firing = {
        c["alert_rule_test"][0]["alertname"] for c in CASES if c["alert_rule_test"][0]["exp_alerts"]
    }
    quiet = {
        c["alert_rule_test"][0]["alertname"]
        for c in CASES
        if not c["alert_rule_test"][0]["exp_alerts"]
    }
    assert alert_names(rule_file) == firing == quiet, "every alert needs a firing and a quiet case"
    assert promtool_test(tmp_path, rule_file, [*CASES, RECORDING]) == ""


@pytest.mark.parametrize(
    ("knob", "value", "broken"),
    [
        ("monitoring_server_thresholds", {"disk_used_ratio": 0.95}, "DiskFull"),
        ("monitoring_server_alert_for", {"host_down": "10m"}, "HostDown"),
        ("monitoring_server_thresholds", {"backup_max_age_hours": 30}, "BackupTooOld"),
    ],
)
def test_the_tests_see_a_changed_threshold(
    tmp_path: Path, knob: str, value: dict[str, Any], broken: str
) -> None:
    """The same cases against rules with another threshold fail, naming the alert."""
    rule_file = rules(tmp_path, **{knob: {**DEFAULTS[knob], **value}})
    output = promtool_test(tmp_path, rule_file, CASES)
    assert output, "promtool accepted rules whose threshold changed"
    assert f"alertname: {broken}" in output


def alertmanager(tmp_path: Path, operations: list[dict[str, str]], tenants: Any) -> Path:
    receivers = services.alert_receivers(tenants, TENANTS["site_shared_networks"], operations)
    path = tmp_path / "alertmanager.yml"
    path.write_text(render("alertmanager.yml.j2", _monitoring_server_receivers=receivers), "utf-8")
    return path


def route(config: Path, **labels: str) -> str:
    result = subprocess.run(
        [tool(AMTOOL), "config", "routes", "test", f"--config.file={config}",
         *(f"{k}={v}" for k, v in labels.items())],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return result.stdout.strip()


def test_each_tenant_gets_its_alerts_and_only_its_own(tmp_path: Path) -> None:
    tenants = json.loads(json.dumps(TENANTS["site_tenants"]))
    tenants[0]["alert_receivers"] = [{"webhook": "http://10.210.10.11:9095/alerts"}]
    tenants[1]["alert_receivers"] = [{"webhook": "http://10.210.20.11:9095/alerts"},
                                     {"email": "dsi-alertes@aphp.example"}]  # fmt: skip
    config = alertmanager(tmp_path, [{"webhook": "http://10.210.0.10:9095/alerts"}], tenants)
    check = subprocess.run(
        [tool(AMTOOL), "check-config", str(config)], capture_output=True, text=True, check=False
    )
    # Mail needs the site's relay: without one the configuration is refused, naming it.
    assert check.returncode != 0
    assert "smtp" in (check.stdout + check.stderr).lower()
    config.write_text(
        render(
            "alertmanager.yml.j2",
            monitoring_server_smtp_relay="relay.cite.example:25",
            _monitoring_server_receivers=services.alert_receivers(
                tenants, TENANTS["site_shared_networks"], [{"webhook": "http://10.210.0.10:9095/a"}]
            ),
        ),
        "utf-8",
    )
    check = subprocess.run(
        [tool(AMTOOL), "check-config", str(config)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert route(config, alertname="HostDown", tenant="ville", host="ville-web01") == "tenant-ville"
    assert route(config, alertname="HostDown", tenant="aphp", host="aphp-dpi01") == "tenant-aphp"
    # A tenant without receivers and the site's own alerts: the operations team.
    assert route(config, alertname="HostDown", tenant="eau_de_paris") == "operations"
    assert route(config, alertname="PowerFeedLost", tenant="", host="backup01") == "operations"
    # A tenant id that merely starts like another never matches it.
    assert route(config, alertname="HostDown", tenant="ville2") == "operations"
    parsed = yaml.safe_load(config.read_text("utf-8"))
    by_name = {r["name"]: r for r in parsed["receivers"]}
    assert [w["url"] for w in by_name["tenant-ville"]["webhook_configs"]] == [
        "http://10.210.10.11:9095/alerts"
    ]
    assert "email_configs" not in by_name["tenant-ville"]
    assert [m["to"] for m in by_name["tenant-aphp"]["email_configs"]] == [
        "dsi-alertes@aphp.example"
    ]
