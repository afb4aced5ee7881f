"""What the scenarios assert, read from the engine's steps and from the API server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from components._shared.quantity import parse_quantity
from tests.e2e.control_plane import ControlPlane, Kubectl
from tests.e2e.engine import REMOVING, Deployment, Run
from tests.e2e.stand_ins import CNPG_CLUSTERS

# Objects whose replacement loses data or identity: volumes, the database's workload,
# the generated password and the Secrets that carry it.
STATEFUL_TYPES = {
    "kubernetes:core/v1:PersistentVolumeClaim",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:postgresql.cnpg.io/v1:Cluster",
    "kubernetes:core/v1:Namespace",
    "random:index/randomPassword:RandomPassword",
}


def not_ready(kubectl: Kubectl, namespace: str) -> list[str]:
    """Workloads of the namespace that are not rolled out and Ready at their current
    generation; empty when all are."""
    waiting = []
    for kind in ("deployments", "statefulsets"):
        for item in kubectl.items(kind, "-n", namespace):
            name = f"{kind[:-1]}/{item['metadata']['name']}"
            spec, status = item["spec"], item.get("status", {})
            want = spec.get("replicas", 1)
            if status.get("observedGeneration") != item["metadata"]["generation"]:
                waiting.append(f"{name}: generation not observed")
            elif status.get("readyReplicas", 0) != want or status.get("updatedReplicas", 0) != want:
                waiting.append(
                    f"{name}: {status.get('readyReplicas', 0)} ready, "
                    f"{status.get('updatedReplicas', 0)} updated of {want}"
                )
    for item in kubectl.items(CNPG_CLUSTERS, "-n", namespace):
        status = item.get("status", {})
        conditions = status.get("conditions", [])
        if not any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            waiting.append(f"cluster/{item['metadata']['name']}: not Ready")
        elif status.get("readyInstances") != item["spec"].get("instances", 1):
            waiting.append(
                f"cluster/{item['metadata']['name']}: {status.get('readyInstances')} instances "
                f"ready of {item['spec'].get('instances', 1)}"
            )
    return waiting


def wait_until(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def assert_ready(cluster: ControlPlane, namespace: str) -> None:
    """The workloads of `namespace` are Ready at their current spec. `pulumi up` has awaited
    what the program asks it to; the controllers may still be writing the last status, and
    the CloudNativePG operator stand-in may not have acted on an edit yet (a Cluster's stale
    Ready condition, as CNPG's, does not say so: the stand-in does)."""
    assert cluster.stand_ins is not None
    errors = cluster.stand_ins.errors
    last: list[str] = []

    def check() -> bool:
        if errors.since_mark():
            raise AssertionError("a stand-in broke:\n" + "\n".join(errors.since_mark()))
        last[:] = cluster.stand_ins.unsettled(namespace) + not_ready(cluster.kubectl, namespace)
        return not last

    try:
        wait_until(f"the workloads of {namespace} to be Ready", check, 90)
    except AssertionError as error:
        if errors.since_mark():
            raise
        refusals = errors.describe()
        told = f"\nthe stand-ins' last refusals:\n{refusals}" if refusals else ""
        raise AssertionError(f"{error}: {last}{told}") from None


def assert_instances_follow(kubectl: Kubectl, namespace: str) -> None:
    """Each CloudNativePG Cluster of `namespace` runs as many instance pods as it asks for,
    each with the resources it asks for: its current spec, not the one before an edit."""
    for item in kubectl.items(CNPG_CLUSTERS, "-n", namespace):
        name, spec = item["metadata"]["name"], item["spec"]
        pods = kubectl.items(
            "pods", "-n", namespace, "-l", f"cnpg.io/cluster={name},cnpg.io/podRole=instance"
        )
        assert len(pods) == spec.get("instances", 1), (name, [p["metadata"]["name"] for p in pods])
        wanted = _quantities(spec.get("resources") or {})
        for pod in pods:
            (postgres,) = [c for c in pod["spec"]["containers"] if c["name"] == "postgres"]
            assert _quantities(postgres.get("resources") or {}) == wanted, (
                f"{pod['metadata']['name']} runs {postgres.get('resources')}, the Cluster asks "
                f"for {spec.get('resources')}"
            )


def _quantities(resources: dict) -> dict[str, dict[str, object]]:
    return {
        kind: {key: parse_quantity(str(value))[0] for key, value in (values or {}).items()}
        for kind, values in resources.items()
    }


def assert_only(run: Run, allowed: Iterable[str], what: str) -> None:
    """Every step that changes something changes one of `allowed` (resource names)."""
    allowed = set(allowed)
    unexpected = [s for s in run.changed() if s.name not in allowed]
    assert not unexpected, (
        f"{what} changed more than the objects it concerns ({sorted(allowed)}):\n{run.describe()}"
    )


def assert_safe(run: Run, what: str) -> None:
    """No stateful object replaced and no object the program names deleted: those are
    what other objects and people refer to by name."""
    replaced = [s for s in run.steps if s.op in REMOVING and s.type in STATEFUL_TYPES]
    assert not replaced, f"{what} replaces or deletes stateful objects:\n{run.describe()}"
    fixed = [s for s in run.steps if s.op in REMOVING and s.fixed_name]
    assert not fixed, f"{what} deletes objects the program names:\n{run.describe()}"


def assert_no_changes(run: Run, what: str) -> None:
    assert not run.changed(), f"{what}: the next run should change nothing:\n{run.describe()}"


def remaining(kubectl: Kubectl, namespace: str) -> list[str]:
    """Anything of the namespace still in the API server, the namespace included."""
    found = []
    if kubectl.run("get", "namespace", namespace, check=False).returncode == 0:
        found.append(f"namespace/{namespace}")
    kinds = kubectl.run("api-resources", "--verbs=list", "--namespaced", "-o", "name").stdout
    listed = ",".join(k for k in kinds.split() if k not in {"events", "events.events.k8s.io"})
    result = kubectl.run("get", listed, "-n", namespace, "-o", "name", "--ignore-not-found")
    found += result.stdout.split()
    return found


@dataclass(frozen=True)
class Edit:
    """An everyday change: the config it sets and the resources (by name) it concerns."""

    name: str
    config: dict[str, str]
    concerns: frozenset[str]
    secrets: tuple[str, ...] = ()


def apply_edit(edit: Edit, deployment: Deployment, cluster: ControlPlane, namespace: str) -> None:
    """Previews then ups the edit: only what it concerns changes, as previewed, safely; the
    workloads are Ready again and the next up changes nothing."""
    deployment.set_config(edit.config, edit.secrets)
    preview = deployment.preview()
    assert preview.changed(), f"{edit.name}: the preview plans no change"
    assert_only(preview, edit.concerns, f"{edit.name} (preview)")
    assert_safe(preview, f"{edit.name} (preview)")
    run = deployment.up()
    assert run.changed_names() == preview.changed_names(), (
        f"{edit.name}: up did other than its preview planned:\n{preview.describe()}\n---\n"
        f"{run.describe()}"
    )
    assert_safe(run, edit.name)
    assert_ready(cluster, namespace)
    assert_instances_follow(cluster.kubectl, namespace)
    assert_no_changes(deployment.up(expect_no_changes=True), f"after {edit.name}")
