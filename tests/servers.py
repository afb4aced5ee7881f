"""Real servers on 127.0.0.1 for the tests that run the program's scripts as it renders them.

The backup, restore and password-sync scripts are real code, so their tests talk to a real
PostgreSQL (the distribution's server binaries) and a real S3 API (moto in server mode),
with the real `aws` CLI from the venv, instead of stubs that answer what a script expects.

Scripts never run as root, as in their pods: when the tests run as root (CI does), every
script and server process drops to the system user `webapp-test`, created on first use.

A server or tool that cannot be had skips the tests that need it, saying how to get it;
under CI (CI set) it fails them instead, so CI never goes green having skipped them.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import functools
import importlib.util
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn, Protocol

import pytest

from tests import aws_launcher

UNPRIVILEGED_USER = "webapp-test"
# The venv running the tests: its bin holds the `aws` CLI the scripts call.
VENV_BIN = Path(sys.executable).parent
POSTGRES_PROGRAMS = ("initdb", "pg_ctl", "postgres", "psql", "pg_dump", "pg_restore", "pg_isready")
GET_POSTGRES = (
    "install the Debian package `postgresql` (`apt-get install postgresql`, as .ci/run does) "
    "or put a PostgreSQL bin directory holding them first in PATH"
)
GET_VENV = "run `make venv`, which installs requirements-dev.txt, and run pytest from venv/bin"
# A socket path longer than this does not fit sockaddr_un (108 bytes with the NUL).
MAX_SOCKET_PATH = 100


class ServerError(RuntimeError):
    """A test server or a command against it failed; the message carries its output."""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(what: str, how: str) -> NoReturn:
    """Skips the calling test because `what` cannot be had here; fails it under CI."""
    message = f"{what}: {how}"
    if in_ci():
        pytest.fail(f"{message} (CI runs these tests, it never skips them)", pytrace=False)
    pytest.skip(message)


def _is_root() -> bool:
    return os.geteuid() == 0


# --- running as the unprivileged user -------------------------------------------------


@functools.cache
def _unprivileged_account() -> pwd.struct_passwd:
    # Two test processes on one machine (xdist's workers) may create the user at once:
    # useradd's own locking did not keep one from overwriting the other's entry here (one
    # worker then ran as a uid that no longer existed), so they take turns on a lock of
    # their own, and each looks the user up again once it holds it.
    with open(Path(tempfile.gettempdir()) / f".{UNPRIVILEGED_USER}-useradd.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _look_up_or_create_account()


def _look_up_or_create_account() -> pwd.struct_passwd:
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    error = ""
    for _ in range(10):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(UNPRIVILEGED_USER)
        try:
            result = subprocess.run(
                [
                    *(useradd, "--system", "--user-group", "--no-create-home"),
                    *("--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"),
                    UNPRIVILEGED_USER,
                ],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except FileNotFoundError:
            missing("useradd", "install the `passwd` package, or run the tests as a non-root user")
        error = result.stderr.strip()
        if result.returncode != 0:
            time.sleep(0.2)
    raise ServerError(f"could not create the system user {UNPRIVILEGED_USER}: {error}")


def unprivileged_ids() -> tuple[int, int]:
    """The uid and gid scripts run as: `webapp-test` under root, else the current user."""
    if not _is_root():
        return os.getuid(), os.getgid()
    account = _unprivileged_account()
    return account.pw_uid, account.pw_gid


def _may_enter(uid: int, gid: int, directory: Path) -> bool:
    """Whether uid (with only its primary group gid) may search `directory`."""
    info = directory.stat()
    if uid == info.st_uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if gid == info.st_gid:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def unreachable_ancestor(path: Path) -> Path | None:
    """The first directory on the way to `path` the unprivileged user may not enter."""
    uid, gid = unprivileged_ids()
    if uid == os.geteuid():
        return None
    for directory in reversed(path.resolve().parents):
        if not _may_enter(uid, gid, directory):
            return directory
    return None


def _open_the_way(path: Path) -> None:
    """Lets the unprivileged user enter every directory above `path`, for files the tests
    keep in their own 0700 temporary directories: those under the system temp dir get
    search (not list) permission for others; anywhere else is reported."""
    temp_root = Path(tempfile.gettempdir()).resolve()
    while (blocked := unreachable_ancestor(path)) is not None:
        if not blocked.is_relative_to(temp_root) or blocked == temp_root:
            raise ServerError(
                f"{UNPRIVILEGED_USER} cannot reach {path}: {blocked} is closed to it; "
                f"keep test files under {temp_root}"
            )
        blocked.chmod(blocked.stat().st_mode | stat.S_IXOTH)


@functools.cache
def _session_dir() -> Path:
    """This test session's directory for the unprivileged user (initdb templates; under
    root, every owned_dir and the mount namespaces' staging), removed when the session
    ends.

    Not under pytest's tmp_path: every pytest session that starts resets the per-user
    pytest-of-<user> directory to 0700, which would lock the unprivileged user out of a
    server or script running at that moment in another session on the same machine."""
    session = Path(tempfile.mkdtemp(prefix="webapp-test-"))
    session.chmod(0o711)
    atexit.register(_remove_session_dir, session)
    return session


def _remove_session_dir(session: Path) -> None:
    _stop_leftovers()
    shutil.rmtree(session, ignore_errors=True)


def _relocated(path: Path) -> Path:
    """Where `path` really lives for the unprivileged user: in the session directory, with
    a symlink at `path` so the test's own tree still shows it; or `path` itself when it
    already exists, or when the tests do not run as root."""
    if not _is_root():
        return path
    session = _session_dir()
    resolved = path.resolve()
    if resolved.is_relative_to(session) or path.exists() or path.is_symlink():
        return resolved
    temp_root = Path(tempfile.gettempdir()).resolve()
    inside = resolved.relative_to(temp_root if resolved.is_relative_to(temp_root) else "/")
    real = session / inside
    real.mkdir(parents=True, exist_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(real, target_is_directory=True)
    return real


def owned_dir(path: Path) -> Path:
    """A directory that belongs to the unprivileged user and that it can reach, for data
    dirs, sockets, HOME and scripts' working dirs. Use the path it returns: under root it
    is the real directory, and `path` a symlink to it."""
    real = _relocated(path)
    real.mkdir(parents=True, exist_ok=True)
    if _is_root():
        uid, gid = unprivileged_ids()
        os.chown(real, uid, gid)
        real.chmod(0o700)
        _open_the_way(real)
    return real


def kill_session(leader: int) -> None:
    """SIGKILL to every process of the session `leader` started (spawn_unprivileged and
    run_unprivileged start one per command), as when a container ends: process groups of
    their own inside it (`timeout` makes one for the command it runs) included. Returns
    once none of them is left."""
    deadline = time.monotonic() + 10
    killed: set[int] = set()
    # The `aws` calls the launcher runs for them live outside the session: they go too.
    while members := session_members(leader) + aws_launcher_calls(killed):
        for pid in members:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed.update(members)
        if time.monotonic() > deadline:
            raise ServerError(f"processes {members} of session {leader} outlived SIGKILL")
        time.sleep(0.02)


def session_members(leader: int) -> list[int]:
    """The live processes (not zombies) whose session is `leader`'s."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _proc_stat(int(entry.name))
            if fields is not None and fields[3] == str(leader) and fields[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return members


# What the unprivileged user must reach to run the venv's programs (`aws`): the Python
# installation behind the venv, the venv, and the repository.
_NEEDED = (Path(sys.base_prefix), Path(sys.prefix), Path(__file__).parent.parent)


def _blocked_on_the_way() -> dict[Path, set[Path]]:
    """Directories on the way to _NEEDED that the unprivileged user may not enter, each
    with its children on that way."""
    uid, gid = unprivileged_ids()
    blocked: dict[Path, set[Path]] = {}
    for path in (needed.resolve() for needed in _NEEDED):
        for directory in reversed(path.parents):
            if not _may_enter(uid, gid, directory):
                child = Path(*path.parts[: len(directory.parts) + 1])
                blocked.setdefault(directory, set()).add(child)
    return blocked


@functools.cache
def _namespace_setup() -> str | None:
    """Root's Python often lives in root's 0700 home (pyenv), where the unprivileged user
    cannot run it. Rather than open that home, a command runs in a mount namespace of its
    own where each closed directory on the way is covered by an empty, enterable tmpfs
    holding only the needed children: the rest stays hidden and nothing on disk changes.
    This is the shell that sets that up, or None when nothing is closed (or the machine
    cannot make mount namespaces, and `aws` then fails its probe in aws_cli())."""
    blocked = _blocked_on_the_way()
    tools = {name: shutil.which(name) for name in ("unshare", "mount", "mkdir")}
    if not blocked or None in tools.values():
        return None
    probe = [str(tools["unshare"]), "--mount", "--", "true"]
    if subprocess.run(probe, capture_output=True, check=False).returncode != 0:
        return None
    stage = Path(tempfile.mkdtemp(prefix="namespace-", dir=_session_dir()))
    mount, mkdir = shlex.quote(str(tools["mount"])), shlex.quote(str(tools["mkdir"]))
    lines = ["set -e", f"{mount} -t tmpfs -o mode=0700 tmpfs {shlex.quote(str(stage))}"]
    staged = 0
    # Deepest first: a cover made deeper down travels with the bind of its ancestor.
    for directory in sorted(blocked, key=lambda d: len(d.parts), reverse=True):
        children = sorted(blocked[directory])
        for index, child in enumerate(children, start=staged):
            lines.append(f"{mkdir} {stage}/{index}")
            lines.append(f"{mount} --rbind {shlex.quote(str(child))} {stage}/{index}")
        lines.append(f"{mount} -t tmpfs -o mode=0755 tmpfs {shlex.quote(str(directory))}")
        for index, child in enumerate(children, start=staged):
            target = shlex.quote(str(directory / child.name))
            lines.append(f"{mkdir} {target}")
            lines.append(f"{mount} --rbind {stage}/{index} {target}")
        staged += len(children)
    return "\n".join(lines)


def _may_start_the_venv(program: str, env: dict[str, str]) -> bool:
    """Whether a command may start the venv's Python: its program lies on the way to it, or
    its PATH names a directory there or the aws shim's (whose interpreter is the venv's).
    The database's programs and the system's tools on a PATH of their own cannot."""
    needed = [path.resolve() for path in _NEEDED]
    shim = (_session_dir() / "aws-bin").resolve()
    places = [Path(entry) for entry in env.get("PATH", "").split(":")]
    if "/" in program:  # otherwise found on PATH
        places.append(Path(program).parent)
    for place in places:
        if not place.is_absolute():
            return True  # found from the working directory: anywhere
        place = place.resolve()
        if place == shim or any(place.is_relative_to(path) for path in needed):
            return True
    return False


def _drop_privileges(
    program: str, env: dict[str, str]
) -> tuple[list[str], int | None, int | None]:
    """The command prefix, uid and gid that run a command as the unprivileged user."""
    if not _is_root():
        return [], None, None
    uid, gid = unprivileged_ids()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return [], uid, gid
    if shutil.which(program, path=env.get("PATH", os.defpath)) is None:
        # As Popen would raise for a program it cannot find: setpriv would only exit 127.
        raise FileNotFoundError(errno.ENOENT, "no such program", program)
    # setpriv drops the ids in the command's own process. Popen(user=...) would do it
    # between fork and exec, and that fork copies the whole test process (hundreds of
    # megabytes of page tables: 40 ms a command) where Popen otherwise uses vfork.
    drop = [setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]
    # A mount namespace costs a command eight more processes; only the venv needs one.
    setup = _namespace_setup() if _may_start_the_venv(program, env) else None
    if setup is None:
        return drop, None, None
    # The shell sets PWD; put back what the caller gave, so the env stays exactly theirs.
    pwd_line = f"export PWD={shlex.quote(env['PWD'])}" if "PWD" in env else "unset PWD"
    prefix = [
        *(str(shutil.which("unshare")), "--mount", "--propagation", "private", "--"),
        *("/bin/sh", "-c", f'{setup}\n{pwd_line}\nexec "$@"', "sh"),
        *drop,
    ]
    return prefix, None, None


def run_unprivileged(
    args: list[str],
    env: dict[str, str],
    *,
    timeout: float,
    cwd: Path | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs `args` as the unprivileged user with exactly `env` (nothing inherited), in
    `cwd` (default /), stdin from `input` or /dev/null. Never raises on a non-zero exit;
    on timeout the whole process group (pipelines included) is killed."""
    prefix, uid, gid = _drop_privileges(str(args[0]), env)
    with subprocess.Popen(
        [*prefix, *(str(arg) for arg in args)],
        env=env,
        cwd=cwd or "/",
        stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        user=uid,
        group=gid,
        extra_groups=[] if uid is not None else None,
        # Its own process group, so a timeout takes down what the script started too.
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_session(process.pid)
            stdout, stderr = process.communicate()
            raise subprocess.TimeoutExpired(args, timeout, stdout, stderr) from None
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


def spawn_unprivileged(
    args: list[str], env: dict[str, str], *, stdout: int, stderr: int
) -> subprocess.Popen[bytes]:
    """Starts `args` as the unprivileged user with exactly `env`, in /, its stdout and
    stderr on the given file descriptors, and returns at once; for a server that runs in
    the foreground, as in a container. The caller stops it and waits for it."""
    prefix, uid, gid = _drop_privileges(str(args[0]), env)
    return subprocess.Popen(
        [*prefix, *(str(arg) for arg in args)],
        env=env,
        cwd="/",
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        user=uid,
        group=gid,
        extra_groups=[] if uid is not None else None,
        start_new_session=True,
    )


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """A command's exit code and output, for assertion messages."""
    return (
        f"{' '.join(map(str, result.args))} exited {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}--- stderr ---\n{result.stderr}"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Ports the tests keep bound and never listen on: connecting is refused, and no server of
# another test (or another xdist worker) can take the port meanwhile.
_RESERVED: list[socket.socket] = []


def unreachable_endpoint_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens, for failure tests: its port stays
    bound (not listening) until the session ends."""
    reserved = socket.socket()
    reserved.bind(("127.0.0.1", 0))
    _RESERVED.append(reserved)
    return f"http://127.0.0.1:{reserved.getsockname()[1]}"


@contextlib.contextmanager
def small_volume(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (e.g. "1m", "512k") owned by the unprivileged user, so writes past
    `size` fail with ENOSPC as on a full volume. Yields where it is mounted: `path`, or
    under root the real directory that `path` links to (see owned_dir)."""
    if not re.fullmatch(r"[1-9][0-9]*[kmg]?", size):
        raise ValueError(f"size {size!r}: a number with an optional k, m or g")
    uid, gid = unprivileged_ids()
    command_prefix: list[str] = []
    if not _is_root():
        # CI runners without root (GitHub's) have passwordless sudo; a developer's
        # machine is never sudo'd behind their back.
        sudo = shutil.which("sudo") if in_ci() else None
        if sudo is None or subprocess.run([sudo, "-n", "true"], capture_output=True).returncode:
            missing("a small tmpfs volume", "mounting one needs root: run the tests as root")
        command_prefix = [sudo, "-n"]
    path = _relocated(path)
    path.mkdir(parents=True, exist_ok=True)
    if _is_root():
        _open_the_way(path)
    options = f"size={size},mode=0700,uid={uid},gid={gid}"
    mounted = subprocess.run(
        [*command_prefix, "mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        missing(
            "a small tmpfs volume",
            f"mount failed ({mounted.stderr.strip()}); a container needs CAP_SYS_ADMIN",
        )
    try:
        yield path
    finally:
        unmount = [*command_prefix, "umount", str(path)]
        if subprocess.run(unmount, capture_output=True, check=False).returncode != 0:
            # Something still holds a file there; detach it so the test run can go on.
            subprocess.run([*command_prefix, "umount", "--lazy", str(path)], check=True)


# --- PostgreSQL -----------------------------------------------------------------------


def _version_key(bindir: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", bindir.parent.name)) or (-1,)


@functools.cache
def _find_postgres_bindir() -> Path | None:
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            candidates.append(Path(out))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if all(os.access(bindir / program, os.X_OK) for program in POSTGRES_PROGRAMS):
            return bindir
    return None


def postgres_bindir() -> Path:
    """The PostgreSQL bin directory holding every program the tests and scripts use."""
    bindir = _find_postgres_bindir()
    if bindir is None:
        missing(f"PostgreSQL server binaries ({', '.join(POSTGRES_PROGRAMS)})", GET_POSTGRES)
    return bindir


def _conf_value(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _proc_stat(int(entry.name))
        if fields is not None and fields[1] == str(pid):
            children.append(int(entry.name))
    return children


def _dead(pid: int) -> bool:
    fields = _proc_stat(pid)
    return fields is None or fields[0] in ("Z", "X")


# Servers still running when the interpreter exits (a test run interrupted past its
# fixtures' teardown): killed then, since pg_ctl detaches them from this process.
_LIVE: dict[int, PostgresServer | S3Server] = {}


@dataclass(eq=False)
class PostgresServer:
    """A PostgreSQL cluster of its own, run by the unprivileged user, on 127.0.0.1:port
    and on a unix socket in socket_dir, logging to log_path."""

    bindir: Path
    base: Path
    datadir: Path
    socket_dir: Path
    log_path: Path
    home: Path
    port: int
    bootstrap_user: str
    _own_socket_dir: bool = field(default=False, repr=False)

    def _env(self) -> dict[str, str]:
        return {
            "PATH": f"{self.bindir}:/usr/bin:/bin",
            "HOME": str(self.home),
            "LC_ALL": "C.UTF-8",
        }

    def _pg_ctl(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return run_unprivileged(
            [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args],
            self._env(),
            timeout=timeout,
        )

    def _failure(self, what: str, result: subprocess.CompletedProcess[str]) -> ServerError:
        return ServerError(
            f"{what} ({self.datadir}): {describe(result)}\n"
            f"--- {self.log_path} (end) ---\n{self.log_text()[-4000:]}"
        )

    def configure(self, settings: dict[str, str]) -> None:
        """Appends settings to postgresql.conf (the last one wins); they apply from the
        next start, or on reload() for those that allow it."""
        lines = "".join(f"{key} = {_conf_value(value)}\n" for key, value in settings.items())
        with (self.datadir / "postgresql.conf").open("a") as conf:
            conf.write("\n# tests/servers.py\n" + lines)

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.datadir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None

    def _is_postmaster(self, pid: int) -> bool:
        """Whether `pid` is this cluster's postmaster, not a process that got the pid of a
        stale postmaster.pid: the postmaster works in its data directory."""
        try:
            return Path(os.readlink(f"/proc/{pid}/cwd")) == self.datadir.resolve()
        except OSError:
            return False

    def running(self) -> bool:
        return self._pg_ctl("status", timeout=30).returncode == 0

    def start(self) -> None:
        result = self._pg_ctl("-l", str(self.log_path), "-w", "-t", "60", "start")
        _LIVE[id(self)] = self
        if result.returncode != 0:
            raise self._failure("PostgreSQL did not start", result)

    def stop(self, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        if not self.running():
            return
        result = self._pg_ctl("-m", mode, "-w", "-t", "60", "stop")
        if result.returncode != 0:
            raise self._failure("PostgreSQL did not stop", result)
        _LIVE.pop(id(self), None)

    def reload(self) -> None:
        result = self._pg_ctl("reload", timeout=30)
        if result.returncode != 0:
            raise self._failure("PostgreSQL did not reload", result)

    def kill(self) -> None:
        """A crash: SIGKILL to the postmaster and every server process, as when the
        container dies; the next start() runs crash recovery."""
        pid = self.postmaster_pid()
        if pid is None or _dead(pid) or not self._is_postmaster(pid):
            return
        victims = [pid, *_children(pid)]
        for victim in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not all(_dead(victim) for victim in victims):
            if time.monotonic() > deadline:
                raise ServerError(f"PostgreSQL processes {victims} outlived SIGKILL")
            time.sleep(0.02)
        if _proc_stat(pid) is not None:
            # Until init reaps it (here up to a second later), the dead postmaster still
            # owns its pid, and the next one would take the lock files naming it for a live
            # server. A restarted container never sees the old pid, so the locks go.
            (self.datadir / "postmaster.pid").unlink(missing_ok=True)
            for lock in self.socket_dir.glob(".s.PGSQL.*.lock"):
                lock.unlink(missing_ok=True)
        _LIVE.pop(id(self), None)

    def close(self) -> None:
        """Stops the server whatever state it is in; for teardown."""
        try:
            self.stop("fast")
        except (ServerError, subprocess.TimeoutExpired):
            self.kill()
        _LIVE.pop(id(self), None)
        if self._own_socket_dir:
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def psql(
        self,
        sql: str,
        *,
        user: str,
        database: str = "postgres",
        password: str | None = None,
        tcp: bool = False,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Runs `sql` (any number of statements, each on its own, stopping at the first
        error) with unaligned, tuples-only output; over the unix socket unless tcp."""
        env = self._env()
        if password is not None:
            env["PGPASSWORD"] = password
        host = "127.0.0.1" if tcp else str(self.socket_dir)
        args = [
            *(str(self.bindir / "psql"), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"),
            # Never prompt for a password: a test at a terminal would hang on it.
            "--no-password",
            *("-h", host, "-p", str(self.port), "-U", user, "-d", database, "-f", "-"),
        ]
        result = run_unprivileged(args, env, timeout=60, input=sql)
        if check and result.returncode != 0:
            raise ServerError(f"psql as {user} on {database} failed: {describe(result)}\n{sql}")
        return result

    def query(
        self,
        sql: str,
        *,
        user: str,
        database: str = "postgres",
        password: str | None = None,
        tcp: bool = False,
    ) -> str:
        """The output of `sql`, stripped: rows on lines, columns separated by |."""
        return self.psql(
            sql, user=user, database=database, password=password, tcp=tcp
        ).stdout.strip()

    def client_env(
        self, user: str, password: str | None, database: str = "postgres"
    ) -> dict[str, str]:
        """The whole environment for a script connecting over TCP as `user`, with the
        PostgreSQL client programs and the venv's `aws` on PATH."""
        env = {
            "PATH": f"{self.bindir}:{aws_bin()}:{VENV_BIN}:/usr/bin:/bin",
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": user,
            "PGDATABASE": database,
            "HOME": str(self.home),
            "LC_ALL": "C.UTF-8",
        }
        if password is not None:
            env["PGPASSWORD"] = password
        return env


class PostgresFactory(Protocol):
    def __call__(
        self,
        *,
        bootstrap_user: str = "postgres",
        hba_file: Path | None = None,
        extra_settings: dict[str, str] | None = None,
    ) -> PostgresServer: ...


@functools.cache
def _cluster_template(bindir: Path, bootstrap_user: str) -> Path:
    """A fresh initdb, once a session for each bootstrap user: copying it is ten times
    faster than initdb, and every copy is what initdb would have made."""
    home = owned_dir(_session_dir() / "initdb" / bootstrap_user)
    datadir = home / "data"
    initdb = run_unprivileged(
        [
            *(str(bindir / "initdb"), "-D", str(datadir)),
            *(f"--username={bootstrap_user}", "--auth=trust", "--encoding=UTF8"),
            # The C locale exists everywhere; --no-sync because the clusters are thrown away.
            *("--no-locale", "--no-sync"),
        ],
        {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(home), "LC_ALL": "C.UTF-8"},
        timeout=120,
    )
    if initdb.returncode != 0:
        raise ServerError(f"initdb failed: {describe(initdb)}")
    return datadir


def start_postgres(
    base: Path,
    *,
    bootstrap_user: str = "postgres",
    hba_file: Path | None = None,
    extra_settings: dict[str, str] | None = None,
) -> PostgresServer:
    """A new cluster under `base` (initdb'd: `bootstrap_user` the superuser, trust for every
    connection unless `hba_file` says otherwise), started; close() it when done.

    fsync is off (the tests never outlive the machine's page cache; a kill() still loses
    nothing committed); `extra_settings` can turn it back on."""
    bindir = postgres_bindir()
    base = owned_dir(base)
    socket_dir = owned_dir(base / "run")
    own_socket_dir = False
    if len(str(socket_dir / ".s.PGSQL.65535.lock")) > MAX_SOCKET_PATH:
        socket_dir = owned_dir(Path(tempfile.mkdtemp(prefix="pg-")))
        own_socket_dir = True
    server = PostgresServer(
        bindir=bindir,
        base=base,
        datadir=base / "data",
        socket_dir=socket_dir,
        log_path=base / "postgres.log",
        home=owned_dir(base / "home"),
        port=free_port(),
        bootstrap_user=bootstrap_user,
        _own_socket_dir=own_socket_dir,
    )
    copy = run_unprivileged(
        ["cp", "-a", str(_cluster_template(bindir, bootstrap_user)), str(server.datadir)],
        {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
        timeout=60,
    )
    if copy.returncode != 0:
        raise ServerError(f"could not copy the initdb template: {describe(copy)}")
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": str(server.port),
        "unix_socket_directories": str(socket_dir),
        "logging_collector": "off",
        "password_encryption": "scram-sha-256",
        "fsync": "off",
    }
    if hba_file is not None:
        hba_file = hba_file.resolve()
        _open_the_way(hba_file)
        settings["hba_file"] = str(hba_file)
    server.configure({**settings, **(extra_settings or {})})
    attempts = 3
    while True:
        attempts -= 1
        log_start = len(server.log_text())
        try:
            server.start()
            return server
        except ServerError:
            # Another process may take the free port between the probe and the bind.
            if attempts and "could not bind" in server.log_text()[log_start:]:
                server.port = free_port()
                server.configure({"port": str(server.port)})
                continue
            server.close()
            raise


# --- S3 API (moto in server mode) -----------------------------------------------------


@functools.cache
def _aws_probe() -> subprocess.CompletedProcess[str]:
    # The venv's Python importing awscli is what `aws` needs, without its half-second start.
    env = {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "HOME": "/nonexistent", "LC_ALL": "C.UTF-8"}
    return run_unprivileged([str(VENV_BIN / "python"), "-c", "import awscli"], env, timeout=60)


def aws_cli() -> Path:
    """The venv's `aws`, checked to run as the unprivileged user."""
    aws = VENV_BIN / "aws"
    if not os.access(aws, os.X_OK):
        missing(f"the aws CLI ({aws})", GET_VENV)
    probe = _aws_probe()
    if probe.returncode != 0:
        missing(
            f"the aws CLI as {UNPRIVILEGED_USER}",
            f"it does not run ({describe(probe)}); the venv and its Python must be reachable "
            "by that user, or the machine must allow mount namespaces (unshare --mount)",
        )
    return aws


@functools.cache
def _launcher_socket() -> Path:
    directory = _session_dir() / "aws-launcher"
    directory.mkdir(mode=0o755, exist_ok=True)
    return directory / "socket"


@functools.cache
def aws_bin() -> Path:
    """The directory whose `aws` the scripts call, ahead of the venv's on PATH: the venv's
    CLI, run by the launcher of this session when it is running (aws_launcher.py)."""
    directory = _session_dir() / "aws-bin"
    aws_launcher.write_shim(directory, _launcher_socket(), VENV_BIN / "aws")
    return directory


def aws_launcher_log() -> Path:
    """The launcher's record of its calls: `start <pid> <caller's pid>`, then
    `end <pid> exit <code>` or `end <pid> signal <number>`."""
    return _launcher_socket().with_name("served.log")


@dataclass
class LauncherCall:
    pid: int
    caller: int
    end: str | None  # "exit <code>" or "signal <number>"; None while it runs


def aws_launcher_record() -> list[LauncherCall]:
    """The launcher's calls, in the order it started them."""
    log = aws_launcher_log()
    calls: dict[int, LauncherCall] = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        kind, pid, *rest = line.split()
        if kind == "start":
            calls[int(pid)] = LauncherCall(int(pid), int(rest[0]), None)
        elif kind == "end" and int(pid) in calls:
            calls[int(pid)].end = " ".join(rest)
    return list(calls.values())


def aws_launcher_calls(callers: set[int]) -> list[int]:
    """The live calls the launcher runs for `callers`."""
    if not callers:
        return []
    return [
        call.pid
        for call in aws_launcher_record()
        if call.end is None and call.caller in callers and not _dead(call.pid)
    ]


@contextlib.contextmanager
def aws_launcher_running() -> Iterator[None]:
    """The launcher that runs the scripts' `aws` calls without their start-up."""
    aws_bin()
    process = aws_launcher.start(_launcher_socket(), aws_cli(), aws_launcher_log())
    try:
        yield
    finally:
        process.terminate()
        process.wait(10)
        _launcher_socket().unlink(missing_ok=True)


@dataclass(eq=False)
class S3Server:
    """moto's S3 API on 127.0.0.1:port; any credentials are accepted."""

    port: int
    log_path: Path
    region: str = "us-east-1"
    access_key: str = "webapp-test-access-key"
    secret_key: str = "webapp-test-secret-key"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        # The server takes none of the developer's AWS settings.
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        _LIVE[id(self)] = self
        # A developer's HTTP proxy has no business with 127.0.0.1.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise ServerError(f"moto server exited: {self.log_path.read_text()[-4000:]}")
            try:
                opener.open(self.endpoint_url + "/", timeout=1).close()
                return
            except urllib.error.HTTPError:
                return  # It answers; an error status for an unsigned request is an answer.
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServerError(f"moto server did not answer within {timeout} s") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stops the server; its buckets are gone (moto keeps them in memory). The session
        shares one server, so a failure test wants unreachable_endpoint_url() instead."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.__dict__.pop("client", None)
        _LIVE.pop(id(self), None)

    def kill(self) -> None:
        self.stop()

    @functools.cached_property
    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def create_bucket(self, name: str) -> str:
        self.client.create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Every object under `prefix`, by key, with its bytes."""
        found: dict[str, bytes] = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix
        ):
            for item in page.get("Contents", []):
                body = self.client.get_object(Bucket=bucket, Key=item["Key"])["Body"]
                found[item["Key"]] = body.read()
        return found

    def head(self, bucket: str, key: str) -> dict[str, Any]:
        """head-object's answer (user metadata under "Metadata")."""
        answer = dict(self.client.head_object(Bucket=bucket, Key=key))
        answer.pop("ResponseMetadata", None)
        return answer

    def put(
        self, bucket: str, key: str, data: bytes, metadata: dict[str, str] | None = None
    ) -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=data, Metadata=metadata or {})


def start_s3(directory: Path) -> S3Server:
    """moto in server mode on a free port, its log in `directory`; stop() it when done."""
    for package in ("moto", "flask", "boto3"):
        if importlib.util.find_spec(package) is None:
            missing(f"the Python package {package} (moto[server], boto3)", GET_VENV)
    directory.mkdir(parents=True, exist_ok=True)
    attempts = 3
    while True:
        attempts -= 1
        server = S3Server(port=free_port(), log_path=directory / "moto.log")
        try:
            server.start()
            return server
        except ServerError as error:
            # Another process may take the free port between the probe and the bind.
            if not attempts or "Address already in use" not in str(error):
                raise


def aws_env(s3: S3Server, bucket_url: str | None = None) -> dict[str, str]:
    """What the `aws` CLI needs to talk to `s3` and to nothing else (no instance metadata,
    no profile). The caller adds PATH and HOME (see PostgresServer.client_env) and the
    script's own variables, such as the bucket URL."""
    if bucket_url is not None and not bucket_url.startswith("s3://"):
        raise ValueError(f"bucket URL {bucket_url!r} is not an s3:// URL")
    return {
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "AWS_REGION": s3.region,
        "AWS_DEFAULT_REGION": s3.region,
        "AWS_ENDPOINT_URL": s3.endpoint_url,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def bucket_name(label: str) -> str:
    """A fresh valid bucket name (3-63 of a-z, 0-9, -) that shows where it came from."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", label.lower()).strip("-")
    return f"t{os.urandom(4).hex()}-{cleaned}"[:63].rstrip("-")


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_LIVE.values()):
        with contextlib.suppress(Exception):
            server.kill()
