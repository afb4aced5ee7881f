"""The dev stack through the real engine: preview with the policy pack, up from empty, a
no-op up, everyday edits, a bad config value and a destroy that leaves nothing behind.
The tests of this module run in order on one deployment of the stack."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e import checks, stacks
from tests.e2e.conftest import FIGURES
from tests.e2e.control_plane import ControlPlane
from tests.e2e.engine import Deployment, Toolchain

STACK = "dev"


@pytest.fixture(scope="module")
def dev(toolchain: Toolchain, cluster: ControlPlane) -> Iterator[Deployment]:
    deployment = Deployment(toolchain, STACK, stacks.overrides(STACK, cluster.context))
    try:
        yield deployment
    finally:
        # A failed scenario must not leave the stack's objects for the next session.
        if deployment.outputs():
            deployment.destroy()
        deployment.remove()


@pytest.fixture(scope="module")
def namespace() -> str:
    return stacks.tracked_namespace(STACK)


def test_preview_with_the_policy_pack_plans_creates_only(
    dev: Deployment, cluster: ControlPlane, namespace: str
) -> None:
    run = dev.preview(policy=True)
    assert run.steps, run.output
    assert {s.op for s in run.steps} == {"create"}, run.describe()
    mandatory = [v for v in run.policy_violations if v.startswith("mandatory")]
    assert not mandatory, mandatory
    assert "webapp-kubernetes" in run.output, "the policy pack did not run:\n" + run.output
    assert cluster.kubectl.run("get", "namespace", namespace, check=False).returncode != 0


def test_up_from_empty_creates_everything_and_it_becomes_ready(
    dev: Deployment, cluster: ControlPlane, namespace: str
) -> None:
    run = dev.up()
    FIGURES[f"{STACK}: pulumi up from empty"] = run.seconds
    assert {s.op for s in run.steps} == {"create"}, run.describe()
    assert run.outputs["namespace"] == namespace
    checks.assert_ready(cluster.kubectl, namespace)
    labels = cluster.kubectl.json("get", "namespace", namespace)["metadata"]["labels"]
    assert labels.get("pod-security.kubernetes.io/enforce") == "restricted"


def test_up_again_changes_nothing(dev: Deployment) -> None:
    run = dev.up(expect_no_changes=True)
    FIGURES[f"{STACK}: pulumi up, no changes"] = run.seconds
    checks.assert_no_changes(run, "a second up")


@dataclass(frozen=True)
class Edit:
    """An everyday change: the config it sets and the resources (by name) it concerns."""

    name: str
    config: dict[str, str]
    concerns: frozenset[str]
    secrets: tuple[str, ...] = ()


EDITS = [
    Edit("scale", {"webapp:replicas": "2"},
         frozenset({"webapp-deployment", "webapp-quota", "webapp-pdb"})),
    Edit("env", {"webapp:env": '{"LOG_LEVEL": "debug"}'},
         frozenset({"webapp-deployment", "webapp-config"})),
    Edit("secret env", {"webapp:secretEnv": '{"API_KEY": "e2e-not-a-real-key"}'},
         frozenset({"webapp-deployment", "webapp-credentials"}), secrets=("webapp:secretEnv",)),
    Edit("image", {"webapp:image": "nginxinc/nginx-unprivileged:1.28-alpine"},
         frozenset({"webapp-deployment"})),
    Edit("resources", {"webapp:appCpuLimit": "750m", "webapp:appMemoryRequest": "160Mi"},
         frozenset({"webapp-deployment", "webapp-quota"})),
    Edit("volume growth", {"webapp:storageSize": "2Gi"},
         frozenset({"webapp-db-data", "webapp-quota"})),
    Edit("backup retention", {"webapp:backupRetain": "5"},
         frozenset({"webapp-db-backup"})),
    Edit("engine parameters", {"webapp:dbSlowQueryMs": "250"},
         frozenset({"webapp-db-config", "webapp-db-statefulset"})),
]  # fmt: skip


@pytest.mark.parametrize("edit", EDITS, ids=[e.name for e in EDITS])
def test_everyday_edit_changes_only_what_it_concerns(
    edit: Edit, dev: Deployment, cluster: ControlPlane, namespace: str
) -> None:
    dev.set_config(edit.config, edit.secrets)
    preview = dev.preview()
    assert preview.changed(), f"{edit.name}: the preview plans no change"
    checks.assert_only(preview, edit.concerns, f"{edit.name} (preview)")
    checks.assert_safe(preview, f"{edit.name} (preview)")
    run = dev.up()
    assert run.changed_names() == preview.changed_names(), (
        f"{edit.name}: up did other than its preview planned:\n{preview.describe()}\n---\n"
        f"{run.describe()}"
    )
    checks.assert_safe(run, edit.name)
    checks.assert_ready(cluster.kubectl, namespace)
    checks.assert_no_changes(dev.up(expect_no_changes=True), f"after {edit.name}")


def test_destroy_leaves_nothing_in_the_api_server(
    dev: Deployment, cluster: ControlPlane, namespace: str
) -> None:
    run = dev.destroy()
    assert {s.op for s in run.steps} == {"delete"}, run.describe()
    assert checks.remaining(cluster.kubectl, namespace) == []
    labelled = cluster.kubectl.run(
        "get", "clusterroles,clusterrolebindings,priorityclasses,storageclasses,"
        "validatingwebhookconfigurations,mutatingwebhookconfigurations",
        "-l", "app.kubernetes.io/part-of=webapp", "-o", "name",
    ).stdout.split()  # fmt: skip
    assert labelled == []
    assert dev.outputs() == {}
