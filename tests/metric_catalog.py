"""Every metric the alert rules and the dashboard may read: its name, its type, the labels
its source sets, and where that source defines it.

Names and labels were read in the sources at the versions below; a rule or panel that
reads anything else fails tests/test_alert_rules.py or tests/test_dashboard.py. When the
exporter image in Pulumi.yaml changes, check the exporter's entries and bump its version
here (a test compares the two).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    name: str
    version: str
    repository: str


POSTGRES_EXPORTER = Source(
    "postgres_exporter",
    "v0.17.1",
    "https://github.com/prometheus-community/postgres_exporter",
)
KUBE_STATE_METRICS = Source(
    "kube-state-metrics",
    "v2.17.0",
    "https://github.com/kubernetes/kube-state-metrics",
)
CLOUDNATIVE_PG = Source(
    "cloudnative-pg",
    "v1.30.0",
    "https://github.com/cloudnative-pg/cloudnative-pg",
)
BARMAN_CLOUD_PLUGIN = Source(
    "plugin-barman-cloud",
    "v0.14.0",
    "https://github.com/cloudnative-pg/plugin-barman-cloud",
)
KUBELET = Source("kubelet", "Kubernetes 1.31 to 1.37", "https://github.com/kubernetes/kubernetes")

# Labels a Prometheus operator scrape (ServiceMonitor or PodMonitor) adds to every series
# of a target. kube-prometheus-stack scrapes kube-state-metrics and the kubelet with
# honorLabels, so their own `namespace`, `pod` and `container` (the object's) win.
TARGET_LABELS = frozenset(
    {"namespace", "pod", "container", "service", "endpoint", "job", "instance"}
)


@dataclass(frozen=True)
class Metric:
    name: str
    type: str
    labels: frozenset[str]
    source: Source
    # The file of the source's repository (at its version) that defines the metric.
    defined_in: str


def _metric(name: str, type_: str, labels: str, source: Source, defined_in: str) -> Metric:
    return Metric(name, type_, frozenset(labels.split()), source, defined_in)


_EXPORTER_BUILTIN = "cmd/postgres_exporter/postgres_exporter.go"
_STAT_DATABASE = "collector/pg_stat_database.go"
_KSM_DOCS = "docs/metrics/workload/{}-metrics.md"
# The instance manager's own collector, and the queries of its default monitoring
# ConfigMap (`cnpg_<query>_<column>`, labelled by the query's LABEL columns only).
_CNPG_COLLECTOR = "pkg/management/postgres/webserver/metricserver/pg_collector.go"
_CNPG_QUERIES = "config/manager/default-monitoring.yaml"

METRICS = {
    metric.name: metric
    for metric in [
        # postgres_exporter: `server` (host:port of the database) on its built-in queries.
        _metric("pg_up", "gauge", "", POSTGRES_EXPORTER, _EXPORTER_BUILTIN),
        _metric(
            "pg_settings_max_connections",
            "gauge",
            "server",
            POSTGRES_EXPORTER,
            "cmd/postgres_exporter/pg_setting.go",
        ),
        _metric(
            "pg_stat_activity_count",
            "gauge",
            "datname state usename application_name backend_type wait_event_type wait_event server",
            POSTGRES_EXPORTER,
            f"{_EXPORTER_BUILTIN} (builtinMetricMaps), cmd/postgres_exporter/queries.go",
        ),
        _metric(
            "pg_stat_database_xact_commit",
            "counter",
            "datid datname",
            POSTGRES_EXPORTER,
            _STAT_DATABASE,
        ),
        _metric(
            "pg_stat_database_xact_rollback",
            "counter",
            "datid datname",
            POSTGRES_EXPORTER,
            _STAT_DATABASE,
        ),
        _metric(
            "pg_stat_database_blks_hit",
            "counter",
            "datid datname",
            POSTGRES_EXPORTER,
            _STAT_DATABASE,
        ),
        _metric(
            "pg_stat_database_blks_read",
            "counter",
            "datid datname",
            POSTGRES_EXPORTER,
            _STAT_DATABASE,
        ),
        _metric(
            "pg_stat_database_deadlocks",
            "counter",
            "datid datname",
            POSTGRES_EXPORTER,
            _STAT_DATABASE,
        ),
        _metric(
            "pg_locks_count", "gauge", "datname mode", POSTGRES_EXPORTER, "collector/pg_locks.go"
        ),
        _metric(
            "pg_database_size_bytes",
            "gauge",
            "datname",
            POSTGRES_EXPORTER,
            "collector/pg_database.go",
        ),
        # CloudNativePG's instance manager, on every instance (scraped by the PodMonitor).
        _metric("cnpg_collector_up", "gauge", "cluster", CLOUDNATIVE_PG, _CNPG_COLLECTOR),
        _metric(
            "cnpg_collector_last_available_backup_timestamp",
            "gauge",
            "",
            CLOUDNATIVE_PG,
            _CNPG_COLLECTOR,
        ),
        *(
            _metric(name, "gauge", "", CLOUDNATIVE_PG, f"{_CNPG_QUERIES} (pg_replication)")
            for name in ("cnpg_pg_replication_lag", "cnpg_pg_replication_in_recovery")
        ),
        _metric(
            "cnpg_pg_stat_archiver_failed_count",
            "counter",
            "",
            CLOUDNATIVE_PG,
            f"{_CNPG_QUERIES} (pg_stat_archiver)",
        ),
        *(
            _metric(name, "gauge", "", CLOUDNATIVE_PG, f"{_CNPG_QUERIES} (pg_stat_archiver)")
            for name in (
                "cnpg_pg_stat_archiver_seconds_since_last_archival",
                "cnpg_pg_stat_archiver_seconds_since_last_failure",
            )
        ),
        *(
            _metric(
                f"cnpg_pg_stat_database_{column}",
                "counter",
                "datname",
                CLOUDNATIVE_PG,
                f"{_CNPG_QUERIES} (pg_stat_database)",
            )
            for column in ("xact_commit", "xact_rollback", "blks_hit", "blks_read", "deadlocks")
        ),
        _metric(
            "cnpg_pg_database_size_bytes",
            "gauge",
            "datname",
            CLOUDNATIVE_PG,
            f"{_CNPG_QUERIES} (pg_database)",
        ),
        _metric(
            "cnpg_backends_waiting_total",
            "gauge",
            "",
            CLOUDNATIVE_PG,
            f"{_CNPG_QUERIES} (backends_waiting)",
        ),
        _metric(
            "cnpg_backends_total",
            "gauge",
            "datname usename application_name state",
            CLOUDNATIVE_PG,
            f"{_CNPG_QUERIES} (backends)",
        ),
        _metric(
            "cnpg_pg_settings_setting",
            "gauge",
            "name",
            CLOUDNATIVE_PG,
            f"{_CNPG_QUERIES} (pg_settings)",
        ),
        # The Barman Cloud plugin, through the instance manager's exporter.
        _metric(
            "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp",
            "gauge",
            "",
            BARMAN_CLOUD_PLUGIN,
            "internal/cnpgi/instance/metrics.go",
        ),
        # kube-state-metrics
        *(
            _metric(
                name, "gauge", "namespace cronjob", KUBE_STATE_METRICS, _KSM_DOCS.format("cronjob")
            )
            for name in ("kube_cronjob_status_last_successful_time", "kube_cronjob_created")
        ),
        _metric(
            "kube_job_status_start_time",
            "gauge",
            "namespace job_name",
            KUBE_STATE_METRICS,
            _KSM_DOCS.format("job"),
        ),
        _metric(
            "kube_job_failed",
            "gauge",
            "namespace job_name condition",
            KUBE_STATE_METRICS,
            _KSM_DOCS.format("job"),
        ),
        _metric(
            "kube_job_owner",
            "gauge",
            "namespace job_name owner_kind owner_name owner_is_controller",
            KUBE_STATE_METRICS,
            _KSM_DOCS.format("job"),
        ),
        _metric(
            "kube_pod_owner",
            "gauge",
            "namespace pod uid owner_kind owner_name owner_is_controller",
            KUBE_STATE_METRICS,
            _KSM_DOCS.format("pod"),
        ),
        _metric(
            "kube_pod_container_status_terminated_reason",
            "gauge",
            "namespace pod uid container reason",
            KUBE_STATE_METRICS,
            _KSM_DOCS.format("pod"),
        ),
        _metric(
            "kube_pod_status_ready",
            "gauge",
            "namespace pod uid condition",
            KUBE_STATE_METRICS,
            _KSM_DOCS.format("pod"),
        ),
        _metric(
            "kube_pod_container_status_restarts_total",
            "counter",
            "namespace pod uid container",
            KUBE_STATE_METRICS,
            _KSM_DOCS.format("pod"),
        ),
        *(
            _metric(
                name,
                "gauge",
                "namespace statefulset",
                KUBE_STATE_METRICS,
                _KSM_DOCS.format("statefulset"),
            )
            for name in ("kube_statefulset_status_replicas_ready", "kube_statefulset_replicas")
        ),
        *(
            _metric(
                name,
                "gauge",
                "namespace deployment",
                KUBE_STATE_METRICS,
                _KSM_DOCS.format("deployment"),
            )
            for name in (
                "kube_deployment_spec_replicas",
                "kube_deployment_status_replicas_ready",
                "kube_deployment_status_replicas_available",
                "kube_deployment_status_replicas_updated",
                "kube_deployment_metadata_generation",
                "kube_deployment_status_observed_generation",
            )
        ),
        *(
            _metric(
                name,
                "gauge",
                "namespace horizontalpodautoscaler",
                KUBE_STATE_METRICS,
                _KSM_DOCS.format("horizontalpodautoscaler"),
            )
            for name in (
                "kube_horizontalpodautoscaler_status_current_replicas",
                "kube_horizontalpodautoscaler_spec_max_replicas",
            )
        ),
        # kubelet: only claims mounted by a running pod on the node are reported.
        *(
            _metric(
                name,
                "gauge",
                "namespace persistentvolumeclaim",
                KUBELET,
                "pkg/kubelet/metrics/collectors/volume_stats.go",
            )
            for name in ("kubelet_volume_stats_used_bytes", "kubelet_volume_stats_capacity_bytes")
        ),
    ]
}


def labels_of(name: str) -> frozenset[str]:
    """The labels a series of `name` can carry once scraped."""
    return METRICS[name].labels | TARGET_LABELS
