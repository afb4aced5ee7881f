"""The alerts of a PostgresDatabase run by a StatefulSet: the server, its exporter, its
volumes and its backups (rule groups and the metric sources: alert_rules.py)."""

from dataclasses import dataclass

from .alert_rules import Alert, duration, humane

# A Job that exhausted its retries; kube-state-metrics' `condition` label of kube_job_failed.
_FAILED = 'condition="true"'
# The last good backup may be this many schedule periods old before it is overdue.
BACKUP_OVERDUE_PERIODS = 1.5
VOLUME_WARNING = 0.8
VOLUME_CRITICAL = 0.9
CONNECTIONS_WARNING = 0.8


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
        windows[watch.backup_claim] = duration(max(2 * watch.backup_period_seconds, 3600))
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
            f"'{watch.backup_schedule}' runs at least every {humane(period)}.",
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
