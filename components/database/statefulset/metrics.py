"""Metrics of a PostgresDatabase: a Prometheus postgres exporter beside the server, its
Service and, optionally, a ServiceMonitor; and the database's alert rules, which read
them."""

from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from ..._shared.common import (
    EXPORTER_RESOURCES,
    container_security_context,
    http_probes,
    object_meta,
    resource_requirements,
    selector_labels,
    standard_labels,
)
from ..._shared.cron import longest_gap_seconds
from ..._shared.package import InvalidInput
from ...observability.alert_rules import rule_group
from ...observability.monitoring import Watching, prometheus_rule
from ...observability.statefulset_alerts import DatabaseWatch, statefulset_database_alerts
from ..parts import (
    EXPORTER_PORT,
    EXPORTER_SECRETS_MOUNT,
    PASSWORD_KEY,
    POSTGRES_PORT,
    DatabaseParts,
)
from .roles import EXPORTER_ROLE


class Metrics(TypedDict):
    """A Prometheus postgres exporter next to the database."""

    exporter_image: pulumi.Input[str]
    """Image of the postgres exporter, pinned."""
    scraper_namespace: pulumi.Input[str]
    """Namespace of the Prometheus that scrapes the exporter, admitted by NetworkPolicy."""
    service_monitor: NotRequired[pulumi.Input[bool]]
    """Create a ServiceMonitor for the exporter (needs the Prometheus operator's CRDs).
    Must be a plain value."""


def exporter_container(db: DatabaseParts, metrics: Metrics) -> k8s.core.v1.ContainerArgs:
    """Reads the server's statistics over the pod's loopback as the exporter role
    (`pg_monitor` only), so it needs no NetworkPolicy opening toward the database."""
    probes = http_probes("metrics", "/", "/")
    source = pulumi.Output.concat(
        "127.0.0.1:", str(POSTGRES_PORT), "/", db.database, "?sslmode=disable"
    )
    return k8s.core.v1.ContainerArgs(
        name="exporter",
        image=metrics["exporter_image"],
        ports=[k8s.core.v1.ContainerPortArgs(name="metrics", container_port=EXPORTER_PORT)],
        env=[
            k8s.core.v1.EnvVarArgs(name="DATA_SOURCE_URI", value=source),
            k8s.core.v1.EnvVarArgs(name="DATA_SOURCE_USER", value=EXPORTER_ROLE),
            k8s.core.v1.EnvVarArgs(
                name="DATA_SOURCE_PASS_FILE", value=f"{EXPORTER_SECRETS_MOUNT}/{PASSWORD_KEY}"
            ),
        ],
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(
                name="exporter-credentials", mount_path=EXPORTER_SECRETS_MOUNT, read_only=True
            )
        ],
        resources=resource_requirements(EXPORTER_RESOURCES),
        security_context=container_security_context(),
        startup_probe=probes.startup,
        readiness_probe=probes.readiness,
        liveness_probe=probes.liveness,
    )


def metrics_service(db: DatabaseParts, service_monitor: bool) -> None:
    labels = standard_labels(db.app, db.name, "database-metrics")
    service = k8s.core.v1.Service(
        f"{db.name}-metrics",
        metadata=object_meta(labels, db.namespace, f"{db.name}-metrics"),
        spec=k8s.core.v1.ServiceSpecArgs(
            type="ClusterIP",
            selector=dict(db.selector),
            ports=[
                k8s.core.v1.ServicePortArgs(
                    name="metrics", port=EXPORTER_PORT, target_port="metrics", protocol="TCP"
                )
            ],
        ),
        opts=db.opts(),
    )
    if service_monitor:
        operator_labels = db.monitoring.labels if db.monitoring else {}
        k8s.apiextensions.CustomResource(
            f"{db.name}-servicemonitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=object_meta({**operator_labels, **labels}, db.namespace, f"{db.name}-metrics"),
            spec={
                "selector": {"matchLabels": selector_labels(db.app, db.name, "database-metrics")},
                "namespaceSelector": {"matchNames": [db.namespace]},
                "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s"}],
            },
            opts=db.opts(depends_on=[service]),
        )


def _backup_period(schedule: str) -> int:
    try:
        return longest_gap_seconds(schedule)
    except (ValueError, IndexError) as problem:
        raise InvalidInput(
            f"PostgresDatabase input 'backups.schedule' is '{schedule}', which never runs, so "
            "the backup alerts cannot tell when a backup is late"
        ) from problem


def alert_rules(db: DatabaseParts, monitoring: Watching, backups: Any) -> None:
    """This database's alerts, in a PrometheusRule of its own; `backups` is the component's
    backups input, or None."""
    storage = backups.get("object_storage") if backups else None
    schedule = backups["schedule"] if backups else None
    if isinstance(schedule, str):
        _backup_period(schedule)  # refused now, where the schedule is known already

    def groups(resolved: list[Any]) -> list[dict]:
        namespace, schedule, runbook_url = resolved
        watch = DatabaseWatch(
            namespace=namespace,
            statefulset=db.name,
            container="postgres",
            data_claim=f"{db.name}-data",
            backup_claim=f"{db.name}-backups" if backups else None,
            backup_cronjob=f"{db.name}-backup" if backups else None,
            backup_schedule=schedule,
            backup_period_seconds=_backup_period(schedule) if backups else None,
            uploads=bool(storage),
        )
        alerts = statefulset_database_alerts(watch)
        return [rule_group(f"{db.name}-database", alerts, runbook_url)]

    prometheus_rule(
        f"{db.name}-alerts",
        db.namespace,
        {**monitoring.labels, **db.labels},
        pulumi.Output.all(db.namespace, schedule, monitoring.runbook_url).apply(groups),
        db.opts(),
    )
