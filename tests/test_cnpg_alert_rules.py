"""The CloudNativePG engine's alert rules as the real prod stack renders them
(`webapp-db-alerts`, components/observability/cloudnative_pg_alerts.py), run by
`promtool test rules` like the statefulset engine's (tests/test_alert_rules.py): every
alert firing and not firing, on input series with the labels their sources set
(tests/metric_catalog.py) and those the PodMonitor's scrape adds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.observability.cloudnative_pg_alerts import ClusterWatch, cnpg_database_alerts
from tests import promtool
from tests.conftest import program_run
from tests.harness import run_main
from tests.test_alert_rules import (
    HOUR,
    NS,
    PROMETHEUS_RULE,
    alert,
    check,
    group,
    ksm,
    kubelet,
    series,
)

# What the PodMonitor's scrape of an instance adds (no Service: it scrapes the pods).
INSTANCE = {
    "namespace": NS,
    "container": "postgres",
    "endpoint": "metrics",
    "job": f"{NS}/webapp-db",
}
PODS = ("webapp-db-1", "webapp-db-2", "webapp-db-3")


def cnpg(metric: str, pod: str, values: str, **labels: str) -> dict[str, str]:
    address = f"10.1.2.{PODS.index(pod) + 10 if pod in PODS else 99}:9187"
    return series(metric, {**INSTANCE, "pod": pod, "instance": address, **labels}, values)


def _no_primary() -> list[dict]:
    none = alert(
        "CnpgNoPrimary",
        {"severity": "critical", "namespace": NS},
        "CloudNativePG cluster webapp-db has no primary",
        f"No instance of webapp-db in {NS} has run as primary for 2 minutes: writes fail "
        "until the operator promotes a standby.",
    )

    def cluster(first: str) -> list[dict]:
        up = [cnpg("cnpg_collector_up", pod, "1x10", cluster="webapp-db") for pod in PODS]
        recovery = [cnpg("cnpg_pg_replication_in_recovery", pod, "1x10") for pod in PODS[1:]]
        return [*up, *recovery, cnpg("cnpg_pg_replication_in_recovery", PODS[0], first)]

    return [
        # The primary's PostgreSQL went down (its series stops, and is stale 5 minutes
        # later) and no standby was promoted.
        group(
            "1m",
            cluster("0 0 _x8"),
            check("6m", "CnpgNoPrimary"),
            check("10m", "CnpgNoPrimary", none),
        ),
        group("1m", cluster("0x10"), check("10m", "CnpgNoPrimary")),
    ]


def _instances_not_ready() -> list[dict]:
    def not_ready(ready: int) -> dict[str, Any]:
        return alert(
            "CnpgInstancesNotReady",
            {"severity": "warning", "namespace": NS},
            "Not every instance of webapp-db is ready",
            f"Only {ready} of the 3 instances of webapp-db in {NS} have been ready for 10 "
            "minutes: fewer standbys to fail over to.",
        )

    # kube-state-metrics' three series of a pod: the condition true, false and unknown.
    values = {
        "ready": ("1x20", "0x20"),
        "not ready": ("0x20", "1x20"),
        "fails": ("1 0x19", "0 1x19"),
    }

    def pods(*states: str) -> list[dict]:
        found = []
        for pod, state in zip(PODS, states, strict=True):
            labels = {"pod": pod, "uid": f"u-{pod}"}
            true, false = values[state]
            found += [
                ksm("kube_pod_status_ready", true, condition="true", **labels),
                ksm("kube_pod_status_ready", false, condition="false", **labels),
                ksm("kube_pod_status_ready", "0x20", condition="unknown", **labels),
            ]
        return found

    return [
        group(
            "1m",
            pods("ready", "ready", "fails"),
            check("5m", "CnpgInstancesNotReady"),
            check("12m", "CnpgInstancesNotReady", not_ready(2)),
        ),
        # None ready: counted as 0, not as no data.
        group(
            "1m",
            pods("not ready", "not ready", "not ready"),
            check("12m", "CnpgInstancesNotReady", not_ready(0)),
        ),
        group("1m", pods("ready", "ready", "ready"), check("12m", "CnpgInstancesNotReady")),
    ]


def _metrics_absent() -> list[dict]:
    absent = alert(
        "CnpgMetricsAbsent",
        {"severity": "warning", "namespace": NS},
        "No metrics from the instances of webapp-db",
        f"Prometheus has had no cnpg_collector_up from the instances of webapp-db in {NS} "
        "for 15 minutes, so the other database alerts cannot fire.",
    )
    other = "webapp-dev"
    return [
        group(
            "1m",
            [cnpg("cnpg_collector_up", PODS[0], "1x20", cluster="webapp-db", namespace=other)],
            check("10m", "CnpgMetricsAbsent"),
            check("16m", "CnpgMetricsAbsent", absent),
        ),
        group(
            "1m",
            [cnpg("cnpg_collector_up", PODS[0], "1x20", cluster="webapp-db")],
            check("16m", "CnpgMetricsAbsent"),
        ),
    ]


def _replication_lag_high() -> list[dict]:
    lagging = alert(
        "CnpgReplicationLagHigh",
        {"severity": "warning", "namespace": NS, "pod": "webapp-db-2"},
        "Standby webapp-db-2 lags behind the primary",
        f"webapp-db-2 in {NS} has replayed 6m 40s behind the primary for 5 minutes; a "
        "failover to it would wait for the replay.",
    )

    def lag(standby: str) -> list[dict]:
        return [
            cnpg("cnpg_pg_replication_lag", PODS[0], "0x12"),
            cnpg("cnpg_pg_replication_lag", PODS[1], standby),
            cnpg("cnpg_pg_replication_lag", PODS[2], "2x12"),
        ]

    return [
        group(
            "1m",
            lag("0 0 400x10"),
            check("4m", "CnpgReplicationLagHigh"),
            check("8m", "CnpgReplicationLagHigh", lagging),
        ),
        group("1m", lag("100x12"), check("8m", "CnpgReplicationLagHigh")),
    ]


def _connections(active: int, idle: int) -> list[dict]:
    backend = {"datname": "app", "usename": "app", "application_name": "webapp"}
    return [
        cnpg("cnpg_backends_total", PODS[0], f"{active}x15", state="active", **backend),
        cnpg("cnpg_backends_total", PODS[0], f"{idle}x15", state="idle", **backend),
        cnpg("cnpg_pg_settings_setting", PODS[0], "100x15", name="max_connections"),
        cnpg("cnpg_pg_settings_setting", PODS[0], "16384x15", name="shared_buffers"),
    ]


def _connections_near_limit() -> list[dict]:
    near = alert(
        "CnpgConnectionsNearLimit",
        {"severity": "warning", "namespace": NS, "pod": "webapp-db-1"},
        "PostgreSQL webapp-db-1 is near max_connections",
        f"webapp-db-1 in {NS} has used 85% of max_connections for 10 minutes; new "
        "connections fail once it is full.",
    )
    return [
        group(
            "1m",
            _connections(40, 45),
            check("5m", "CnpgConnectionsNearLimit"),
            check("11m", "CnpgConnectionsNearLimit", near),
        ),
        group("1m", _connections(30, 30), check("11m", "CnpgConnectionsNearLimit")),
    ]


def _restarting() -> list[dict]:
    restarted = alert(
        "CnpgRestarting",
        {"severity": "warning", "namespace": NS, "pod": "webapp-db-1", "container": "postgres"},
        "PostgreSQL webapp-db-1 restarted",
        f"The postgres container of webapp-db-1 in {NS} restarted in the last 15 minutes; a "
        "restart of the primary is a failover.",
    )
    pod = {"pod": "webapp-db-1", "uid": "3f1c"}
    restarts = "kube_pod_container_status_restarts_total"
    return [
        group(
            "1m",
            [
                ksm(restarts, "0 0 0 1x30", container="postgres", **pod),
                # The Barman Cloud sidecar restarting is no database outage.
                ksm(restarts, "0 1 2 3x30", container="plugin-barman-cloud", **pod),
            ],
            check("2m", "CnpgRestarting"),
            check("5m", "CnpgRestarting", restarted),
            check("25m", "CnpgRestarting"),
        )
    ]


def _volume_filling_up() -> list[dict]:
    def full(claim: str, percent: int, severity: str) -> dict[str, Any]:
        threshold = {"warning": 80, "critical": 90}[severity]
        return alert(
            "CnpgVolumeFillingUp",
            {"severity": severity, "namespace": NS, "persistentvolumeclaim": claim},
            f"Volume {claim} is {percent}% full",
            f"The data volume {claim} in {NS} is over {threshold}% full; PostgreSQL stops "
            "when it is full, and WAL that cannot be archived piles up on it.",
        )

    capacity = 10 * 2**30

    def volumes(*percents: int) -> list[dict]:
        found = []
        for claim, percent in zip(PODS, percents, strict=True):
            used = capacity * percent // 100
            found += [
                kubelet("kubelet_volume_stats_capacity_bytes", claim, f"{capacity}x30"),
                kubelet("kubelet_volume_stats_used_bytes", claim, f"{used}x30"),
            ]
        return found

    return [
        group(
            "1m",
            volumes(50, 85, 95),
            check("3m", "CnpgVolumeFillingUp"),
            check(
                "6m",
                "CnpgVolumeFillingUp",
                full("webapp-db-2", 85, "warning"),
                full("webapp-db-3", 95, "warning"),
                full("webapp-db-3", 95, "critical"),
            ),
        ),
        group("1m", volumes(50, 50, 60), check("20m", "CnpgVolumeFillingUp")),
    ]


def _wal_archiving_failing() -> list[dict]:
    failing = alert(
        "CnpgWalArchivingFailing",
        {"severity": "critical", "namespace": NS, "pod": "webapp-db-1"},
        "WAL archiving of webapp-db is failing",
        f"webapp-db-1 in {NS} has failed to archive WAL for 5 minutes and has archived none "
        "since its last failure: point-in-time recovery stops at the last archived segment, "
        "and the WAL piles up on the data volume.",
    )

    def archiver(failed: str, since_archival: str, since_failure: str) -> list[dict]:
        primary = PODS[0]
        return [
            cnpg("cnpg_pg_stat_archiver_failed_count", primary, failed),
            cnpg("cnpg_pg_stat_archiver_seconds_since_last_archival", primary, since_archival),
            cnpg("cnpg_pg_stat_archiver_seconds_since_last_failure", primary, since_failure),
        ]

    return [
        group(
            "1m",
            archiver("0 0 1+1x20", "100+60x22", "-1 -1 0x20"),
            check("3m", "CnpgWalArchivingFailing"),
            check("10m", "CnpgWalArchivingFailing", failing),
        ),
        # One failure, then the segment was archived on retry: no alert.
        group(
            "1m",
            archiver("0 0 1x20", "100 100 120 10+60x19", "-1 -1 0+60x20"),
            check("10m", "CnpgWalArchivingFailing"),
        ),
        group("1m", archiver("0x22", "10+60x22", "-1x22"), check("10m", "CnpgWalArchivingFailing")),
    ]


def _wal_never_archived() -> list[dict]:
    never = alert(
        "CnpgWalNeverArchived",
        {"severity": "critical", "namespace": NS, "pod": "webapp-db-1"},
        "webapp-db has never archived WAL",
        f"webapp-db-1 in {NS} has not archived a single WAL segment in 30m: there is no "
        "archive to recover from, and the WAL piles up on the data volume.",
    )

    def since_archival(values: str) -> list[dict]:
        return [
            cnpg("cnpg_pg_stat_archiver_seconds_since_last_archival", PODS[0], values),
            cnpg("cnpg_pg_replication_in_recovery", PODS[0], "0x40"),
        ]

    # Standbys, whose statistics start empty: operators before 1.27.3 report -1 for them.
    standbys = [
        series
        for pod in PODS[1:]
        for series in (
            cnpg("cnpg_pg_stat_archiver_seconds_since_last_archival", pod, "-1x40"),
            cnpg("cnpg_pg_replication_in_recovery", pod, "1x40"),
        )
    ]
    return [
        # A bucket no one can write to from the start: -1 (never), and no failure counter
        # that the failing rule could compare.
        group(
            "1m",
            since_archival("-1x40"),
            check("20m", "CnpgWalNeverArchived"),
            check("35m", "CnpgWalNeverArchived", never),
            check("35m", "CnpgWalArchivingFailing"),
        ),
        # A primary that archives, beside standbys reporting -1: quiet.
        group(
            "1m",
            since_archival("0+60x40") + standbys,
            check("35m", "CnpgWalNeverArchived"),
        ),
        # A new cluster whose first segment is archived after 4 minutes: quiet.
        group(
            "1m",
            since_archival("-1 -1 -1 -1 0+60x36"),
            check("35m", "CnpgWalNeverArchived"),
        ),
    ]


def _backup_too_old() -> list[dict]:
    def overdue(ago: str) -> dict[str, Any]:
        return alert(
            "CnpgBackupTooOld",
            {"severity": "critical", "namespace": NS},
            "The last base backup of webapp-db is overdue",
            f"The last base backup of webapp-db in {NS} finished {ago} ago, while the "
            "schedule '0 3 * * *' runs at least every 1d.",
        )

    plugin = "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp"
    in_core = "cnpg_collector_last_available_backup_timestamp"

    def backups(metric: str, primary: str) -> list[dict]:
        # The standbys report 0.
        return [cnpg(metric, PODS[0], primary), *(cnpg(metric, pod, "0x2500") for pod in PODS[1:])]

    # Daily base backups: overdue after 36 hours, and the alert waits an hour. Samples
    # every minute, as the scrape gives them: a series older than 5 minutes is stale.
    return [
        group(
            "1m",
            backups(plugin, f"{HOUR}x2500"),
            check("36h", "CnpgBackupTooOld"),
            check("38h", "CnpgBackupTooOld"),
            check("40h", "CnpgBackupTooOld", overdue("1d 15h 0m 0s")),
        ),
        # Without the plugin's metric, the instance manager's own.
        group(
            "1m",
            backups(in_core, f"{HOUR}x2500"),
            check("40h", "CnpgBackupTooOld", overdue("1d 15h 0m 0s")),
        ),
        # The plugin's recent backup wins over the instance manager's 0.
        group(
            "1m",
            [*backups(plugin, f"{HOUR}x1260 {21 * HOUR}x1240"), *backups(in_core, "0x2500")],
            check("40h", "CnpgBackupTooOld"),
        ),
    ]


CASES = {
    "CnpgNoPrimary": _no_primary,
    "CnpgInstancesNotReady": _instances_not_ready,
    "CnpgMetricsAbsent": _metrics_absent,
    "CnpgReplicationLagHigh": _replication_lag_high,
    "CnpgConnectionsNearLimit": _connections_near_limit,
    "CnpgRestarting": _restarting,
    "CnpgVolumeFillingUp": _volume_filling_up,
    "CnpgWalArchivingFailing": _wal_archiving_failing,
    "CnpgWalNeverArchived": _wal_never_archived,
    "CnpgBackupTooOld": _backup_too_old,
}


@pytest.fixture(scope="module")
def cnpg_rules() -> list[dict]:
    """The database's rule group of the real prod stack (the app's are tested beside the
    statefulset engine's)."""
    run = program_run("prod")
    (record,) = [r for r in run.of_type(PROMETHEUS_RULE) if r.name == "webapp-db-alerts"]
    return record.manifest()["spec"]["groups"]


def test_every_alert_is_tested_firing_and_not_firing(cnpg_rules: list[dict]) -> None:
    names = {rule["alert"] for group_ in cnpg_rules for rule in group_["rules"]}
    assert names == set(CASES)
    for name, cases in CASES.items():
        checks = [c for g in cases() for c in g["alert_rule_test"] if c["alertname"] == name]
        assert any(c["exp_alerts"] for c in checks), f"{name} is never shown firing"
        assert any(not c["exp_alerts"] for c in checks), f"{name} is never shown quiet"


def test_promtool_accepts_the_rendered_rules(cnpg_rules: list[dict], tmp_path: Path) -> None:
    rules_file = promtool.write_rules(tmp_path, cnpg_rules)
    checked = promtool.run("check", "rules", rules_file.name, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("name", list(CASES))
def test_alert_fires_when_it_should_and_only_then(
    name: str, cnpg_rules: list[dict], tmp_path: Path
) -> None:
    result = promtool.run_alert_tests(tmp_path, cnpg_rules, CASES[name]())
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_backups_there_are_no_archive_or_backup_alerts() -> None:
    watch = ClusterWatch(NS, "webapp-db", 3)
    names = {alert_.name for alert_ in cnpg_database_alerts(watch)}
    assert names == set(CASES) - {
        "CnpgWalArchivingFailing",
        "CnpgWalNeverArchived",
        "CnpgBackupTooOld",
    }


def test_the_backup_threshold_follows_the_schedule() -> None:
    watch = ClusterWatch(NS, "webapp-db", 3, "0 */6 * * *", 6 * HOUR)
    (too_old,) = [a for a in cnpg_database_alerts(watch) if a.name == "CnpgBackupTooOld"]
    # Every 6 hours: overdue after 9.
    assert too_old.expr.rstrip().endswith("> 32400")


ARCHIVE_ALERTS = {"CnpgWalArchivingFailing", "CnpgWalNeverArchived", "CnpgBackupTooOld"}
NO_OBJECT_STORE = {
    "webapp:backupBucket": "",
    "webapp:backupS3CredentialsSecret": "",
    "webapp:acceptNoOffClusterBackups": "true",
}


@pytest.mark.parametrize("backup_enabled", ["true", "false"])
def test_a_stack_without_an_object_store_renders_no_archive_or_backup_alert(
    backup_enabled: str,
) -> None:
    """The instance manager reports a last backup at 0 forever without a bucket, so an age
    rule would fire for good; nothing archives, so the archiver's rules watch nothing."""
    run = run_main("prod", {**NO_OBJECT_STORE, "webapp:backupEnabled": backup_enabled})
    rules = [
        rule
        for record in run.of_type(PROMETHEUS_RULE)
        for group_ in record.manifest()["spec"]["groups"]
        for rule in group_["rules"]
    ]
    names = {rule["alert"] for rule in rules}
    assert "CnpgNoPrimary" in names and not names & ARCHIVE_ALERTS
    assert not [rule for rule in rules if "backup" in rule["expr"] or "archiv" in rule["expr"]]
    assert not run.of_type("kubernetes:postgresql.cnpg.io/v1:ScheduledBackup")
