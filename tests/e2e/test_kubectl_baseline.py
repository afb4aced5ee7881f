"""The same manifests without Pulumi, on the same control plane: each stack rendered by the
program's render mode (webapp:renderYamlTo, a real `pulumi up` through the provider's
renderer), then applied with `kubectl apply --server-side` and waited for with
`kubectl wait`, from empty and again unchanged. The wall times go beside the program's own
(docs/testing.md) so its overhead shows.

Render mode is a promise of its own (the README's `make render`): every manifest it writes
is valid for the newest supported Kubernetes and the API server admits it; Secrets are
written in plaintext, as documented, so the directory is deleted at once.
"""

from __future__ import annotations

import base64
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.e2e import checks, stacks
from tests.e2e.control_plane import ControlPlane, Kubectl
from tests.e2e.engine import Deployment, Toolchain
from tests.test_kubernetes_schema import NEWEST_SUPPORTED


def _manifests(directory: Path) -> list[dict]:
    documents = []
    for path in sorted(directory.rglob("*.yaml")):
        documents += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return documents


def _wait_commands(manifests: list[dict], namespace: str) -> list[list[str]]:
    """`kubectl wait` for what `pulumi up` awaits: claims bound, workloads rolled out and
    Ready (Services and custom resources as the program annotates them)."""
    waits = []
    for m in manifests:
        kind, name = m["kind"], m["metadata"]["name"]
        annotations = m["metadata"].get("annotations") or {}
        if annotations.get("pulumi.com/skipAwait") == "true":
            continue
        if kind == "PersistentVolumeClaim":
            waits.append(["pvc", name, "--for=jsonpath={.status.phase}=Bound"])
        elif kind == "Deployment":
            waits.append(["deployment", name, "--for=condition=Available"])
        elif kind == "StatefulSet":
            replicas = m["spec"].get("replicas", 1)
            waits.append(
                ["statefulset", name, f"--for=jsonpath={{.status.readyReplicas}}={replicas}"]
            )
        elif kind == "Cluster" and annotations.get("pulumi.com/waitFor") == "condition=Ready":
            waits.append(["clusters.postgresql.cnpg.io", name, "--for=condition=Ready"])
    return [[*w, "-n", namespace, "--timeout=300s"] for w in waits]


def _apply_and_wait(
    kubectl: Kubectl, directory: Path, manifests: list[dict], namespace: str
) -> float:
    start = time.monotonic()
    namespaces = [p for p in sorted(directory.rglob("*.yaml")) if "namespace" in p.name.lower()]
    # The namespace first: kubectl applies in file order.
    for path in namespaces:
        kubectl.run("apply", "--server-side", "-f", str(path))
    kubectl.run("apply", "--server-side", "-R", "-f", str(directory))
    for command in _wait_commands(manifests, namespace):
        kubectl.run("wait", *command, timeout=330)
    return time.monotonic() - start


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_rendered_manifests_apply_with_kubectl(
    stack: str, toolchain: Toolchain, cluster: ControlPlane, figure: Callable[[str, float], None]
) -> None:
    namespace = f"{stacks.tracked_namespace(stack)}-kubectl"
    rendered = toolchain.work / f"rendered-{stack}"
    config = {
        **stacks.overrides(stack, cluster, namespace),
        "webapp:renderYamlTo": str(rendered),
    }
    stacks.prepare(stack, cluster, namespace)
    deployment = Deployment(toolchain, f"{stack}-render", config)
    try:
        deployment.up()
        manifests = _manifests(rendered)
        assert {m["kind"] for m in manifests} >= {
            "Namespace", "ResourceQuota", "LimitRange", "NetworkPolicy", "Secret",
            "Service", "ServiceAccount",
        }  # fmt: skip
        for manifest in manifests:
            kubernetes_validate.validate(manifest, f"{NEWEST_SUPPORTED}.0", strict=True)
        password = deployment.outputs()["databasePassword"]
        plaintext = [
            base64.b64decode(value).decode(errors="replace")
            for m in manifests
            if m["kind"] == "Secret"
            for value in (m.get("data") or {}).values()
        ]
        assert any(password in value for value in plaintext), "render mode wrote no password"

        from_empty = _apply_and_wait(cluster.kubectl, rendered, manifests, namespace)
        checks.assert_ready(cluster, namespace)
        unchanged = _apply_and_wait(cluster.kubectl, rendered, manifests, namespace)
        figure(f"{stack}: kubectl apply --server-side + wait, from empty", from_empty)
        figure(f"{stack}: kubectl apply --server-side + wait, unchanged", unchanged)
    finally:
        # The render stack holds no object of the cluster's (only the manifest files).
        shutil.rmtree(rendered, ignore_errors=True)
        deployment.clear_away(cluster.kubectl, namespace)
