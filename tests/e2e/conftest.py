"""Session fixtures of the real-engine suite (`make e2e`): one control plane and one
toolchain per session, shared by every scenario.

Two modes:
- default: the toolchain of tools/e2e (built by `make e2e-tools` into a cache outside the
  repo) and a control plane on 127.0.0.1 that this session starts and stops;
- WEBAPP_E2E_CONTEXT=<kube context>: the user's own `pulumi` CLI on PATH and their
  throwaway cluster (the kubeconfig's context of that name); nothing is built or started.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import control_plane as cp
from tests.e2e.engine import ROOT, Toolchain, engine_env, write_policy_pack_launcher
from tests.e2e.stand_ins import StandIns, cloudnative_pg_operator_present

CONTEXT_VARIABLE = "WEBAPP_E2E_CONTEXT"
BIN_VARIABLE = "WEBAPP_E2E_BIN"
BUILD_SCRIPT = ROOT / "tools" / "e2e" / "build.sh"

# Needs real containers and the real operator: only on a user's cluster.
if not os.environ.get(CONTEXT_VARIABLE):
    collect_ignore = ["test_cnpg_operator.py"]

# Wall times the session measured, printed at its end (`make e2e`) and quoted in
# docs/testing.md: name -> seconds.
FIGURES: dict[str, float] = {}


def toolchain_bin() -> Path:
    """The bin directory of the pinned toolchain: WEBAPP_E2E_BIN, or what the build script
    prints (it builds only what its cache lacks)."""
    given = os.environ.get(BIN_VARIABLE)
    if given:
        return Path(given)
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
    stand_ins = StandIns(plane.kubectl, operator=not operator, volumes=context is None).start()
    try:
        yield plane
    finally:
        stand_ins.stop()
        plane.stop()


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
    for name, seconds in FIGURES.items():
        terminalreporter.write_line(f"{name:60} {seconds:7.1f}")
