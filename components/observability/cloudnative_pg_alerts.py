"""The alerts of a PostgresDatabase run by CloudNativePG, from the metrics its instance
manager exports on every instance (`cnpg_*`, with the Barman Cloud plugin's backup
timestamp), kube-state-metrics and the kubelet; in a PrometheusRule `<name>-alerts` like
the statefulset engine's (statefulset_alerts.py).

The instances are the pods `<name>-<n>` and their data volumes the claims of the same
names. The instance manager reports the archiver only on the primary, and the backup
timestamps only on some instances (0 elsewhere), so those rules take the maximum over the
instances."""

from dataclasses import dataclass

from .alert_rules import Alert, humane
from .statefulset_alerts import (
    BACKUP_OVERDUE_PERIODS,
    CONNECTIONS_WARNING,
    VOLUME_CRITICAL,
    VOLUME_WARNING,
)

# Seconds a standby may replay behind the primary before it is news.
REPLICATION_LAG_WARNING = 300
# How long a primary may run without having archived anything: the first archive of a new
# cluster or of a newly promoted primary is due within minutes.
NEVER_ARCHIVED_GRACE_SECONDS = 30 * 60
# The Barman Cloud plugin's metric, which supersedes the instance manager's own
# `cnpg_collector_last_available_backup_timestamp` (still read where the plugin's is not).
PLUGIN_BACKUP_TIMESTAMP = "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp"


@dataclass(frozen=True)
class ClusterWatch:
    """The objects of one CloudNativePG Cluster, by name."""

    namespace: str
    cluster: str
    instances: int
    # The base backups' schedule and its longest gap; None without backups (and so
    # without WAL archiving).
    backup_schedule: str | None = None
    backup_period_seconds: int | None = None

    @property
    def pods(self) -> str:
        """A regular expression for the instances' pods (and their data claims)."""
        return f"{self.cluster}-[0-9]+"


def cnpg_database_alerts(watch: ClusterWatch) -> list[Alert]:
    ns, name = watch.namespace, watch.cluster
    sel = f'namespace="{ns}", pod=~"{watch.pods}"'
    ready = f'max by (namespace, pod) (kube_pod_status_ready{{{sel}, condition="true"}})'
    alerts = [
        Alert(
            "CnpgNoPrimary",
            "critical",
            f"max by (namespace) (cnpg_collector_up{{{sel}}})\n"
            f"unless on (namespace) (cnpg_pg_replication_in_recovery{{{sel}}} == 0)",
            f"CloudNativePG cluster {name} has no primary",
            f"No instance of {name} in {{{{ $labels.namespace }}}} has run as primary for 2 "
            "minutes: writes fail until the operator promotes a standby.",
            "2m",
        ),
        Alert(
            "CnpgInstancesNotReady",
            "warning",
            f"(\n  count by (namespace) ({ready} == 1)\n  or max by (namespace) ({ready}) * 0\n)\n"
            f"< {watch.instances}",
            f"Not every instance of {name} is ready",
            f"Only {{{{ $value }}}} of the {watch.instances} instances of {name} in "
            "{{ $labels.namespace }} have been ready for 10 minutes: fewer standbys to fail "
            "over to.",
            "10m",
        ),
        Alert(
            "CnpgMetricsAbsent",
            "warning",
            f"absent(cnpg_collector_up{{{sel}}})",
            f"No metrics from the instances of {name}",
            f"Prometheus has had no cnpg_collector_up from the instances of {name} in "
            "{{ $labels.namespace }} for 15 minutes, so the other database alerts cannot fire.",
            "15m",
        ),
        Alert(
            "CnpgReplicationLagHigh",
            "warning",
            f"max by (namespace, pod) (cnpg_pg_replication_lag{{{sel}}}) > "
            f"{REPLICATION_LAG_WARNING}",
            "Standby {{ $labels.pod }} lags behind the primary",
            "{{ $labels.pod }} in {{ $labels.namespace }} has replayed "
            "{{ $value | humanizeDuration }} behind the primary for 5 minutes; a failover to "
            "it would wait for the replay.",
            "5m",
        ),
        Alert(
            "CnpgConnectionsNearLimit",
            "warning",
            f"sum by (namespace, pod) (cnpg_backends_total{{{sel}}})\n"
            f"/ max by (namespace, pod) (cnpg_pg_settings_setting{{{sel}, "
            f'name="max_connections"}})\n> {CONNECTIONS_WARNING}',
            "PostgreSQL {{ $labels.pod }} is near max_connections",
            "{{ $labels.pod }} in {{ $labels.namespace }} has used {{ $value | "
            "humanizePercentage }} of max_connections for 10 minutes; new connections fail "
            "once it is full.",
            "10m",
        ),
        Alert(
            "CnpgRestarting",
            "warning",
            "sum by (namespace, pod, container) (increase(kube_pod_container_status_restarts_total"
            f'{{{sel}, container="postgres"}}[15m])) > 0',
            "PostgreSQL {{ $labels.pod }} restarted",
            "The postgres container of {{ $labels.pod }} in {{ $labels.namespace }} "
            "restarted in the last 15 minutes; a restart of the primary is a failover.",
        ),
        *_volume_alerts(watch),
    ]
    if watch.backup_period_seconds:
        alerts += _archive_alerts(watch)
    return alerts


def _volume_alerts(watch: ClusterWatch) -> list[Alert]:
    claims = f'namespace="{watch.namespace}", persistentvolumeclaim=~"{watch.pods}"'
    return [
        Alert(
            "CnpgVolumeFillingUp",
            severity,
            "max by (namespace, persistentvolumeclaim) (\n"
            f"  kubelet_volume_stats_used_bytes{{{claims}}}\n"
            f"  / kubelet_volume_stats_capacity_bytes{{{claims}}}\n) > {threshold}",
            "Volume {{ $labels.persistentvolumeclaim }} is {{ $value | humanizePercentage }} full",
            "The data volume {{ $labels.persistentvolumeclaim }} in {{ $labels.namespace }} "
            f"is over {threshold:.0%} full; PostgreSQL stops when it is full, and WAL that "
            "cannot be archived piles up on it.",
            "5m",
        )
        for severity, threshold in (("warning", VOLUME_WARNING), ("critical", VOLUME_CRITICAL))
    ]


def _archive_alerts(watch: ClusterWatch) -> list[Alert]:
    sel = f'namespace="{watch.namespace}", pod=~"{watch.pods}"'
    period = watch.backup_period_seconds or 0
    by_pod = "max by (namespace, pod)"
    return [
        Alert(
            "CnpgWalArchivingFailing",
            "critical",
            f"{by_pod} (increase(cnpg_pg_stat_archiver_failed_count{{{sel}}}[10m])) > 0\n"
            f"and on (namespace, pod)\n"
            f"{by_pod} (cnpg_pg_stat_archiver_seconds_since_last_archival{{{sel}}})\n"
            f"> {by_pod} (cnpg_pg_stat_archiver_seconds_since_last_failure{{{sel}}})",
            f"WAL archiving of {watch.cluster} is failing",
            "{{ $labels.pod }} in {{ $labels.namespace }} has failed to archive WAL for 5 "
            "minutes and has archived none since its last failure: point-in-time recovery "
            "stops at the last archived segment, and the WAL piles up on the data volume.",
            "5m",
        ),
        Alert(
            "CnpgWalNeverArchived",
            "critical",
            # The instance manager reports -1 until the first segment is archived, which
            # the failure rule above cannot compare; CNPG switches WAL at least every
            # archive_timeout (5 minutes), so a healthy primary archives well within this.
            # Only the primary archives: operators before 1.27.3 and 1.28.1 report -1 for
            # every standby too, whose statistics start empty.
            f"{by_pod} (cnpg_pg_stat_archiver_seconds_since_last_archival{{{sel}}}) < 0\n"
            f"and on (namespace, pod) (cnpg_pg_replication_in_recovery{{{sel}}} == 0)",
            f"{watch.cluster} has never archived WAL",
            "{{ $labels.pod }} in {{ $labels.namespace }} has not archived a single WAL "
            f"segment in {humane(NEVER_ARCHIVED_GRACE_SECONDS)}: there is no archive to "
            "recover from, and the WAL piles up on the data volume.",
            f"{NEVER_ARCHIVED_GRACE_SECONDS // 60}m",
        ),
        Alert(
            "CnpgBackupTooOld",
            "critical",
            f"time() - max by (namespace) (\n  {PLUGIN_BACKUP_TIMESTAMP}{{{sel}}}\n"
            f"  or cnpg_collector_last_available_backup_timestamp{{{sel}}}\n)\n"
            f"> {round(BACKUP_OVERDUE_PERIODS * period)}",
            f"The last base backup of {watch.cluster} is overdue",
            f"The last base backup of {watch.cluster} in {{{{ $labels.namespace }}}} "
            "finished {{ $value | humanizeDuration }} ago, while the schedule "
            f"'{watch.backup_schedule}' runs at least every {humane(period)}.",
            # A new cluster reports 0 until its first (immediate) backup is done.
            "1h",
        ),
    ]
