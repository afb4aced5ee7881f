"""The real program through the Automation API and the Pulumi CLI: a throwaway stack on
a local file backend renders manifests and checks them; with a cluster, it deploys,
deploys again expecting no changes, and destroys.

These need the `pulumi` CLI (and, for the cluster part, a reachable cluster); without
them they skip and say what is missing. CI runs them against a kind cluster."""

from __future__ import annotations

import base64
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.harness import ROOT, cli_config
from tests.test_kubernetes_schema import NEWEST_SUPPORTED

pytestmark = pytest.mark.skipif(
    shutil.which("pulumi") is None,
    reason="needs the pulumi CLI on PATH (https://www.pulumi.com/docs/install/)",
)

PROGRAM_FILES = ("Pulumi.yaml", "__main__.py", "requirements.txt", "components")


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A copy of the program beside a private file backend, reusing ./venv so the run
    installs nothing; stack files it writes stay out of the repository."""
    project = tmp_path / "project"
    project.mkdir()
    for name in PROGRAM_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, project / name)
    (project / "venv").symlink_to(ROOT / "venv")
    backend = tmp_path / "state"
    backend.mkdir()
    env = {
        "PULUMI_BACKEND_URL": f"file://{backend}",
        "PULUMI_CONFIG_PASSPHRASE": "integration-test",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    yield project, env


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
    os.environ.get("WEBAPP_IT_CLUSTER") != "1",
    reason="needs a reachable throwaway Kubernetes cluster: set WEBAPP_IT_CLUSTER=1 with the "
    "kubeconfig's current context pointing at it (CI uses kind)",
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
