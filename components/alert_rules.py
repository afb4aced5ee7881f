"""The alerts an on-call team needs for the database and the app, as Prometheus rule
groups (the `spec.groups` of a PrometheusRule).

Every expression reads only metrics of three sources, each with the labels it really
has: the postgres exporter beside the database (with the `namespace` and `pod` labels
the ServiceMonitor's scrape adds), kube-state-metrics and the kubelet. The list of those
metrics, with their sources, is kept in tests/metric_catalog.py, and the tests run every
alert through `promtool test rules`. Each rule aggregates to a few labels, so an alert
carries the same labels however Prometheus scrapes its sources.

The severities follow kube-prometheus-stack's Alertmanager defaults: `critical` pages,
`warning` waits for working hours, and a critical alert inhibits the warning of the same
name in the same namespace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .monitoring import Monitoring

# A Job that exhausted its retries; kube-state-metrics' `condition` label of kube_job_failed.
_FAILED = 'condition="true"'
# The last good backup may be this many schedule periods old before it is overdue.
BACKUP_OVERDUE_PERIODS = 1.5
VOLUME_WARNING = 0.8
VOLUME_CRITICAL = 0.9
CONNECTIONS_WARNING = 0.8


@dataclass(frozen=True)
class Alert:
    name: str
    severity: str
    expr: str
    summary: str
    description: str
    # How long the condition must hold; "" fires at the first evaluation.
    for_: str = ""


def rule_group(name: str, alerts: Sequence[Alert], monitoring: Monitoring) -> dict:
    """A Prometheus rule group; every alert links to its runbook entry."""
    return {
        "name": name,
        "rules": [
            {
                "alert": alert.name,
                "expr": alert.expr,
                **({"for": alert.for_} if alert.for_ else {}),
                "labels": {"severity": alert.severity},
                "annotations": {
                    "summary": alert.summary,
                    "description": alert.description,
                    "runbook_url": monitoring.runbook(alert.name),
                },
            }
            for alert in alerts
        ],
    }


def _duration(seconds: float) -> str:
    """A Prometheus duration of whole seconds, such as 129600s."""
    return f"{round(seconds)}s"


def _humane(seconds: float) -> str:
    days, rest = divmod(round(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{amount}{unit}" for amount, unit in ((days, "d"), (hours, "h"), (minutes, "m"))]
    return " ".join(part for part in parts if not part.startswith("0")) or f"{round(seconds)}s"


@dataclass(frozen=True)
class DatabaseWatch:
    """The objects of one PostgreSQL server run by a StatefulSet, by name.

    A CloudNativePG engine names its pods and claims differently and brings its own
    exporter (`cnpg_*` metrics: replication lag, WAL archiving): give it its own watch
    and alert list beside `statefulset_database_alerts`, and let PostgresDatabase choose
    by engine; rule_group, the runbook links and the tests stay as they are."""

    namespace: str
    statefulset: str
    container: str
    data_claim: str
    backup_claim: str | None = None
    backup_cronjob: str | None = None
    backup_schedule: str | None = None
    # The longest time between two scheduled backups, from the schedule.
    backup_period_seconds: int | None = None
    # The backups copy each dump to object storage (an `upload` container).
    uploads: bool = False

    @property
    def pods(self) -> str:
        """A regular expression for the StatefulSet's pods, `<name>-<ordinal>`."""
        return f"{self.statefulset}-[0-9]+"


def statefulset_database_alerts(watch: DatabaseWatch) -> list[Alert]:
    ns, sts = watch.namespace, watch.statefulset
    exporter = f'namespace="{ns}", pod=~"{watch.pods}"'
    statefulset = f'namespace="{ns}", statefulset="{sts}"'
    by_sts = "max by (namespace, statefulset)"
    alerts = [
        Alert(
            "PostgresDown",
            "critical",
            f"max by (namespace, pod) (pg_up{{{exporter}}}) == 0",
            "PostgreSQL {{ $labels.pod }} is down",
            "The exporter beside {{ $labels.pod }} in {{ $labels.namespace }} has not reached "
            "PostgreSQL for 2 minutes: the server is down, refuses connections or rejects the "
            "exporter's login.",
            "2m",
        ),
        Alert(
            "PostgresNotReady",
            "critical",
            f"{by_sts} (kube_statefulset_status_replicas_ready{{{statefulset}}})\n"
            f"< {by_sts} (kube_statefulset_replicas{{{statefulset}}})",
            "PostgreSQL {{ $labels.statefulset }} is not ready",
            "{{ $labels.statefulset }} in {{ $labels.namespace }} has had no ready database "
            "pod for 5 minutes, so the app cannot reach its database.",
            "5m",
        ),
        Alert(
            "PostgresMetricsAbsent",
            "warning",
            f"absent(pg_up{{{exporter}}})",
            f"No metrics from the exporter of {sts}",
            f"Prometheus has had no pg_up from the exporter of {sts} in "
            "{{ $labels.namespace }} for 15 minutes, so the other database alerts cannot "
            "fire.",
            "15m",
        ),
        Alert(
            "PostgresConnectionsNearLimit",
            "warning",
            f"sum by (namespace, pod) (pg_stat_activity_count{{{exporter}}})\n"
            f"/ max by (namespace, pod) (pg_settings_max_connections{{{exporter}}})\n"
            f"> {CONNECTIONS_WARNING}",
            "PostgreSQL {{ $labels.pod }} is near max_connections",
            "{{ $labels.pod }} in {{ $labels.namespace }} has used {{ $value | "
            "humanizePercentage }} of max_connections for 10 minutes; new connections fail "
            "once it is full.",
            "10m",
        ),
        Alert(
            "PostgresRestarting",
            "warning",
            "sum by (namespace, pod, container) (increase(kube_pod_container_status_restarts_total"
            f'{{namespace="{ns}", pod=~"{watch.pods}", container="{watch.container}"}}[15m])) > 0',
            "PostgreSQL {{ $labels.pod }} restarted",
            "The {{ $labels.container }} container of {{ $labels.pod }} in "
            "{{ $labels.namespace }} restarted in the last 15 minutes; each restart is an "
            "outage followed by crash recovery.",
        ),
        *_volume_alerts(watch),
    ]
    if watch.backup_cronjob and watch.backup_period_seconds:
        alerts += _backup_alerts(watch)
    return alerts


def _volume_alerts(watch: DatabaseWatch) -> list[Alert]:
    """The kubelet reports a claim's usage only while a pod on its node mounts it: always
    for the data volume, only during a backup for the backup volume. The last value seen
    stands until the next one (two backup periods at most)."""
    windows = {watch.data_claim: "10m"}
    if watch.backup_claim and watch.backup_period_seconds:
        windows[watch.backup_claim] = _duration(max(2 * watch.backup_period_seconds, 3600))
    usage = "\nor ".join(
        f"last_over_time(kubelet_volume_stats_used_bytes{{{selector}}}[{window}])\n"
        f"  / last_over_time(kubelet_volume_stats_capacity_bytes{{{selector}}}[{window}])"
        for claim, window in windows.items()
        for selector in [f'namespace="{watch.namespace}", persistentvolumeclaim="{claim}"']
    )
    return [
        Alert(
            "PostgresVolumeFillingUp",
            severity,
            f"max by (namespace, persistentvolumeclaim) (\n{usage}\n) > {threshold}",
            "Volume {{ $labels.persistentvolumeclaim }} is {{ $value | humanizePercentage }} full",
            "The volume claim {{ $labels.persistentvolumeclaim }} in {{ $labels.namespace }} "
            f"is over {threshold:.0%} full; PostgreSQL stops writing when its data volume is "
            "full, and a backup fails when its volume is.",
            "5m",
        )
        for severity, threshold in (("warning", VOLUME_WARNING), ("critical", VOLUME_CRITICAL))
    ]


def _backup_alerts(watch: DatabaseWatch) -> list[Alert]:
    ns, cronjob = watch.namespace, watch.backup_cronjob
    period = watch.backup_period_seconds or 0
    owned = (
        f'and on (namespace, job_name) kube_job_owner{{namespace="{ns}", owner_kind="CronJob", '
        f'owner_name="{cronjob}"}}'
    )
    # When the CronJob has never succeeded, it has been waiting since it was created.
    last_good = (
        f'max by (namespace) (\n  kube_cronjob_status_last_successful_time{{namespace="{ns}", '
        f'cronjob="{cronjob}"}}\n  or kube_cronjob_created{{namespace="{ns}", '
        f'cronjob="{cronjob}"}}\n)'
    )
    # A failure is news only while no backup has succeeded since the failed Job started:
    # failed Jobs stay in the history long after a later backup worked.
    failed_jobs = (
        f'max by (namespace) (\n  kube_job_status_start_time{{namespace="{ns}"}}\n'
        f'  and on (namespace, job_name) (kube_job_failed{{namespace="{ns}", {_FAILED}}} == 1)\n'
        f"  {owned}\n)"
    )
    # The upload is the backup pod's last container; its pod belongs to the Job.
    failed_uploads = (
        f'max by (namespace) (\n  kube_job_status_start_time{{namespace="{ns}"}}\n'
        "  and on (namespace, job_name) label_replace(\n"
        f'    kube_pod_owner{{namespace="{ns}", owner_kind="Job"}}\n'
        "    and on (namespace, pod) kube_pod_container_status_terminated_reason"
        f'{{namespace="{ns}", container="upload", reason!="Completed"}},\n'
        '    "job_name", "$1", "owner_name", "(.+)"\n  )\n'
        f"  {owned}\n)"
    )
    alerts = [
        Alert(
            "PostgresBackupFailed",
            "warning",
            f"{failed_jobs}\n> on (namespace) {last_good}",
            f"A backup of {watch.statefulset} failed",
            f"The latest failed Job of CronJob {cronjob} in {{{{ $labels.namespace }}}} "
            "started after the last good backup; the dumps already on the volume are kept.",
        ),
        Alert(
            "PostgresBackupTooOld",
            "critical",
            f"time() - {last_good}\n> {round(BACKUP_OVERDUE_PERIODS * period)}",
            f"The last good backup of {watch.statefulset} is overdue",
            f"The last good backup of {watch.statefulset} in {{{{ $labels.namespace }}}} "
            "finished {{ $value | humanizeDuration }} ago, while the schedule "
            f"'{watch.backup_schedule}' runs at least every {_humane(period)}.",
        ),
    ]
    if watch.uploads:
        alerts.append(
            Alert(
                "PostgresBackupUploadFailed",
                "warning",
                f"{failed_uploads}\n> on (namespace) {last_good}",
                f"A backup of {watch.statefulset} did not reach object storage",
                f"The upload of the latest failed backup of {cronjob} in "
                "{{ $labels.namespace }} failed after the last good backup, so the newest "
                "dump exists only on the cluster.",
            )
        )
    return alerts


@dataclass(frozen=True)
class AppWatch:
    """The objects of one web app, by name."""

    namespace: str
    deployment: str
    # The HorizontalPodAutoscaler's name, when the app autoscales.
    autoscaler: str | None = None


def app_alerts(watch: AppWatch) -> list[Alert]:
    ns, deployment = watch.namespace, watch.deployment
    selector = f'namespace="{ns}", deployment="{deployment}"'
    by = "max by (namespace, deployment)"
    alerts = [
        Alert(
            "WebAppUnavailable",
            "critical",
            f"{by} (kube_deployment_status_replicas_ready{{{selector}}}) == 0\n"
            f"and on (namespace, deployment)\n"
            f"{by} (kube_deployment_spec_replicas{{{selector}}}) > 0",
            "{{ $labels.deployment }} has no ready pod",
            "{{ $labels.deployment }} in {{ $labels.namespace }} has had no ready pod for 2 "
            "minutes: every request fails.",
            "2m",
        ),
        Alert(
            "WebAppReplicasUnavailable",
            "warning",
            f"{by} (kube_deployment_spec_replicas{{{selector}}})\n"
            f"- {by} (kube_deployment_status_replicas_available{{{selector}}}) > 0",
            "{{ $labels.deployment }} is short of pods",
            "{{ $value }} of the pods {{ $labels.deployment }} in {{ $labels.namespace }} "
            "should run have not been available for 10 minutes.",
            "10m",
        ),
    ]
    if watch.autoscaler:
        hpa = f'namespace="{ns}", horizontalpodautoscaler="{watch.autoscaler}"'
        by_hpa = "max by (namespace, horizontalpodautoscaler)"
        alerts.append(
            Alert(
                "WebAppAutoscalerAtMax",
                "warning",
                f"{by_hpa} (kube_horizontalpodautoscaler_status_current_replicas{{{hpa}}})\n"
                f">= {by_hpa} (kube_horizontalpodautoscaler_spec_max_replicas{{{hpa}}})",
                "{{ $labels.horizontalpodautoscaler }} is at its maximum",
                "{{ $labels.horizontalpodautoscaler }} in {{ $labels.namespace }} has run "
                "{{ $value }} pods, its maximum, for 15 minutes: the app may be short of "
                "capacity.",
                "15m",
            )
        )
    return alerts
