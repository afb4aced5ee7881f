"""The panels of the namespace's Grafana dashboard (dashboard.py): what each row shows, as
PromQL over the namespace's metrics."""

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Query:
    expr: str
    legend: str


@dataclass
class Panel:
    title: str
    kind: str
    queries: list[Query]
    width: int
    unit: str = "short"
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# The row title that says why a dashboard has no backup panels.
NO_BACKUPS = "no backups: the stack runs without them"


def _q(expr: str, legend: str) -> Query:
    return Query(expr, legend)


def _two_states(zero: tuple[str, str], one: tuple[str, str]) -> dict:
    """A stat panel that names the values 0 and 1 (text, colour) instead of showing them."""
    options = {
        value: {"text": text, "color": color} for value, (text, color) in (("0", zero), ("1", one))
    }
    return {"mappings": [{"type": "value", "options": options}]}


def rows(
    namespace: str, engine: str = "statefulset", backups: bool = True
) -> list[tuple[str, list[Panel]]]:
    """The app's row, then the engine's: each reads only metrics its engine exports.
    Without `backups` there are no backup panels, which would show no data or, for
    CloudNativePG's WAL archive, a success that archives to nowhere."""
    ns = f'{{namespace="{namespace}"}}'
    rate = "[$__rate_interval]"
    # max: a series kube-state-metrics reports twice (two replicas) counts once.
    deployments = "max by (deployment)"
    autoscalers = "by (horizontalpodautoscaler)"
    databases = "sum by (datname)"
    percent = {"min": 0, "max": 1}
    app = [
        Panel(
            "Ready pods",
            "stat",
            [_q(f"{deployments} (kube_deployment_status_replicas_ready{ns})", "{{deployment}}")],
            6,
            description="Pods that pass their readiness probe and get traffic.",
        ),
        Panel(
            "Pods: desired, available, on the new version",
            "timeseries",
            [
                _q(f"{deployments} (kube_deployment_spec_replicas{ns})", "{{deployment}} desired"),
                _q(
                    f"{deployments} (kube_deployment_status_replicas_available{ns})",
                    "{{deployment}} available",
                ),
                _q(
                    f"{deployments} (kube_deployment_status_replicas_updated{ns})",
                    "{{deployment}} on the new version",
                ),
            ],
            9,
        ),
        Panel(
            "Rollouts: pods still on the old version",
            "timeseries",
            [
                _q(
                    f"{deployments} (kube_deployment_spec_replicas{ns})\n"
                    f"- {deployments} (kube_deployment_status_replicas_updated{ns})",
                    "{{deployment}}",
                ),
                _q(
                    f"{deployments} (kube_deployment_metadata_generation{ns})\n"
                    f"- {deployments} (kube_deployment_status_observed_generation{ns})",
                    "{{deployment}} changes the controller has not seen yet",
                ),
            ],
            9,
            description="Above zero while a rollout is under way; stuck above zero, a rollout "
            "that does not finish.",
        ),
        Panel(
            "Autoscaler: pods and maximum",
            "timeseries",
            [
                _q(
                    f"sum {autoscalers} (kube_horizontalpodautoscaler_status_current_replicas{ns})",
                    "{{horizontalpodautoscaler}} pods",
                ),
                _q(
                    f"max {autoscalers} (kube_horizontalpodautoscaler_spec_max_replicas{ns})",
                    "{{horizontalpodautoscaler}} maximum",
                ),
            ],
            12,
        ),
        Panel(
            "Container restarts per hour",
            "timeseries",
            [
                _q(
                    "sum by (pod, container) "
                    f"(increase(kube_pod_container_status_restarts_total{ns}[1h]))",
                    "{{pod}} {{container}}",
                )
            ],
            12,
        ),
    ]
    hits = f"{databases} (rate(pg_stat_database_blks_hit{ns}{rate}))"
    reads = f"{databases} (rate(pg_stat_database_blks_read{ns}{rate}))"
    database = [
        Panel(
            "PostgreSQL up",
            "stat",
            [_q(f"max by (pod) (pg_up{ns})", "{{pod}}")],
            6,
            description="1 while the exporter reaches the server.",
            extra=_two_states(("down", "red"), ("up", "green")),
        ),
        Panel(
            "Connections by state",
            "timeseries",
            [
                _q(f"sum by (state) (pg_stat_activity_count{ns})", "{{state}}"),
                _q(f"max(pg_settings_max_connections{ns})", "max_connections"),
            ],
            9,
        ),
        Panel(
            "Transactions per second",
            "timeseries",
            [
                _q(
                    f"{databases} (rate(pg_stat_database_xact_commit{ns}{rate}))",
                    "{{datname}} commits",
                ),
                _q(
                    f"{databases} (rate(pg_stat_database_xact_rollback{ns}{rate}))",
                    "{{datname}} rollbacks",
                ),
            ],
            9,
            unit="ops",
        ),
        Panel(
            "Cache hit ratio",
            "timeseries",
            [_q(f"{hits}\n/ ({hits}\n  + {reads})", "{{datname}}")],
            8,
            unit="percentunit",
            description="Blocks found in shared buffers; below about 99% the working set "
            "does not fit in memory.",
            extra=percent,
        ),
        Panel(
            "Locks by mode",
            "timeseries",
            [_q(f"sum by (mode) (pg_locks_count{ns})", "{{mode}}")],
            8,
        ),
        Panel(
            "Deadlocks and database size",
            "timeseries",
            [
                _q(
                    f"{databases} (increase(pg_stat_database_deadlocks{ns}{rate}))",
                    "{{datname}} deadlocks",
                ),
                _q(f"{databases} (pg_database_size_bytes{ns})", "{{datname}} bytes"),
            ],
            8,
        ),
    ]
    backups_and_volumes = [
        Panel(
            "Age of the last good backup",
            "stat",
            [
                _q(
                    f"time() - max by (cronjob) (kube_cronjob_status_last_successful_time{ns})",
                    "{{cronjob}}",
                )
            ],
            6,
            unit="s",
        ),
        Panel(
            "Failed Jobs kept in the history",
            "timeseries",
            [
                _q(
                    f'sum(kube_job_failed{{namespace="{namespace}", condition="true"}})',
                    "failed Jobs",
                )
            ],
            6,
        ),
        _volumes(
            ns,
            "The kubelet measures a volume only while a pod mounts it: the backup volume "
            "during backups.",
        ),
    ]
    if engine == "cloudnative-pg":
        return [
            ("App: availability and rollouts", app),
            *_cloudnative_pg(namespace, rate, backups),
        ]
    if not backups:
        volumes = _volumes(ns, "The kubelet measures a volume only while a pod mounts it.")
        return [
            ("App: availability and rollouts", app),
            ("Database", database),
            (f"Volumes ({NO_BACKUPS})", [volumes]),
        ]
    return [
        ("App: availability and rollouts", app),
        ("Database", database),
        ("Backups and volumes", backups_and_volumes),
    ]


def _volumes(ns: str, description: str) -> Panel:
    return Panel(
        "Volume usage",
        "timeseries",
        [
            _q(
                "max by (persistentvolumeclaim) (\n"
                f"  kubelet_volume_stats_used_bytes{ns}\n"
                f"  / kubelet_volume_stats_capacity_bytes{ns}\n)",
                "{{persistentvolumeclaim}}",
            )
        ],
        12,
        unit="percentunit",
        description=description,
        extra={"min": 0, "max": 1},
    )


def _cloudnative_pg(namespace: str, rate: str, backups: bool) -> list[tuple[str, list[Panel]]]:
    """The instance manager's metrics (its default monitoring queries, `cnpg_*`, on every
    instance), the Barman Cloud plugin's, and the kubelet's volumes."""
    ns = f'{{namespace="{namespace}"}}'
    databases = "sum by (datname)"
    hits = f"{databases} (rate(cnpg_pg_stat_database_blks_hit{ns}{rate}))"
    reads = f"{databases} (rate(cnpg_pg_stat_database_blks_read{ns}{rate}))"
    database = [
        Panel(
            "Instances: primary or standby",
            "stat",
            [_q(f"max by (pod) (cnpg_pg_replication_in_recovery{ns})", "{{pod}}")],
            6,
            description="Each instance the instance manager reports on; the primary is the "
            "one not in recovery.",
            extra=_two_states(("primary", "green"), ("standby", "blue")),
        ),
        Panel(
            "Connections by state",
            "timeseries",
            [
                _q(f"sum by (state) (cnpg_backends_total{ns})", "{{state}}"),
                _q(
                    f'max(cnpg_pg_settings_setting{{namespace="{namespace}", '
                    'name="max_connections"})',
                    "max_connections",
                ),
            ],
            9,
            description="Over every instance: the primary's and the standbys' sessions.",
        ),
        Panel(
            "Transactions per second",
            "timeseries",
            [
                _q(
                    f"{databases} (rate(cnpg_pg_stat_database_xact_commit{ns}{rate}))",
                    "{{datname}} commits",
                ),
                _q(
                    f"{databases} (rate(cnpg_pg_stat_database_xact_rollback{ns}{rate}))",
                    "{{datname}} rollbacks",
                ),
            ],
            9,
            unit="ops",
            description="Over every instance; the standbys' are read-only transactions.",
        ),
        Panel(
            "Cache hit ratio",
            "timeseries",
            [_q(f"{hits}\n/ ({hits}\n  + {reads})", "{{datname}}")],
            8,
            unit="percentunit",
            description="Blocks found in shared buffers; below about 99% the working set "
            "does not fit in memory.",
            extra={"min": 0, "max": 1},
        ),
        Panel(
            "Sessions waiting for a lock",
            "timeseries",
            [_q(f"max by (pod) (cnpg_backends_waiting_total{ns})", "{{pod}}")],
            8,
        ),
        Panel(
            "Deadlocks and database size",
            "timeseries",
            [
                _q(
                    f"{databases} (increase(cnpg_pg_stat_database_deadlocks{ns}{rate}))",
                    "{{datname}} deadlocks",
                ),
                _q(
                    f"max by (datname) (cnpg_pg_database_size_bytes{ns})",
                    "{{datname}} bytes",
                ),
            ],
            8,
        ),
    ]
    volumes = _volumes(ns, "The instances' data volumes; unarchived WAL stays on them.")
    if not backups:
        return [
            ("Database (CloudNativePG)", database),
            (f"Volumes ({NO_BACKUPS})", [volumes]),
            ("Replication", _replication(ns, rate)[:1]),
        ]
    archive = [
        Panel(
            "Age of the last base backup",
            "stat",
            [
                _q(
                    # The plugin reports 0 until the first backup: dropped before the
                    # subtraction, or the panel shows the age of 1970.
                    "time() - max(\n"
                    f"  barman_cloud_cloudnative_pg_io_last_available_backup_timestamp{ns} > 0\n"
                    f"  or cnpg_collector_last_available_backup_timestamp{ns} > 0\n)",
                    "last base backup",
                )
            ],
            6,
            unit="s",
            description="The newest base backup in the bucket, as the Barman Cloud plugin "
            "reports it; no value before the first one.",
        ),
        *_replication(ns, rate)[1:],
        volumes,
    ]
    return [
        ("Database (CloudNativePG)", database),
        ("Base backups, WAL archive and volumes", archive),
        ("Replication", _replication(ns, rate)[:1]),
    ]


def _replication(ns: str, rate: str) -> list[Panel]:
    """CloudNativePG's instance manager reports these; the StatefulSet's single server has
    no standbys and archives no WAL."""
    return [
        Panel(
            "Replication lag",
            "timeseries",
            [_q(f"max by (pod) (cnpg_pg_replication_lag{ns})", "{{pod}}")],
            12,
            unit="s",
            description="How far each standby's replay is behind the primary (0 on the "
            "primary); the CnpgReplicationLagHigh alert fires above 5 minutes.",
        ),
        Panel(
            "WAL: time since the last archived segment",
            "timeseries",
            [
                _q(
                    f"max by (pod) (cnpg_pg_stat_archiver_seconds_since_last_archival{ns})",
                    "{{pod}}",
                )
            ],
            6,
            unit="s",
            description="On the primary; grows while the database is idle, and while "
            "archiving fails.",
        ),
        Panel(
            "WAL archiving failures",
            "timeseries",
            [
                _q(
                    f"sum by (pod) (increase(cnpg_pg_stat_archiver_failed_count{ns}{rate}))",
                    "{{pod}}",
                )
            ],
            6,
            description="Failed attempts to archive a WAL segment to the bucket.",
        ),
    ]
