"""compliance/summary.py reads the auditors' reports right and applies the bars."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compliance import summary

RESULTS = """<?xml version="1.0"?>
<Benchmark xmlns="http://checklists.nist.gov/xccdf/1.2"><TestResult>
<rule-result idref="r_pass"><result>pass</result></rule-result>
<rule-result idref="r_na"><result>notapplicable</result></rule-result>
<rule-result idref="r_fail"><result>fail</result></rule-result>
<rule-result idref="r_accepted"><result>fail</result></rule-result>
<score>87.5</score></TestResult></Benchmark>
"""


def _host_dir(tmp_path: Path, *, lynis: int, ssh_warn: bool, fail: bool) -> Path:
    directory = tmp_path / "web01"
    directory.mkdir()
    results = RESULTS if fail else RESULTS.replace('"r_fail"><result>fail', '"r_fail"><result>pass')
    (directory / f"oscap-{summary.GATING_PROFILE}.xml").write_text(results)
    (directory / "lynis-report.dat").write_text(
        f"os_name=Debian\nos_version=12\nhardening_index={lynis}\n"
    )
    notes = {"warn": ["no post-quantum"]} if ssh_warn else {"info": ["ok"]}
    (directory / "ssh-audit.json").write_text(
        json.dumps({"kex": [{"algorithm": "curve25519-sha256", "notes": notes}], "cves": []})
    )
    return directory


def test_exceptions_are_data_with_reasons_and_at_most_three() -> None:
    accepted = summary.exceptions()
    assert 0 < len(accepted) <= summary.MAX_EXCEPTIONS
    assert all(rule.startswith("xccdf_org.ssgproject.content_rule_") for rule in accepted)
    assert all(len(reason) > 40 for reason in accepted.values())


def test_oscap_results_are_counted_and_exceptions_set_apart(tmp_path: Path) -> None:
    directory = _host_dir(tmp_path, lynis=90, ssh_warn=False, fail=True)
    profile = summary.oscap_profile(
        directory / f"oscap-{summary.GATING_PROFILE}.xml", {"r_accepted": "reason"}
    )
    assert (profile.passed, profile.failed, profile.accepted) == (1, ["r_fail"], ["r_accepted"])
    assert profile.score == pytest.approx(87.5)


@pytest.mark.parametrize(
    ("lynis", "ssh_warn", "fail", "ok"),
    [
        (85, False, False, True),
        (84, False, False, False),
        (90, True, False, False),
        (90, False, True, False),
    ],
)
def test_a_host_is_ok_only_when_every_bar_is_met(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lynis: int,
    ssh_warn: bool,
    fail: bool,
    ok: bool,
) -> None:
    monkeypatch.setattr(summary, "exceptions", lambda: {"r_accepted": "reason"})
    _host_dir(tmp_path, lynis=lynis, ssh_warn=ssh_warn, fail=fail)
    (entry,) = summary.summarise(tmp_path)
    assert entry.ok is ok
    assert ("OK" if ok else "BELOW BAR") == summary.line(entry).rsplit(" | ", 1)[1]


def test_readme_block_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summary, "exceptions", lambda: {"r_accepted": "reason"})
    _host_dir(tmp_path, lynis=88, ssh_warn=False, fail=False)
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{summary.BEGIN}\nold\n{summary.END}\nrest\n")
    assert summary.main([str(tmp_path), "--doc", str(readme)]) == 0
    text = readme.read_text()
    assert "old" not in text
    assert "web01" in text
    assert "Lynis 88" in text
    assert text.endswith("rest\n")


def test_ssh_audit_findings_name_each_flagged_algorithm() -> None:
    report = {
        "kex": [
            {"algorithm": "curve25519-sha256", "notes": {"warn": ["not post-quantum"]}},
            {"algorithm": "sntrup761x25519-sha512", "notes": {"info": ["ok"]}},
        ],
        "mac": [{"algorithm": "hmac-sha1", "notes": {"fail": ["broken"], "warn": ["weak"]}}],
    }
    assert summary.ssh_audit_findings(report) == [
        ("kex", "curve25519-sha256", "warn"),
        ("mac", "hmac-sha1", "fail"),
        ("mac", "hmac-sha1", "warn"),
    ]


LYNIS_LOG = """\
2026-11-23 23:36:41 Performing test ID DEB-0810 (Checking for apt-listbugs)
2026-11-23 23:36:41 Hardening: assigned partial number of hardening points (0 of 2). Cur
2026-11-23 23:36:58 Performing test ID SSH-7408 (Check SSH specific defined options)
2026-11-23 23:36:58 Hardening: assigned maximum number of hardening points for this item (3).
2026-11-23 23:36:58 Hardening: assigned partial number of hardening points (0 of 3). Cur
2026-11-23 23:36:58 Hardening: assigned partial number of hardening points (1 of 3). Cur
2026-11-23 23:37:12 Performing test ID HRDN-7220 (Check if one or more compilers are installed)
2026-11-23 23:37:12 Hardening: assigned maximum number of hardening points for this item (3).
"""


def test_lynis_log_says_which_tests_lost_points(tmp_path: Path) -> None:
    log = tmp_path / "lynis.log"
    log.write_text(LYNIS_LOG)
    assert summary.lynis_lost_points(log) == {"DEB-0810": "0/2", "SSH-7408": "1/6"}
    assert summary.lynis_lost_points(tmp_path / "missing.log") == {}
