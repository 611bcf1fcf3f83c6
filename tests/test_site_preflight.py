"""The one-pass preflight (sitemodel/preflight.py, plugins/action/site_preflight.py): every
host's plan checked in one Python call, problems aggregated across hosts, tenant data
never evaluated nor expanded without bound."""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from conftest import BIN, ROOT, run
from sitemodel.preflight import HostInput, check_site
from testkit.plugins import load

preflight_action = load("action", "site_preflight")
MODEL = yaml.safe_load((ROOT / "inventory/lab/group_vars/all/tenants.yml").read_text("utf-8"))
TENANTS, SHARED = MODEL["site_tenants"], MODEL["site_shared_networks"]
CONTROLS = {"sysctl": True, "usbguard": True}


def host(address: str, *groups: str, **values: object) -> HostInput:
    defaults: dict[str, object] = {
        "ssh_sources": ["admin"],
        "icmp_sources": ["admin"],
        "apt_mirror": "http://mirror.example/debian",
        "controls": CONTROLS,
        "waivers": {},
    }
    return HostInput(address=address, groups=("all", *groups), **{**defaults, **values})


def ville(n: int, **values: object) -> dict[str, HostInput]:
    return {
        f"ville-web{i:03d}": host(f"10.210.10.{10 + i}", "tenants", "ville", **values)
        for i in range(n)
    }


def test_a_consistent_site_has_no_problem() -> None:
    hosts = {"bastion01": host("10.210.0.10", "bastions"), **ville(3)}
    assert check_site(TENANTS, SHARED, hosts) == []


def test_one_problem_on_many_hosts_is_one_message_naming_some_hosts_and_a_count() -> None:
    found = check_site(
        TENANTS, SHARED, ville(8, openings=[{"name": "x", "port": 1, "from": ["nope"]}])
    )
    assert len(found) == 1
    assert found[0].startswith("8 hosts (ville-web000, ville-web001, ville-web002, ville-web003, ")
    assert "and 3 more" in found[0]
    assert "site opening 'x': unknown source 'nope'" in found[0]


def test_a_source_list_given_as_a_string_is_named_not_a_traceback() -> None:
    found = check_site(TENANTS, SHARED, ville(1, ssh_sources="admin"))
    assert found == ["host 'ville-web000': firewall SSH sources must be a list, got str 'admin'"]


def test_waivers_and_the_mirror_are_checked_per_host() -> None:
    hosts = {
        **ville(1, controls={"sysctl": False, "usbguard": True}, waivers={}),
        "ville-db01": host("10.210.10.21", "tenants", "ville", apt_mirror=""),
    }
    found = check_site(TENANTS, SHARED, hosts)
    assert "host 'ville-db01': site_apt_mirror is not set in the inventory" in found
    assert any("ville-web000" in f and "turned off without a reason" in f for f in found)


def test_a_model_error_stops_before_the_plans() -> None:
    tenants = [dict(TENANTS[0], vlan=99999), *TENANTS[1:]]
    found = check_site(tenants, SHARED, ville(2, ssh_sources=["nope"]))
    assert found[0] == "tenant 'ville': vlan 99999 is outside 1-4094"
    assert not [f for f in found if "firewall" in f]


def test_plans_are_computed_once_per_distinct_input(monkeypatch: object) -> None:
    import sitemodel.preflight as module

    calls = []
    real = module.plan

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "plan", counting)  # type: ignore[attr-defined]
    assert check_site(TENANTS, SHARED, ville(200)) == []
    assert calls == ["ville"]


def test_template_expressions_in_tenant_data_are_refused_unevaluated() -> None:
    tenants = [dict(TENANTS[0], name="{{ lookup('pipe', 'touch /tmp/pwned') }}"), *TENANTS[1:]]
    found = preflight_action.tenant_data_problems(tenants, "site_tenants")
    assert len(found) == 1
    assert found[0].startswith("site_tenants[0].name: ")
    assert "is a template expression" in found[0]


def test_yaml_aliases_that_multiply_are_refused_fast() -> None:
    # "Billion laughs": nine levels of ten references to the level below.
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        text += f"{level}: &{level} [{', '.join(['*' + previous] * 10)}]\n"
    text += "site_tenants: [{id: ville, services: *i}]\n"
    data = yaml.safe_load(text)
    start = time.monotonic()
    found = preflight_action.tenant_data_problems(data["site_tenants"], "site_tenants")
    assert time.monotonic() - start < 1
    assert found == [
        f"site_tenants expands to more than {preflight_action.MAX_NODES} values "
        "(YAML aliases that multiply?): refused"
    ]


def test_a_modest_anchor_reused_is_accepted() -> None:
    services = [{"name": "https", "port": 443, "from": ["ville"]}]
    assert preflight_action.tenant_data_problems([{"services": services}] * 4, "site_tenants") == []


def test_two_inventories_at_once_are_refused_before_any_host(lab_copy: Path) -> None:
    lab = lab_copy
    result = run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            str(lab),
            "-i",
            str(ROOT / "inventory/production"),
            "playbooks/preflight.yml",
        ]
    )
    out = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert "one inventory at a time" in out
    assert "UNREACHABLE" not in out


def test_the_paris_export_is_checked_once_for_the_site_not_once_per_host(
    tmp_path: Path,
) -> None:
    """Every preflight task, argument validation included, reports once for 352 hosts: a
    per-host task there costs about 60 ms per host (3.5 minutes for the whole site)."""
    from bench.preflight import paris_inventory

    inventory = tmp_path / "paris"
    hosts = paris_inventory(0.1, inventory)
    assert hosts > 300
    result = run([str(BIN / "ansible-playbook"), "-i", str(inventory), "playbooks/preflight.yml"])
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    per_task: dict[str, int] = {}
    task = ""
    for line in out.splitlines():
        if line.startswith("TASK ["):
            task = line
        elif line.startswith(("ok: [", "changed: [", "skipping: [")):
            per_task[task] = per_task.get(task, 0) + 1
    assert len(per_task) >= 3, out[-3000:]
    assert max(per_task.values()) == 1, {t: n for t, n in per_task.items() if n > 1}
