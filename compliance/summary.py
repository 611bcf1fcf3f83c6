"""One line per host from the auditors' reports written by playbooks/compliance.yml.

    python compliance/summary.py REPORT_DIR [--doc docs/compliance-latest.md]

Reads REPORT_DIR/<host>/{oscap-<profile>.xml, lynis-report.dat, lynis.log, ssh-audit.json}
and the accepted exceptions (compliance/exceptions.yml); writes REPORT_DIR/summary.txt and
summary.json and prints the lines. The bars are the project's (issue 3): 0 failing
intermediary rules besides the accepted exceptions, Lynis >= 85, ssh-audit 0 fail 0 warn.
With --doc, the block between the COMPLIANCE markers of that file is replaced.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
XCCDF = "{http://checklists.nist.gov/xccdf/1.2}"
GATING_PROFILE = "anssi_bp28_intermediary"
LYNIS_MIN = 85
MAX_EXCEPTIONS = 3
LYNIS_TEST = re.compile(r"Performing test ID (\S+)")
LYNIS_POINTS = re.compile(r"assigned partial number of hardening points \((\d+) of (\d+)\)")
BEGIN, END = "<!-- BEGIN COMPLIANCE (make compliance) -->", "<!-- END COMPLIANCE -->"


@dataclass
class Profile:
    passed: int = 0
    failed: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    score: float = 0.0

    @property
    def applicable(self) -> bool:
        return self.passed + len(self.failed) + len(self.accepted) > 0


@dataclass
class Host:
    name: str
    os: str
    profiles: dict[str, Profile]
    lynis: int | None
    ssh_fail: int
    ssh_warn: int
    lynis_lost: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        gating = self.profiles.get(GATING_PROFILE, Profile())
        return (
            not gating.failed
            and self.lynis is not None
            and self.lynis >= LYNIS_MIN
            and self.ssh_fail == 0
            and self.ssh_warn == 0
        )


def exceptions(path: Path = HERE / "exceptions.yml") -> dict[str, str]:
    """Accepted failing rules: rule id -> reason."""
    entries = yaml.safe_load(path.read_text("utf-8")) or []
    return {entry["rule"]: entry["reason"] for entry in entries}


def oscap_profile(results: Path, accepted: dict[str, str]) -> Profile:
    """Pass/fail counts and OpenSCAP's score from an XCCDF results file."""
    profile = Profile()
    root = ET.parse(results).getroot()
    test_result = next(root.iter(f"{XCCDF}TestResult"))
    for rule in test_result.iter(f"{XCCDF}rule-result"):
        outcome = rule.findtext(f"{XCCDF}result")
        rule_id = rule.get("idref", "")
        if outcome == "pass":
            profile.passed += 1
        elif outcome in {"fail", "error"}:
            (profile.accepted if rule_id in accepted else profile.failed).append(rule_id)
    score = test_result.find(f"{XCCDF}score")
    profile.score = float(score.text) if score is not None and score.text else 0.0
    return profile


def lynis_report(report: Path) -> tuple[int | None, str]:
    """Hardening index and OS name from Lynis' report file."""
    values = dict(
        line.split("=", 1) for line in report.read_text("utf-8").splitlines() if "=" in line
    )
    index = values.get("hardening_index")
    os_name = f"{values.get('os_name', '?')} {values.get('os_version', '')}".strip()
    return (int(index) if index and index.isdigit() else None), os_name


def lynis_lost_points(log: Path) -> dict[str, str]:
    """Lynis tests that did not get all their hardening points: test id -> "got/max".

    Read from Lynis' log (its report file has the index, not where points went), so a
    score under the bar says which tests to look at.
    """
    if not log.exists():
        return {}
    totals: dict[str, list[int]] = {}
    test = "?"
    for text in log.read_text("utf-8", errors="replace").splitlines():
        if found := LYNIS_TEST.search(text):
            test = found.group(1)
        elif points := LYNIS_POINTS.search(text):
            got, most = totals.setdefault(test, [0, 0])
            totals[test] = [got + int(points.group(1)), most + int(points.group(2))]
    return {test: f"{got}/{most}" for test, (got, most) in totals.items()}


def ssh_audit_findings(data: dict) -> list[tuple[str, str, str]]:
    """(kind, algorithm, "fail" or "warn") for each algorithm ssh-audit's JSON flags."""
    return [
        (kind, algorithm["algorithm"], level)
        for kind in ("kex", "key", "enc", "mac")
        for algorithm in data.get(kind, [])
        for level in ("fail", "warn")
        if algorithm.get("notes", {}).get(level)
    ]


def ssh_audit(report: Path) -> tuple[int, int]:
    """Number of algorithms ssh-audit rates fail and warn, plus CVEs counted as fails."""
    data = json.loads(report.read_text("utf-8"))
    levels = [level for _, _, level in ssh_audit_findings(data)]
    return levels.count("fail") + len(data.get("cves", [])), levels.count("warn")


def _gating_first(path: Path) -> tuple[bool, str]:
    return (GATING_PROFILE not in path.name, path.name)


def host(directory: Path, accepted: dict[str, str]) -> Host:
    profiles = {
        path.stem.removeprefix("oscap-"): oscap_profile(path, accepted)
        for path in sorted(directory.glob("oscap-*.xml"), key=_gating_first)
    }
    lynis, os_name = lynis_report(directory / "lynis-report.dat")
    ssh_fail, ssh_warn = ssh_audit(directory / "ssh-audit.json")
    lost = lynis_lost_points(directory / "lynis.log")
    return Host(directory.name, os_name, profiles, lynis, ssh_fail, ssh_warn, lost)


def line(entry: Host) -> str:
    parts = [f"{entry.name:<16} {entry.os:<10}"]
    for name, profile in entry.profiles.items():
        label = name.removeprefix("anssi_bp28_")
        if profile.applicable:
            parts.append(
                f"{label} {profile.score:5.1f}% {len(profile.failed)} fail"
                + (f" ({len(profile.accepted)} accepted)" if profile.accepted else "")
            )
        else:
            parts.append(f"{label} n/a (no content for this release)")
    parts.append(f"Lynis {entry.lynis}")
    parts.append(f"ssh-audit {entry.ssh_fail} fail {entry.ssh_warn} warn")
    parts.append("OK" if entry.ok else "BELOW BAR")
    return " | ".join(parts)


def summarise(report_dir: Path) -> list[Host]:
    accepted = exceptions()
    return [
        host(directory, accepted)
        for directory in sorted(report_dir.iterdir())
        if directory.is_dir() and (directory / "lynis-report.dat").exists()
    ]


def update_doc(readme: Path, lines: list[str]) -> None:
    text = readme.read_text("utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme}: no {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    block = "\n".join(["```", *lines, "```"])
    readme.write_text(f"{head}{BEGIN}\n{block}\n{END}{tail}", "utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report_dir", type=Path)
    parser.add_argument("--doc", type=Path)
    args = parser.parse_args(argv)
    hosts = summarise(args.report_dir)
    if not hosts:
        print(f"no host reports under {args.report_dir}", file=sys.stderr)
        return 2
    lines = [line(entry) for entry in hosts]
    (args.report_dir / "summary.txt").write_text("\n".join(lines) + "\n", "utf-8")
    payload = {
        entry.name: {**asdict(entry), "ok": entry.ok}
        | {
            "profiles": {
                k: {**asdict(v), "applicable": v.applicable} for k, v in entry.profiles.items()
            }
        }
        for entry in hosts
    }
    (args.report_dir / "summary.json").write_text(json.dumps(payload, indent=2) + "\n", "utf-8")
    if args.doc:
        update_doc(args.doc, lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
