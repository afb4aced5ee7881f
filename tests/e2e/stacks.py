"""How the suite configures the stacks: the tracked stack files, copied unchanged with the
project, plus only what the suite's cluster cannot honour, each override with its reason
(docs/testing.md lists them too). Neither stack file's values are pinned here: the
scenarios read them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.e2e.control_plane import ControlPlane
from tests.e2e.engine import ROOT


@dataclass(frozen=True)
class Override:
    value: str
    why: str


# Every stack, every run.
KUBE_CONTEXT = (
    "webapp:kubeContext",
    "the stack files leave it empty (the kubeconfig's current context); the suite names its "
    "own cluster's context, so no run can reach a cluster the kubeconfig points at otherwise",
)
# prod's, on every cluster.
PROD_OVERRIDES: dict[str, Override] = {
    "webapp:backupBucket": Override(
        "s3://webapp-e2e-archive/prod",
        "the stack file names no bucket (the program refuses cloudnative-pg without one) and "
        "leaves it to the operator; the suite names a bucket of its own, never reached",
    ),
    "webapp:backupS3CredentialsSecret": Override(
        "webapp-backup-s3",
        "the stack file leaves the way to the bucket to the operator and its comment names "
        "this one (docs/backups-and-restore.md, way 2); the suite creates the Secret in the "
        "namespace first, with made-up keys, as the user does with kubectl",
    ),
}
# prod's, only where a real CloudNativePG operator runs (WEBAPP_E2E_CONTEXT with it
# installed): under kwok no archiver runs, so the tracked endpoint (AWS S3) stands.
OPERATOR_OVERRIDES: dict[str, Override] = {
    "webapp:backupS3Endpoint": Override(
        "http://127.0.0.1:9",
        "nothing may leave the machine: the operator's archiver would dial AWS S3 with the "
        "made-up keys; a closed port of its own pod answers instead",
    ),
}
# Scenarios that run beside the stacks of test_dev.py and test_prod.py take namespaces of
# their own (webapp:namespace), so no scenario touches another's objects.
NAMESPACE_WHY = (
    "a scenario beside the main stacks (the engine defects, the kubectl baseline) takes a "
    "namespace of its own, so none touches another's objects"
)
# ...and a host of their own where the stack file names one (webapp:ingressHost): the suite's
# API server refuses a second Ingress for a host, as ingress-nginx's admission webhook does
# (tests/e2e/ingress_admission.py), and a namespace a module deleted may still hold its
# Ingress when the next module on the same control plane starts.
INGRESS_HOST_WHY = (
    "a scenario beside the main stacks takes a host of its own, <namespace>.<the stack "
    "file's host>: ingress-nginx refuses a second Ingress for a host in any namespace"
)
CREDENTIALS_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def tracked_config(stack: str) -> dict[str, object]:
    path: Path = ROOT / f"Pulumi.{stack}.yaml"
    return yaml.safe_load(path.read_text()).get("config") or {}


def tracked_namespace(stack: str) -> str:
    return str(tracked_config(stack).get("webapp:namespace", "webapp"))


def real_operator(cluster: ControlPlane) -> bool:
    """A CloudNativePG operator runs on the cluster (no stand-in plays it)."""
    return cluster.stand_ins is not None and cluster.stand_ins.operator is None


def overrides(stack: str, cluster: ControlPlane, namespace: str | None = None) -> dict[str, str]:
    """The suite's config on top of the stack file."""
    config = {KUBE_CONTEXT[0]: cluster.context}
    if namespace is not None:
        config["webapp:namespace"] = namespace
        host = tracked_config(stack).get("webapp:ingressHost")
        if host:
            config["webapp:ingressHost"] = f"{namespace}.{host}"
    if stack.startswith("prod"):
        config.update({key: o.value for key, o in PROD_OVERRIDES.items()})
        if real_operator(cluster):
            config.update({key: o.value for key, o in OPERATOR_OVERRIDES.items()})
    return config


def prepare(stack: str, cluster: ControlPlane, namespace: str) -> None:
    """What the stack file asks the user to do before the first `pulumi up`: for prod, the
    Secret with the bucket's keys that webapp:backupS3CredentialsSecret names, in the
    namespace (created for it, as `kubectl -n <namespace> create secret` needs)."""
    if not stack.startswith("prod"):
        return
    kubectl = cluster.kubectl
    secret = PROD_OVERRIDES["webapp:backupS3CredentialsSecret"].value
    documents = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret, "namespace": namespace},
            "stringData": {key: f"e2e-made-up-{key.lower()}" for key in CREDENTIALS_KEYS},
        },
    ]
    for document in documents:
        created = kubectl.run("create", "-f", "-", input=json.dumps(document), check=False)
        # A user's cluster may keep them from an earlier run.
        if created.returncode != 0 and "AlreadyExists" not in created.stderr:
            raise AssertionError(f"kubectl create failed: {created.stderr}")
