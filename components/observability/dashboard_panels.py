"""The panels of the namespace's Grafana dashboard (dashboard.py): what each row shows, as
PromQL over the namespace's metrics; the app's and the statefulset engine's rows here, the
cloudnative-pg engine's in cloudnative_pg_panels.py."""

from .cloudnative_pg_panels import cloudnative_pg_rows
from .panel import NO_BACKUPS, Panel, cache_hit_panel, query, two_states, volumes_panel


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
    app = [
        Panel(
            "Ready pods",
            "stat",
            [query(f"{deployments} (kube_deployment_status_replicas_ready{ns})", "{{deployment}}")],
            6,
            description="Pods that pass their readiness probe and get traffic.",
        ),
        Panel(
            "Pods: desired, available, on the new version",
            "timeseries",
            [
                query(
                    f"{deployments} (kube_deployment_spec_replicas{ns})", "{{deployment}} desired"
                ),
                query(
                    f"{deployments} (kube_deployment_status_replicas_available{ns})",
                    "{{deployment}} available",
                ),
                query(
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
                query(
                    f"{deployments} (kube_deployment_spec_replicas{ns})\n"
                    f"- {deployments} (kube_deployment_status_replicas_updated{ns})",
                    "{{deployment}}",
                ),
                query(
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
                query(
                    f"sum {autoscalers} (kube_horizontalpodautoscaler_status_current_replicas{ns})",
                    "{{horizontalpodautoscaler}} pods",
                ),
                query(
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
                query(
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
            [query(f"max by (pod) (pg_up{ns})", "{{pod}}")],
            6,
            description="1 while the exporter reaches the server.",
            extra=two_states(("down", "red"), ("up", "green")),
        ),
        Panel(
            "Connections by state",
            "timeseries",
            [
                query(f"sum by (state) (pg_stat_activity_count{ns})", "{{state}}"),
                query(f"max(pg_settings_max_connections{ns})", "max_connections"),
            ],
            9,
        ),
        Panel(
            "Transactions per second",
            "timeseries",
            [
                query(
                    f"{databases} (rate(pg_stat_database_xact_commit{ns}{rate}))",
                    "{{datname}} commits",
                ),
                query(
                    f"{databases} (rate(pg_stat_database_xact_rollback{ns}{rate}))",
                    "{{datname}} rollbacks",
                ),
            ],
            9,
            unit="ops",
        ),
        cache_hit_panel(hits, reads),
        Panel(
            "Locks by mode",
            "timeseries",
            [query(f"sum by (mode) (pg_locks_count{ns})", "{{mode}}")],
            8,
        ),
        Panel(
            "Deadlocks and database size",
            "timeseries",
            [
                query(
                    f"{databases} (increase(pg_stat_database_deadlocks{ns}{rate}))",
                    "{{datname}} deadlocks",
                ),
                query(f"{databases} (pg_database_size_bytes{ns})", "{{datname}} bytes"),
            ],
            8,
        ),
    ]
    backups_and_volumes = [
        Panel(
            "Age of the last good backup",
            "stat",
            [
                query(
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
                query(
                    f'sum(kube_job_failed{{namespace="{namespace}", condition="true"}})',
                    "failed Jobs",
                )
            ],
            6,
        ),
        volumes_panel(
            ns,
            "The kubelet measures a volume only while a pod mounts it: the backup volume "
            "during backups.",
        ),
    ]
    if engine == "cloudnative-pg":
        return [
            ("App: availability and rollouts", app),
            *cloudnative_pg_rows(namespace, rate, backups),
        ]
    if not backups:
        volumes = volumes_panel(ns, "The kubelet measures a volume only while a pod mounts it.")
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
