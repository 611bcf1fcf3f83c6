"""Roles logging, log_server and audit, proven with real messages over TLS.

logging-server is the log server (Debian 12); logging-alpha (Debian 13) is a host of tenant
alpha, logging-bravo (Debian 12) a host of tenant bravo. The log server files by sender
address: /srv/log/<tenant>/<host>/syslog-<day>.log and audit-<day>.log.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml

from testkit import traffic
from testkit.scenario import extra_inventory, playbook

ROOT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
SERVER, ALPHA, BRAVO = "logging-server", "logging-alpha", "logging-bravo"
TENANT = {ALPHA: "alpha", BRAVO: "bravo"}
STORE = "/srv/log"
# The log server's table of networks over their quota (role log_server, cite-log-quota).
QUOTA_TABLE = "/var/lib/cite-log-quota/blocked.json"
# The client's rsyslogs: the main one (the host's files, auditd's records) and the journal's
# forwarder to the log server (role logging: cite-log-forward@<server>).
FORWARDER = f"cite-log-forward@{SERVER}.service"
CLIENT_RSYSLOGS = f"rsyslog.service {FORWARDER}"
# The window role logging gives librelp (omrelp windowSize): the most a crash can lose.
RELP_WINDOW = yaml.safe_load((ROOT / "roles/logging/defaults/main.yml").read_text("utf-8"))[
    "logging_relp_window"
]


def sh(container: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return traffic.in_container(container, command, timeout=timeout)


def ok(container: str, command: str, timeout: float = 60) -> str:
    return traffic.checked(container, command, timeout=timeout)


def files_with(token: str) -> list[str]:
    """Files of the log store that hold ``token`` now."""
    found = sh(SERVER, f"grep -rlF -- {token} {STORE} || true").stdout
    return sorted(found.split())


def wait_for(token: str, seconds: float = 30) -> list[str]:
    """Files of the log store holding ``token``, once some do or ``seconds`` pass."""
    return sorted(traffic.logged_lines(lambda: "\n".join(files_with(token)), seconds=seconds))


def address(container: str) -> str:
    return ok(container, "hostname -I").split()[0]


def token() -> str:
    return f"cite-{uuid.uuid4().hex[:16]}"


@pytest.mark.parametrize("client", [ALPHA, BRAVO])
def test_a_message_lands_in_its_tenants_directory_and_nowhere_else(client: str) -> None:
    mark = token()
    ok(client, f"logger -t cite-test 'dossier {mark}'")
    found = wait_for(mark)
    assert len(found) == 1, found
    assert re.fullmatch(
        rf"{STORE}/{TENANT[client]}/{client}/syslog-\d{{4}}-\d\d-\d\d\.log", found[0]
    )
    line = ok(SERVER, f"grep -F {mark} {found[0]}")
    assert client in line
    assert "cite-test" in line


def test_the_log_servers_own_messages_are_filed_under_its_network() -> None:
    mark = token()
    ok(SERVER, f"logger -t cite-test {mark}")
    found = wait_for(mark)
    assert len(found) == 1, found
    assert found[0].startswith(f"{STORE}/infra/{SERVER}/syslog-")


@pytest.mark.parametrize("client", [ALPHA, BRAVO])
def test_every_host_sends_a_mark_line_even_when_quiet(client: str) -> None:
    """immark (logging_mark_interval, 5 s here): the log server hears from each host."""
    marks = f"cat {STORE}/{TENANT[client]}/{client}/syslog-*.log | grep -c -- '-- MARK --' || true"
    before = int(sh(SERVER, marks).stdout.strip() or 0)

    def two_more() -> bool:
        return int(sh(SERVER, marks).stdout.strip() or 0) >= before + 2

    traffic.until(two_more, 30, f"two more marks from {client}")


def test_tenant_admins_read_their_own_tenants_logs_only() -> None:
    mark = token()
    ok(ALPHA, f"logger -t cite-test {mark}")
    assert wait_for(mark)
    ok(BRAVO, "logger -t cite-test bravo-only")
    assert wait_for("bravo-only")
    ok(
        SERVER,
        "id alice || useradd -m -G adm_alpha alice; id bruno || useradd -m -G adm_bravo bruno",
    )
    alpha_dir, bravo_dir = f"{STORE}/alpha", f"{STORE}/bravo"
    assert ok(SERVER, f"stat -c '%a %U %G' {alpha_dir} {bravo_dir}").split("\n")[:2] == [
        "2750 root adm_alpha",
        "2750 root adm_bravo",
    ]
    assert ok(SERVER, f"stat -c '%a %G' {alpha_dir}/{ALPHA}/syslog-*.log").split()[:2] == [
        "640",
        "adm_alpha",
    ]
    read = f"runuser -u alice -- sh -c 'cat {alpha_dir}/{ALPHA}/syslog-*.log'"
    assert mark in ok(SERVER, read)
    for user, other in (("alice", bravo_dir), ("bruno", alpha_dir)):
        refused = sh(SERVER, f"runuser -u {user} -- ls {other}")
        assert refused.returncode != 0
        assert "Permission denied" in refused.stderr


def test_only_a_tls_listener_is_open_and_plain_text_is_not_filed() -> None:
    listening = ok(SERVER, "ss -Hlntu")
    ports = sorted({line.split()[4].rsplit(":", 1)[1] for line in listening.splitlines()})
    assert "6514" in ports
    assert "514" not in ports
    assert "601" not in ports
    rsyslog = ok(SERVER, "ss -Hlntup | grep rsyslogd || true")
    assert {line.split()[4].rsplit(":", 1)[1] for line in rsyslog.splitlines()} == {"6514"}
    mark = token()
    plain = f"import socket; s = socket.create_connection(('{address(SERVER)}', 6514)); "
    plain += f"s.sendall(b'<13>Nov 24 00:00:00 {ALPHA} cite-test: {mark}\\n'); s.close()"
    sh(ALPHA, f'python3 -c "{plain}"')
    assert wait_for(mark, seconds=5) == []


def relp_send(client: str, mark: str, credentials: str) -> None:
    """Open a RELP session in TLS to the server with openssl s_client and send one message."""
    offer = "relp_version=0\nrelp_software=cite-test\ncommands=syslog"
    message = f"<13>1 - {client} cite-test - - - {mark}"
    session = f"1 open {len(offer)} {offer}\n2 syslog {len(message)} {message}\n3 close 0\n"
    sh(
        client,
        f"echo {base64.b64encode(session.encode()).decode()} | base64 -d | timeout 10 "
        f"openssl s_client -quiet -connect {address(SERVER)}:6514 -CAfile /etc/cite/pki/ca.crt "
        f"{credentials}",
    )


def test_the_server_files_only_clients_with_a_certificate_of_the_site_ca() -> None:
    unauthenticated, self_signed, signed = token(), token(), token()
    relp_send(ALPHA, unauthenticated, "")
    ok(
        ALPHA,
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -days 1 "
        "-subj /CN=logging-alpha -keyout /tmp/rogue.key -out /tmp/rogue.crt 2>/dev/null",
    )
    relp_send(ALPHA, self_signed, "-cert /tmp/rogue.crt -key /tmp/rogue.key")
    relp_send(ALPHA, signed, "-cert /etc/cite/pki/host.crt -key /etc/cite/pki/host.key")
    found = wait_for(signed)
    assert len(found) == 1, found
    assert found[0].startswith(f"{STORE}/alpha/{ALPHA}/")
    assert files_with(unauthenticated) == []
    assert files_with(self_signed) == []


@pytest.mark.parametrize("client", [ALPHA, BRAVO])
def test_forwarding_requires_tls_and_checks_the_servers_certificate(client: str) -> None:
    """Both ways to the log server: the journal's forwarder (its own rsyslog, no queue: the
    journal is its queue) and the main rsyslog's disk-queued forwarding of its other inputs
    (auditd's file). TLS with the server's name checked, or nothing."""
    forward = ok(client, "cat /etc/rsyslog.d/20-cite-forward.conf")
    journal = ok(client, f"cat /etc/cite-log-forward/{SERVER}.conf")
    assert 'if $inputname != "imjournal" then call cite_forward' in forward
    for config, settings in (
        (forward, ['queue.type="Disk"', 'queue.saveOnShutdown="on"']),  # synced to disk
        (journal, []),
    ):
        actions = re.findall(r"action\(type=\"om\w+\".*?\)\n", config, re.S)
        assert len(actions) == 1
        for setting in (
            'type="omrelp"',
            'tls="on"',
            'tls.authMode="name"',
            f'tls.permittedPeer=["{SERVER}"]',
            'tls.caCert="/etc/cite/pki/ca.crt"',
            'port="6514"',
            'action.resumeRetryCount="-1"',
            f'windowSize="{RELP_WINDOW}"',
            *settings,
        ):
            assert setting in actions[0]
    assert 'main_queue(queue.type="Direct")' in journal
    assert "queue.type" not in journal.split("main_queue", 1)[1].split(")", 1)[1]
    # No other forwarding anywhere in rsyslog's configurations (no plain omfwd).
    anywhere = ok(client, "cat /etc/rsyslog.conf /etc/rsyslog.d/*.conf /etc/cite-log-forward/*")
    assert re.findall(r"type=\"om(?:fwd|relp)\"", anywhere) == ['type="omrelp"'] * 2
    # The certificates: the host's own key, a certificate of the site's CA for its name.
    assert ok(client, "stat -c %a /etc/cite/pki/host.key").strip() == "600"
    assert "OK" in ok(client, "openssl verify -CAfile /etc/cite/pki/ca.crt /etc/cite/pki/host.crt")
    text = ok(client, "openssl x509 -noout -text -in /etc/cite/pki/host.crt")
    assert f"DNS:{client}" in text
    assert f"IP Address:{address(client)}" in text


def test_a_thousand_messages_logged_while_the_server_is_down_all_arrive_once() -> None:
    run = uuid.uuid4().hex[:12]
    log = f'for i in $(seq {{}} {{}}); do logger -t cite-queue "run={run} n=$i"; done'
    # syslog.socket too: a local message would start rsyslog again through it.
    ok(SERVER, "systemctl stop syslog.socket rsyslog.service")
    try:
        ok(ALPHA, log.format(1, 500), timeout=120)
        time.sleep(5)  # the forwarder notices the server is gone and waits (the journal keeps)
        ok(ALPHA, log.format(501, 1000), timeout=120)
        time.sleep(2)
        assert files_with(f"run={run}") == []  # nothing reached the (stopped) server
        waiting = ok(ALPHA, f"journalctl -u {FORWARDER} --no-pager -n 50")
        assert "suspended (module 'omrelp')" in waiting
        # While it waits, it sends nothing, not even the marks logged every 5 s: its counter
        # stays flat (the monitoring's LogServerNotHeard stays on for a long outage).
        before = _forwarded(ALPHA)
        time.sleep(12)  # two records of its counters (every 5 s), two marks
        during = _forwarded(ALPHA)
        assert len(during) >= len(before) + 2, "no new record of its counters"
        assert during[-1] == during[-3], f"it sent while its server was down: {during[-3:]}"
    finally:
        ok(SERVER, "systemctl start syslog.socket rsyslog.service")
    _arrived(run, 1000, seconds=120)
    time.sleep(3)  # anything duplicated would come now
    numbers = _numbers(run)
    missing = sorted(set(range(1, 1001)) - set(numbers))
    assert not missing, f"{len(missing)} lost, e.g. {missing[:10]}"
    assert len(numbers) == 1000, "some messages arrived twice"


def _numbers(run: str) -> list[int]:
    path = f"{STORE}/alpha/{ALPHA}/syslog-*.log"
    lines = sh(SERVER, f"cat {path} | grep -F 'run={run} '").stdout.splitlines()
    return [int(m.group(1)) for line in lines if (m := re.search(r"n=(\d+)$", line))]


def _arrived(run: str, total: int, seconds: float) -> list[int]:
    """The numbers of ``run``'s lines filed for alpha, once 1 to ``total`` are all there or
    ``seconds`` have passed."""
    deadline, numbers = time.monotonic() + seconds, _numbers(run)
    while time.monotonic() < deadline and len(set(numbers)) < total:
        time.sleep(2)
        numbers = _numbers(run)
    return numbers


def crash(container: str) -> None:
    """Every rsyslogd of the host killed at once (SIGKILL: no clean shutdown, nothing saved),
    as a power cut would, then started again as at boot."""
    ok(container, f"systemctl kill --signal=KILL {CLIENT_RSYSLOGS}")
    ok(container, f"systemctl reset-failed {CLIENT_RSYSLOGS}; systemctl start {CLIENT_RSYSLOGS}")


def test_a_forwarder_killed_during_an_outage_loses_nothing() -> None:
    """Every rsyslogd on the client is killed (SIGKILL) twice while the log server is down,
    with messages read from the journal and handed to librelp, never acknowledged: every
    line arrives once the server is back. Duplicates stay few: at most the journal entries
    replayed at each start (twice RELP's window) plus those read since the cursor was last
    saved (logging_journal_persist_interval), per crash.

    What this proves: omrelp counts a message as sent once librelp holds it, and librelp
    holds it in memory until the server acknowledges it (rsyslog issues #2610, #3820); the
    forwarder has no queue (the journal is its queue) and moves its cursor back before each
    start, so what librelp held is read from the journal again."""
    run, total = uuid.uuid4().hex[:12], 600
    log = f'for i in $(seq {{}} {{}}); do logger -t cite-crash "run={run} n=$i"; done'
    ok(SERVER, "systemctl stop syslog.socket rsyslog.service")
    try:
        ok(ALPHA, log.format(1, 300), timeout=120)
        time.sleep(4)  # read from the journal, handed to librelp, not acknowledged
        crash(ALPHA)
        ok(ALPHA, log.format(301, total), timeout=120)
        time.sleep(4)
        crash(ALPHA)
        assert files_with(f"run={run}") == []
    finally:
        ok(SERVER, "systemctl start syslog.socket rsyslog.service")
    _arrived(run, total, seconds=150)
    time.sleep(3)  # anything duplicated would come now
    numbers = _numbers(run)
    missing = sorted(set(range(1, total + 1)) - set(numbers))
    assert missing == [], f"{len(missing)} lost: {missing[:20]}"
    duplicates = len(numbers) - total
    print(f"crash test: {total} messages, {duplicates} duplicates after 2 crashes")
    assert duplicates <= 2 * (2 * RELP_WINDOW + 100), f"{duplicates} duplicates"


def test_the_forwarder_resends_what_it_held_when_stopped_during_an_outage() -> None:
    """A forwarder restarted while the server is away (a converge's certificate renewal, a
    sysadmin) loses nothing either: whatever librelp or the suspended action held goes with
    the old process, and the new one's start replays it (the unit's log says how far back
    its cursor moved)."""
    run, total = uuid.uuid4().hex[:12], 50
    log = f'for i in $(seq 1 {total}); do logger -t cite-stop "run={run} n=$i"; done'
    ok(SERVER, "systemctl stop syslog.socket rsyslog.service")
    try:
        ok(ALPHA, log, timeout=60)
        time.sleep(4)
        ok(ALPHA, f"systemctl restart {FORWARDER}")
    finally:
        ok(SERVER, "systemctl start syslog.socket rsyslog.service")
    assert "journal cursor moved" in ok(ALPHA, f"journalctl -q -u {FORWARDER} -n 30 -o cat")
    numbers = _arrived(run, total, seconds=90)
    assert sorted(set(numbers)) == list(range(1, total + 1))


def test_a_crash_with_the_server_up_duplicates_at_most_the_replay() -> None:
    """The price of the replay: a crash while the server is up sends the last entries again.
    The duplicates are counted and stay under the replay (twice RELP's window) plus the
    entries read since the cursor was saved (one, in this scenario)."""
    run, total = uuid.uuid4().hex[:12], 100
    ok(ALPHA, f'for i in $(seq 1 {total}); do logger -t cite-dup "run={run} n=$i"; done')
    numbers = _arrived(run, total, seconds=60)
    assert sorted(numbers) == list(range(1, total + 1)), "not all arrived, or twice, before"
    crash(ALPHA)
    time.sleep(8)  # the forwarder is back (RestartSec) and has replayed
    numbers = _numbers(run)
    duplicates = len(numbers) - total
    print(f"crash with the server up: {duplicates} duplicates of {total} messages")
    assert sorted(set(numbers)) == list(range(1, total + 1))
    assert duplicates <= 2 * RELP_WINDOW + 1, f"{duplicates} duplicates"


def _store_metric(name: str, network: str) -> str:
    text = sh(SERVER, "cat /var/lib/prometheus/node-exporter/cite_log_store.prom").stdout
    found = re.search(rf'^{name}{{store_network="{network}"}} (\S+)$', text, re.M)
    return found.group(1) if found else ""


def _forwarded(container: str) -> list[int]:
    """The messages the journal's forwarder has sent, from its impstats records, oldest first."""
    path = f"/var/log/rsyslog-stats-journal-{SERVER}.json"
    text = sh(container, f"grep -h '\"cite_journal_' {path}").stdout
    return [int(m) for m in re.findall(r'"processed": (\d+)', text)]


def test_a_tenant_that_floods_is_bounded_and_the_others_still_log() -> None:
    """bravo may take 2 MB on the log server (log_quota): it sends about 3 MB; once over,
    its new messages are discarded and counted, alpha's still arrive; when the space is
    freed, bravo's messages are filed again."""
    stats_before = _forwarded(BRAVO)
    try:
        flood = "head -c 2200000 /dev/urandom | base64 -w 700 | logger -t cite-flood"
        ok(BRAVO, flood, timeout=180)
        deadline = time.monotonic() + 90
        while _store_metric("cite_log_store_blocked", "bravo") != "1":
            assert time.monotonic() < deadline, "bravo was never blocked"
            time.sleep(2)
        assert _store_metric("cite_log_store_blocked", "alpha") == "0"
        # rsyslog was signalled (the unit did not fail), and re-read the table.
        assert ok(SERVER, "systemctl show -P Result cite-log-quota.service").strip() == "success"
        used = int(_store_metric("cite_log_store_bytes", "bravo"))
        assert used >= 2_000_000
        late_bravo, late_alpha = token(), token()
        ok(BRAVO, f"logger {late_bravo}")
        ok(ALPHA, f"logger {late_alpha}")
        assert wait_for(late_alpha), "alpha's logs must still arrive"
        time.sleep(5)
        assert files_with(late_bravo) == [], "a tenant over its quota is still filed"
        # The discarded messages are counted (rsyslog's dyn_stats, in its impstats file).
        deadline = time.monotonic() + 30
        stats = "tail -c 20000 /var/log/rsyslog-stats.json"
        while '"cite_log_discarded"' not in sh(SERVER, stats).stdout:
            assert time.monotonic() < deadline, "no discard counter in impstats"
            time.sleep(2)
    finally:
        # Space freed (retention, or a sysadmin), even when a check above failed, until the
        # flood is over: bravo's forwarder sent no more than a few lines (marks, not the
        # flood's thousands) between its last two counters' records, both newer than the
        # flood, and no flood line was filed since the last freeing (CI once saw the flood,
        # still being read, refill the quota and block bravo again).
        free = f"find {STORE}/bravo -type f -delete && systemctl start cite-log-quota.service"
        deadline = time.monotonic() + 300
        ok(SERVER, free)
        while time.monotonic() < deadline:
            time.sleep(8)
            stats = _forwarded(BRAVO)
            drained = len(stats) > len(stats_before) + 1 and stats[-1] - stats[-2] < 20
            if drained and files_with("cite-flood") == []:
                break
            ok(SERVER, free)
        ok(SERVER, free)
    # Once under its quota, bravo is filed again.
    assert _store_metric("cite_log_store_blocked", "bravo") == "0"
    again = token()
    ok(BRAVO, f"logger {again}")
    assert wait_for(again), "bravo's logs are not filed again once under its quota"


def test_a_log_file_deleted_by_hand_is_written_again() -> None:
    """A sysadmin frees space by deleting a file rsyslog writes: rsyslog would go on writing
    the deleted file (its descriptor stays open), and the network's new logs would be lost.
    The quota timer's next run sees it and makes rsyslog reopen its files (SIGHUP)."""
    first = token()
    ok(ALPHA, f"logger {first}")
    (path,) = wait_for(first)
    ok(SERVER, f"rm -f -- {path}")
    held = f"ls -l /proc/$(systemctl show -P MainPID rsyslog.service)/fd | grep -F {path}"
    # rsyslog holds the deleted file until the timer's next run (every 3 s here,
    # log_server_quota_interval) signals it; what came in before went to the deleted file
    # (at most one interval's worth). Not asserted: on a loaded machine the run may come
    # before this test looks (CI saw it once).
    said = f"signalled to reopen: {path} (deleted)"
    journal = "journalctl -u cite-log-quota.service --no-pager -n 200"
    traffic.until(lambda: said in ok(SERVER, journal), 60, "the quota job's reopen", every=2)
    later = token()
    ok(ALPHA, f"logger {later}")
    assert wait_for(later) == [path], "logs still go to the deleted file"
    assert "(deleted)" not in sh(SERVER, held).stdout


def test_auditd_records_go_to_the_tenants_audit_file_and_not_to_local_syslog() -> None:
    # auditd cannot run in a container (the kernel audit belongs to the host): the test writes
    # a record to auditd's log the way auditd does, and follows it.
    mark = token()
    record = f"type=USER_CMD msg=audit(1764000000.123:42): pid=1 uid=0 auid=1000 msg='cmd={mark}'"
    ok(ALPHA, f'mkdir -p /var/log/audit && echo "{record}" >> /var/log/audit/audit.log')
    found = wait_for(mark)
    assert len(found) == 1, found
    assert re.fullmatch(rf"{STORE}/alpha/{ALPHA}/audit-[\d-]+\.log", found[0])
    assert sh(ALPHA, f"grep -rF {mark} /var/log/syslog /var/log/messages").returncode != 0


def test_auditd_has_bp028_rules_and_bounded_logs() -> None:
    for client in (ALPHA, BRAVO):
        rules = ok(client, "cat /etc/audit/rules.d/50-cite-bp028.rules")
        assert "-w /etc/shadow -p wa -k identity" in rules
        usermod = "-a always,exit -F path=/usr/sbin/usermod -F perm=x -F auid>=1000 -F auid!=unset"
        assert f"{usermod} -k privileged" in rules
        assert "-k time-change" in rules
        assert "-k modules" in rules
        assert rules.rstrip().endswith("-e 2")
        assert "name_format = HOSTNAME" in ok(client, "cat /etc/audit/auditd.conf")


def test_journald_is_persistent_bounded_and_read_by_rsyslog() -> None:
    for client in (ALPHA, BRAVO):
        conf = ok(client, "cat /etc/systemd/journald.conf.d/zz-cite.conf")
        for setting in (
            "Storage=persistent",
            "SystemMaxUse=1G",
            "MaxRetentionSec=1month",
            "ForwardToSyslog=no",
        ):
            assert setting in conf
        journal_input = ok(client, "cat /etc/rsyslog.d/05-cite-journal.conf")
        assert 'module(load="imjournal" stateFile="cite-imjournal.state"' in journal_input
        mark = token()
        ok(client, f"logger -t cite-test {mark}")
        time.sleep(1)
        assert mark in ok(client, f"journalctl -q --no-pager -t cite-test -g {mark}")
        assert ok(client, "ls /var/log/journal/").strip()  # on disk, not in /run


def test_retention_comes_from_the_inventory_and_old_files_are_deleted() -> None:
    unit = ok(SERVER, "systemctl cat cite-log-retention.service")
    assert f"find {STORE}/alpha -mindepth 2 -type f -mtime +729 -delete" in unit  # 730 days
    assert f"find {STORE}/bravo -mindepth 2 -type f -mtime +29 -delete" in unit  # 30 days
    assert f"find {STORE}/infra -mindepth 2 -type f -mtime +364 -delete" in unit  # default
    files = {
        f"{STORE}/bravo/{BRAVO}/syslog-old.log": (40, False),
        f"{STORE}/bravo/retired-host/syslog-old.log": (40, False),
        f"{STORE}/bravo/{BRAVO}/syslog-recent.log": (20, True),
        f"{STORE}/alpha/{ALPHA}/syslog-old.log": (400, True),
        f"{STORE}/alpha/{ALPHA}/syslog-older.log": (800, False),
    }
    for path, (days, _) in files.items():
        ok(SERVER, f"mkdir -p $(dirname {path}) && rm -f {path}.gz && echo kept-or-not > {path}")
        ok(SERVER, f"touch -d '{days} days ago' {path}")
    ok(SERVER, "systemctl start cite-log-retention.service", timeout=120)
    for path, (_, kept) in files.items():
        present = sh(SERVER, f"test -e {path} || test -e {path}.gz").returncode == 0
        assert present == kept, path
    # Past days are compressed, keeping their time; an emptied host directory goes.
    assert sh(SERVER, f"test -e {STORE}/bravo/{BRAVO}/syslog-recent.log.gz").returncode == 0
    assert sh(SERVER, f"test -d {STORE}/bravo/retired-host").returncode != 0


def test_a_missing_ca_passphrase_stops_before_any_change() -> None:
    converge = ROOT / "molecule" / "logging" / "converge.yml"
    result = playbook(converge, "-e", '{"vault_pki_ca_passphrase": ""}')
    assert result.returncode != 0
    assert "vault_pki_ca_passphrase is missing" in result.stdout
    assert re.search(rf"{SERVER} *: ok=\d+ *changed=0 ", result.stdout)


def test_check_mode_on_the_converged_hosts_changes_nothing() -> None:
    result = playbook(ROOT / "molecule" / "logging" / "converge.yml", "--check")
    assert result.returncode == 0, result.stdout[-3000:]
    for host in (SERVER, ALPHA, BRAVO):
        assert re.search(rf"{host} *: ok=\d+ *changed=0 ", result.stdout), host


@pytest.mark.parametrize("name", ["../../etc", "evil/host", "a b"])
def test_a_hostile_host_name_never_reaches_the_log_store_paths(tmp_path: Path, name: str) -> None:
    """The role run alone on a host list that did not go through the site preflight: the
    name is refused where it would become a path, and the server's files stay as they were."""
    files = "/etc/rsyslog.d/cite-log-hosts.json /etc/rsyslog.d/25-cite-log-server.conf"
    before = sh(SERVER, f"sha256sum {files}").stdout
    extra = extra_inventory(tmp_path, {name: {"site_address": "10.230.10.99"}}, "alpha")
    converge = ROOT / "molecule" / "logging" / "converge.yml"
    result = playbook(converge, "-i", str(extra), "--limit", SERVER)
    assert result.returncode != 0
    assert "is not a DNS label" in result.stdout
    assert sh(SERVER, f"sha256sum {files}").stdout == before


def _diagnosis() -> str:
    """What a failed delivery test prints: bravo's forwarding action and connections, the
    server's listener, quota table and rsyslog journal."""
    commands = {
        BRAVO: "tail -n 4 /var/log/rsyslog-stats.json | grep cite_forward; "
        "ss -tni state all '( dport = 6514 )'; journalctl -u rsyslog -n 15 --no-pager",
        SERVER: f"ss -tlni; cat {QUOTA_TABLE}*; journalctl -u rsyslog -n 25 --no-pager",
    }
    return "\n".join(
        f"--- {where}: {command}\n{sh(where, command).stdout}"
        for where, command in commands.items()
    )


def _certificate(container: str) -> dict[str, str]:
    text = ok(container, "openssl x509 -noout -serial -enddate -in /etc/cite/pki/host.crt")
    return dict(line.split("=", 1) for line in text.splitlines())


def _converge(*extra: str) -> None:
    result = playbook(ROOT / "molecule" / "logging" / "converge.yml", *extra)
    assert result.returncode == 0, result.stdout[-3000:]


def test_a_certificate_near_its_end_is_renewed_and_logs_still_flow() -> None:
    before = _certificate(ALPHA)
    # A margin longer than the current certificate's life (397 days): it is near its end,
    # so the run renews it, here with a three-day one.
    short = json.dumps({"pki_cert_valid_days": 3, "pki_renew_days": 400})
    _converge("--limit", f"{ALPHA},{SERVER}", "-e", short)
    renewed = _certificate(ALPHA)
    assert renewed["serial"] != before["serial"]
    mark = token()
    ok(ALPHA, f"logger {mark}")
    assert wait_for(mark), "no message with the renewed certificate"
    # Back to a normal certificate: the three-day one is within the renewal margin.
    _converge("--limit", f"{ALPHA},{SERVER}")
    assert _certificate(ALPHA)["serial"] != renewed["serial"]


def test_a_rekeyed_hosts_old_certificate_is_refused() -> None:
    ok(ALPHA, "cp /etc/cite/pki/host.key /root/old.key && cp /etc/cite/pki/host.crt /root/old.crt")
    _converge("--limit", f"{ALPHA},{SERVER}", "-e", json.dumps({"pki_rekey_hosts": [ALPHA]}))
    assert (
        ok(ALPHA, "cmp -s /root/old.key /etc/cite/pki/host.key || echo differ").strip() == "differ"
    )
    old, new = token(), token()
    relp_send(ALPHA, old, "-cert /root/old.crt -key /root/old.key")
    relp_send(ALPHA, new, "-cert /etc/cite/pki/host.crt -key /etc/cite/pki/host.key")
    assert wait_for(new), "the new certificate is not accepted"
    assert files_with(old) == [], "the old certificate (key feared stolen) is still accepted"


def test_a_restarted_log_server_brings_a_stale_quota_table_up_to_date() -> None:
    """rsyslog loads the quota table as the last quota run left it. With the timer stopped
    and a stale table that blocks bravo, a restart alone (its ExecStartPost starts a quota
    run) must let bravo's logs be filed again."""
    table = QUOTA_TABLE
    stale = json.dumps(
        {"version": 1, "nomatch": "", "type": "string", "table": [{"index": "bravo", "value": "1"}]}
    )
    ok(SERVER, "systemctl stop cite-log-quota.timer")
    try:
        ok(SERVER, f"printf '%s\\n' '{stale}' | tee {table} > {table}.signalled")
        ok(SERVER, "systemctl restart rsyslog")
        mark = token()
        ok(BRAVO, f"logger {mark}")
        assert wait_for(mark, seconds=90), f"bravo is still blocked\n{_diagnosis()}"
        assert "bravo" not in ok(SERVER, f"cat {table}")
    finally:
        ok(SERVER, "systemctl start cite-log-quota.timer")


def test_a_host_removed_from_the_inventory_delivers_no_more_logs(tmp_path: Path) -> None:
    source = Path(os.environ["MOLECULE_INVENTORY_FILE"])
    copy = tmp_path / "inventory"
    shutil.copytree(source.parent, copy)
    inventory_file = copy / source.name
    data = yaml.safe_load(inventory_file.read_text("utf-8"))

    def drop(node: dict) -> None:
        (node.get("hosts") or {}).pop(ALPHA, None)
        for child in (node.get("children") or {}).values():
            drop(child or {})

    for group in data.values():  # Molecule writes groups beside all, not under it
        drop(group or {})
    inventory_file.write_text(yaml.safe_dump(data), "utf-8")
    converge = ROOT / "molecule" / "logging" / "converge.yml"
    removed = token()
    try:
        # The copy's CA is the scenario's (role pki keeps it next to the inventory).
        pki = json.dumps({"pki_dir": str(source.parent.parent / "pki" / source.parent.name)})
        result = playbook(
            converge, "-i", str(copy), "--limit", SERVER, "-e", pki, scenario_inventory=False
        )
        assert result.returncode == 0, result.stdout[-3000:]
        # bravo within its quota after the flood test (the table rsyslog reloaded is current).
        ok(SERVER, "systemctl start cite-log-quota.service")
        assert _store_metric("cite_log_store_blocked", "bravo") == "0"
        ok(ALPHA, f"logger {removed}")
        kept = token()
        ok(BRAVO, f"logger {kept}")
        # The restart broke bravo's session: rsyslog resumes it with a growing interval
        # after the earlier tests' outages, hence the long wait.
        assert wait_for(kept, seconds=120), f"bravo's logs should still arrive\n{_diagnosis()}"
        assert files_with(removed) == []
    finally:
        _converge("--limit", SERVER)
    # Back in the inventory: what it logged meanwhile waited in its queue, nothing is lost.
    assert wait_for(removed, seconds=90)
