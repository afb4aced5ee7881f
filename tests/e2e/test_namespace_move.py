"""A namespace move (docs/operations.md, Moving to another namespace) of a stack with an
Ingress, through the real engine, on an API server that refuses a second Ingress for a
host and path, as ingress-nginx's admission webhook does (tests/e2e/ingress_admission.py),
into a namespace created beforehand (as a cloudnative-pg move needs, and where the
provider's preview of a create is a server-side dry run the webhook answers): the move's
preview and `up` go through and delete the old Ingress with the old namespace; once
webapp:namespaceMovedFrom is removed the next `up` creates the Ingress in the new one; a
rename stops at preview; and the next `up` changes nothing. The tests of this module run in
order on one deployment of the dev stack."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.e2e import checks, stacks
from tests.e2e.control_plane import ControlPlane
from tests.e2e.engine import Deployment, EngineError, Toolchain
from tests.e2e.ingress_admission import CONFIGURATION

STACK = "dev"
OLD, NEW = "webapp-move-old", "webapp-move-new"
HOST = "move.e2e.example.com"
INGRESS = "webapp-ingress"


@pytest.fixture(scope="module")
def moving(toolchain: Toolchain, cluster: ControlPlane) -> Iterator[Deployment]:
    config = {**stacks.overrides(STACK, cluster, OLD), "webapp:ingressHost": HOST}
    deployment = Deployment(
        toolchain, STACK, config, directory=toolchain.work / f"project-move-{STACK}"
    )
    try:
        yield deployment
    finally:
        deployment.clear_away(cluster.kubectl, NEW)
        cluster.kubectl.run("delete", "namespace", OLD, "--ignore-not-found", "--wait=false")


def test_up_in_the_old_namespace(moving: Deployment, cluster: ControlPlane) -> None:
    moving.up()
    checks.assert_ready(cluster, OLD)


def test_the_api_server_refuses_a_second_ingress_for_the_host(
    moving: Deployment, cluster: ControlPlane
) -> None:
    kubectl = cluster.kubectl
    if kubectl.run("get", "validatingwebhookconfiguration", CONFIGURATION, check=False).returncode:
        pytest.skip("on a user's cluster the ingress controller's own admission rules apply")
    ingress = kubectl.json("get", "ingress", "webapp", "-n", OLD)
    second = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "webapp", "namespace": "default"},
        "spec": ingress["spec"],
    }
    tried = kubectl.run(
        "create", "--dry-run=server", "-f", "-", input=json.dumps(second), check=False
    )
    assert tried.returncode != 0
    assert f'host "{HOST}" and path "/" is already defined in ingress {OLD}/webapp' in (
        tried.stderr
    ), tried.stderr


def test_the_move_goes_through_and_leaves_nothing_in_the_old_namespace(
    moving: Deployment, cluster: ControlPlane
) -> None:
    cluster.kubectl.run("create", "namespace", NEW)
    moving.set_config({"webapp:namespace": NEW, "webapp:namespaceMovedFrom": OLD})
    preview = moving.preview()
    assert [s.op for s in preview.steps if s.name == INGRESS] == ["delete"], preview.describe()
    run = moving.up()
    assert [s.op for s in run.steps if s.name == INGRESS] == ["delete"], run.describe()
    assert any("declares no Ingress" in d for d in run.diagnostics), run.diagnostics
    assert run.outputs["namespace"] == NEW
    checks.assert_ready(cluster, NEW)
    assert cluster.kubectl.items("ingresses", "-n", NEW) == []
    assert checks.remaining(cluster.kubectl, OLD) == []


def test_without_the_confirmation_the_ingress_comes_back_in_the_new_namespace(
    moving: Deployment, cluster: ControlPlane
) -> None:
    moving.remove_config(["webapp:namespaceMovedFrom"])
    run = moving.up()
    assert [s.op for s in run.steps if s.name == INGRESS] == ["create"], run.describe()
    ingress = cluster.kubectl.json("get", "ingress", "webapp", "-n", NEW)
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == [HOST]
    checks.assert_ready(cluster, NEW)


def test_a_rename_stops_at_preview_with_one_sentence(moving: Deployment) -> None:
    """The app-name guard reads the last update's outputs through the real engine, as the
    namespace guard does."""
    moving.set_config({"webapp:appName": "shop"})
    try:
        with pytest.raises(EngineError) as caught:
            moving.preview()
    finally:
        moving.remove_config(["webapp:appName"])
    sentence = "webapp:appName is 'shop', but this stack's objects are named after 'webapp'"
    assert sentence in caught.value.text, caught.value.text
    assert not caught.value.run.changed(), "a refused rename must stop before any step"


def test_up_after_the_move_changes_nothing(moving: Deployment) -> None:
    checks.assert_no_changes(moving.up(expect_no_changes=True), "after the move")
