"""The dev stack through the real engine: preview with the policy pack, up from empty, a
no-op up, everyday edits, a bad config value and a destroy that leaves nothing behind.
The tests of this module run in order on one deployment of the stack."""

from __future__ import annotations

from collections.abc import Iterator

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
        # A failed scenario must not leave the stack's objects behind.
        deployment.clear_away()


@pytest.fixture(scope="module")
def namespace() -> str:
    return stacks.tracked_namespace(STACK)


def test_preview_with_the_policy_pack_plans_creates_only(
    dev: Deployment, cluster: ControlPlane, namespace: str
) -> None:
    run = dev.preview(policy=True)
    assert run.steps, run.output
    assert run.step_ops() == {"create"}, run.describe()
    mandatory = [v for v in run.policy_violations if v.startswith("mandatory")]
    assert not mandatory, mandatory
    assert "webapp-kubernetes" in run.output, "the policy pack did not run:\n" + run.output
    assert cluster.kubectl.run("get", "namespace", namespace, check=False).returncode != 0


def test_up_from_empty_creates_everything_and_it_becomes_ready(
    dev: Deployment, cluster: ControlPlane, namespace: str
) -> None:
    run = dev.up()
    FIGURES[f"{STACK}: pulumi up from empty"] = run.seconds
    assert run.step_ops() == {"create"}, run.describe()
    assert run.outputs["namespace"] == namespace
    checks.assert_ready(cluster.kubectl, namespace)
    labels = cluster.kubectl.json("get", "namespace", namespace)["metadata"]["labels"]
    assert labels.get("pod-security.kubernetes.io/enforce") == "restricted"


def test_up_again_changes_nothing(dev: Deployment) -> None:
    run = dev.up(expect_no_changes=True)
    FIGURES[f"{STACK}: pulumi up, no changes"] = run.seconds
    checks.assert_no_changes(run, "a second up")


def test_destroy_leaves_nothing_in_the_api_server(
    dev: Deployment, cluster: ControlPlane, namespace: str
) -> None:
    run = dev.destroy()
    assert run.step_ops() == {"delete"}, run.describe()
    assert checks.remaining(cluster.kubectl, namespace) == []
    labelled = cluster.kubectl.run(
        "get", "clusterroles,clusterrolebindings,priorityclasses,storageclasses,"
        "validatingwebhookconfigurations,mutatingwebhookconfigurations",
        "-l", "app.kubernetes.io/part-of=webapp", "-o", "name",
    ).stdout.split()  # fmt: skip
    assert labelled == []
    assert dev.outputs() == {}
