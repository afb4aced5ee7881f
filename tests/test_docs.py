"""The README is what a newcomer follows: it must match what the project does."""

from __future__ import annotations

import re

from tests.harness import ROOT, project_file
from tests.test_kubernetes_schema import NEWEST_SUPPORTED, OLDEST_SUPPORTED

README = (ROOT / "README.md").read_text()


def test_readme_documents_every_config_key_with_its_default() -> None:
    rows = {
        match.group(1): match.group(2)
        for match in re.finditer(r"^\| `webapp:(\w+)` \| \w+ \| `([^`]*)` \|", README, re.M)
    }
    for key, spec in (project_file()["config"] or {}).items():
        assert key in rows, f"README lacks webapp:{key}"
        default = spec["default"]
        assert rows[key] in (str(default), f'"{default}"' if default == "" else str(default)), key


def test_ci_runs_the_readme_test_command() -> None:
    assert "```sh\nmake test\n```" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)


def test_readme_names_the_supported_kubernetes_versions() -> None:
    assert f"{OLDEST_SUPPORTED} to {NEWEST_SUPPORTED}" in README
