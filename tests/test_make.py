"""The Makefile is the local entry point: its deploy targets need the pulumi CLI and say
so in one line when it is missing, before setting anything up."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness import ROOT


@pytest.fixture
def path_without_pulumi(tmp_path: Path) -> str:
    """A PATH holding only make, so `pulumi` cannot be found whatever the machine has."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("make", "sh"):
        found = shutil.which(tool)
        assert found, f"{tool} is needed to run the Makefile"
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


@pytest.mark.parametrize("target", ["preview", "up", "destroy", "render"])
def test_missing_pulumi_cli_is_one_line_with_the_fix(target: str, path_without_pulumi: str) -> None:
    result = subprocess.run(
        ["make", "-s", "--no-print-directory", target, "STACK=dev"],
        cwd=ROOT,
        env={**os.environ, "PATH": path_without_pulumi},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert "pulumi CLI is not installed" in lines[0]
    assert "https://www.pulumi.com/docs/install/" in lines[0]
    assert "Traceback" not in lines[0]


def test_state_defaults_to_a_git_ignored_file_backend() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi-state" in makefile
    assert ".pulumi-state/" in (ROOT / ".gitignore").read_text().splitlines()
