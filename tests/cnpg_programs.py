"""Small programs that call the CNPG engine's seam under mocks, as PostgresDatabase will:
a parent component, and declare_cnpg_cluster with prod-like or dev-like settings."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import pulumi

from components._shared.common import ContainerResources
from components.database.cloudnative_pg import CnpgSettings, declare_cnpg_cluster
from components.database.object_storage import ObjectStorage
from tests.harness import ProgramRun, Registration, run

PARENT_TYPE = "webapp:components:CnpgParent"
PASSWORD = "MockPwCnpgApp0123456789abcdef"
ACCESS_KEY = "AKIAMOCKCNPG00000001"
SECRET_KEY = "MockSecretKeyCnpg/0123456789abcdefghij"
CLIENT_SELECTOR = {"app.kubernetes.io/instance": "webapp", "app.kubernetes.io/component": "web"}


class Parent(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__(PARENT_TYPE, name, None, None)


PROD = CnpgSettings(
    instances=3,
    storage_size="20Gi",
    storage_class="fast-ssd",
    resources=ContainerResources(
        cpu_request="500m", cpu_limit="2", memory_request="1Gi", memory_limit="2Gi"
    ),
    database="app",
    owner="app",
    metrics_namespace="monitoring",
    pod_monitor=True,
    pod_monitor_labels={"release": "kube-prometheus-stack"},
    object_storage=ObjectStorage(
        bucket_url="s3://example-webapp-backups/prod",
        image="amazon/aws-cli:2.22.35",
        region="eu-west-1",
        endpoint="https://minio.example.com:9000",
        access_key_id=pulumi.Output.secret(ACCESS_KEY),
        secret_access_key=pulumi.Output.secret(SECRET_KEY),
    ),
    backup_schedule="0 3 * * *",
    retention_days=14,
    protect=True,
)

DEV = CnpgSettings(
    instances=1,
    storage_size="1Gi",
    resources=ContainerResources(
        cpu_request="100m", cpu_limit="500m", memory_request="256Mi", memory_limit="512Mi"
    ),
    database="app",
    owner="app",
)


def with_storage(settings: CnpgSettings, **changes: Any) -> CnpgSettings:
    """`settings` with fields of its object storage changed; None removes a field."""
    storage = settings.object_storage
    assert storage is not None
    changed = {**storage, **changes}
    kept = {key: value for key, value in changed.items() if value is not None}
    return replace(settings, object_storage=ObjectStorage(**kept))  # type: ignore[typeddict-item]


def program(
    clusters: Mapping[str, CnpgSettings], namespace: str = "webapp-prod"
) -> Callable[[], None]:
    def declare() -> None:
        for name, settings in clusters.items():
            parent = Parent(name)
            result = declare_cnpg_cluster(
                parent,
                name,
                namespace,
                "webapp",
                CLIENT_SELECTOR,
                pulumi.Output.secret(PASSWORD),
                settings,
                "cluster.local",
            )
            # As PostgresDatabase will: the component's outputs, not stack exports (those
            # would outlive this run in the test process).
            parent.register_outputs(
                {
                    "host": result.host,
                    "port": result.port,
                    "secret_name": result.secret_name,
                    "selector": result.selector,
                }
            )

    return declare


def run_clusters(clusters: Mapping[str, CnpgSettings]) -> ProgramRun:
    return run("cnpg", program(clusters))


def of_kind(run_: ProgramRun, kind: str, parent: str | None = None) -> list[Registration]:
    parents = {r.urn: r.name for r in run_.of_type(PARENT_TYPE)}
    return [
        r
        for r in run_.kubernetes()
        if r.manifest().get("kind") == kind and (parent is None or parents[r.parent] == parent)
    ]


def outputs(run_: ProgramRun, parent: str) -> dict[str, Any]:
    """What the parent registered from the seam's result: host, port, secret_name, selector."""
    return run_.component_outputs[run_.one(PARENT_TYPE, parent).urn][0]


def one(run_: ProgramRun, kind: str, parent: str) -> Registration:
    (record,) = of_kind(run_, kind, parent)
    return record


def decoded_secret_data(record: Registration) -> dict[str, str]:
    return {
        key: base64.b64decode(value).decode()
        for key, value in (record.manifest().get("data") or {}).items()
    }
