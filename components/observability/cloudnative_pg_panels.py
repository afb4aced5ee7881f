"""The cloudnative-pg engine's dashboard rows: the instance manager's metrics, the Barman
Cloud plugin's, replication, and the kubelet's volumes."""

from .panel import NO_BACKUPS, Panel, cache_hit_panel, query, two_states, volumes_panel


def cloudnative_pg_rows(namespace: str, rate: str, backups: bool) -> list[tuple[str, list[Panel]]]:
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
            [query(f"max by (pod) (cnpg_pg_replication_in_recovery{ns})", "{{pod}}")],
            6,
            description="Each instance the instance manager reports on; the primary is the "
            "one not in recovery.",
            extra=two_states(("primary", "green"), ("standby", "blue")),
        ),
        Panel(
            "Connections by state",
            "timeseries",
            [
                query(f"sum by (state) (cnpg_backends_total{ns})", "{{state}}"),
                query(
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
                query(
                    f"{databases} (rate(cnpg_pg_stat_database_xact_commit{ns}{rate}))",
                    "{{datname}} commits",
                ),
                query(
                    f"{databases} (rate(cnpg_pg_stat_database_xact_rollback{ns}{rate}))",
                    "{{datname}} rollbacks",
                ),
            ],
            9,
            unit="ops",
            description="Over every instance; the standbys' are read-only transactions.",
        ),
        cache_hit_panel(hits, reads),
        Panel(
            "Sessions waiting for a lock",
            "timeseries",
            [query(f"max by (pod) (cnpg_backends_waiting_total{ns})", "{{pod}}")],
            8,
        ),
        Panel(
            "Deadlocks and database size",
            "timeseries",
            [
                query(
                    f"{databases} (increase(cnpg_pg_stat_database_deadlocks{ns}{rate}))",
                    "{{datname}} deadlocks",
                ),
                query(
                    f"max by (datname) (cnpg_pg_database_size_bytes{ns})",
                    "{{datname}} bytes",
                ),
            ],
            8,
        ),
    ]
    volumes = volumes_panel(ns, "The instances' data volumes; unarchived WAL stays on them.")
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
                query(
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
            [query(f"max by (pod) (cnpg_pg_replication_lag{ns})", "{{pod}}")],
            12,
            unit="s",
            description="How far each standby's replay is behind the primary (0 on the "
            "primary); the CnpgReplicationLagHigh alert fires above 5 minutes.",
        ),
        Panel(
            "WAL: time since the last archived segment",
            "timeseries",
            [
                query(
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
                query(
                    f"sum by (pod) (increase(cnpg_pg_stat_archiver_failed_count{ns}{rate}))",
                    "{{pod}}",
                )
            ],
            6,
            description="Failed attempts to archive a WAL segment to the bucket.",
        ),
    ]
