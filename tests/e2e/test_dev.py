"""The dev stack through the real engine: preview with the policy pack, up from empty, a
no-op up, everyday edits, a bad config value and a destroy that leaves nothing behind.
The tests of this module run in order on one deployment of the stack."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.e2e import checks, stacks
from tests.e2e.control_plane import ControlPlane
from tests.e2e.engine import Deployment, EngineError, Toolchain

STACK = "dev"


@pytest.fixture(scope="module")
def namespace() -> str:
    return stacks.tracked_namespace(STACK)


@pytest.fixture(scope="module")
def dev(toolchain: Toolchain, cluster: ControlPlane, namespace: str) -> Iterator[Deployment]:
    deployment = Deployment(toolchain, STACK, stacks.overrides(STACK, cluster))
    try:
        yield deployment
    finally:
        # A failed scenario must not leave the stack's objects behind.
        deployment.clear_away(cluster.kubectl, namespace)


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
    dev: Deployment, cluster: ControlPlane, namespace: str, figure: Callable[[str, float], None]
) -> None:
    run = dev.up()
    figure(f"{STACK}: pulumi up from empty", run.seconds)
    assert run.step_ops() == {"create"}, run.describe()
    assert run.outputs["namespace"] == namespace
    checks.assert_ready(cluster, namespace)
    labels = cluster.kubectl.json("get", "namespace", namespace)["metadata"]["labels"]
    assert labels.get("pod-security.kubernetes.io/enforce") == "restricted"


def test_up_again_changes_nothing(dev: Deployment, figure: Callable[[str, float], None]) -> None:
    run = dev.up(expect_no_changes=True)
    figure(f"{STACK}: pulumi up, no changes", run.seconds)
    checks.assert_no_changes(run, "a second up")


EDITS = [
    checks.Edit("scale", {"webapp:replicas": "2"},
         frozenset({"webapp-deployment", "webapp-quota", "webapp-pdb"})),
    checks.Edit("env", {"webapp:env": '{"LOG_LEVEL": "debug"}'},
         frozenset({"webapp-deployment", "webapp-config"})),
    checks.Edit("secret env", {"webapp:secretEnv": '{"API_KEY": "e2e-not-a-real-key"}'},
         frozenset({"webapp-deployment", "webapp-credentials"}), secrets=("webapp:secretEnv",)),
    checks.Edit("image", {"webapp:image": "nginxinc/nginx-unprivileged:1.28-alpine"},
         frozenset({"webapp-deployment"})),
    # The namespace's container defaults (LimitRange) are the app's resources.
    checks.Edit("resources", {"webapp:appCpuLimit": "750m", "webapp:appMemoryRequest": "160Mi"},
         frozenset({"webapp-deployment", "webapp-quota", "webapp-limits"})),
    checks.Edit("volume growth", {"webapp:storageSize": "2Gi"},
         frozenset({"webapp-db-data", "webapp-quota"})),
    checks.Edit("backup retention", {"webapp:backupRetain": "5"},
         frozenset({"webapp-db-backup"})),
    checks.Edit("engine parameters", {"webapp:dbSlowQueryMs": "250"},
         frozenset({"webapp-db-config", "webapp-db-statefulset"})),
]  # fmt: skip


@pytest.mark.parametrize("edit", EDITS, ids=[e.name for e in EDITS])
def test_everyday_edit_changes_only_what_it_concerns(
    edit: checks.Edit, dev: Deployment, cluster: ControlPlane, namespace: str
) -> None:
    checks.apply_edit(edit, dev, cluster, namespace)


# (key, bad value, what the user must be told): the program's own check, and the CLI's
# check of a declared type (Pulumi.yaml), which runs before the program does.
BAD_VALUES = [
    ("webapp:serviceType", "Loadbalancer",
     "webapp:serviceType is 'Loadbalancer', but "),
    ("webapp:replicas", "three",
     "Stack 'dev' with configuration key 'replicas' must be of type 'integer'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("key", "value", "sentence"), BAD_VALUES, ids=[k for k, _, _ in BAD_VALUES]
)
def test_a_bad_config_value_stops_with_one_sentence(
    key: str, value: str, sentence: str, dev: Deployment
) -> None:
    # The value the edits left, not the stack file's: the no-op up that follows checks it.
    before = dev.stack.get_all_config().get(key)
    dev.set_config({key: value})
    try:
        with pytest.raises(EngineError) as caught:
            dev.preview()
    finally:
        if before is None:
            dev.remove_config([key])
        else:
            dev.set_config({key: before.value})
    error = caught.value
    assert error.exit_code not in (None, 0), error.text
    shown = [line for line in error.text.splitlines() if sentence in line]
    assert shown, f"the user is not told {sentence!r}:\n{error.text}"
    assert "Traceback" not in error.text, error.text
    assert not error.run.changed(), "a bad value must stop the program before any step"
    if key.startswith("webapp:") and "must be of type" not in sentence:
        # One sentence: the key, the bad value, what is allowed and the command that fixes it.
        # The inline program's host repeats a RunError as "an unhandled error occurred:
        # <message>"; the Python language host prints the message alone.
        (line,) = {
            line.strip().removeprefix("error: ").removeprefix("an unhandled error occurred: ")
            for line in shown
        }
        assert "; fix it with: pulumi config set --stack dev webapp:serviceType " in line, line


def test_after_the_bad_values_nothing_changes(dev: Deployment) -> None:
    checks.assert_no_changes(dev.up(expect_no_changes=True), "with the values restored")


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
