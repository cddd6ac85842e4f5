"""deploy/prometheus/alerts.yml is valid, every alert is unit-tested by alerts_test.yml (promtool test
rules: it fires, and it stays quiet), and each one points at its runbook in docs/operators.md."""

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus/alerts.yml"
RULE_TESTS = ROOT / "deploy/prometheus/alerts_test.yml"
OPERATORS = ROOT / "docs/operators.md"
RUNBOOK = "docs/operators.md#alerts"

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool is not installed (deploy/install.sh installs Debian's prometheus)",
)


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def alert_names() -> list[str]:
    return [rule["alert"] for rule in alerts()]


def rule_tests() -> list[dict[str, Any]]:
    return [
        case for test in yaml.safe_load(RULE_TESTS.read_text())["tests"] for case in test.get("alert_rule_test", [])
    ]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    result = promtool("check", "rules", str(RULES.relative_to(ROOT)))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_unit_tests_of_the_rules_pass() -> None:
    result = promtool("test", "rules", str(RULE_TESTS.relative_to(ROOT)))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_names_are_unique_and_expected() -> None:
    names = alert_names()
    assert len(names) == len(set(names)), names
    assert {
        "ZorgstroomServiceDown",
        "ZorgstroomConsumerLagGrowing",
        "ZorgstroomOutboxBacklog",
        "ZorgstroomOutboxOldestRowTooOld",
        "ZorgstroomDeadLetters",
        "ZorgstroomProjectionStale",
        "ZorgstroomHttpErrorRate",
    } <= set(names)


def test_every_alert_has_a_firing_and_a_quiet_test_case() -> None:
    cases = rule_tests()
    firing = {case["alertname"] for case in cases if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    names = set(alert_names())
    assert not names - firing, f"alerts without a case where they fire: {sorted(names - firing)}"
    assert not names - quiet, f"alerts without a case where they stay quiet: {sorted(names - quiet)}"
    assert not (firing | quiet) - names, f"test cases for alerts that do not exist: {sorted((firing | quiet) - names)}"


def test_every_alert_has_severity_summary_description_and_runbook() -> None:
    for rule in alerts():
        assert rule.get("labels", {}).get("severity") in {"critical", "warning", "info"}, rule["alert"]
        annotations = rule.get("annotations", {})
        assert annotations.get("summary") and annotations.get("description"), rule["alert"]
        assert annotations.get("runbook") == RUNBOOK, rule["alert"]


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


# Owner: this one needs docs/operators.md (written separately) with an "Alerts" section that names every
# alert in a heading or an explicit anchor. It fails, on purpose, until that document exists.
def test_operators_doc_has_a_runbook_for_every_alert() -> None:
    assert OPERATORS.is_file(), (
        "docs/operators.md does not exist yet: it must have an 'Alerts' section naming each alert"
    )
    text = OPERATORS.read_text(encoding="utf-8")
    headings = [m.group(1) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.M)]
    anchors = {_anchor(h) for h in headings} | {
        a.lower() for a in re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", text, flags=re.I)
    }
    assert RUNBOOK.split("#", 1)[1] in anchors, "docs/operators.md has no 'Alerts' heading (the runbook links #alerts)"
    missing = [name for name in alert_names() if name.lower() not in anchors and not any(name in h for h in headings)]
    assert not missing, f"docs/operators.md names no heading or anchor for: {missing}"
