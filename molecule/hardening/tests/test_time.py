"""Role time (in the hardening scenario, which converges it with the rest of the baseline):
a server without upstream and its client, in containers (chronyd -x)."""

import time

import pytest

SERVER = "hardening-debian12"


def _name(host):
    return host.backend.get_pytest_id().split("://")[-1]


def test_chrony_runs_without_touching_the_clock(host):
    assert host.service("chrony").is_running
    assert host.service("chrony").is_enabled
    assert 'DAEMON_OPTS="-F 0 -x"' in host.file("/etc/default/chrony").content_string


def test_no_public_pool_is_configured(host):
    conf = host.file("/etc/chrony/chrony.conf").content_string
    assert "pool " not in conf
    servers = [line.split()[1] for line in conf.splitlines() if line.startswith("server ")]
    assert servers == ([] if _name(host) == SERVER else [SERVER])


def test_only_the_server_serves_ntp(host):
    listening = host.socket("udp://0.0.0.0:123").is_listening
    assert listening is (_name(host) == SERVER)


def test_client_synchronises_to_the_site_server(host):
    if _name(host) == SERVER:
        tracking = host.check_output("chronyc -n tracking")
        assert "Stratum         : 8" in tracking
        return
    deadline = time.monotonic() + 90
    sources = ""
    while time.monotonic() < deadline:
        sources = host.check_output("chronyc -n sources")
        if any(line.startswith("^*") for line in sources.splitlines()):
            break
        time.sleep(3)
    else:
        pytest.fail(f"client never selected its server:\n{sources}")
    assert "Stratum         : 9" in host.check_output("chronyc -n tracking")
