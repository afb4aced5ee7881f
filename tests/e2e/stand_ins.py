"""STAND-INS for what a real cluster's controllers would write, and only that: status.

- LOAD BALANCER STAND-IN: gives every LoadBalancer Service an address in 127.0.0.0/8, as a
  cloud's load balancer controller would (the provider awaits one).
- INGRESS CONTROLLER STAND-IN: gives every Ingress an address in 127.0.0.0/8 (awaited too).
- CLOUDNATIVEPG OPERATOR STAND-IN: creates each postgresql.cnpg.io Cluster's instance
  pods as CloudNativePG 1.30 and the Barman Cloud plugin 0.14 build them from the Cluster and
  its ObjectStore (resources of the bootstrap init container, the plugin's sidecar and the
  postgres container, the anti-affinity the Cluster asks for, the operator's restricted
  security context, owned by the Cluster), so the API server admits them or not (Pod Security,
  ResourceQuota, LimitRange, QoS class) and the scheduler places them; it re-creates a pod
  whose spec no longer matches, and reports the Cluster Ready, with its ready instances, once
  they are all Ready, as CNPG does (its Ready condition has no observedGeneration, so after
  an update it stays the old True until the operator reacts). No operator can run here: it
  would dial pod IPs, and no container runs under kwok. The stand-in creates no Services or
  claims and does no switchover, so nothing here proves the operator accepts the Cluster
  beyond its CRD schema and the pods it would make.
- VOLUME RECYCLER STAND-IN: makes a Released PersistentVolume of the harness' pool
  Available again (as a provisioner would hand out a fresh volume), so scenarios that
  delete claims do not run the pool dry. A volume whose claim still exists stays bound.

Each one watches with `kubectl get --watch` and patches the status subresource; none sends
traffic anywhere but to the API server on 127.0.0.1 (or the user's throwaway cluster).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from tests.e2e.control_plane import VOLUME_POOL_PREFIX, Kubectl

LOAD_BALANCER_ADDRESS = "127.0.0.42"
INGRESS_ADDRESS = "127.0.0.43"


def _objects(stream) -> object:  # noqa: ANN001
    """The JSON documents kubectl --watch -o json writes one after another."""
    decoder = json.JSONDecoder()
    buffer = ""
    for line in stream:
        buffer += line
        while buffer.strip():
            try:
                document, end = decoder.raw_decode(buffer.lstrip())
            except ValueError:
                break
            buffer = buffer.lstrip()[end:]
            yield document


class Watch(threading.Thread):
    """Calls `handle` for every object of a kind as it is added or changed, until stopped;
    restarts the watch when kubectl ends it."""

    def __init__(
        self,
        kubectl: Kubectl,
        resource: str,
        handle: Callable[[dict], None],
        namespaced: bool = True,
    ) -> None:
        super().__init__(daemon=True, name=f"stand-in {resource}")
        self.kubectl = kubectl
        self.resource = resource
        self.handle = handle
        self.stopping = threading.Event()
        self.process: subprocess.Popen | None = None
        self.errors: list[str] = []
        self.scope = ["--all-namespaces"] if namespaced else []

    def run(self) -> None:
        while not self.stopping.is_set():
            self.process = subprocess.Popen(
                [*self.kubectl.base(), "get", self.resource, *self.scope, "--watch",
                 "-o", "json", "--request-timeout=0"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                start_new_session=True,
            )  # fmt: skip
            assert self.process.stdout
            for document in _objects(self.process.stdout):
                if self.stopping.is_set():
                    break
                try:
                    self.handle(document)
                except AssertionError as error:
                    # A patch can lose a race with a delete; the next event retries.
                    self.errors.append(str(error))
            self.process.wait()
            self.stopping.wait(0.5)

    def stop(self) -> None:
        self.stopping.set()
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.join(5)


def _patch_status(kubectl: Kubectl, resource: str, obj: dict, status: dict) -> None:
    metadata = obj["metadata"]
    kubectl.run(
        "patch", resource, metadata["name"], "-n", metadata["namespace"],
        "--subresource=status", "--type=merge", "-p", json.dumps({"status": status}),
    )  # fmt: skip


def load_balancer_stand_in(kubectl: Kubectl) -> Watch:
    def handle(service: dict) -> None:
        if service.get("spec", {}).get("type") != "LoadBalancer":
            return
        if service.get("status", {}).get("loadBalancer", {}).get("ingress"):
            return
        _patch_status(
            kubectl,
            "service",
            service,
            {"loadBalancer": {"ingress": [{"ip": LOAD_BALANCER_ADDRESS, "ipMode": "VIP"}]}},
        )

    return Watch(kubectl, "services", handle)


def ingress_controller_stand_in(kubectl: Kubectl) -> Watch:
    def handle(ingress: dict) -> None:
        if ingress.get("status", {}).get("loadBalancer", {}).get("ingress"):
            return
        _patch_status(
            kubectl,
            "ingress.networking.k8s.io",
            ingress,
            {"loadBalancer": {"ingress": [{"ip": INGRESS_ADDRESS}]}},
        )

    return Watch(kubectl, "ingresses.networking.k8s.io", handle)


CNPG_CLUSTERS = "clusters.postgresql.cnpg.io"
OBJECT_STORES = "objectstores.barmancloud.cnpg.io"
BARMAN_CLOUD_PLUGIN = "barman-cloud.cloudnative-pg.io"
# The stand-in's record of the spec it built a pod from (CNPG keeps one too: cnpg.io/podSpec).
POD_SPEC_ANNOTATION = "e2e.webapp/stand-in-pod-spec"
# CNPG 1.30's fixed default security context (pkg/specs: postgres uid/gid 26).
_POSTGRES_UID = 26
_CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "privileged": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _anti_affinity(name: str, affinity: dict) -> dict:
    """CNPG's CreateAffinitySection: one term over the Cluster's instances, required or
    preferred as the Cluster says, on its topologyKey."""
    if affinity.get("enablePodAntiAffinity") is False:
        return {}
    term = {
        "labelSelector": {
            "matchExpressions": [
                {"key": "cnpg.io/cluster", "operator": "In", "values": [name]},
                {"key": "cnpg.io/podRole", "operator": "In", "values": ["instance"]},
            ]
        },
        "topologyKey": affinity.get("topologyKey") or "kubernetes.io/hostname",
    }
    if affinity.get("podAntiAffinityType") == "required":
        return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": term}
            ]
        }
    }


def _sidecar_resources(kubectl: Kubectl, cluster: dict) -> dict | None:
    """The Barman Cloud plugin's sidecar resources (its ObjectStore's
    instanceSidecarConfiguration), when the Cluster archives through the plugin."""
    for plugin in cluster["spec"].get("plugins") or []:
        if plugin.get("name") != BARMAN_CLOUD_PLUGIN:
            continue
        store = (plugin.get("parameters") or {}).get("barmanObjectName")
        found = kubectl.run(
            "get", OBJECT_STORES, store, "-n", cluster["metadata"]["namespace"], "-o", "json",
            check=False,
        )  # fmt: skip
        if found.returncode != 0:
            raise AssertionError(f"the Cluster's ObjectStore {store} does not exist")
        sidecar = json.loads(found.stdout)["spec"].get("instanceSidecarConfiguration") or {}
        return sidecar.get("resources") or {}
    return None


def cnpg_instance_pod(cluster: dict, index: int, sidecar: dict | None) -> dict:
    """Instance pod `<cluster>-<index>` as the operator (and the plugin's injection) builds
    it; no process of it ever runs."""
    spec, metadata = cluster["spec"], cluster["metadata"]
    name = metadata["name"]
    resources = spec.get("resources") or {}
    image = spec.get("imageName", "ghcr.io/cloudnative-pg/postgresql")
    init = [{"name": "bootstrap-controller", "image": image, "resources": resources,
             "securityContext": _CONTAINER_SECURITY}]  # fmt: skip
    if sidecar is not None:
        # A native sidecar (a restartable init container), as the plugin injects it.
        init.append({"name": "plugin-barman-cloud", "image": "plugin-barman-cloud-sidecar",
                     "restartPolicy": "Always", "resources": sidecar,
                     "securityContext": _CONTAINER_SECURITY})  # fmt: skip
    pod_spec = {
        "affinity": _anti_affinity(name, spec.get("affinity") or {}),
        "topologySpreadConstraints": spec.get("topologySpreadConstraints") or [],
        "securityContext": {
            "runAsUser": _POSTGRES_UID,
            "runAsGroup": _POSTGRES_UID,
            "runAsNonRoot": True,
            "fsGroup": _POSTGRES_UID,
            "seccompProfile": spec.get("seccompProfile") or {"type": "RuntimeDefault"},
        },
        "initContainers": init,
        "containers": [
            {
                "name": "postgres",
                "image": image,
                "resources": resources,
                "ports": [{"name": "postgresql", "containerPort": 5432}],
                "securityContext": _CONTAINER_SECURITY,
            }
        ],
        "terminationGracePeriodSeconds": 0,
    }
    digest = hashlib.sha256(json.dumps(pod_spec, sort_keys=True).encode()).hexdigest()[:16]
    instance = f"{name}-{index}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": instance,
            "namespace": metadata["namespace"],
            "labels": {
                "cnpg.io/cluster": name,
                "cnpg.io/instanceName": instance,
                "cnpg.io/podRole": "instance",
                "cnpg.io/instanceRole": "primary" if index == 1 else "replica",
                "role": "primary" if index == 1 else "replica",
                "app.kubernetes.io/name": "postgresql",
            },
            "annotations": {POD_SPEC_ANNOTATION: digest},
            "ownerReferences": [
                {
                    "apiVersion": cluster["apiVersion"],
                    "kind": "Cluster",
                    "name": name,
                    "uid": metadata["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": pod_spec,
    }


def _ready(pod: dict) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in pod.get("status", {}).get("conditions", [])
    )


class CnpgOperatorStandIn:
    """Keeps each Cluster's instance pods as the Cluster says and its status in step."""

    def __init__(self, kubectl: Kubectl) -> None:
        self.kubectl = kubectl

    def pods(self, cluster: dict) -> dict[str, dict]:
        metadata = cluster["metadata"]
        items = self.kubectl.items(
            "pods", "-n", metadata["namespace"], "-l",
            f"cnpg.io/cluster={metadata['name']},cnpg.io/podRole=instance",
        )  # fmt: skip
        return {
            p["metadata"]["name"]: p for p in items if not p["metadata"].get("deletionTimestamp")
        }

    def report(
        self, cluster: dict, ready: int, healthy: bool, message: str, force: bool = False
    ) -> None:
        instances = cluster["spec"].get("instances", 1)
        status = cluster.get("status", {})
        conditions = [c for c in status.get("conditions", []) if c.get("type") == "Ready"]
        want = "True" if healthy else "False"
        if (
            not force
            and status.get("readyInstances") == ready
            and status.get("instances") == instances
            and conditions
            and conditions[0].get("status") == want
        ):
            return
        name = cluster["metadata"]["name"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        _patch_status(
            self.kubectl,
            CNPG_CLUSTERS,
            cluster,
            {
                "instances": instances,
                "readyInstances": ready,
                "phase": "Cluster in healthy state" if healthy else "Upgrading cluster",
                "currentPrimary": f"{name}-1",
                "targetPrimary": f"{name}-1",
                "conditions": [
                    {
                        "type": "Ready",
                        "status": want,
                        "reason": "ClusterIsReady" if healthy else "ClusterIsNotReady",
                        "message": f"{message} (the e2e suite's CloudNativePG operator stand-in)",
                        "lastTransitionTime": now,
                    }
                ],
            },
        )

    def current(self, seen: dict) -> dict | None:
        """The Cluster as it is now (an event can be stale, or of a deleted Cluster)."""
        metadata = seen["metadata"]
        found = self.kubectl.run(
            "get", CNPG_CLUSTERS, metadata["name"], "-n", metadata["namespace"], "-o", "json",
            check=False,
        )  # fmt: skip
        if found.returncode != 0:
            return None
        cluster = json.loads(found.stdout)
        if cluster["metadata"]["uid"] != metadata["uid"] or cluster["metadata"].get(
            "deletionTimestamp"
        ):
            return None
        return cluster

    def handle(self, seen: dict) -> None:
        cluster = self.current(seen)
        if cluster is None:
            return
        instances = cluster["spec"].get("instances", 1)
        sidecar = _sidecar_resources(self.kubectl, cluster)
        wanted = {
            pod["metadata"]["name"]: pod
            for pod in (cnpg_instance_pod(cluster, i, sidecar) for i in range(1, instances + 1))
        }
        live = self.pods(cluster)
        stale = [
            name
            for name, pod in live.items()
            if name not in wanted
            or pod["metadata"]["annotations"].get(POD_SPEC_ANNOTATION)
            != wanted[name]["metadata"]["annotations"][POD_SPEC_ANNOTATION]
        ]
        missing = [name for name in wanted if name not in live or name in stale]
        if not missing and not stale and all(_ready(p) for p in live.values()):
            self.report(cluster, len(live), True, "Cluster is Ready")
            return
        self.report(cluster, sum(_ready(p) for p in live.values()), False, "Rolling out")
        namespace = cluster["metadata"]["namespace"]
        # One instance at a time, as the operator rolls them (replicas before the primary).
        for name in sorted(stale, reverse=True):
            self.kubectl.run("delete", "pod", name, "-n", namespace, "--wait=true", timeout=60)
            if name in wanted:
                self.create(wanted[name])
        for name in missing:
            if name not in stale:
                self.create(wanted[name])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            live = self.pods(cluster)
            if set(live) == set(wanted) and all(_ready(p) for p in live.values()):
                # `cluster` holds the status before this roll-out's own patch.
                self.report(cluster, len(live), True, "Cluster is Ready", force=True)
                return
            time.sleep(0.3)
        raise AssertionError(f"instance pods of {cluster['metadata']['name']} not Ready: {live}")

    def create(self, pod: dict) -> None:
        result = self.kubectl.run("create", "-f", "-", input=json.dumps(pod), check=False)
        if result.returncode != 0:
            # What the operator would record in its status: the API server's refusal.
            raise AssertionError(
                f"the API server refused instance pod {pod['metadata']['name']}: {result.stderr}"
            )


def cloudnative_pg_operator_stand_in(kubectl: Kubectl) -> Watch:
    return Watch(kubectl, CNPG_CLUSTERS, CnpgOperatorStandIn(kubectl).handle)


def volume_recycler_stand_in(kubectl: Kubectl) -> Watch:
    def handle(volume: dict) -> None:
        if not volume["metadata"]["name"].startswith(VOLUME_POOL_PREFIX):
            return
        if volume.get("status", {}).get("phase") != "Released":
            return
        kubectl.run(
            "patch", "persistentvolume", volume["metadata"]["name"], "--type=json",
            "-p", json.dumps([{"op": "remove", "path": "/spec/claimRef"}]),
        )  # fmt: skip

    return Watch(kubectl, "persistentvolumes", handle, namespaced=False)


def cloudnative_pg_operator_present(kubectl: Kubectl) -> bool:
    deployments = kubectl.items(
        "deployments", "--all-namespaces", "-l", "app.kubernetes.io/name=cloudnative-pg"
    )
    return bool(deployments)


class StandIns:
    def __init__(self, kubectl: Kubectl, operator: bool, volumes: bool) -> None:
        self.watches = [load_balancer_stand_in(kubectl), ingress_controller_stand_in(kubectl)]
        if volumes:
            self.watches.append(volume_recycler_stand_in(kubectl))
        if operator:
            self.watches.append(cloudnative_pg_operator_stand_in(kubectl))

    def start(self) -> StandIns:
        for watch in self.watches:
            watch.start()
        # The first list of each watch is its starting point.
        time.sleep(0.5)
        return self

    def stop(self) -> None:
        for watch in self.watches:
            watch.stop()
