"""Role monitoring_agent's cite-node-metrics, run on the controller against sample inputs:
rsyslog's impstats lines and the firewall's counters become the metrics the alerts read."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import jinja2
import pytest

from conftest import ROOT

TEMPLATE = ROOT / "roles" / "monitoring_agent" / "templates" / "cite-node-metrics.j2"


def script(tmp_path: Path, stats: Path) -> ModuleType:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["to_json"] = json.dumps
    text = env.from_string(TEMPLATE.read_text("utf-8")).render(
        ansible_managed="test",
        monitoring_agent_certificates=[str(tmp_path / "absent.crt")],
        monitoring_agent_rsyslog_stats=str(stats),
    )
    path = tmp_path / "cite_node_metrics.py"
    path.write_text(text, "utf-8")
    spec = importlib.util.spec_from_file_location("cite_node_metrics", path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


IMPSTATS = [
    {"name": "cite_forward_logs01", "origin": "core.action", "processed": 10, "suspended": 1},
    {
        "name": "cite_forward_logs01",
        "origin": "core.action",
        "processed": 12,
        "suspended": 3,
    },
    {"name": "cite_forward_logs01 queue", "origin": "core.queue", "size": 42},
    {"name": "main Q", "origin": "core.queue", "size": 0},
    {"name": "cite_log_discarded", "origin": "dynstats.bucket", "values": {"bravo": 7}},
]


def write_impstats(path: Path, records: list[dict[str, Any]]) -> None:
    """impstats' file: a date, then each record as JSON; the first line read may be cut."""
    lines = [f"Mon Nov 30 12:00:00 2026: {json.dumps(r)}" for r in records]
    path.write_text("first line may be cut\n" + "\n".join(lines) + "\n", "utf-8")


def rsyslog_metrics(tmp_path: Path, stats: Path) -> str:
    module = script(tmp_path, stats)
    metrics = module.Metrics()
    module.rsyslog(metrics)
    return "\n".join(metrics.lines)


def test_rsyslog_queues_suspensions_and_discards(tmp_path: Path) -> None:
    stats = tmp_path / "rsyslog-stats.json"
    write_impstats(stats, IMPSTATS)
    text = rsyslog_metrics(tmp_path, stats)
    assert 'cite_rsyslog_queue_size{queue="cite_forward_logs01 queue"} 42' in text
    # The latest record of each action wins: 3, not 1.
    assert 'cite_rsyslog_action_suspended_total{action="cite_forward_logs01"} 3' in text
    assert 'cite_rsyslog_action_processed_total{action="cite_forward_logs01"} 12' in text
    assert 'cite_rsyslog_dynstats_total{bucket="cite_log_discarded",key="bravo"} 7' in text


def test_the_journal_forwarders_suspensions_come_from_their_own_files(tmp_path: Path) -> None:
    """Role logging's forwarders (one rsyslog per log server) write their counters beside the
    main rsyslog's file: their actions' suspensions are read; their direct main queue, whose
    name is the main rsyslog's too, is not."""
    stats = tmp_path / "rsyslog-stats.json"
    main = [{"name": "main Q", "origin": "core.queue", "size": 5}]
    forwarder = [
        {"name": "cite_journal_logs01", "origin": "core.action", "suspended": 4},
        {"name": "main Q", "origin": "core.queue", "size": 0},
    ]
    # The forwarders' files are read even before the main rsyslog has written its own.
    write_impstats(tmp_path / "rsyslog-stats-journal-logs01.json", forwarder)
    assert 'action="cite_journal_logs01"} 4' in rsyslog_metrics(tmp_path, stats)
    write_impstats(stats, main)
    write_impstats(tmp_path / "rsyslog-stats-journal-logs01.json", forwarder)
    write_impstats(
        tmp_path / "rsyslog-stats-other.json",
        [{"name": "x", "origin": "core.action", "suspended": 9}],
    )
    text = rsyslog_metrics(tmp_path, stats)
    assert 'cite_rsyslog_action_suspended_total{action="cite_journal_logs01"} 4' in text
    assert 'cite_rsyslog_queue_size{queue="main Q"} 5' in text
    assert 'action="x"' not in text


def test_firewall_denials_per_source_tenant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = script(tmp_path, tmp_path / "none.json")

    def rule(comment: str, packets: int) -> dict[str, Any]:
        return {
            "rule": {"comment": comment, "expr": [{"counter": {"packets": packets, "bytes": 1}}]}
        }

    listing = {"nftables": [rule("tenant aphp", 5), rule("tenant aphp", 2), rule("other", 9),
                            rule("ssh", 100), {"table": {}}]}  # fmt: skip
    monkeypatch.setattr(module, "run", lambda argv: json.dumps(listing))
    metrics = module.Metrics()
    module.firewall(metrics)
    text = "\n".join(metrics.lines)
    assert 'cite_firewall_denied_packets_total{source_tenant="aphp"} 7' in text
    assert 'cite_firewall_denied_packets_total{source_tenant="other"} 9' in text
    assert "ssh" not in text


def test_a_source_that_fails_is_counted_and_the_file_still_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = script(tmp_path, tmp_path / "none.json")

    def missing(argv: list[str]) -> str:
        raise FileNotFoundError(argv[0])

    monkeypatch.setattr(module, "run", missing)
    out = tmp_path / "cite_node.prom"
    # chronyc and nft are not on this controller: those sources fail, the file is written.
    assert module.main(str(out)) == 0
    text = out.read_text("utf-8")
    errors = re.search(r"^cite_node_metrics_errors (\d+)$", text, re.M)
    assert errors, text
    # Certificates absent and no impstats file are not errors; chronyc and nft failing are:
    # two sources failed, both counted.
    assert int(errors.group(1)) == 2
