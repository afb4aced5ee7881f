"""A Kubernetes control plane on 127.0.0.1 for the real-engine suite: etcd, kube-apiserver
(default admission plugins, PodSecurity, ResourceQuota, LimitRanger and DefaultStorageClass
among them), kube-controller-manager, kube-scheduler and kwok, which plays the kubelets of
three fake nodes in three zones (pods become Running and Ready, Job pods complete; no
container ever runs).

What a real cluster's add-ons would do is done here, by the harness:
- a default StorageClass with pre-created PersistentVolumes, which the PV controller binds;
- stand-ins (tests/e2e/stand_ins.py) for a load balancer controller, an ingress controller
  and the CloudNativePG operator, which only write status;
- ingress-nginx's admission webhook's refusal of a host and path another Ingress serves
  (tests/e2e/ingress_admission.py), which the API server calls on 127.0.0.1.

Every process is started in a process group of its own and stopped with it, by the session
fixture's finalizer and, should that never run, by atexit. Nothing listens anywhere but on
127.0.0.1, and nothing here dials a pod or Service IP.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.e2e.stand_ins import StandIns

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "tests" / "crds"
ZONES = ("zone-a", "zone-b", "zone-c")
STORAGE_CLASS = "standard"
# Claims bind to the smallest free volume that fits: enough volumes, large enough, for both
# stacks, their edits and the YAML example at once.
VOLUME_SIZES = ("4Gi",) * 12 + ("50Gi",) * 8 + ("200Gi",) * 4
VOLUME_POOL_PREFIX = "e2e-volume-"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop_group(process: subprocess.Popen, grace: float = 5.0) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        process.wait(grace)


@dataclass
class Processes:
    """Processes started in groups of their own, stopped last-started first."""

    logs: Path
    started: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(self, name: str, command: Sequence[str], env: dict[str, str] | None = None) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
        log.close()
        self.started.append((name, process))

    def check_running(self) -> None:
        for name, process in self.started:
            if process.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")

    def stop(self) -> None:
        while self.started:
            _name, process = self.started.pop()
            _stop_group(process)


class Kubectl:
    """kubectl against one kubeconfig and context; every test reads the API server this way."""

    def __init__(self, kubeconfig: Path, context: str) -> None:
        self.kubeconfig = kubeconfig
        self.context = context

    def base(self) -> list[str]:
        return ["kubectl", "--kubeconfig", str(self.kubeconfig), "--context", self.context]

    def run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [*self.base(), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result

    def json(self, *args: str) -> dict:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def items(self, *args: str) -> list[dict]:
        return self.json("get", *args)["items"]

    def apply(self, documents: Sequence[dict]) -> None:
        self.run(
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            "-",
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(documents)}),
        )


def _wait(what: str, check, timeout: float, processes: Processes | None = None) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while True:
        if processes:
            processes.check_running()
        try:
            if check():
                return
        except (OSError, subprocess.SubprocessError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.3)


@dataclass
class ControlPlane:
    kubectl: Kubectl
    processes: Processes | None
    directory: Path
    # What plays the add-ons' controllers here (conftest starts them).
    stand_ins: StandIns | None = None

    @property
    def kubeconfig(self) -> Path:
        return self.kubectl.kubeconfig

    @property
    def context(self) -> str:
        return self.kubectl.context

    def stop(self) -> None:
        if self.processes:
            self.processes.stop()


CONTEXT = "webapp-e2e"


def _kubeconfig(path: Path, server: str, ca: Path, token: str) -> None:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": CONTEXT,
                        "cluster": {"server": server, "certificate-authority": str(ca)},
                    }
                ],
                "users": [{"name": "admin", "user": {"token": token}}],
                "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": "admin"}}],
                "current-context": CONTEXT,
            }
        )
    )
    path.chmod(0o600)


def start_local(bin_dir: Path, stages: Path, directory: Path) -> ControlPlane:
    """Starts the control plane; on any failure stops what it started and raises."""
    logs = directory / "logs"
    logs.mkdir(parents=True)
    processes = Processes(logs)
    atexit.register(processes.stop)
    try:
        return _start(bin_dir, stages, directory, processes)
    except BaseException:
        processes.stop()
        raise


def _start(bin_dir: Path, stages: Path, directory: Path, processes: Processes) -> ControlPlane:
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
    etcd_url = f"http://127.0.0.1:{etcd_port}"
    peer_url = f"http://127.0.0.1:{peer_port}"
    processes.start(
        "etcd",
        [
            str(bin_dir / "etcd"),
            "--data-dir",
            str(directory / "etcd"),
            "--listen-client-urls",
            etcd_url,
            "--advertise-client-urls",
            etcd_url,
            "--listen-peer-urls",
            peer_url,
            "--initial-advertise-peer-urls",
            peer_url,
            "--initial-cluster",
            f"default={peer_url}",
            "--unsafe-no-fsync",
        ],
        env,
    )
    certs = directory / "certs"
    certs.mkdir()
    key = certs / "service-account.key"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    token = os.urandom(16).hex()
    tokens = certs / "tokens.csv"
    tokens.write_text(f'{token},admin,admin,"system:masters"\n')
    processes.start(
        "kube-apiserver",
        [
            str(bin_dir / "kube-apiserver"),
            "--etcd-servers",
            etcd_url,
            "--bind-address",
            "127.0.0.1",
            "--advertise-address",
            "127.0.0.1",
            "--secure-port",
            str(api_port),
            "--cert-dir",
            str(certs),
            "--token-auth-file",
            str(tokens),
            "--authorization-mode",
            "Node,RBAC",
            "--service-account-issuer",
            "https://kubernetes.default.svc.cluster.local",
            "--service-account-key-file",
            str(key),
            "--service-account-signing-key-file",
            str(key),
            "--service-cluster-ip-range",
            "10.96.0.0/16",
        ],
        env,
    )
    ca = certs / "apiserver.crt"
    server = f"https://127.0.0.1:{api_port}"

    def ready() -> bool:
        if not ca.exists():
            return False
        context = ssl.create_default_context(cafile=str(ca))
        request = urllib.request.Request(
            f"{server}/readyz", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, context=context, timeout=2) as response:
            return response.status == 200

    _wait("kube-apiserver /readyz", ready, 90, processes)
    kubeconfig = directory / "kubeconfig"
    _kubeconfig(kubeconfig, server, ca, token)
    processes.start(
        "kube-controller-manager",
        [
            str(bin_dir / "kube-controller-manager"),
            "--kubeconfig",
            str(kubeconfig),
            "--bind-address",
            "127.0.0.1",
            "--secure-port",
            "0",
            "--leader-elect=false",
            "--service-account-private-key-file",
            str(key),
            "--root-ca-file",
            str(ca),
            "--use-service-account-credentials",
        ],
        env,
    )
    processes.start(
        "kube-scheduler",
        [
            str(bin_dir / "kube-scheduler"),
            "--kubeconfig",
            str(kubeconfig),
            "--bind-address",
            "127.0.0.1",
            "--secure-port",
            "0",
            "--leader-elect=false",
        ],
        env,
    )
    processes.start(
        "kwok",
        [
            str(bin_dir / "kwok"),
            "--kubeconfig",
            str(kubeconfig),
            "--manage-all-nodes=true",
            "--config",
            str(stages),
            "--cidr",
            "10.244.0.1/16",
            "--node-ip",
            "127.0.0.1",
        ],
        env,
    )
    kubectl = Kubectl(kubeconfig, CONTEXT)
    add_nodes(kubectl)
    add_storage(kubectl)
    install_crds(kubectl)
    _wait(
        "the default ServiceAccount (the controller manager at work)",
        lambda: kubectl.run("get", "serviceaccount", "default", check=False).returncode == 0,
        60,
        processes,
    )
    _wait("Ready nodes", lambda: len(ready_nodes(kubectl)) == len(ZONES), 60, processes)
    return ControlPlane(kubectl, processes, directory)


def add_nodes(kubectl: Kubectl) -> None:
    kubectl.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": f"kwok-{zone}",
                    # kwok manages the node: it plays its kubelet.
                    "annotations": {"kwok.x-k8s.io/node": "fake"},
                    "labels": {
                        "kubernetes.io/hostname": f"kwok-{zone}",
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "topology.kubernetes.io/zone": zone,
                        "type": "kwok",
                    },
                },
                "status": {
                    "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"},
                    "capacity": {"cpu": "32", "memory": "128Gi", "pods": "110"},
                },
            }
            for zone in ZONES
        ]
    )


def ready_nodes(kubectl: Kubectl) -> list[str]:
    return [
        node["metadata"]["name"]
        for node in kubectl.items("nodes")
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in node.get("status", {}).get("conditions", [])
        )
    ]


def add_storage(kubectl: Kubectl) -> None:
    """What a storage add-on provides: a default class (expandable, binding at once) and
    volumes for it. No provisioner exists, so the volumes are made up front."""
    volumes = [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"{VOLUME_POOL_PREFIX}{index:02d}"},
            "spec": {
                "capacity": {"storage": size},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": STORAGE_CLASS,
                # Never mounted: kwok runs no container.
                "hostPath": {"path": f"/nonexistent/webapp-e2e/{index}"},
            },
        }
        for index, size in enumerate(VOLUME_SIZES)
    ]
    kubectl.apply(
        [
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {
                    "name": STORAGE_CLASS,
                    "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
                },
                "provisioner": "kubernetes.io/no-provisioner",
                "volumeBindingMode": "Immediate",
                "allowVolumeExpansion": True,
                "reclaimPolicy": "Retain",
            },
            *volumes,
        ]
    )


def crd_files() -> list[Path]:
    return sorted(p for p in CRDS.rglob("*.yaml") if p.is_file())


def install_crds(kubectl: Kubectl) -> None:
    """The vendored CRDs (tests/crds), the schemas the program's custom resources are
    admitted by."""
    # One kubectl for all: each start of it costs a second on a loaded machine.
    kubectl.run(
        "apply", "--server-side", "--force-conflicts",
        *[arg for path in crd_files() for arg in ("-f", str(path))],
    )  # fmt: skip
    kubectl.run(
        "wait", "--for=condition=Established", "--timeout=60s",
        *[f"crd/{name}" for name in crd_names()],
    )  # fmt: skip


def crd_names() -> list[str]:
    import yaml

    names = []
    for path in crd_files():
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") == "CustomResourceDefinition":
                names.append(document["metadata"]["name"])
    return names


def use_context(kubeconfig: Path, context: str, directory: Path) -> ControlPlane:
    """A user's throwaway cluster (WEBAPP_E2E_CONTEXT): nothing is started. A copy of the
    kubeconfig with that context current is what every CLI run and program sees (the YAML
    example's provider takes the current context); the vendored CRDs are installed where
    missing."""
    directory.mkdir(parents=True)
    flattened = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "config", "view", "--raw", "--flatten",
         "--context", context, "--minify", "-o", "json"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    copy = directory / "kubeconfig"
    copy.write_text(flattened)
    copy.chmod(0o600)
    kubectl = Kubectl(copy, context)
    kubectl.run("version")
    present = {item["metadata"]["name"] for item in kubectl.items("crd")}
    if any(name not in present for name in crd_names()):
        install_crds(kubectl)
    return ControlPlane(kubectl, None, directory)
