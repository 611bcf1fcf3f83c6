"""Central logging in the running lab (`make lab` first): every host's messages reach logs01
over TLS through the firewalls and land under the host's own tenant (or shared network)
only; auditd's records follow; retention is each tenant's from the lab's site model."""

from __future__ import annotations

import re
import subprocess
import uuid

import pytest

from conftest import ROOT, inventory_json
from testkit import traffic

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("logging")]
DATA = inventory_json(ROOT / "inventory" / "lab")
LAB = DATA["_meta"]["hostvars"]
PODMAN = str(ROOT / "lab" / "bin" / "podman")
SERVER = DATA["log_servers"]["hosts"][0]
STORE = "/srv/log"
TENANT_HOSTS = {h: t for t in DATA["tenants"]["children"] for h in DATA[t]["hosts"]}
SHARED_HOSTS = {"bastion01": "admin", "backup01": "infra"}


def sh(host: str, command: str) -> subprocess.CompletedProcess[str]:
    return traffic.in_container(f"lab-{host}", command, podman=PODMAN)


def files_with(mark: str, seconds: float = 30) -> list[str]:
    """Files of logs01's store holding ``mark``, once some do or ``seconds`` pass."""
    grep = f"grep -rlF -- {mark} {STORE} || true"
    return sorted(traffic.logged_lines(lambda: sh(SERVER, grep).stdout, seconds=seconds))


def new_mark() -> str:
    return f"cite-{uuid.uuid4().hex[:16]}"


def assert_filed_once(mark: str, network: str, host: str, kind: str) -> None:
    """``mark`` is in exactly one file: the day's ``kind`` file of ``host`` under ``network``."""
    found = files_with(mark)
    assert len(found) == 1, found
    assert re.fullmatch(rf"{STORE}/{network}/{host}/{kind}-[\d-]+\.log", found[0])


@pytest.mark.parametrize("host", sorted(TENANT_HOSTS) + sorted(SHARED_HOSTS))
def test_a_message_lands_under_its_hosts_tenant_only(host: str) -> None:
    mark = new_mark()
    assert sh(host, f"logger -t cite-e2e {mark}").returncode == 0
    assert_filed_once(mark, TENANT_HOSTS.get(host) or SHARED_HOSTS[host], host, "syslog")


def test_the_log_server_listens_with_tls_only() -> None:
    rsyslog = sh(SERVER, "ss -Hlntup | grep rsyslogd").stdout
    assert {line.split()[4].rsplit(":", 1)[1] for line in rsyslog.splitlines()} == {"6514"}
    # A client without the site CA's certificate is not filed (the TLS handshake is refused).
    host = sorted(TENANT_HOSTS)[0]
    mark = new_mark()
    sh(
        host,
        f"echo '<13>1 - {host} cite-e2e - - - {mark}' | timeout 10 openssl s_client -quiet "
        f"-connect {LAB[SERVER]['site_address']}:6514 -CAfile /etc/cite/pki/ca.crt",
    )
    assert files_with(mark, seconds=5) == []


def test_audit_records_of_a_tenant_host_land_in_its_audit_file() -> None:
    host = sorted(TENANT_HOSTS)[0]
    mark = new_mark()
    record = f"type=USER_CMD msg=audit(1764000000.123:7): pid=1 auid=1000 msg='cmd={mark}'"
    assert sh(host, f'echo "{record}" >> /var/log/audit/audit.log').returncode == 0
    assert_filed_once(mark, TENANT_HOSTS[host], host, "audit")


def test_retention_is_each_tenants_from_the_site_model() -> None:
    unit = sh(SERVER, "systemctl cat cite-log-retention.service").stdout
    tenants = {t["id"]: t.get("log_retention_days", 365) for t in LAB[SERVER]["site_tenants"]}
    assert tenants["aphp"] == 730  # the lab's model gives the hospitals two years
    for tenant, days in tenants.items():
        assert f"find {STORE}/{tenant} -mindepth 2 -type f -mtime +{days - 1} -delete" in unit
    assert sh(SERVER, "systemctl is-enabled cite-log-retention.timer").stdout.strip() == "enabled"
