"""A careless or hostile sysadmin's inventory, fed to the real playbooks/preflight.yml.

Each case edits a copy of the lab inventory whose hosts cannot be reached (any connection
would show as UNREACHABLE) and checks that the preflight refuses it with a message naming
the culprit, without contacting a host, in seconds. The table "What the preflight
refuses" of docs/tenants.md lists the same rules.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import edit_yaml, make_vault, preflight

# Seconds a refusal may take (the preflight of the whole lab takes about two).
FAST = 20

Change = Callable[[Path], None]


def tenants(change: Callable[[dict[str, Any]], None]) -> Change:
    return lambda inv: edit_yaml(inv / "group_vars" / "all" / "tenants.yml", change)


def hosts(change: Callable[[dict[str, Any]], None]) -> Change:
    return lambda inv: edit_yaml(inv / "hosts.yml", change)


def group_vars(name: str, values: dict[str, Any]) -> Change:
    return lambda inv: edit_yaml(inv / "group_vars" / name, lambda d: d.update(values))


def tenant(index: int, **values: Any) -> Change:
    def change(d: dict[str, Any]) -> None:
        d["site_tenants"][index].update(values)

    return tenants(change)


def without(index: int, key: str) -> Change:
    return tenants(lambda d: d["site_tenants"][index].pop(key))


def rename_host(old: str, new: str) -> Change:
    def change(d: dict[str, Any]) -> None:
        group = d["all"]["children"]["tenants"]["children"]["ville"]["hosts"]
        group[new] = group.pop(old)

    return hosts(change)


def tenant_group_outside_tenants(d: dict[str, Any]) -> None:
    children = d["all"]["children"]
    children["eau_de_paris"] = children["tenants"]["children"].pop("eau_de_paris")


CASES: dict[str, tuple[Change, str]] = {
    # Host names reach the backup server's forced command and the log servers' paths.
    "host-uppercase": (
        rename_host("ville-web01", "Ville-Web01"),
        "'Ville-Web01': the name is not a DNS label",
    ),
    "host-underscore": (
        rename_host("ville-web01", "ville_web01"),
        "'ville_web01': the name is not a DNS label",
    ),
    "host-command": (
        rename_host("ville-web01", "x$(touch /tmp/cs-pwned)"),
        "the name is not a DNS label",
    ),
    "host-semicolon": (
        rename_host("ville-web01", "web;reboot"),
        "'web;reboot': the name is not a DNS label",
    ),
    "host-path": (
        rename_host("ville-web01", "../../etc"),
        "'../../etc': the name is not a DNS label",
    ),
    "host-newline": (
        rename_host("ville-web01", "web01\n"),
        "the name is not a DNS label",
    ),
    "tenant-id-newline": (tenant(0, id="ville\n"), "id must match"),
    "quota-newline": (tenant(0, backup_quota="20G\n"), "is not a size"),
    # Backup quotas and retentions: within their format and range, never "unlimited".
    "quota-negative": (tenant(0, backup_quota="-5G"), "backup_quota '-5G' is not a size"),
    "quota-garbage": (tenant(0, backup_quota="lots"), "backup_quota 'lots' is not a size"),
    "quota-zero": (tenant(0, backup_quota="0"), "backup_quota '0' is not a size"),
    "quota-missing": (without(0, "backup_quota"), "tenant 'ville': backup_quota is required"),
    "quota-huge": (tenant(0, backup_quota="999999P"), "backup_quota 999999P is more than 100P"),
    "retention-negative": (
        tenant(0, log_retention_days=-1),
        "log_retention_days must be at least 1",
    ),
    "retention-garbage": (
        tenant(0, log_retention_days="forever"),
        "log_retention_days: expected an integer",
    ),
    "retention-too-long": (
        tenant(0, log_retention_days=100000),
        "log_retention_days 100000 is more than 3650",
    ),
    "backup-retention-key": (
        tenant(0, backup_retention={"keep_hourly": 5}),
        "unknown key 'keep_hourly'",
    ),
    "backup-retention-negative": (
        tenant(0, backup_retention={"keep_daily": -3}),
        "keep_daily -3 is outside",
    ),
    "backup-retention-nothing": (
        tenant(0, backup_retention={"keep_daily": 0, "keep_weekly": 0}),
        "keeps no archive at all",
    ),
    "unknown-field": (tenant(0, backup_qouta="20G"), "unknown field(s) backup_qouta"),
    # Admin groups: a valid name, one per tenant, never a privileged or system group.
    "group-invalid": (
        tenant(0, admin_group="Adm Ville"),
        "admin_group 'Adm Ville' is not a Unix group name",
    ),
    "group-shared": (
        tenant(1, admin_group="adm_ville"),
        "tenants 'ville' and 'aphp' share admin_group 'adm_ville'",
    ),
    "group-root": (
        tenant(0, admin_group="root"),
        "admin_group 'root' is a system or privileged group",
    ),
    "group-sudo": (
        tenant(0, admin_group="sudo"),
        "admin_group 'sudo' is a system or privileged group",
    ),
    "group-adm": (
        tenant(0, admin_group="adm"),
        "admin_group 'adm' is a system or privileged group",
    ),
    "group-sysadmins": (tenant(0, admin_group="sysadmins"), "admin_group 'sysadmins' is a system"),
    # IPv6 prefixes: compared across every network, bounded, private unless the site says.
    "ipv6-everything": (tenant(0, ipv6="::/0"), "ipv6: ::/0 prefix length /0 is outside /32-/64"),
    "ipv6-overlap": (
        tenants(
            lambda d: (
                d["site_tenants"][0].update(ipv6="fd42::/48"),
                d["site_tenants"][1].update(ipv6="fd42::/56"),
            )
        ),
        "overlapping prefixes: 'ville' fd42::/48 and 'aphp' fd42::/56",
    ),
    # Python's ipaddress takes anything after an IPv6 '%' (scope id), a newline included,
    # and str() writes it back: refused wherever an address is read.
    "ipv6-scope-id": (
        tenant(0, ipv6="fd42:1::/64%x\nallow all"),
        "carries a scope id ('%'): not a site prefix",
    ),
    "bmc-scope-id": (
        hosts(
            lambda d: d["all"]["children"]["bastions"]["hosts"]["bastion01"].update(
                site_bmc="[fe80::1%eth0\n]:623"
            )
        ),
        "is not an address[:port]",
    ),
    "firewall-source-scope-id": (
        group_vars(
            "time_servers.yml",
            {"firewall_openings": [{"name": "x", "port": 9, "from": ["fd42::1%x\naccept"]}]},
        ),
        "host 'ntp01': firewall: site opening 'x': unknown source",
    ),
    "ipv6-tiny": (tenant(0, ipv6="fd42::/120"), "prefix length /120 is outside /32-/64"),
    "ipv6-public": (tenant(0, ipv6="2a01:cb00::/48"), "ipv6: 2a01:cb00::/48 is public"),
    "ipv6-documentation": (tenant(0, ipv6="2001:db8::/48"), "is reserved (documentation"),
    "ipv4-public": (tenant(0, ipv4="8.8.8.0/24"), "ipv4: 8.8.8.0/24 is public"),
    "ipv4-everything": (tenant(0, ipv4="0.0.0.0/0"), "prefix length /0 is outside /8-/32"),
    # Alert receivers: on the site (no SaaS), never on another tenant's network.
    "receiver-saas": (
        tenant(0, alert_receivers=[{"webhook": "https://hooks.slack.com/services/T0/B0/x"}]),
        "is not http(s)://<site address>:<port>/<path>",
    ),
    "receiver-other-tenant": (
        tenant(0, alert_receivers=[{"webhook": "http://10.210.20.11:9095/alerts"}]),
        "is neither on the tenant's own network nor on a shared zone",
    ),
    "receiver-outside": (
        tenant(0, alert_receivers=[{"webhook": "http://192.168.77.1:80/"}]),
        "is neither on the tenant's own network nor on a shared zone",
    ),
    "receiver-bad-address": (
        tenant(0, alert_receivers=[{"webhook": "http://999.1.1.1:80/"}]),
        "'999.1.1.1' is not an IP address",
    ),
    "receiver-bad-port": (
        tenant(0, alert_receivers=[{"webhook": "http://10.210.10.11:99999/"}]),
        "port 99999 is out of range",
    ),
    "receiver-mail-injection": (
        tenant(0, alert_receivers=[{"email": "ops@example.org\nBcc: x@evil.example"}]),
        "is not a mail address",
    ),
    "receiver-as-string": (
        tenant(0, alert_receivers="http://10.210.10.11:9095/"),
        "alert_receivers must be a list, got str",
    ),
    # Where a server stands and its BMC: label values and FreeIPMI's -h argument.
    "bmc-command": (
        hosts(
            lambda d: d["all"]["children"]["bastions"]["hosts"]["bastion01"].update(
                site_bmc="10.210.1.200;reboot"
            )
        ),
        "site_bmc '10.210.1.200;reboot' is not an address[:port]",
    ),
    "bmc-port": (
        hosts(
            lambda d: d["all"]["children"]["bastions"]["hosts"]["bastion01"].update(
                site_bmc="10.210.1.200:70000"
            )
        ),
        "has no valid port",
    ),
    "room-label": (
        hosts(
            lambda d: d["all"]["children"]["bastions"]["hosts"]["bastion01"].update(
                site_room='s1"} evil{x="'
            )
        ),
        "is not a room name",
    ),
    # Names written into sshd's configuration (role ssh): a newline would add directives.
    "sshd-forwarding-user": (
        group_vars(
            "hypervisors.yml", {"ssh_unix_socket_forwarding_users": ["fleet\nPermitRootLogin yes"]}
        ),
        "PermitRootLogin yes' is not an account or group name",
    ),
    "sshd-allowed-group": (
        group_vars("hypervisors.yml", {"ssh_allow_groups_extra": "fleet"}),
        "ssh_allow_groups_extra must be a list, got str 'fleet'",
    ),
    # Inventory shape.
    "group-outside-tenants": (
        hosts(tenant_group_outside_tenants),
        "tenant group 'eau_de_paris' is not under 'tenants' in the inventory",
    ),
    "list-as-string": (
        group_vars("bastions.yml", {"firewall_ssh_sources": "admin"}),
        "firewall SSH sources must be a list, got str 'admin'",
    ),
    "opening-everything": (
        group_vars(
            "time_servers.yml", {"firewall_openings": [{"name": "x", "port": 9, "from": ["::/0"]}]}
        ),
        "source ::/0 is wider than /16",
    ),
    # A tenant without an id is said, not a traceback (the vault check reads the ids too).
    "tenant-without-id": (
        tenants(lambda d: d["site_tenants"][0].pop("id")),
        "site_tenants[0]",
    ),
    "missing-tenants-file": (
        lambda inv: (inv / "group_vars" / "all" / "tenants.yml").unlink(),
        "site_tenants is not defined: the inventory's site model belongs in ",
    ),
    "template-in-tenant-data": (
        tenant(0, name="{{ lookup('pipe', 'touch /tmp/cs-template-ran') }}"),
        "site_tenants[0].name: ",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_hostile_inventory_is_refused_by_name_before_any_host(
    lab_copy: Path,
    case: str,
) -> None:
    change, message = CASES[case]
    change(lab_copy)
    start = time.monotonic()
    rc, out = preflight(lab_copy)
    elapsed = time.monotonic() - start
    flat = " ".join(out.split())
    assert rc != 0, flat[-2000:]
    assert message in flat, flat[-3000:]
    assert "UNREACHABLE" not in out
    assert "Traceback" not in out
    assert elapsed < FAST


def test_a_template_in_tenant_data_never_runs(lab_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "template-ran"
    tenant(0, name=f"{{{{ lookup('pipe', 'touch {marker}') }}}}")(lab_copy)
    rc, out = preflight(lab_copy)
    assert rc != 0
    assert "is a template expression; tenant data is data" in " ".join(out.split())
    assert not marker.exists()


def test_public_prefixes_are_a_site_policy(lab_copy: Path) -> None:
    tenant(0, ipv4="193.51.24.0/24", gateway="193.51.24.254", resolvers=["193.51.24.1"])(lab_copy)
    rc, out = preflight(lab_copy)
    assert rc != 0
    assert "193.51.24.0/24 is public" in " ".join(out.split())
    # The same prefix once the site's policy allows public addresses (and the host moved).
    (lab_copy / "group_vars" / "all" / "policy.yml").write_text(
        "site_policy: {public_prefixes: true}\n", "utf-8"
    )

    def move(d: dict[str, Any]) -> None:
        ville = d["all"]["children"]["tenants"]["children"]["ville"]["hosts"]
        ville["ville-web01"]["site_address"] = "193.51.24.11"
        ville["ville-db01"]["site_address"] = "193.51.24.21"

    hosts(move)(lab_copy)
    tenant(0, alert_receivers=[{"webhook": "http://193.51.24.11:9095/alerts"}])(lab_copy)
    rc, out = preflight(lab_copy)
    assert rc == 0, out[-3000:]


def test_yaml_aliases_that_multiply_are_refused_fast(lab_copy: Path) -> None:
    path = lab_copy / "group_vars" / "all" / "tenants.yml"
    data = yaml.safe_load(path.read_text("utf-8"))
    data["site_tenants"][0]["services"] = "ALIAS"
    laughs = "lol0: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level, (name, previous) in enumerate(zip("bcdefghi", "abcdefgh", strict=True)):
        laughs += f"lol{level + 1}: &{name} [{', '.join(['*' + previous] * 10)}]\n"
    body = yaml.safe_dump(data, sort_keys=False).replace("services: ALIAS", "services: *i")
    path.write_text("---\n" + laughs + body, "utf-8")
    start = time.monotonic()
    rc, out = preflight(lab_copy)
    assert rc != 0
    assert "site_tenants expands to more than" in " ".join(out.split())
    assert time.monotonic() - start < FAST


def test_a_thousand_tenants_with_one_host_each_pass_within_a_minute(lab_copy: Path) -> None:
    def add_tenants(d: dict[str, Any]) -> None:
        for i in range(1000):
            d["site_tenants"].append(
                {
                    "id": f"tenant_{i:04d}",
                    "name": f"Tenant {i}",
                    "vlan": 1000 + i,
                    "ipv4": f"172.{16 + i // 256}.{i % 256}.0/24",
                    "admin_group": f"adm_t{i:04d}",
                    "backup_quota": "1G",
                    "services": [{"name": "https", "port": 443, "from": [f"tenant_{i:04d}"]}],
                }
            )

    def add_hosts(d: dict[str, Any]) -> None:
        children = d["all"]["children"]["tenants"]["children"]
        for i in range(1000):
            children[f"tenant_{i:04d}"] = {
                "hosts": {f"t{i:04d}-web01": {"site_address": f"172.{16 + i // 256}.{i % 256}.11"}}
            }

    tenants(add_tenants)(lab_copy)
    hosts(add_hosts)(lab_copy)
    make_vault(lab_copy)
    start = time.monotonic()
    rc, out = preflight(lab_copy)
    elapsed = time.monotonic() - start
    assert rc == 0, out[-3000:]
    assert "UNREACHABLE" not in out
    assert elapsed < 60, f"{elapsed:.0f} s"
