"""The project's mock engine (tools/mock_engine.py) for the tests: it runs the program on the
tests' fixture stacks (tests/fixtures/stacks/), whose values the tests may know, unless a
test passes the user's (USER_STACKS), whose values it must not."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

from tools import mock_engine
from tools.mock_engine import (
    PROJECT,
    ROOT,
    SECRET_SIG,
    SECRET_SIG_KEY,
    Mocks,
    ProgramRun,
    RecordingMonitor,
    Registration,
    StackOutput,
    fake_password,
    pod_templates,
    project_file,
    run,
    stack_names,
    unwrap_secrets,
)

__all__ = [
    "FIXTURE_STACKS",
    "PROJECT",
    "ROOT",
    "SECRET_SIG",
    "SECRET_SIG_KEY",
    "USER_STACKS",
    "Mocks",
    "ProgramRun",
    "RecordingMonitor",
    "Registration",
    "StackOutput",
    "cli_config",
    "fake_password",
    "pod_templates",
    "project_file",
    "run",
    "run_main",
    "stack_file",
    "stack_names",
    "unwrap_secrets",
]

# The tests' own stacks, whose values the tests may know (tests/fixtures/README.md).
FIXTURE_STACKS = ROOT / "tests" / "fixtures" / "stacks"
# The user's stack files: tests of these assert only what holds for every valid value.
# WEBAPP_STACKS_DIR points them at copies (tests/test_stack_edits.py edits such copies).
USER_STACKS = Path(os.environ.get("WEBAPP_STACKS_DIR") or ROOT)


def stack_file(stack: str, directory: Path = FIXTURE_STACKS) -> dict[str, Any]:
    return mock_engine.stack_file(stack, directory)


def cli_config(
    stack: str,
    overrides: dict[str, str] | None = None,
    secret_overrides: dict[str, str] | None = None,
    directory: Path = FIXTURE_STACKS,
) -> tuple[dict, list]:
    return mock_engine.cli_config(stack, overrides, secret_overrides, directory)


# Runs without a monitor of the test's own, by the config the program was handed: many
# tests render the same variant, and the mocks answer a run by its config alone. Kept
# pickled, so each caller gets objects of its own, as from a run of its own.
_RENDERED: dict[str, bytes] = {}


def run_main(
    stack: str,
    overrides: dict[str, str] | None = None,
    monitor: RecordingMonitor | None = None,
    secret_overrides: dict[str, str] | None = None,
    stacks_dir: Path = FIXTURE_STACKS,
) -> ProgramRun:
    """The real `__main__.py` on the fixture stack `stack` (or the one in `stacks_dir`)."""
    if monitor is not None:
        return mock_engine.run_main(stack, overrides, monitor, secret_overrides, stacks_dir)
    config, secret_keys = cli_config(stack, overrides, secret_overrides, stacks_dir)
    key = json.dumps([stack, config, sorted(secret_keys)], sort_keys=True, default=repr)
    if key not in _RENDERED:
        run_ = mock_engine.run_main_on(stack, config, secret_keys)
        _RENDERED[key] = pickle.dumps(run_)
        return run_
    return pickle.loads(_RENDERED[key])
