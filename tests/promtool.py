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
