"""The commands `make check` gives as fixes, run as a user runs them: through the real CLI
on a stack of its file backend (no cluster). After them the check finds nothing wrong,
so a fix neither loops (the same value written again) nor is refused by the CLI's flags
(`--path` with a value that looks like a flag or a number, `--type`, `--secret`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.e2e.engine import ROOT, engine_env

TOOL = ROOT / "tools" / "check_stack.py"
FIXTURE = ROOT / "tests" / "fixtures" / "stacks" / "Pulumi.dev.yaml"
# Values a user types in as the sentence says (none is shown back).
BAD_LINES = [
    "  webapp:args:",
    "    - --port",
    "    - 8080",
    "  webapp:egress: 203.0.113.0/24:443",
    "  webapp:protectData: yes",
]
# Checked once the CLI accepts the file's types: the program's own sentences.
BAD_VALUES_LINES = [
    "  webapp:backupBucket: s3://my-backups/dev",
    "  webapp:backupS3AccessKeyId: AKIAE2EEXAMPLE",
    "  webapp:backupS3SecretAccessKey: e2e-in-clear",
]
LOCAL_HINT = re.compile(r" \(on a local stack of make, add --config-file [^)]*\)")
PLACEHOLDER = re.compile(r"<(?:new )?value>")


def _check(project: Path) -> subprocess.CompletedProcess[str]:
    """The check on the stack file the CLI keeps, without the passphrase's salt the CLI
    wrote into it (the check refuses a salt in a tracked file, rightly)."""
    scratch = project / "checked"
    scratch.mkdir(exist_ok=True)
    text = (project / "Pulumi.dev.yaml").read_text()
    (scratch / "Pulumi.dev.yaml").write_text(
        "".join(line for line in text.splitlines(True) if not line.startswith("encryptionsalt"))
    )
    return subprocess.run(
        [sys.executable, str(TOOL), "dev", "--stacks-dir", str(scratch)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _fixes(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 1, result.stdout + result.stderr
    found = re.findall(r"fix it with: (pulumi .*)$", result.stdout, re.MULTILINE)
    assert found, result.stdout
    return [PLACEHOLDER.sub("e2e-value", LOCAL_HINT.sub("", fix)) for fix in found]


def _run_fixes(fixes: list[str], project: Path, env: dict[str, str]) -> None:
    for fix in fixes:
        done = subprocess.run(
            ["bash", "-c", fix], cwd=project, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"{fix}\n{done.stdout}{done.stderr}"


def test_each_fix_the_check_gives_works_with_the_cli(work: Path, bin_dir: Path | None) -> None:
    project = work / "check-fixes"
    project.mkdir()
    (project / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    state, home = work / "check-fixes-state", work / "check-fixes-home"
    state.mkdir()
    home.mkdir()
    given = engine_env(bin_dir, state, work / "no-kubeconfig", None if bin_dir is None else home)
    env = {**os.environ, **given}
    init = subprocess.run(
        ["pulumi", "stack", "init", "dev", "--non-interactive"],
        cwd=project, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    salt = (project / "Pulumi.dev.yaml").read_text()
    config = [line for line in FIXTURE.read_text().splitlines() if "protectData" not in line]
    (project / "Pulumi.dev.yaml").write_text(
        salt + "\n".join([*config, *BAD_LINES, *BAD_VALUES_LINES]) + "\n"
    )
    # The CLI's types first: list items, a list, a boolean.
    type_fixes = _fixes(_check(project))
    assert len(type_fixes) == 3, type_fixes
    _run_fixes(type_fixes, project, env)
    # Then the program's: access keys in plaintext, and one secretEnv value without
    # --secret beside one with it.
    for command in (
        "pulumi config set --stack dev --secret --path 'webapp:secretEnv.API_KEY' e2e-key",
        "pulumi config set --stack dev --plaintext --path 'webapp:secretEnv.TOKEN' e2e-token",
    ):
        _run_fixes([command], project, env)
    value_fixes = _fixes(_check(project))
    assert len(value_fixes) == 3, value_fixes
    _run_fixes(value_fixes, project, env)
    result = _check(project)
    assert result.returncode == 0, result.stdout + result.stderr
    text = (project / "Pulumi.dev.yaml").read_text()
    assert "e2e-in-clear" not in text and "e2e-token" not in text and "AKIAE2E" not in text
    # What was meant: `yes` is true, and 8080 the text of an argument.
    config = yaml.safe_load(text)["config"]
    assert config["webapp:protectData"] == "true"
    assert config["webapp:args"] == ["--port", "8080"]
    assert config["webapp:egress"] == ["203.0.113.0/24:443"]
