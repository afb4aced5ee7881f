"""Prometheus' own rule checker and unit test runner, `promtool`, for the rendered rules.

Debian's `prometheus` package ships it (/usr/bin/promtool), and .ci/run installs that
package where promtool is missing. Without it the rule tests skip, saying how to get it;
under CI they fail (tests/servers.py: missing()).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from tests.servers import missing

GET_PROMTOOL = (
    "install Debian's `prometheus` package, which ships it (`apt-get install "
    "--no-install-recommends prometheus`, as .ci/run does), or put promtool on PATH"
)


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        missing("promtool (Prometheus' rule test runner)", GET_PROMTOOL)
    return found


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def write_rules(directory: Path, groups: list[dict], name: str = "rules.yaml") -> Path:
    """A Prometheus rule file holding `groups`, as the operator writes one per
    PrometheusRule."""
    path = directory / name
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def run_alert_tests(
    directory: Path, groups: list[dict], tests: list[dict]
) -> subprocess.CompletedProcess[str]:
    """`promtool test rules` of the test groups `tests` against the rendered `groups`,
    holding only the rules of the alerts the tests check: promtool evaluates every rule in
    its files at every step of every test group (40 hours of steps for a backup alert),
    and an alert's state depends on its own rule alone (there are no recording rules)."""
    checked = {check["alertname"] for test in tests for check in test["alert_rule_test"]}
    assert not any("record" in rule for group in groups for rule in group["rules"])
    kept = [
        {**group, "rules": [rule for rule in group["rules"] if rule.get("alert") in checked]}
        for group in groups
    ]
    rules_file = write_rules(directory, [group for group in kept if group["rules"]])
    document = {"rule_files": [rules_file.name], "evaluation_interval": "1m", "tests": tests}
    (directory / "tests.yaml").write_text(yaml.safe_dump(document, sort_keys=False, width=1000))
    return run("test", "rules", "tests.yaml", cwd=directory)
