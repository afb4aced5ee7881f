"""The integration tests in tests/integration run only when asked (WEBAPP_IT=1): GitHub's
runner image ships a `pulumi`, so a CLI on PATH must not start them. Checked by running
pytest on that folder in a child process with a controlled PATH and environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.harness import ROOT

GATES = ("WEBAPP_IT", "WEBAPP_IT_CLUSTER")


def _run_integration(env_changes: dict[str, str], path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in GATES}
    env.update(env_changes)
    env["PATH"] = str(path)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/integration",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _fake_pulumi(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pulumi"
    # Fails loudly if anything runs it: being on PATH must not be enough to start a test.
    fake.write_text("#!/bin/sh\necho 'the fake pulumi was run' >&2\nexit 99\n")
    fake.chmod(0o755)
    return bin_dir


def test_a_pulumi_on_path_does_not_start_them(tmp_path: Path) -> None:
    result = _run_integration({}, _fake_pulumi(tmp_path))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert " passed" not in output and "failed" not in output and "error" not in output
    skips = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    assert skips, output
    for line in skips:
        assert "set WEBAPP_IT=1" in line, line


def test_asked_without_a_cli_is_an_error_that_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _run_integration({"WEBAPP_IT": "1"}, empty)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "WEBAPP_IT=1 asks for the integration tests, but the pulumi CLI is not on PATH" in output


def test_the_cluster_part_says_what_to_set(tmp_path: Path) -> None:
    result = _run_integration({"WEBAPP_IT": "1"}, _fake_pulumi(tmp_path))
    output = result.stdout + result.stderr
    cluster_skips = [
        line
        for line in output.splitlines()
        if line.startswith("SKIPPED") and "WEBAPP_IT_CLUSTER=1" in line
    ]
    assert len(cluster_skips) == 1, output
