"""PostgreSQL's log on the container's stdout, proven with a real server: the rendered
init container's script prepares the log directory, then the server starts with exactly
the rendered container arguments (paths pointed at this machine), its stdout a pipe
owned by the server's user as a container runtime gives it (runc hands a container's
stdio pipes to its user), and every line that comes out must be JSON: slow statements,
connections, lock waits, and the start-up hook's own lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from components.database.statefulset.server_logs import LOG_DIRECTORY, jsonlog_files
from tests.harness import ProgramRun, run_main
from tests.pods import RenderedPod, post_start_script, relocate, script
from tests.servers import (
    PostgresFactory,
    PostgresServer,
    describe,
    owned_dir,
    run_unprivileged,
    spawn_unprivileged,
    unprivileged_ids,
)

STATEFULSET = "kubernetes:apps/v1:StatefulSet"
SOCKET_DIR = "/var/run/postgresql"
PGDATA_IN_POD = "/var/lib/postgresql/data/pgdata"


@dataclass
class Stdout:
    """The lines a process writes to a pipe, read as they come so it never blocks."""

    read_end: int
    lines: list[str] = field(default_factory=list)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        def pump() -> None:
            with os.fdopen(self.read_end, "r", encoding="utf-8", errors="replace") as pipe:
                for line in pipe:
                    self.lines.append(line.rstrip("\n"))

        self._thread = threading.Thread(target=pump, daemon=True)
        self._thread.start()

    def wait_for(self, found: Callable[[dict[str, Any]], bool], timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in self.records():
                if found(record):
                    return record
            time.sleep(0.05)
        raise AssertionError("no such log line; stdout was:\n" + "\n".join(self.lines[-40:]))

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.lines)]

    def close(self, timeout: float = 30) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


@dataclass
class LoggingServer:
    server: PostgresServer
    stdout: Stdout
    log_directory: Path
    pod: RenderedPod
    volumes: dict[str, Path]


def _server_args(pod: RenderedPod, places: dict[str, Path | str]) -> list[str]:
    """The container's arguments after `postgres`, with in-cluster paths moved here."""
    args = pod.container("postgres")["args"]
    assert args[0] == "postgres" and len(args) % 2 == 1, args
    moved = []
    for flag, setting in zip(args[1::2], args[2::2], strict=True):
        assert flag == "-c", args
        name, _, value = setting.partition("=")
        moved += ["-c", f"{name}={relocate({'v': value}, places)['v']}"]
    return moved


@contextlib.contextmanager
def logging_server(
    rendered: ProgramRun, postgres_factory: PostgresFactory, tmp_path: Path
) -> Iterator[LoggingServer]:
    pod = RenderedPod.of(rendered, rendered.one(STATEFULSET, "webapp-db-statefulset"))
    container = pod.container("postgres")
    volumes = pod.write_volumes(container, owned_dir(tmp_path / "pod"))
    log_directory = owned_dir(tmp_path / "log")
    # The data directory and settings the tests' servers need (port, socket); stopped,
    # to be started again the container's way.
    server = postgres_factory()
    server.query("CREATE DATABASE app", user="postgres")
    server.stop()

    prepare = pod.container("prepare-logs")
    env = relocate(pod.env(prepare), {LOG_DIRECTORY: log_directory})
    prepared = run_unprivileged(
        ["/bin/sh", "-c", script(prepare)], env | {"PATH": "/usr/bin:/bin"}, timeout=30
    )
    assert prepared.returncode == 0, describe(prepared)

    places: dict[str, Path | str] = {**volumes, LOG_DIRECTORY: log_directory}
    read_end, write_end = os.pipe()
    if os.geteuid() == 0:
        # A container's stdout is a pipe its runtime hands over owned by the container's
        # user (runc's fixStdioPermissions), which lets the server reopen /dev/stdout.
        os.fchown(write_end, *unprivileged_ids())
    stdout = Stdout(read_end)
    stdout.start()
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("wb") as stderr:
        process = spawn_unprivileged(
            [
                str(server.bindir / "postgres"),
                "-D",
                str(server.datadir),
                *_server_args(pod, places),
            ],
            {
                "PATH": f"{server.bindir}:/usr/bin:/bin",
                "LC_ALL": "C.UTF-8",
                "HOME": str(server.home),
            },
            stdout=write_end,
            stderr=stderr.fileno(),
        )
    os.close(write_end)
    try:
        stdout.wait_for(
            lambda r: r.get("message") == "database system is ready to accept connections"
        )
        yield LoggingServer(server, stdout, log_directory, pod, volumes)
    finally:
        server.stop()
        process.wait(60)
        stdout.close()


@pytest.fixture(scope="module")
def dev() -> ProgramRun:
    return run_main("dev")


def _message(record: dict[str, Any]) -> str:
    return str(record.get("message", ""))


def test_slow_statements_connections_and_lock_waits_reach_stdout_as_json(
    dev: ProgramRun, postgres_factory: PostgresFactory, tmp_path: Path
) -> None:
    with logging_server(dev, postgres_factory, tmp_path) as running:
        server, stdout = running.server, running.stdout
        server.query("CREATE TABLE orders (id int)", user="postgres", database="app")
        # Slower than dev's webapp:dbSlowQueryMs (500): logged with its duration.
        server.query("SELECT pg_sleep(0.7)", user="postgres", database="app")
        server.query("SELECT pg_sleep(0.1)", user="postgres", database="app")
        # One session holds a lock for 2.5 s; another waits for it longer than
        # deadlock_timeout (1 s).
        holder = threading.Thread(
            target=server.query,
            args=(
                "BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(2.5); COMMIT;",
            ),
            kwargs={"user": "postgres", "database": "app"},
        )
        holder.start()
        time.sleep(1)
        server.query("SELECT count(*) FROM orders", user="postgres", database="app")
        holder.join(30)

        slow = stdout.wait_for(lambda r: "statement: SELECT pg_sleep(0.7)" in _message(r))
        assert slow["error_severity"] == "LOG" and slow["dbname"] == "app"
        assert float(_message(slow).split()[1]) >= 700
        connected = stdout.wait_for(
            lambda r: _message(r).startswith("connection authorized: user=postgres database=app")
        )
        assert connected["backend_type"] == "client backend"
        stdout.wait_for(lambda r: _message(r).startswith("disconnection: session time:"))
        waiting = stdout.wait_for(
            lambda r: "still waiting for AccessShareLock on relation" in _message(r)
        )
        assert waiting["dbname"] == "app"
        assert "Process holding the lock" in waiting["detail"]
        stdout.wait_for(lambda r: "acquired AccessShareLock on relation" in _message(r))
        assert not any("pg_sleep(0.1)" in _message(r) for r in stdout.records()), (
            "a fast statement was logged"
        )
    # Every line is JSON (records() parses them all), and nothing wrote a JSON file of
    # its own beside the links.
    assert all(record.get("timestamp") for record in stdout.records())
    files = {path.name: path for path in running.log_directory.iterdir()}
    links = set(jsonlog_files())
    assert links <= set(files) and all(files[name].is_symlink() for name in links)
    assert all(name.endswith(".log") for name in set(files) - links), sorted(files)


def test_the_start_up_hook_logs_json_to_stdout_and_no_statement_shows_a_password(
    postgres_factory: PostgresFactory, tmp_path: Path
) -> None:
    """Every statement logged (webapp:dbSlowQueryMs 0), the hook writing where it does in
    a pod: its lines are on the server's stdout, and no password is anywhere in the log."""
    rendered = run_main("dev", {"webapp:dbSlowQueryMs": "0"})
    with logging_server(rendered, postgres_factory, tmp_path) as running:
        server, pod = running.server, running.pod
        container = pod.container("postgres")
        places: dict[str, Path | str] = {
            **running.volumes,
            SOCKET_DIR: server.socket_dir,
            PGDATA_IN_POD: server.datadir,
        }
        env = relocate(pod.env(container), places)
        env.update(
            PGPORT=str(server.port),
            PATH=server.client_env("postgres", None)["PATH"],
            HOME=str(server.home),
            WAIT_TRIES="15",
        )
        hook = run_unprivileged(["/bin/sh", "-c", post_start_script(container)], env, timeout=120)
        assert hook.returncode == 0, describe(hook)
        checked = running.stdout.wait_for(lambda r: "postgres-roles: roles checked" in _message(r))
        assert checked["backend_type"] == "postgres-roles"
        assert "passwords set for: app exporter postgres" in _message(checked)
        server.query("SELECT 1", user="postgres", database="app")
        running.stdout.wait_for(lambda r: "statement: SELECT 1" in _message(r))
        (secret,) = [v for v in pod.template["spec"]["volumes"] if v["name"] == "credentials"]
        passwords = pod.secret(secret["secret"]["secretName"]).values()
    logged = "\n".join(running.stdout.lines) + "".join(
        path.read_text(errors="replace") for path in running.log_directory.glob("*.log")
    )
    assert passwords and not any(password in logged for password in passwords)


def _children(pid: int) -> Iterator[tuple[int, str]]:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[1] == str(pid):
                yield (
                    int(entry.name),
                    (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(),
                )


def test_a_restarted_collector_writes_to_the_plain_file_and_never_loops(
    dev: ProgramRun, postgres_factory: PostgresFactory, tmp_path: Path
) -> None:
    """What the README promises if the logging collector dies: the postmaster starts a new
    one, whose lines land in the hour's plain file instead of stdout, once each (a link
    there would feed the collector its own output forever), and the server keeps going."""
    new_loggers: list[int] = []
    try:
        with logging_server(dev, postgres_factory, tmp_path) as running:
            server, stdout = running.server, running.stdout
            postmaster = server.postmaster_pid()
            assert postmaster is not None
            (logger,) = [pid for pid, title in _children(postmaster) if ": logger" in title]
            os.kill(logger, signal.SIGKILL)
            deadline = time.monotonic() + 20
            while not new_loggers:
                assert time.monotonic() < deadline, "the postmaster started no new collector"
                time.sleep(0.1)
                new_loggers += [
                    pid
                    for pid, title in _children(postmaster)
                    if ": logger" in title and pid != logger
                ]
            lines_before = len(stdout.lines)
            server.query("SELECT 'after the restart'", user="postgres", database="app")
            time.sleep(2)
            plain = "".join(path.read_text() for path in running.log_directory.glob("*.log"))
            connections = [line for line in plain.splitlines() if '"connection authorized' in line]
            assert len(connections) == 1, plain[-2000:]
            assert len(stdout.lines) == lines_before
            assert server.query("SELECT 1", user="postgres") == "1"
    finally:
        # The new collector keeps its own pipe open through the link, so it outlives the
        # postmaster; in a pod the kernel ends it with PID 1, here the test must.
        for pid in new_loggers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
