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
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
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


class StandInRefusalError(AssertionError):
    """What the operator would record in the object's status and retry: the API server
    refused what the stand-in made, or its pods did not become Ready. It fails a test only
    while it lasts (the next event retries; a quota the same update raises lets it pass)."""


def _vanished(error: Exception) -> bool:
    """The object went away while the stand-in acted on it (a delete won the race)."""
    return "NotFound" in str(error) or "not found" in str(error)


@dataclass
class Errors:
    """What the stand-ins could not do, for the tests to fail with: `fatal` (a stand-in
    broke: an exception it does not expect, its watch ending in an error) stays until the
    session ends; `refusals` hold each object's last refusal until it is handled cleanly."""

    fatal: list[str] = field(default_factory=list)
    refusals: dict[str, str] = field(default_factory=dict)
    mark: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def since_mark(self) -> list[str]:
        """The fatal errors since the running test began (`mark`, set by conftest)."""
        with self.lock:
            return self.fatal[self.mark :]

    def broke(self, where: str, text: str) -> None:
        with self.lock:
            self.fatal.append(f"{where}: {text}")

    def refused(self, key: str, text: str) -> None:
        with self.lock:
            self.refusals[key] = text

    def cleared(self, key: str) -> None:
        with self.lock:
            self.refusals.pop(key, None)

    def describe(self) -> str:
        with self.lock:
            return "\n".join([*self.fatal, *self.refusals.values()])


def _key(obj: dict) -> str:
    metadata = obj.get("metadata") or {}
    return f"{obj.get('kind', '?')} {metadata.get('namespace', '')}/{metadata.get('name', '?')}"


class Watch(threading.Thread):
    """Calls `handle` for every object of a kind as it is added or changed, until stopped;
    restarts the watch when kubectl ends it. Whatever goes wrong is kept in `errors`."""

    def __init__(
        self,
        kubectl: Kubectl,
        resource: str,
        handle: Callable[[dict], None],
        errors: Errors,
        namespaced: bool = True,
    ) -> None:
        super().__init__(daemon=True, name=f"stand-in {resource}")
        self.kubectl = kubectl
        self.resource = resource
        self.handle = handle
        self.errors = errors
        self.stopping = threading.Event()
        self.process: subprocess.Popen | None = None
        self.scope = ["--all-namespaces"] if namespaced else []

    def run(self) -> None:
        try:
            self._watch()
        # A thread that dies must say why.
        except Exception:
            self.errors.broke(self.name, traceback.format_exc())

    def _watch(self) -> None:
        while not self.stopping.is_set():
            self.process = subprocess.Popen(
                [*self.kubectl.base(), "get", self.resource, *self.scope, "--watch",
                 "-o", "json", "--request-timeout=0"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )  # fmt: skip
            assert self.process.stdout and self.process.stderr
            for document in _objects(self.process.stdout):
                if self.stopping.is_set():
                    break
                self._handle(document)
            stderr = self.process.stderr.read()
            if self.process.wait() != 0 and not self.stopping.is_set():
                self.errors.broke(self.name, f"kubectl's watch failed: {stderr.strip()}")
            self.stopping.wait(0.5)

    def _handle(self, document: dict) -> None:
        try:
            self.handle(document)
        except StandInRefusalError as error:
            self.errors.refused(_key(document), f"{self.name}, {_key(document)}: {error}")
            return
        # A stand-in's own failure fails the test.
        except Exception as error:
            if _vanished(error):
                # A patch can lose a race with a delete; nothing is left to act on.
                return
            self.errors.broke(f"{self.name}, {_key(document)}", traceback.format_exc())
            return
        self.errors.cleared(_key(document))

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


def load_balancer_stand_in(kubectl: Kubectl, errors: Errors) -> Watch:
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

    return Watch(kubectl, "services", handle, errors)


def ingress_controller_stand_in(kubectl: Kubectl, errors: Errors) -> Watch:
    def handle(ingress: dict) -> None:
        if ingress.get("status", {}).get("loadBalancer", {}).get("ingress"):
            return
        _patch_status(
            kubectl,
            "ingress.networking.k8s.io",
            ingress,
            {"loadBalancer": {"ingress": [{"ip": INGRESS_ADDRESS}]}},
        )

    return Watch(kubectl, "ingresses.networking.k8s.io", handle, errors)


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
            raise StandInRefusalError(f"the Cluster's ObjectStore {store} does not exist")
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
    """Keeps each Cluster's instance pods as the Cluster says and its status in step, and
    records the generation of each Cluster it last brought in step (`settled`): CNPG
    records none, so only the stand-in can tell the tests it has acted on an edit."""

    def __init__(self, kubectl: Kubectl) -> None:
        self.kubectl = kubectl
        # Cluster uid -> the metadata.generation whose spec its pods and status now follow.
        self.settled: dict[str, int] = {}
        self.lock = threading.Lock()

    def settle(self, cluster: dict) -> None:
        with self.lock:
            self.settled[cluster["metadata"]["uid"]] = cluster["metadata"]["generation"]

    def unsettled(self, namespace: str) -> list[str]:
        """The Clusters of `namespace` whose current spec the stand-in has not acted on."""
        with self.lock:
            settled = dict(self.settled)
        return [
            f"cluster/{c['metadata']['name']}: generation {c['metadata']['generation']} not "
            f"acted on (last {settled.get(c['metadata']['uid'])})"
            for c in self.kubectl.items(CNPG_CLUSTERS, "-n", namespace)
            if not c["metadata"].get("deletionTimestamp")
            and settled.get(c["metadata"]["uid"]) != c["metadata"]["generation"]
        ]

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
            self.settle(cluster)
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
                self.settle(cluster)
                return
            time.sleep(0.3)
        name = cluster["metadata"]["name"]
        raise StandInRefusalError(f"instance pods of {name} not Ready: {list(live)}")

    def create(self, pod: dict) -> None:
        result = self.kubectl.run("create", "-f", "-", input=json.dumps(pod), check=False)
        if result.returncode != 0:
            # What the operator would record in its status: the API server's refusal.
            raise StandInRefusalError(
                f"the API server refused instance pod {pod['metadata']['name']}: {result.stderr}"
            )


def volume_recycler_stand_in(kubectl: Kubectl, errors: Errors) -> Watch:
    def released(name: str) -> str | None:
        """The uid of the claim a Released volume still names, as the volume is now."""
        volume = kubectl.json("get", "persistentvolume", name)
        if volume.get("status", {}).get("phase") != "Released":
            return None
        return ((volume["spec"].get("claimRef")) or {}).get("uid")

    def handle(seen: dict) -> None:
        name = seen["metadata"]["name"]
        if not name.startswith(VOLUME_POOL_PREFIX):
            return
        if seen.get("status", {}).get("phase") != "Released":
            return
        # An event can be stale (the volume recycled and bound again since): act on the
        # volume as it is, and only while it still names the released claim.
        claim = released(name)
        if claim is None:
            return
        patch = [
            {"op": "test", "path": "/spec/claimRef/uid", "value": claim},
            {"op": "remove", "path": "/spec/claimRef"},
        ]
        result = kubectl.run(
            "patch", "persistentvolume", name, "--type=json", "-p", json.dumps(patch),
            check=False,
        )  # fmt: skip
        if result.returncode != 0 and released(name) == claim:
            raise AssertionError(f"kubectl patch of volume {name} failed: {result.stderr}")

    return Watch(kubectl, "persistentvolumes", handle, errors, namespaced=False)


def cloudnative_pg_operator_present(kubectl: Kubectl) -> bool:
    deployments = kubectl.items(
        "deployments", "--all-namespaces", "-l", "app.kubernetes.io/name=cloudnative-pg"
    )
    return bool(deployments)


class StandIns:
    """The session's stand-ins and what went wrong in them (`errors`). A watch lists what
    exists before it streams changes, so nothing made before one starts is missed."""

    def __init__(self, kubectl: Kubectl, operator: bool, volumes: bool) -> None:
        self.errors = Errors()
        self.watches = [
            load_balancer_stand_in(kubectl, self.errors),
            ingress_controller_stand_in(kubectl, self.errors),
        ]
        if volumes:
            self.watches.append(volume_recycler_stand_in(kubectl, self.errors))
        self.operator: CnpgOperatorStandIn | None = None
        if operator:
            self.operator = CnpgOperatorStandIn(kubectl)
            self.watches.append(Watch(kubectl, CNPG_CLUSTERS, self.operator.handle, self.errors))

    def start(self) -> StandIns:
        for watch in self.watches:
            watch.start()
        return self

    def unsettled(self, namespace: str) -> list[str]:
        """What the stand-ins have yet to act on in `namespace` (the operator's part)."""
        return self.operator.unsettled(namespace) if self.operator else []

    def stop(self) -> None:
        for watch in self.watches:
            watch.stop()
