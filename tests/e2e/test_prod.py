"""The prod stack through the real engine, with the tracked stack file and only the
overrides of tests/e2e/stacks.py: preview with the policy pack, up from empty, a no-op up
and everyday edits. The tests of this module run in order on one deployment of the stack.

Prod protects its data: this module leaves the stack's refusal to be destroyed to the
destroy scenarios and, at its end, clears the stack away without the program's guards
(the stack forgotten, its namespace deleted), so the session's cluster is clean."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from components._shared.quantity import parse_quantity
from tests.e2e import checks, stacks
from tests.e2e.control_plane import ControlPlane
from tests.e2e.engine import Deployment, Toolchain

STACK = "prod"


@pytest.fixture(scope="module")
def namespace() -> str:
    return stacks.tracked_namespace(STACK)


@pytest.fixture(scope="module")
def prod(toolchain: Toolchain, cluster: ControlPlane, namespace: str) -> Iterator[Deployment]:
    stacks.prepare(STACK, cluster, namespace)
    deployment = Deployment(toolchain, STACK, stacks.overrides(STACK, cluster))
    try:
        yield deployment
    finally:
        deployment.clear_away(cluster.kubectl, namespace)


def test_preview_with_the_policy_pack_plans_creates_only(prod: Deployment) -> None:
    run = prod.preview(policy=True)
    assert run.step_ops() == {"create"}, run.describe()
    mandatory = [v for v in run.policy_violations if v.startswith("mandatory")]
    assert not mandatory, mandatory
    assert "webapp-kubernetes" in run.output, "the policy pack did not run:\n" + run.output


def test_up_from_empty_creates_everything_and_it_becomes_ready(
    prod: Deployment, cluster: ControlPlane, namespace: str, figure: Callable[[str, float], None]
) -> None:
    run = prod.up()
    figure(f"{STACK}: pulumi up from empty", run.seconds)
    assert run.step_ops() == {"create"}, run.describe()
    checks.assert_ready(cluster, namespace)
    assert run.outputs["namespace"] == namespace


def test_the_api_server_admits_the_database_guaranteed_apart_and_under_the_quota(
    prod: Deployment, cluster: ControlPlane, namespace: str
) -> None:
    """Issue 17 point 8: the instance pods (built as the operator builds them from the
    Cluster and its ObjectStore) pass admission with Guaranteed QoS, each on a node of its
    own by a required anti-affinity, and the namespace quota holds them."""
    kubectl = cluster.kubectl
    instances = int(str(stacks.tracked_config(STACK)["webapp:dbInstances"]))
    assert instances > 1, "prod's stack file no longer runs several instances"
    pods = kubectl.items("pods", "-n", namespace, "-l", "cnpg.io/podRole=instance")
    assert len(pods) == instances, [p["metadata"]["name"] for p in pods]
    for pod in pods:
        name = pod["metadata"]["name"]
        assert pod["status"].get("qosClass") == "Guaranteed", (name, pod["status"].get("qosClass"))
        assert pod["status"].get("phase") == "Running", (name, pod["status"].get("phase"))
        required = pod["spec"]["affinity"]["podAntiAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]
        assert [term["topologyKey"] for term in required] == ["kubernetes.io/hostname"], name
    nodes = {pod["spec"]["nodeName"] for pod in pods}
    assert len(nodes) == instances, f"instances share a node: {nodes}"
    (quota,) = kubectl.items("resourcequotas", "-n", namespace)
    hard, used = quota["status"]["hard"], quota["status"]["used"]
    for key, limit in hard.items():
        assert parse_quantity(used[key])[0] <= parse_quantity(limit)[0], (key, used, hard)
    database_cpu = sum(
        parse_quantity(c["resources"]["requests"]["cpu"])[0]
        for pod in pods
        for c in pod["spec"]["containers"]
    )
    assert parse_quantity(used["requests.cpu"])[0] >= database_cpu, (used, database_cpu)


def test_up_again_changes_nothing(prod: Deployment, figure: Callable[[str, float], None]) -> None:
    run = prod.up(expect_no_changes=True)
    figure(f"{STACK}: pulumi up, no changes", run.seconds)
    checks.assert_no_changes(run, "a second up")


EDITS = [
    checks.Edit("scale", {"webapp:minReplicas": "4"},
                frozenset({"webapp-hpa", "webapp-quota", "webapp-pdb"})),
    checks.Edit("env", {"webapp:env": '{"LOG_LEVEL": "debug"}'},
                frozenset({"webapp-deployment", "webapp-config"})),
    checks.Edit("secret env", {"webapp:secretEnv": '{"API_KEY": "e2e-not-a-real-key"}'},
                frozenset({"webapp-deployment", "webapp-credentials"}),
                secrets=("webapp:secretEnv",)),
    checks.Edit("image", {"webapp:image": "nginxinc/nginx-unprivileged:1.28-alpine"},
                frozenset({"webapp-deployment"})),
    # Guaranteed QoS (issue 17 point 8): each request moves with its limit.
    checks.Edit("resources", {"webapp:dbCpuRequest": "2", "webapp:dbCpuLimit": "2",
                              "webapp:dbMemoryRequest": "3Gi", "webapp:dbMemoryLimit": "3Gi"},
                frozenset({"webapp-db-cluster", "webapp-quota"})),
    checks.Edit("volume growth", {"webapp:storageSize": "25Gi"},
                frozenset({"webapp-db-cluster", "webapp-quota"})),
    checks.Edit("backup retention", {"webapp:backupRetentionDays": "21"},
                frozenset({"webapp-db-objectstore"})),
    checks.Edit("engine parameters", {"webapp:dbSlowQueryMs": "250"},
                frozenset({"webapp-db-cluster"})),
]  # fmt: skip


@pytest.mark.parametrize("edit", EDITS, ids=[e.name for e in EDITS])
def test_everyday_edit_changes_only_what_it_concerns(
    edit: checks.Edit, prod: Deployment, cluster: ControlPlane, namespace: str
) -> None:
    checks.apply_edit(edit, prod, cluster, namespace)
