"""What the scenarios assert, read from the engine's steps and from the API server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tests.e2e.control_plane import Kubectl
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
        time.sleep(0.5)


def assert_ready(kubectl: Kubectl, namespace: str) -> None:
    # `pulumi up` has awaited them; the controllers may still be writing the last status.
    last: list[str] = []

    def check() -> bool:
        last[:] = not_ready(kubectl, namespace)
        return not last

    try:
        wait_until(f"the workloads of {namespace} to be Ready", check, 60)
    except AssertionError as error:
        raise AssertionError(f"{error}: {last}") from None


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


def apply_edit(edit: Edit, deployment: Deployment, kubectl: Kubectl, namespace: str) -> None:
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
    assert_ready(kubectl, namespace)
    assert_no_changes(deployment.up(expect_no_changes=True), f"after {edit.name}")
