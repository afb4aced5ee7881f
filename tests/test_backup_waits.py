"""Every wait of the backup and restore Jobs is bounded, by a variable the rendered
containers carry, and docs/backups-and-restore.md states the bound the program sets.

How the scripts behave at those bounds is in test_database_scripts.py (a server that
never answers, a held volume lock).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from components.database.statefulset.waits import (
    BACKUP_WAITS,
    RESTORE_GRACE_SECONDS,
    RESTORE_WAITS,
    S3_WAITS,
)
from tests.harness import ProgramRun, run_main

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "backups-and-restore.md"
CRONJOB = "kubernetes:batch/v1:CronJob"
JOB = "kubernetes:batch/v1:Job"
ROW = re.compile(r"^\| (?P<wait>[^|]+) \| (?P<bounds>[^|]+) \| (?P<variables>[^|]+) \|$")


def _documented() -> dict[str, set[int]]:
    """Variable -> the bounds in seconds the page's table gives it."""
    text = DOC.read_text()
    table = text[text.index("## Every wait is bounded") :].split("\n## ", 1)[0]
    found: dict[str, set[int]] = {}
    for line in table.splitlines():
        match = ROW.match(line)
        if not match or match["wait"] in ("Wait", "---"):
            continue
        variables = re.findall(r"`([A-Z0-9_]+)`", match["variables"])
        bounds = [int(n) for n in re.findall(r"(\d+) s\b", match["bounds"])]
        if len(variables) == 1:
            found.setdefault(variables[0], set()).update(bounds)
        else:
            assert len(variables) == len(bounds), line
            for variable, bound in zip(variables, bounds, strict=True):
                found.setdefault(variable, set()).add(bound)
    return found


def test_the_page_gives_every_bound_the_program_sets() -> None:
    documented = _documented()
    programmed: dict[str, set[int]] = {}
    for waits in (BACKUP_WAITS, RESTORE_WAITS, S3_WAITS):
        for variable, seconds in waits.items():
            if variable != "RESTORE_DEADLINE_SECONDS":  # the Job's deadline, told apart
                programmed.setdefault(variable, set()).add(seconds)
    assert documented == programmed


@pytest.fixture(scope="module")
def restore_run() -> ProgramRun:
    return run_main(
        "dev",
        {
            "webapp:backupBucket": "s3://team-backups/dev",
            "webapp:restoreFrom": "s3://team-backups/dev/app-20261125T030000Z.dump",
        },
        secret_overrides={
            "webapp:backupS3AccessKeyId": "AKIAEXAMPLEKEYID0001",
            "webapp:backupS3SecretAccessKey": "wJalrXUtnFEMIexampleSecretAccessKey0001",
        },
    )


def _env(container: dict[str, Any]) -> dict[str, str | None]:
    return {item["name"]: item.get("value") for item in container.get("env") or []}


def test_each_step_carries_the_bounds_of_its_waits(restore_run: ProgramRun) -> None:
    (cronjob,) = restore_run.of_type(CRONJOB)
    (job,) = restore_run.of_type(JOB)
    backup = cronjob.manifest()["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    restore = job.manifest()["spec"]["template"]["spec"]
    steps = {
        c["name"]: _env(c)
        for spec in (backup, restore)
        for c in (spec.get("initContainers") or []) + spec["containers"]
    }
    expected = {
        "dump": BACKUP_WAITS,
        "upload": S3_WAITS,
        "download": S3_WAITS,
        "restore": RESTORE_WAITS,
    }
    for step, waits in expected.items():
        assert {key: steps[step].get(key) for key in waits} == {
            key: str(value) for key, value in waits.items()
        }, step


def test_a_stopped_restore_has_the_time_its_bounds_need(restore_run: ProgramRun) -> None:
    """After SIGTERM the restore ends its sessions (twice), asks about its transaction and
    sets the connection limit back, each step bounded; the pod's grace period holds them
    all before SIGKILL, and the page says how long it is."""
    (job,) = restore_run.of_type(JOB)
    grace = job.manifest()["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace == RESTORE_GRACE_SECONDS
    stop, connect = RESTORE_WAITS["STOP_SECONDS"], RESTORE_WAITS["PGCONNECT_TIMEOUT"]
    assert grace >= 4 * (stop + stop + connect + 5)
    assert f"(`terminationGracePeriodSeconds`, {grace} s)" in DOC.read_text()


def _spoken(seconds: int) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds} s"


def test_the_readme_states_the_bounds_the_program_sets() -> None:
    readme = (ROOT / "README.md").read_text()
    said = (
        f"a connection {_spoken(BACKUP_WAITS['PGCONNECT_TIMEOUT'])}, a statement "
        f"{_spoken(BACKUP_WAITS['STATEMENT_SECONDS'])}, a dump "
        f"{_spoken(BACKUP_WAITS['DUMP_SECONDS'])}, a restore "
        f"{_spoken(RESTORE_WAITS['RESTORE_SECONDS'])}"
    )
    assert said in " ".join(readme.split()), said
