"""Shared fixtures: the program runs once per stack and variant in a test session."""

from __future__ import annotations

import functools
import gc
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kubernetes_validate.utils
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.harness import (  # noqa: E402
    FIXTURE_STACKS,
    USER_STACKS,
    ProgramRun,
    cli_config,
    run_main,
    stack_names,
)

# kubernetes-validate parses its schema files (1.8 MB of definitions) again for every
# object it checks; they do not change during a run, so each is parsed once per process.
# The validators only read what it returns.
kubernetes_validate.utils.schema_contents = functools.cache(  # type: ignore[assignment]
    kubernetes_validate.utils.schema_contents
)

if TYPE_CHECKING:
    from stack_settings.reader import ConfigError

STACKS = ("dev", "prod")
USER_PREFIX = "user-"
_RUNS: dict[str, ProgramRun] = {}
_USER_OUTCOMES: dict[str, ProgramRun | ConfigError] = {}


def program_run(stack: str) -> ProgramRun:
    """The program on the tests' fixture stack `stack`, or, as `user-<stack>`, on the
    user's stack file (which must render: see user_stack_outcome)."""
    if stack.startswith(USER_PREFIX):
        outcome = user_stack_outcome(stack.removeprefix(USER_PREFIX))
        assert isinstance(outcome, ProgramRun), str(outcome)
        return outcome
    if stack not in _RUNS:
        _RUNS[stack] = run_main(stack)
    return _RUNS[stack]


def user_stack_outcome(stack: str) -> ProgramRun | ConfigError:
    """The program on the user's Pulumi.<stack>.yaml (USER_STACKS): a render, or the
    config error it stops with at preview."""
    # Imported here, with the program: xdist's controller loads this file too, and never
    # runs a test.
    from stack_settings.reader import ConfigError

    if stack not in _USER_OUTCOMES:
        try:
            _USER_OUTCOMES[stack] = run_main(stack, stacks_dir=USER_STACKS)
        except ConfigError as error:
            _USER_OUTCOMES[stack] = error
    return _USER_OUTCOMES[stack]


def same_as_fixture(stack: str) -> bool:
    """Whether the user's stack file hands the program exactly what the fixture does."""
    return (FIXTURE_STACKS / f"Pulumi.{stack}.yaml").exists() and cli_config(
        stack, directory=USER_STACKS
    ) == cli_config(stack)


@functools.cache
def invariant_variants() -> list[Any]:
    """What the invariant tests (fixture `stack_run`) run on: the fixture stacks and every
    user stack that renders (a refused one is checked by tests/test_user_stacks.py). A
    user stack the same as its fixture is run once, as the fixture, marked for both.
    Worked out once per session: every test module that takes `stack_run` asks."""
    users = stack_names(USER_STACKS)
    variants = [
        pytest.param(
            stack,
            id=stack,
            marks=[pytest.mark.stack_files] if stack in users and same_as_fixture(stack) else [],
        )
        for stack in STACKS
    ]
    for stack in users:
        if stack in STACKS and same_as_fixture(stack):
            continue
        if isinstance(user_stack_outcome(stack), ProgramRun):
            name = USER_PREFIX + stack
            variants.append(pytest.param(name, id=name, marks=[pytest.mark.stack_files]))
    return variants


def pytest_collection_finish(session: pytest.Session) -> None:
    """The modules, the SDK's types and the collected tests live as long as the worker:
    frozen, so that the collector stops walking them, and collections come less often. A
    worker of this suite spent a tenth of its CPU (20 s of a run) collecting garbage, half
    of that with these settings."""
    gc.collect()  # what is garbage already goes now: frozen, it would never be freed
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "stack_run" in metafunc.fixturenames:
        metafunc.parametrize("stack_run", invariant_variants(), indirect=True)


@pytest.fixture
def stack_run(request: pytest.FixtureRequest) -> ProgramRun:
    """The real program on a fixture stack or a user's stack file: tests taking it assert
    only what holds for every valid value."""
    return program_run(request.param)


# The statefulset engine on both stacks: dev as it is, and prod with the built-in server
# (prod itself runs cloudnative-pg), for the tests of what that engine renders.
STATEFULSET_VARIANTS = ("dev", "prod-statefulset")
_STATEFULSET_OVERRIDES = {"webapp:dbEngine": "statefulset"}


def statefulset_program_run(variant: str) -> ProgramRun:
    if variant == "dev":
        return program_run("dev")
    if variant not in _RUNS:
        stack = variant.removesuffix("-statefulset")
        _RUNS[variant] = run_main(stack, dict(_STATEFULSET_OVERRIDES))
    return _RUNS[variant]


@pytest.fixture(params=STATEFULSET_VARIANTS)
def statefulset_run(request: pytest.FixtureRequest) -> ProgramRun:
    """The program with the statefulset engine: dev, and prod with webapp:dbEngine
    statefulset (its run's `stack` is still "prod")."""
    return statefulset_program_run(request.param)


@pytest.fixture
def prod_statefulset_run() -> ProgramRun:
    """prod's settings with the statefulset engine: the database's exporter, its
    ServiceMonitor and its alert rules (the cloudnative-pg engine has its own)."""
    return statefulset_program_run("prod-statefulset")


@pytest.fixture
def dev_run() -> ProgramRun:
    return program_run("dev")


@pytest.fixture
def prod_run() -> ProgramRun:
    return program_run("prod")


# Real servers on 127.0.0.1 for the scripts the program renders (see tests/servers.py).
import shutil  # noqa: E402
import socket  # noqa: E402
from collections.abc import Iterator  # noqa: E402

from tests.servers import (  # noqa: E402
    PostgresFactory,
    PostgresServer,
    S3Server,
    aws_launcher_running,
    bucket_name,
    owned_dir,
    start_postgres,
    start_s3,
)


@pytest.fixture
def postgres_factory(tmp_path: Path) -> Iterator[PostgresFactory]:
    """Starts PostgreSQL servers under tmp_path; all of them stop when the test ends."""
    servers: list[PostgresServer] = []

    def create(
        *,
        bootstrap_user: str = "postgres",
        hba_file: Path | None = None,
        extra_settings: dict[str, str] | None = None,
    ) -> PostgresServer:
        server = start_postgres(
            tmp_path / f"postgres{len(servers)}",
            bootstrap_user=bootstrap_user,
            hba_file=hba_file,
            extra_settings=extra_settings,
        )
        servers.append(server)
        return server

    yield create
    errors = []
    for index, server in enumerate(servers):
        try:
            server.close()
        except Exception as error:  # one server's failure must not leave the others running
            errors.append(error)
        if server.log_path.exists() and not server.log_path.is_relative_to(tmp_path):
            # Under root the server lived in the session's directory, gone when the session
            # ends; its log stays with the test's own files for a look after a failure.
            shutil.copy(server.log_path, tmp_path / f"postgres{index}.log")
    if errors:
        raise errors[0]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One S3 API for the session (moto in server mode): tests keep to their own buckets
    (see s3_bucket). The `aws` CLI the scripts call is checked, and its launcher started,
    here too."""
    with aws_launcher_running():
        server = start_s3(tmp_path_factory.mktemp("s3"))
        yield server
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server, request: pytest.FixtureRequest) -> str:
    """A new empty bucket on s3_server, named after the test."""
    return s3_server.create_bucket(bucket_name(request.node.name))


@pytest.fixture
def unprivileged_tmp_path(tmp_path: Path) -> Path:
    """A directory the unprivileged user owns, for scripts' HOME and working files."""
    return owned_dir(tmp_path / "unprivileged")


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
