"""The real program through the Automation API and the Pulumi CLI: a throwaway stack on
a local file backend renders manifests and checks them; with a cluster, it deploys,
deploys again expecting no changes, and destroys.

They run only when asked with WEBAPP_IT=1, not whenever a `pulumi` happens to be on
PATH (GitHub's runner image ships one); once asked, a missing CLI is an error, not a
skip. The cluster part also needs WEBAPP_IT_CLUSTER=1 and a throwaway cluster in the
kubeconfig's current context. CI runs both against a kind cluster."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.harness import ROOT, cli_config
from tests.test_kubernetes_schema import NEWEST_SUPPORTED

RUN_VARIABLE = "WEBAPP_IT"
CLUSTER_VARIABLE = "WEBAPP_IT_CLUSTER"

pytestmark = pytest.mark.skipif(
    os.environ.get(RUN_VARIABLE) != "1",
    reason=f"integration tests run only when asked: set {RUN_VARIABLE}=1 (they need the "
    "pulumi CLI on PATH; CI sets it)",
)


@pytest.fixture(autouse=True, scope="module")
def pulumi_cli() -> str:
    found = shutil.which("pulumi")
    if found is None:
        pytest.fail(
            f"{RUN_VARIABLE}=1 asks for the integration tests, but the pulumi CLI is not on "
            "PATH: install it from https://www.pulumi.com/docs/install/",
            pytrace=False,
        )
    return found


# What the program needs to run: requirements.txt holds its packages only (the test tools
# are in requirements-dev.txt), so a copy of these is a deployable program.
PROGRAM_FILES = ("Pulumi.yaml", "__main__.py", "requirements.txt", "components", "stack_settings")


def _copy_program(project: Path) -> None:
    project.mkdir(parents=True, exist_ok=True)
    for name in PROGRAM_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, project / name, ignore=shutil.ignore_patterns("__pycache__", "venv")
            )
        else:
            shutil.copy(source, project / name)


def _backend(directory: Path) -> dict[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    return {
        "PULUMI_BACKEND_URL": f"file://{directory}",
        "PULUMI_CONFIG_PASSPHRASE": "integration-test",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }


@pytest.fixture(scope="module")
def program_venv(tmp_path_factory: pytest.TempPathFactory, pulumi_cli: str) -> Path:
    """The program's own virtualenv, made the way a deployment makes it: `pulumi install`
    creates venv/ from requirements.txt (Pulumi.yaml: toolchain pip). ./venv would not do:
    it also holds the test tools, whose plugins (pulumi-pulumiservice) the engine would
    then fetch."""
    project = tmp_path_factory.mktemp("program")
    _copy_program(project)
    env = {**os.environ, **_backend(tmp_path_factory.mktemp("install-state"))}
    subprocess.run([pulumi_cli, "install"], cwd=project, env=env, check=True, timeout=900)
    venv = project / "venv"
    assert (venv / "bin" / "python").exists(), "pulumi install created no venv/"
    return venv


@pytest.fixture
def workspace(tmp_path: Path, program_venv: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A copy of the program beside a private file backend, sharing the program's
    virtualenv so each run installs nothing; stack files it writes stay out of the
    repository."""
    project = tmp_path / "project"
    _copy_program(project)
    (project / "venv").symlink_to(program_venv)
    yield project, _backend(tmp_path / "state")


def _stack(project: Path, env: dict[str, str], name: str, overrides: dict[str, str]):  # noqa: ANN202
    from pulumi import automation as auto

    stack = auto.create_or_select_stack(
        stack_name=name,
        work_dir=str(project),
        opts=auto.LocalWorkspaceOptions(work_dir=str(project), env_vars=env),
    )
    config, _ = cli_config("dev", overrides)
    stack.set_all_config({key: auto.ConfigValue(value) for key, value in config.items()})
    return stack


def _manifests(directory: Path) -> list[dict]:
    documents = []
    for path in sorted(directory.rglob("*.yaml")):
        documents += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return documents


def test_render_mode_writes_valid_manifests(workspace: tuple[Path, dict[str, str]]) -> None:
    project, env = workspace
    rendered = project / "rendered"
    stack = _stack(project, env, "it-render", {"webapp:renderYamlTo": str(rendered)})
    try:
        result = stack.up(on_output=print)
        manifests = _manifests(rendered)
        kinds = {m["kind"] for m in manifests}
        assert kinds >= {
            "Namespace",
            "ResourceQuota",
            "LimitRange",
            "NetworkPolicy",
            "Secret",
            "ConfigMap",
            "PersistentVolumeClaim",
            "Service",
            "StatefulSet",
            "Deployment",
            "ServiceAccount",
        }
        for manifest in manifests:
            kubernetes_validate.validate(manifest, f"{NEWEST_SUPPORTED}.0", strict=True)
        # As documented: render mode writes Secrets in plaintext (base64, not encrypted).
        password = result.outputs["databasePassword"].value
        decoded = [
            base64.b64decode(value).decode()
            for m in manifests
            if m["kind"] == "Secret"
            for value in (m.get("data") or {}).values()
        ]
        assert password in decoded
    finally:
        stack.destroy(on_output=print)
        stack.workspace.remove_stack("it-render")


@pytest.mark.skipif(
    # Only once asked at all, so an unasked run names WEBAPP_IT first.
    os.environ.get(RUN_VARIABLE) == "1" and os.environ.get(CLUSTER_VARIABLE) != "1",
    reason=f"needs a reachable throwaway Kubernetes cluster: set {CLUSTER_VARIABLE}=1 (with "
    f"{RUN_VARIABLE}=1) and point the kubeconfig's current context at it (CI uses kind)",
)
def test_up_is_idempotent_and_destroy_cleans_up(workspace: tuple[Path, dict[str, str]]) -> None:
    project, env = workspace
    namespace = f"webapp-it-{uuid.uuid4().hex[:6]}"
    stack = _stack(project, env, "it-cluster", {"webapp:namespace": namespace})
    try:
        first = stack.up(on_output=print)
        assert first.outputs["namespace"].value == namespace
        second = stack.up(on_output=print)
        changes = second.summary.resource_changes or {}
        assert set(changes) == {"same"}, f"a second up changed something: {changes}"
    finally:
        destroyed = stack.destroy(on_output=print)
        stack.workspace.remove_stack("it-cluster")
    assert set(destroyed.summary.resource_changes or {}) <= {"delete"}
