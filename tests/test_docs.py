"""The README is what a newcomer follows: it must match what the project does."""

from __future__ import annotations

import re

from tests.harness import ROOT, project_file, stack_file
from tests.test_kubernetes_schema import NEWEST_SUPPORTED, OLDEST_SUPPORTED

README = (ROOT / "README.md").read_text()


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return '""' if value == "" else str(value)


def test_readme_config_reference_matches_pulumi_yaml_and_stack_files() -> None:
    """Every declared key has a row with its type, default and the dev/prod values."""
    rows = {
        match.group(1): match.groups()[1:]
        for match in re.finditer(
            r"^\| `webapp:(\w+)` \| (\w+) \| `([^`]*)` \| `?([^`|]*?)`? \| `?([^`|]*?)`? \|",
            README,
            re.M,
        )
    }
    stacks = {stack: stack_file(stack).get("config") or {} for stack in ("dev", "prod")}
    for key, spec in (project_file()["config"] or {}).items():
        assert key in rows, f"README lacks webapp:{key}"
        expected = [
            spec["type"],
            _cell(spec["default"]),
            *(
                _cell(stacks[stack][f"webapp:{key}"]) if f"webapp:{key}" in stacks[stack] else ""
                for stack in ("dev", "prod")
            ),
        ]
        assert list(rows[key]) == expected, key


def test_ci_runs_the_readme_test_command() -> None:
    assert "```sh\nmake test\n```" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)


def test_readme_names_the_supported_kubernetes_versions() -> None:
    assert f"{OLDEST_SUPPORTED} to {NEWEST_SUPPORTED}" in README
