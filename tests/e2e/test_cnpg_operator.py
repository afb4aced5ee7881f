"""The CloudNativePG engine with the real operator, on a user's throwaway cluster
(WEBAPP_E2E_CONTEXT; CI: the kind job): the prerequisites installed as the README says
(Helm, pinned), a two-instance Cluster brought up through the engine's seam, an app writing
to it once a second, and a switchover the app survives.

kwok runs no container, so on the suite's own control plane this module is not collected
(conftest.py); there the CloudNativePG operator stand-in reports Clusters Ready instead.
Object storage is left out here: the kind job has no bucket, and the plugin's own e2e
suite covers archiving; what this proves is the operator, the Cluster spec, the
NetworkPolicy (kindnet enforces policies) and failover as the app sees it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.control_plane import ControlPlane

TOOLS = ("pulumi", "kubectl", "helm", "kubectl-cnpg")
MISSING = [tool for tool in TOOLS if shutil.which(tool) is None]
OPERATOR_VARIABLE = "WEBAPP_E2E_CNPG"

pytestmark = [
    pytest.mark.skipif(
        os.environ.get(OPERATOR_VARIABLE) != "1",
        reason=f"installs CloudNativePG into the cluster: set {OPERATOR_VARIABLE}=1 (with "
        "WEBAPP_E2E_CONTEXT naming a throwaway cluster; CI's kind job sets both)",
    ),
    pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)} on PATH"),
]

# The README's prerequisites, pinned: cert-manager (the plugin's TLS), the operator's
# chart 0.29.0 (CloudNativePG 1.30.0) and the Barman Cloud plugin's v0.14.0 manifest.
CERT_MANAGER_VERSION = "v1.21.0"
CNPG_CHART_VERSION = "0.29.0"
PLUGIN_MANIFEST = (
    "https://github.com/cloudnative-pg/plugin-barman-cloud/releases/download/v0.14.0/manifest.yaml"
)
CLIENT_IMAGE = "postgres:17.6-bookworm"
CLIENT_LABELS = {"app.kubernetes.io/name": "it-client"}
CLUSTER = "it-db"
# The app may stall while the primary moves; more than this is not "surviving" it.
LONGEST_OUTAGE_SECONDS = 60
# The client's loop: one INSERT a second, each line saying whether it went through.
CLIENT_SCRIPT = r"""
until psql -qtAc 'create table if not exists ticks (n int, at timestamptz default now())'; do
  sleep 1
done
i=0
while true; do
  i=$((i+1))
  if psql -qtAc "insert into ticks (n) values ($i)" >/dev/null 2>&1; then
    echo "ok $i"
  else
    echo "fail $i"
  fi
  sleep 1
done
"""


def sh(*command: str, timeout: int = 600) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def install_prerequisites() -> None:
    """Idempotent: a second run upgrades nothing."""
    sh("helm", "repo", "add", "jetstack", "https://charts.jetstack.io", "--force-update")
    sh("helm", "repo", "add", "cnpg", "https://cloudnative-pg.github.io/charts", "--force-update")
    sh(
        "helm", "upgrade", "--install", "cert-manager", "jetstack/cert-manager",
        "--namespace", "cert-manager", "--create-namespace",
        "--version", CERT_MANAGER_VERSION, "--set", "crds.enabled=true", "--wait",
    )  # fmt: skip
    sh(
        "helm", "upgrade", "--install", "cnpg", "cnpg/cloudnative-pg",
        "--namespace", "cnpg-system", "--create-namespace",
        "--version", CNPG_CHART_VERSION, "--wait",
    )  # fmt: skip
    sh("kubectl", "apply", "-f", PLUGIN_MANIFEST)
    sh("kubectl", "rollout", "status", "deployment", "-n", "cnpg-system", "barman-cloud",
       "--timeout=5m")  # fmt: skip


def program(namespace: str) -> None:
    import pulumi
    import pulumi_kubernetes as k8s
    import pulumi_random as random

    from components._shared.pods import empty_dir_volume, hardened_pod_spec
    from components._shared.resources import ContainerResources, resource_requirements
    from components._shared.security import container_security_context
    from components.database.cloudnative_pg import CnpgSettings, declare_cnpg_cluster

    provider = k8s.Provider("kind")
    k8s.core.v1.Namespace(
        "it-namespace",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=namespace, labels={"pod-security.kubernetes.io/enforce": "restricted"}
        ),
        opts=pulumi.ResourceOptions(provider=provider),
    )

    class Database(pulumi.ComponentResource):
        def __init__(self, name: str) -> None:
            super().__init__(
                "webapp:components:CnpgIntegration",
                name,
                None,
                pulumi.ResourceOptions(providers=[provider]),
            )

    parent = Database(CLUSTER)
    password = random.RandomPassword(
        "it-db-password", length=32, special=False, opts=pulumi.ResourceOptions(parent=parent)
    )
    database = declare_cnpg_cluster(
        parent,
        CLUSTER,
        namespace,
        "webapp-it",
        CLIENT_LABELS,
        password.result,
        CnpgSettings(
            instances=2,
            storage_size="1Gi",
            resources=ContainerResources(
                cpu_request="100m", cpu_limit="1", memory_request="256Mi", memory_limit="512Mi"
            ),
            database="app",
            owner="app",
        ),
        "cluster.local",
    )
    env = {"PGHOST": database.host, "PGUSER": "app", "PGDATABASE": "app", "PGCONNECT_TIMEOUT": "3"}
    k8s.apps.v1.Deployment(
        "it-client",
        metadata=k8s.meta.v1.ObjectMetaArgs(name="it-client", namespace=namespace),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            replicas=1,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=CLIENT_LABELS),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=CLIENT_LABELS),
                spec=hardened_pod_spec(
                    user_id=999,
                    volumes=[empty_dir_volume("tmp", "16Mi")],
                    containers=[
                        k8s.core.v1.ContainerArgs(
                            name="client",
                            image=CLIENT_IMAGE,
                            command=["/bin/sh", "-c", CLIENT_SCRIPT],
                            env=[
                                *(k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in env.items()),
                                k8s.core.v1.EnvVarArgs(
                                    name="PGPASSWORD",
                                    value_from=k8s.core.v1.EnvVarSourceArgs(
                                        secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                                            name=database.secret_name, key="password"
                                        )
                                    ),
                                ),
                            ],
                            volume_mounts=[
                                k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")
                            ],
                            resources=resource_requirements(
                                ContainerResources(
                                    cpu_request="50m",
                                    cpu_limit="200m",
                                    memory_request="32Mi",
                                    memory_limit="64Mi",
                                )
                            ),
                            security_context=container_security_context(),
                        )
                    ],
                ),
            ),
        ),
        opts=pulumi.ResourceOptions(provider=provider, depends_on=[database.cluster]),
    )


def kubectl_jsonpath(namespace: str, kind: str, name: str, path: str) -> str:
    return sh("kubectl", "get", kind, name, "-n", namespace, "-o", f"jsonpath={path}").strip()


def client_log(namespace: str) -> list[tuple[str, int]]:
    text = sh("kubectl", "logs", "-n", namespace, "deployment/it-client")
    return [(m[1], int(m[2])) for m in re.finditer(r"^(ok|fail) (\d+)$", text, re.M)]


def writes(namespace: str) -> int:
    return sum(status == "ok" for status, _ in client_log(namespace))


def wait_for(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture
def deployed(
    tmp_path: Path, cluster: ControlPlane, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    from pulumi import automation as auto

    # The suite's copy of the kubeconfig, with WEBAPP_E2E_CONTEXT current, for kubectl,
    # helm and the program's provider alike; conftest.py installed the prerequisites.
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    namespace = f"cnpg-it-{uuid.uuid4().hex[:6]}"
    backend = tmp_path / "state"
    backend.mkdir()
    stack = auto.create_or_select_stack(
        stack_name="cnpg-it",
        project_name="webapp-cnpg-it",
        program=lambda: program(namespace),
        opts=auto.LocalWorkspaceOptions(
            work_dir=str(tmp_path),
            env_vars={
                "PULUMI_BACKEND_URL": f"file://{backend}",
                "PULUMI_CONFIG_PASSPHRASE": "e2e-test",
                "PULUMI_SKIP_UPDATE_CHECK": "true",
                "KUBECONFIG": str(cluster.kubeconfig),
            },
        ),
    )
    try:
        stack.up(on_output=print)
        yield namespace
    finally:
        stack.destroy(on_output=print)
        stack.workspace.remove_stack("cnpg-it")
        sh("kubectl", "delete", "namespace", namespace, "--ignore-not-found", "--wait=false")


def test_the_app_survives_a_switchover(deployed: str) -> None:
    namespace = deployed
    wait_for("the app's first writes", lambda: writes(namespace) >= 5, timeout=300)
    old_primary = kubectl_jsonpath(namespace, "cluster", CLUSTER, "{.status.currentPrimary}")
    instances = sh(
        "kubectl", "get", "pods", "-n", namespace, "-o", "name",
        "-l", f"cnpg.io/cluster={CLUSTER},cnpg.io/podRole=instance",
    ).split()  # fmt: skip
    target = next(p.split("/", 1)[1] for p in instances if not p.endswith(f"/{old_primary}"))

    sh("kubectl", "cnpg", "promote", CLUSTER, target, "-n", namespace)
    wait_for(
        f"{target} to be the healthy primary",
        lambda: (
            kubectl_jsonpath(namespace, "cluster", CLUSTER, "{.status.currentPrimary}") == target
            and kubectl_jsonpath(namespace, "cluster", CLUSTER, "{.status.phase}")
            == "Cluster in healthy state"
        ),
        timeout=300,
    )
    switched_at = max(n for _, n in client_log(namespace))
    wait_for(
        "writes on the new primary",
        lambda: any(s == "ok" and n > switched_at + 5 for s, n in client_log(namespace)),
        timeout=120,
    )

    log = client_log(namespace)
    longest, current = 0, 0
    for status, _ in log:
        current = current + 1 if status == "fail" else 0
        longest = max(longest, current)
    assert longest <= LONGEST_OUTAGE_SECONDS, f"the app could not write for {longest}s"
    restarts = sh(
        "kubectl", "get", "pods", "-n", namespace, "-l", "app.kubernetes.io/name=it-client",
        "-o", "jsonpath={..restartCount}",
    )  # fmt: skip
    assert set(restarts.split()) <= {"0"}, f"the app restarted: {restarts}"
