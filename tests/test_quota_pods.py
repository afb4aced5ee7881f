"""The namespace's quota is sized from the pods the components declare (WebService.pods,
PostgresDatabase.pods), not from a model of them: every container, init container and
sidecar of every pod, and a cap that is too small names the containers it counted."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components._shared.pods import pod_amount, pod_containers
from tests.harness import ProgramRun, run_main
from tests.test_sidecars import SIDECAR

SIZES = {
    "webapp:quotaCpu": "",
    "webapp:quotaMemory": "",
    "webapp:quotaStorage": "",
    "webapp:quotaPods": "0",
    "webapp:dbInstances": "3",
    "webapp:dbCpuRequest": "2",
    "webapp:dbCpuLimit": "2",
    "webapp:dbMemoryRequest": "2Gi",
    "webapp:dbMemoryLimit": "2Gi",
}


def _container(name: str, cpu: str, restart_policy: str | None = None) -> Any:
    return k8s.core.v1.ContainerArgs(
        name=name,
        resources=k8s.core.v1.ResourceRequirementsArgs(limits={"cpu": cpu}),
        restart_policy=restart_policy,
    )


def test_a_native_sidecar_is_charged_beside_the_containers_and_later_init_steps() -> None:
    """The API server's rule for init containers with restartPolicy Always: they keep
    running, so they add to the containers and to every init step started after them."""
    sidecar = _container("proxy", "500m", "Always")
    spec = k8s.core.v1.PodSpecArgs(
        init_containers=[_container("early", "3"), sidecar, _container("late", "2")],
        containers=[_container("main", "1")],
    )
    # max(1 + 0.5, 3 (before the sidecar), 2 + 0.5 (after it))
    assert pod_amount(spec, "limits", "cpu") == Decimal(3)
    spec = k8s.core.v1.PodSpecArgs(init_containers=[sidecar], containers=[_container("m", "1")])
    assert pod_amount(spec, "limits", "cpu") == Decimal("1.5")
    assert pod_containers(spec) == "m, proxy (sidecar)"


def _statefulset_pod(run: ProgramRun) -> dict[str, Any]:
    statefulset = run.one("kubernetes:apps/v1:StatefulSet", "webapp-db-statefulset")
    return statefulset.manifest()["spec"]["template"]["spec"]


def test_the_database_pod_the_quota_counts_is_the_one_the_statefulset_declares() -> None:
    """With a cap just below the need, the sentence names the containers the StatefulSet
    really runs; removing the exporter (a container of the server's pod) lowers the need
    by exactly its limit."""
    run = run_main("dev")
    pod = _statefulset_pod(run)
    names = [c["name"] for c in pod["containers"]] + [
        f"{c['name']} (init)" for c in pod["initContainers"]
    ]
    with pytest.raises(pulumi.RunError) as raised:
        run_main("dev", {"webapp:quotaCpu": "100m"})
    assert f"the database: {', '.join(names)};" in str(raised.value)
    assert "exporter" in names

    with pytest.raises(pulumi.RunError) as without:
        run_main(
            "dev",
            {
                "webapp:quotaCpu": "100m",
                "webapp:metricsEnabled": "false",
                "webapp:serviceMonitor": "false",
            },
        )
    assert "2700m of CPU limits" in str(raised.value)
    assert "2500m of CPU limits" in str(without.value)  # the exporter's 200m limit
    assert "the database: postgres, check-data-owner (init)" in str(without.value)


def test_a_cap_names_the_app_sidecars_it_counted() -> None:
    with pytest.raises(pulumi.RunError) as raised:
        run_main("dev", {"webapp:sidecars": json.dumps([SIDECAR]), "webapp:quotaCpu": "2"})
    assert "(counting every container: 2 app pods: web, log-shipper;" in str(raised.value)


def _cpu_sentence(overrides: dict[str, str]) -> str:
    with pytest.raises(pulumi.RunError) as raised:
        run_main("prod", {**SIZES, "webapp:quotaCpu": "1", **overrides})
    return str(raised.value)


def test_a_cloudnative_pg_cap_names_what_the_operator_runs() -> None:
    """The instance pods as the operator builds them from the Cluster: postgres and the
    bootstrap-controller with the Cluster's resources, the Barman Cloud plugin's native
    sidecar while it archives; the job pod (initdb or join) without the sidecar."""
    message = _cpu_sentence({})
    assert (
        "3 database instances: postgres, plugin-barman-cloud (sidecar), "
        "bootstrap-controller (init); an operator job: initdb, bootstrap-controller (init))"
    ) in message
    # 13 app pods at 1, 3 instances at 2 + 0.5, the job at 2.
    assert "need 22500m of CPU limits" in message


def test_a_recovery_job_is_counted_with_the_plugin_sidecar() -> None:
    """The plugin adds its sidecar to the job that recovers from the archive: the need
    grows by the sidecar's 500m while a recovery is set."""
    message = _cpu_sentence(
        {
            "webapp:recoverySourceArchive": "webapp-db",
            "webapp:dbArchiveName": "webapp-db-20261125",
        }
    )
    assert (
        "an operator job: full-recovery, plugin-barman-cloud (sidecar), "
        "bootstrap-controller (init))"
    ) in message
    assert "need 23 of CPU limits" in message
