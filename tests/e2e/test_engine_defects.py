"""The four defects the real engine first showed (issue 14), each as the user meets it,
through the real CLI on the suite's control plane:

1. a password rotation (`pulumi up --replace <RandomPassword URN>`, docs/operations.md)
   deletes no object the program names, on both engines;
2. a refused `pulumi destroy` of prod leaves the database, its Secrets, NetworkPolicies,
   backups and alerts and the namespace's guards exactly as they were, and the documented
   unprotect path then works;
3. a smaller `storageSize` is refused at `pulumi preview` with one sentence;
4. a new stack over the data a teardown retained stops at `pulumi preview` (and `up`) with
   one sentence naming `webapp:adoptExisting`, and takes the data back with it.

The tests of a module run in order on one deployment per engine; each stack has a
namespace of its own, so the other modules' stacks are not touched."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator

import pytest

from tests.e2e import checks, stacks
from tests.e2e.control_plane import ControlPlane, Kubectl
from tests.e2e.engine import REMOVING, Deployment, EngineError, Run, Toolchain

PASSWORD = "random:index/randomPassword:RandomPassword"
CLUSTER_RESOURCE = "clusters.postgresql.cnpg.io"
# What a refused destroy must leave as it was: every kind the program puts in the
# namespace beside the app's workload.
GUARDED_KINDS = (
    "clusters.postgresql.cnpg.io,scheduledbackups.postgresql.cnpg.io,"
    "objectstores.barmancloud.cnpg.io,podmonitors.monitoring.coreos.com,"
    "servicemonitors.monitoring.coreos.com,prometheusrules.monitoring.coreos.com,"
    "networkpolicies,secrets,configmaps,resourcequotas,limitranges,statefulsets,"
    "persistentvolumeclaims,services,cronjobs"
)


def _password_urn(stack: str) -> str:
    return (
        f"urn:pulumi:{stack}::webapp::webapp:index:PostgresDatabase${PASSWORD}::webapp-db-password"
    )


def _deletes_named(run: Run) -> list[str]:
    return [f"{s.op} {s.name}" for s in run.steps if s.op in REMOVING and s.fixed_name]


def _ops(run: Run) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for step in run.steps:
        found.setdefault(step.name, []).append(step.op)
    return found


def _created_before_deleted(run: Run, name: str) -> None:
    """The object got a new name: its replacement is created before the old one goes."""
    ops = _ops(run)[name]
    assert "create-replacement" in ops and "delete-replaced" in ops, run.describe()
    assert ops.index("create-replacement") < ops.index("delete-replaced"), run.describe()


def _fingerprint(kubectl: Kubectl, namespace: str) -> dict[str, tuple[str, str]]:
    """kind/name -> (uid, content hash) of the program's objects in the namespace but the
    app's own, and of the namespace itself."""
    found = {}
    items = kubectl.items(GUARDED_KINDS, "-n", namespace, "-l", "app.kubernetes.io/part-of=webapp")
    items.append(kubectl.json("get", "namespace", namespace))
    for item in items:
        labels = item["metadata"].get("labels") or {}
        if labels.get("app.kubernetes.io/component") == "web":
            continue
        content = {k: v for k, v in item.items() if k not in ("metadata", "status")}
        content["labels"] = labels
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
        found[f"{item['kind']}/{item['metadata']['name']}"] = (item["metadata"]["uid"], digest)
    return found


def _secret_password(kubectl: Kubectl, namespace: str, name: str) -> str:
    data = kubectl.json("get", "secret", name, "-n", namespace)["data"]
    return base64.b64decode(data["password"]).decode()


def _deployment(
    toolchain: Toolchain, cluster: ControlPlane, stack: str, namespace: str
) -> Iterator[Deployment]:
    """One stack of this module in a namespace of its own, cleared away after its tests."""
    stacks.prepare(stack, cluster, namespace)
    deployment = Deployment(
        toolchain,
        stack,
        stacks.overrides(stack, cluster, namespace),
        directory=toolchain.work / f"project-defects-{stack}",
    )
    try:
        yield deployment
    finally:
        deployment.clear_away(cluster.kubectl, namespace)


# --- cloudnative-pg: prod ----------------------------------------------------------------

PROD_NAMESPACE = "webapp-defects-prod"


@pytest.fixture(scope="module")
def prod(toolchain: Toolchain, cluster: ControlPlane) -> Iterator[Deployment]:
    yield from _deployment(toolchain, cluster, "prod", PROD_NAMESPACE)


def test_prod_up(prod: Deployment, cluster: ControlPlane) -> None:
    prod.up()
    checks.assert_ready(cluster, PROD_NAMESPACE)


def test_prod_rotation_deletes_no_named_object(prod: Deployment, cluster: ControlPlane) -> None:
    kubectl = cluster.kubectl
    before = kubectl.json("get", CLUSTER_RESOURCE, "webapp-db", "-n", PROD_NAMESPACE)
    urn = _password_urn("prod")
    preview = prod.preview(replace=[urn])
    assert _deletes_named(preview) == [], preview.describe()
    run = prod.up(replace=[urn])
    assert _deletes_named(run) == [], run.describe()
    _created_before_deleted(run, "webapp-db-app-secret")
    _created_before_deleted(run, "webapp-credentials")
    # The Cluster (same object, same uid) is pointed at the new Secret in place.
    assert _ops(run)["webapp-db-cluster"] == ["update"], run.describe()
    after = kubectl.json("get", CLUSTER_RESOURCE, "webapp-db", "-n", PROD_NAMESPACE)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    secret = after["spec"]["managed"]["roles"][0]["passwordSecret"]["name"]
    assert secret != before["spec"]["managed"]["roles"][0]["passwordSecret"]["name"]
    password = prod.outputs()["databasePassword"]
    assert _secret_password(kubectl, PROD_NAMESPACE, secret) == password
    old = before["spec"]["managed"]["roles"][0]["passwordSecret"]["name"]
    assert kubectl.run("get", "secret", old, "-n", PROD_NAMESPACE, check=False).returncode != 0
    checks.assert_ready(cluster, PROD_NAMESPACE)
    checks.assert_no_changes(prod.up(expect_no_changes=True), "after the rotation")


def test_prod_shrink_is_refused_at_preview(prod: Deployment, cluster: ControlPlane) -> None:
    live = prod.outputs()["databaseStorageSize"]
    spec = cluster.kubectl.json("get", CLUSTER_RESOURCE, "webapp-db", "-n", PROD_NAMESPACE)
    assert spec["spec"]["storage"]["size"] == live
    prod.set_config({"webapp:storageSize": "1Gi"})
    try:
        with pytest.raises(EngineError) as caught:
            prod.preview()
    finally:
        prod.set_config({"webapp:storageSize": live})
    error = caught.value
    sentence = (
        f"webapp:storageSize is '1Gi', but the database volume is {live} and a volume can "
        "grow but never shrink, so the change is not applied; fix it with: pulumi config "
        f"set --stack prod webapp:storageSize {live}"
    )
    assert sentence in error.text, error.text
    assert "Traceback" not in error.text, error.text
    assert not error.run.changed(), error.run.describe()
    checks.assert_no_changes(prod.up(expect_no_changes=True), "with the size restored")


def test_prod_refused_destroy_keeps_the_database_as_it_was(
    prod: Deployment, cluster: ControlPlane
) -> None:
    kubectl = cluster.kubectl
    before = _fingerprint(kubectl, PROD_NAMESPACE)
    kinds = {key.split("/")[0] for key in before}
    for kind in (
        "Cluster", "ScheduledBackup", "ObjectStore", "PodMonitor", "PrometheusRule",
        "NetworkPolicy", "Secret", "ResourceQuota", "LimitRange", "Namespace",
    ):  # fmt: skip
        assert kind in kinds, f"no {kind} to keep: {sorted(before)}"
    with pytest.raises(EngineError) as caught:
        prod.destroy()
    text = caught.value.text
    assert "webapp-db-deletion-guard" in text and "because it is protected" in text, text
    assert _fingerprint(kubectl, PROD_NAMESPACE) == before
    # The guard's deletion is the one attempted and refused; only the app's objects go.
    deleted = {
        s.name
        for s in caught.value.run.steps
        if s.op == "delete" and s.name != "webapp-db-deletion-guard"
    }
    assert deleted and all(not name.startswith("webapp-db") for name in deleted), deleted


def test_prod_unprotect_path_then_destroys(prod: Deployment, cluster: ControlPlane) -> None:
    """docs/operations.md, Teardown: unprotect, destroy; the namespace and the Cluster are
    retained for `kubectl delete namespace` (or for the next scenario)."""
    prod.stack._run_pulumi_cmd_sync(["state", "unprotect", "--all", "--yes"])
    run = prod.destroy()
    assert run.steps and run.step_ops() == {"delete"}, run.describe()
    kubectl = cluster.kubectl
    assert kubectl.run("get", "namespace", PROD_NAMESPACE, check=False).returncode == 0
    assert kubectl.items(CLUSTER_RESOURCE, "-n", PROD_NAMESPACE)
    assert kubectl.items("networkpolicies", "-n", PROD_NAMESPACE) == []
    assert prod.outputs() == {}


def test_prod_new_stack_takes_the_retained_database_back(
    prod: Deployment, toolchain: Toolchain, cluster: ControlPlane
) -> None:
    kubectl = cluster.kubectl
    retained = kubectl.json("get", CLUSTER_RESOURCE, "webapp-db", "-n", PROD_NAMESPACE)
    prod.remove()
    again = Deployment(
        toolchain,
        "prod",
        stacks.overrides("prod", cluster, PROD_NAMESPACE),
        directory=toolchain.work / "project-defects-prod-again",
    )
    prod.stack = again.stack  # the fixture clears this stack away at the end
    prod.project = again.project
    # The issue saw `up` fail on the new field manager's conflicts with the old one's fields,
    # some objects in. Now preview and up stop with one sentence that names the way back,
    # before anything in the namespace is applied.
    for verb in (again.preview, again.up):
        with pytest.raises(EngineError) as caught:
            verb()
        text = caught.value.text
        assert (
            f"webapp:namespace is '{PROD_NAMESPACE}', but that namespace holds the objects of "
            "another stack (field manager pulumi-kubernetes-" in text
        ), text
        assert (
            "; to take them over for one update, fix it with: pulumi config set --stack prod "
            "webapp:adoptExisting true (docs/operations.md, Retained data)" in text
        ), text
        assert "Traceback" not in text and "conflict" not in text.lower(), text
        outside = [
            s.urn
            for s in caught.value.run.changed()
            if s.type.startswith("kubernetes:") and "AppNamespace$" not in s.urn
        ]
        assert outside == [], caught.value.run.describe()
    kept = kubectl.json("get", CLUSTER_RESOURCE, "webapp-db", "-n", PROD_NAMESPACE)
    assert kept["metadata"]["generation"] == retained["metadata"]["generation"]
    again.set_config({"webapp:adoptExisting": "true"})
    run = again.up()
    assert "webapp:adoptExisting is on" in run.output + "\n".join(run.diagnostics)
    adopted = kubectl.json("get", CLUSTER_RESOURCE, "webapp-db", "-n", PROD_NAMESPACE)
    assert adopted["metadata"]["uid"] == retained["metadata"]["uid"], "the Cluster was re-created"
    secret = adopted["spec"]["managed"]["roles"][0]["passwordSecret"]["name"]
    assert _secret_password(kubectl, PROD_NAMESPACE, secret) == again.outputs()["databasePassword"]
    checks.assert_ready(cluster, PROD_NAMESPACE)
    again.remove_config(["webapp:adoptExisting"])
    cleared = again.up()
    assert _deletes_named(cleared) == [], cleared.describe()
    checks.assert_no_changes(again.up(expect_no_changes=True), "after the adoption")


# --- statefulset: dev --------------------------------------------------------------------

DEV_NAMESPACE = "webapp-defects-dev"


@pytest.fixture(scope="module")
def dev(toolchain: Toolchain, cluster: ControlPlane) -> Iterator[Deployment]:
    yield from _deployment(toolchain, cluster, "dev", DEV_NAMESPACE)


def test_dev_rotation_deletes_no_named_object(dev: Deployment, cluster: ControlPlane) -> None:
    kubectl = cluster.kubectl
    dev.up()
    claim = kubectl.json("get", "pvc", "webapp-db-data", "-n", DEV_NAMESPACE)["metadata"]["uid"]
    urns = [
        _password_urn("dev"),
        _password_urn("dev").replace("db-password", "db-superuser-password"),
    ]
    run = dev.up(replace=urns)
    assert _deletes_named(run) == [], run.describe()
    _created_before_deleted(run, "webapp-db-credentials")
    _created_before_deleted(run, "webapp-credentials")
    ops = _ops(run)
    assert ops["webapp-db-statefulset"] == ["update"], run.describe()
    assert ops["webapp-deployment"] == ["update"], run.describe()
    after = kubectl.json("get", "pvc", "webapp-db-data", "-n", DEV_NAMESPACE)["metadata"]["uid"]
    assert after == claim, "the data volume was replaced"
    checks.assert_ready(cluster, DEV_NAMESPACE)
    checks.assert_no_changes(dev.up(expect_no_changes=True), "after the rotation")


def test_dev_shrink_is_refused_at_preview(dev: Deployment, cluster: ControlPlane) -> None:
    live = dev.outputs()["databaseStorageSize"]
    claim = cluster.kubectl.json("get", "pvc", "webapp-db-data", "-n", DEV_NAMESPACE)
    assert claim["spec"]["resources"]["requests"]["storage"] == live
    dev.set_config({"webapp:storageSize": "512Mi"})
    try:
        with pytest.raises(EngineError) as caught:
            dev.preview()
    finally:
        dev.set_config({"webapp:storageSize": live})
    assert (
        f"webapp:storageSize is '512Mi', but the database volume is {live} and a volume can "
        "grow but never shrink" in caught.value.text
    ), caught.value.text
    assert not caught.value.run.changed()
