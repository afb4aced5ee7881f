"""The scripts' `aws` through the launcher (tests/aws_launcher.py) answers as the venv's
CLI run on its own does: output, exit code, stdin, signals, user, mount namespace."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.servers import (
    VENV_BIN,
    LauncherCall,
    S3Server,
    _dead,
    aws_bin,
    aws_env,
    aws_launcher_calls,
    aws_launcher_log,
    aws_launcher_record,
    describe,
    kill_session,
    owned_dir,
    run_unprivileged,
    small_volume,
    spawn_unprivileged,
    unprivileged_ids,
)

SHIM = "through the launcher"
ON_ITS_OWN = "on its own"


@pytest.fixture
def calls(s3_server: S3Server, s3_bucket: str, tmp_path: Path) -> dict[str, dict[str, str]]:
    """The environment of a script's call, with the launcher's `aws` first on PATH or the
    venv's alone."""
    home = owned_dir(tmp_path / "home")
    base = {**aws_env(s3_server), "HOME": str(home), "LC_ALL": "C.UTF-8"}
    return {
        SHIM: {**base, "PATH": f"{aws_bin()}:{VENV_BIN}:/usr/bin:/bin"},
        ON_ITS_OWN: {**base, "PATH": f"{VENV_BIN}:/usr/bin:/bin"},
    }


def _served() -> int:
    return len(aws_launcher_record())


def _ends_since(count: int) -> list[str]:
    """How the calls started after the first `count` ended, as the launcher saw it."""
    return [call.end or "running" for call in aws_launcher_record()[count:]]


def _call_of(caller: int) -> LauncherCall:
    deadline = time.monotonic() + 20
    while not (found := [c for c in aws_launcher_record() if c.caller == caller]):
        assert time.monotonic() < deadline, "the call never reached the launcher"
        time.sleep(0.02)
    return found[0]


def _run(env: dict[str, str], script: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return run_unprivileged(["/bin/sh", "-c", script], env, timeout=60, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "script",
    [
        "aws --version",
        "aws s3api list-objects-v2 --bucket {bucket} --query 'Contents[].Key' --output text",
        "printf 'from stdin' | aws s3 cp - s3://{bucket}/piped && "
        "aws s3 cp s3://{bucket}/piped - | sha256sum",
        "aws s3 cp /nonexistent/file s3://{bucket}/x",
        "aws s3api head-object --bucket {bucket} --key missing",
        "aws s3api no-such-operation",
        "cd /tmp && umask 077 && aws s3 cp --only-show-errors s3://{bucket}/piped here && "
        "stat -c %a here && rm here",
    ],
)
def test_a_call_answers_as_the_cli_on_its_own(
    calls: dict[str, dict[str, str]], s3_server: S3Server, s3_bucket: str, script: str
) -> None:
    s3_server.put(s3_bucket, "piped", b"from stdin")
    text = script.format(bucket=s3_bucket)
    before = _served()
    via_launcher = _run(calls[SHIM], text)
    assert _served() > before, "the launcher ran none of the calls"
    on_its_own = _run(calls[ON_ITS_OWN], text)
    assert (via_launcher.returncode, via_launcher.stdout, via_launcher.stderr) == (
        on_its_own.returncode,
        on_its_own.stdout,
        on_its_own.stderr,
    ), f"{describe(via_launcher)}\n{describe(on_its_own)}"


def test_timeout_s_sigterm_ends_the_call_as_it_ends_the_cli(
    calls: dict[str, dict[str, str]], silent_server: int
) -> None:
    script = (
        f"timeout 1 aws --endpoint-url http://127.0.0.1:{silent_server} "
        "s3api list-buckets; echo exit $?"
    )
    for how in (SHIM, ON_ITS_OWN):
        before = _served()
        started = time.monotonic()
        result = _run(calls[how], script)
        assert result.stdout == "exit 124\n", describe(result)
        assert time.monotonic() - started < 10
        if how == SHIM:
            assert _ends_since(before) == ["signal 15"], "SIGTERM was not passed on"


def test_a_signal_the_caller_ignores_stays_ignored(
    calls: dict[str, dict[str, str]], silent_server: int
) -> None:
    """A shell runs a background job with SIGINT ignored: `kill -INT` leaves it be, as it
    leaves the CLI run on its own, until SIGTERM ends it."""
    script = (
        f"aws --endpoint-url http://127.0.0.1:{silent_server} s3api list-buckets & job=$!; "
        "sleep 1; kill -INT $job; sleep 0.5; kill -TERM $job; wait $job; echo exit $?"
    )
    for how in (SHIM, ON_ITS_OWN):
        result = _run({**calls[how]}, f"trap '' INT; {script}")
        assert result.stdout == "exit 143\n", f"{how}: {describe(result)}"


def test_a_caller_slow_to_ask_holds_up_no_other_call(calls: dict[str, dict[str, str]]) -> None:
    before = _served()
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stalled.connect(str(aws_launcher_log().with_name("socket")))
    try:
        started = time.monotonic()
        result = _run(calls[SHIM], "aws --version")
        assert result.returncode == 0, describe(result)
        assert time.monotonic() - started < 5
        assert _ends_since(before) == ["running", "exit 0"], "the stalled caller, then the call"
    finally:
        stalled.close()


def test_a_caller_without_its_stdout_runs_the_cli_on_its_own(
    calls: dict[str, dict[str, str]],
) -> None:
    """The CLI's own answer to a closed stdout, since the launcher's would differ."""
    before = _served()
    via_shim = _run(calls[SHIM], "aws --version >&-; echo exit $? >&2")
    on_its_own = _run(calls[ON_ITS_OWN], "aws --version >&-; echo exit $? >&2")
    assert via_shim.stderr == on_its_own.stderr, describe(via_shim)
    assert _served() == before


def test_a_killed_caller_takes_its_call_with_it(
    calls: dict[str, dict[str, str]], silent_server: int, tmp_path: Path
) -> None:
    """The caller alone killed: its call ends by itself. Its session killed (a container's
    end, a timeout): kill_session kills and waits for the call too."""
    logs = owned_dir(tmp_path / "logs")
    command = [
        "aws",
        "--endpoint-url",
        f"http://127.0.0.1:{silent_server}",
        "s3api",
        "list-buckets",
    ]

    def start_call() -> tuple[subprocess.Popen[bytes], LauncherCall]:
        out = os.open(logs / "out", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        caller = spawn_unprivileged(command, calls[SHIM], stdout=out, stderr=out)
        os.close(out)
        return caller, _call_of(caller.pid)

    caller, call = start_call()
    os.kill(caller.pid, signal.SIGKILL)
    caller.wait()
    deadline = time.monotonic() + 2
    while not _dead(call.pid):
        assert time.monotonic() < deadline, "the call outlived its caller"
        time.sleep(0.01)
    # What kill_session also waits for: the calls of the processes it killed.
    caller, call = start_call()
    assert aws_launcher_calls({caller.pid}) == [call.pid]
    kill_session(caller.pid)
    caller.wait()
    assert aws_launcher_calls({caller.pid}) == [] and _dead(call.pid)


def test_the_call_runs_as_the_caller_and_sees_its_mounts(
    calls: dict[str, dict[str, str]], s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    """A volume mounted after the launcher started, as a test's backup volume is: what
    the call writes lands there, owned by the user the scripts run as."""
    data = os.urandom(50_000)
    s3_server.put(s3_bucket, "dump", data)
    with small_volume(tmp_path / "volume", "1m") as volume:
        before = _served()
        download = _run(calls[SHIM], f"aws s3 cp s3://{s3_bucket}/dump {volume}/copy")
        assert download.returncode == 0, describe(download)
        assert _served() == before + 1
        copy = volume / "copy"
        assert hashlib.sha256(copy.read_bytes()).digest() == hashlib.sha256(data).digest()
        assert (copy.stat().st_uid, copy.stat().st_gid) == unprivileged_ids()
