"""STAND-INS for what a real cluster's controllers would write, and only that: status.

- LOAD BALANCER STAND-IN: gives every LoadBalancer Service an address in 127.0.0.0/8, as a
  cloud's load balancer controller would (the provider awaits one).
- INGRESS CONTROLLER STAND-IN: gives every Ingress an address in 127.0.0.0/8 (awaited too).
- CLOUDNATIVEPG OPERATOR STAND-IN: reports each postgresql.cnpg.io Cluster Ready for its
  current generation (the program has `pulumi up` wait for condition=Ready). No operator can
  run here: it would dial pod IPs, and no container runs under kwok. The stand-in creates no
  pods, Services or claims, so nothing here proves the operator accepts the Cluster beyond
  its CRD schema.
- VOLUME RECYCLER STAND-IN: makes a Released PersistentVolume of the harness' pool
  Available again (as a provisioner would hand out a fresh volume), so scenarios that
  delete claims do not run the pool dry. A volume whose claim still exists stays bound.

Each one watches with `kubectl get --watch` and patches the status subresource; none sends
traffic anywhere but to the API server on 127.0.0.1 (or the user's throwaway cluster).
"""

from __future__ import annotations

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


def cloudnative_pg_operator_stand_in(kubectl: Kubectl) -> Watch:
    def handle(cluster: dict) -> None:
        generation = cluster["metadata"].get("generation", 1)
        status = cluster.get("status", {})
        ready = [c for c in status.get("conditions", []) if c.get("type") == "Ready"]
        if (
            ready
            and ready[0].get("status") == "True"
            and (ready[0].get("observedGeneration") == generation)
        ):
            return
        instances = cluster.get("spec", {}).get("instances", 1)
        name = cluster["metadata"]["name"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        _patch_status(
            kubectl,
            CNPG_CLUSTERS,
            cluster,
            {
                "instances": instances,
                "readyInstances": instances,
                "phase": "Cluster in healthy state",
                "currentPrimary": f"{name}-1",
                "targetPrimary": f"{name}-1",
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "ClusterIsReady",
                        "message": "Reported by the e2e suite's CloudNativePG operator stand-in",
                        "lastTransitionTime": now,
                        "observedGeneration": generation,
                    }
                ],
            },
        )

    return Watch(kubectl, CNPG_CLUSTERS, handle)


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
