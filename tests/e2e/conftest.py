"""Session fixtures of the real-engine suite (`make e2e`): one control plane and one
toolchain per session, shared by every scenario.

Two modes:
- default: the toolchain of tools/e2e (built by `make e2e-tools` into a cache outside the
  repo) and a control plane on 127.0.0.1 that this session starts and stops;
- WEBAPP_E2E_CONTEXT=<kube context>: the user's own `pulumi` CLI on PATH and their
  throwaway cluster (the kubeconfig's context of that name); nothing is built or started.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e import control_plane as cp
from tests.e2e.engine import ROOT, Toolchain, engine_env, write_policy_pack_launcher
from tests.e2e.ingress_admission import IngressAdmission
from tests.e2e.stand_ins import StandIns, cloudnative_pg_operator_present

CONTEXT_VARIABLE = "WEBAPP_E2E_CONTEXT"
BIN_VARIABLE = "WEBAPP_E2E_BIN"
BUILD_SCRIPT = ROOT / "tools" / "e2e" / "build.sh"

# Needs real containers and the real operator: only on a user's cluster.
if not os.environ.get(CONTEXT_VARIABLE):
    collect_ignore = ["test_cnpg_operator.py"]

# Wall times the session measured, printed at its end (`make e2e`) and quoted in
# docs/testing.md: name -> seconds. Tests record them in their reports (`figure`), so
# they reach the printing process from every worker.
FIGURES: dict[str, float] = {}
FIGURE_PROPERTY = "e2e-figure"


def toolchain_bin() -> Path:
    """The bin directory of the pinned toolchain: WEBAPP_E2E_BIN, or what the build script
    prints (it builds only what its cache lacks). Workers running side by side take
    turns: one builds, the others then find the cache complete."""
    given = os.environ.get(BIN_VARIABLE)
    if given:
        return Path(given)
    cache = Path(os.environ.get("WEBAPP_E2E_CACHE") or Path.home() / ".cache" / "webapp-e2e")
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run(
            [str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=True, timeout=3600
        )
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def bin_dir() -> Path | None:
    if os.environ.get(CONTEXT_VARIABLE):
        return None
    return toolchain_bin()


@pytest.fixture(scope="session")
def cluster(work: Path, bin_dir: Path | None) -> Iterator[cp.ControlPlane]:
    context = os.environ.get(CONTEXT_VARIABLE)
    if context:
        kubeconfig = Path(
            os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
            or Path.home() / ".kube" / "config"
        )
        plane = cp.use_context(kubeconfig, context, work / "cluster")
        if os.environ.get("WEBAPP_E2E_CNPG") == "1":
            from tests.e2e.test_cnpg_operator import install_prerequisites

            # Before the stand-ins start: with the operator present none stands in for it.
            os.environ["KUBECONFIG"] = str(plane.kubeconfig)
            install_prerequisites()
    else:
        assert bin_dir is not None
        plane = cp.start_local(bin_dir, bin_dir.parent / "kwok-stages.yaml", work / "cluster")
    operator = context is not None and cloudnative_pg_operator_present(plane.kubectl)
    plane.stand_ins = StandIns(plane.kubectl, operator=not operator, volumes=context is None)
    plane.stand_ins.start()
    admission = None
    try:
        if context is None:
            admission = IngressAdmission(
                plane.kubectl, work / "ingress-admission", plane.stand_ins.errors
            ).start()
        yield plane
    finally:
        if admission is not None:
            admission.stop()
        plane.stand_ins.stop()
        plane.stop()


@pytest.fixture(autouse=True)
def stand_ins_work(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that used the cluster fails when a stand-in broke meanwhile (its thread died,
    its watch failed, it met an error it does not expect): what it should have done for
    the test did not happen. Refusals it retries fail the tests that wait on them."""
    if "cluster" not in request.fixturenames:
        yield
        return
    plane: cp.ControlPlane = request.getfixturevalue("cluster")
    assert plane.stand_ins is not None
    errors = plane.stand_ins.errors
    errors.mark = len(errors.fatal)
    yield
    broke = errors.since_mark()
    assert not broke, "a stand-in broke during the test:\n" + "\n".join(broke)


@pytest.fixture(scope="session")
def toolchain(work: Path, bin_dir: Path | None, cluster: cp.ControlPlane) -> Toolchain:
    state = work / "state"
    state.mkdir()
    # A PULUMI_HOME of its own: no plugin or credential of the machine's is used, only the
    # toolchain's plugins on PATH. A user's CLI keeps its own home and plugins.
    home = None
    if bin_dir is not None:
        home = work / "pulumi-home"
        home.mkdir()
    return Toolchain(
        env=engine_env(bin_dir, state, cluster.kubeconfig, home),
        policy_pack=write_policy_pack_launcher(work),
        work=work,
    )


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str, float], None]:
    """Records one of the figures: `figure("dev: pulumi up from empty", seconds)`."""

    def record(name: str, seconds: float) -> None:
        request.node.user_properties.append((FIGURE_PROPERTY, (name, seconds)))

    return record


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for key, value in report.user_properties:
        if key == FIGURE_PROPERTY:
            name, seconds = value
            FIGURES[name] = seconds


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ANN001, ANN201
    """Under CI nothing may skip: a missing tool or setting fails the run instead of
    letting it pass having proved less."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which must run everything: {report.longrepr}"


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    if not os.environ.get(CONTEXT_VARIABLE):
        terminalreporter.write_line(
            "tests/e2e/test_cnpg_operator.py not collected: kwok runs no container, so the "
            "real CloudNativePG operator runs only on a cluster named by WEBAPP_E2E_CONTEXT"
        )
    if not FIGURES:
        return
    terminalreporter.section("real-engine figures (wall time, seconds)")
    for line in figure_lines(FIGURES):
        terminalreporter.write_line(line)


# The figures per stack, in the order docs/testing.md gives them.
FIGURE_COLUMNS = (
    ("pulumi up from empty", "pulumi up, from empty"),
    ("pulumi up, no changes", "pulumi up, no changes"),
    ("kubectl apply --server-side + wait, from empty", "kubectl, from empty"),
    ("kubectl apply --server-side + wait, unchanged", "kubectl, unchanged"),
)


def figure_lines(figures: dict[str, float]) -> list[str]:
    """Each stack's wall times and the ratios pulumi / kubectl (from empty, unchanged), the
    program's own overhead over the same manifests applied and awaited without Pulumi."""
    stacks = sorted({name.split(":", 1)[0] for name in figures})
    header = f"{'stack':6}" + "".join(f"{title:>24}" for _, title in FIGURE_COLUMNS)
    lines = [header + f"{'ratio, from empty':>20}{'ratio, unchanged':>20}"]
    for stack in stacks:
        values = [figures.get(f"{stack}: {key}") for key, _ in FIGURE_COLUMNS]
        cells = "".join(f"{v:>22.1f} s" if v is not None else f"{'-':>24}" for v in values)
        ratios = [
            f"{up / kubectl:>20.2f}" if up is not None and kubectl else f"{'-':>20}"
            for up, kubectl in ((values[0], values[2]), (values[1], values[3]))
        ]
        lines.append(f"{stack:6}{cells}{''.join(ratios)}")
    return lines
