"""Shared fixtures: each real stack's program runs once per test session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.harness import ProgramRun, run_main  # noqa: E402

STACKS = ("dev", "prod")
_RUNS: dict[str, ProgramRun] = {}


def program_run(stack: str) -> ProgramRun:
    if stack not in _RUNS:
        _RUNS[stack] = run_main(stack)
    return _RUNS[stack]


@pytest.fixture(params=STACKS)
def stack_run(request: pytest.FixtureRequest) -> ProgramRun:
    """The real program, configured from the real `Pulumi.<stack>.yaml`."""
    return program_run(request.param)


@pytest.fixture
def dev_run() -> ProgramRun:
    return program_run("dev")


@pytest.fixture
def prod_run() -> ProgramRun:
    return program_run("prod")
