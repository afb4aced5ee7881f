"""The alert rules as the program renders them (the prod stack's PrometheusRules), run by
Prometheus itself: `promtool check rules`, then `promtool test rules` with input series
for every alert, each shown firing and not firing.

The input series carry the labels their sources really set (tests/metric_catalog.py) and
those a Prometheus operator scrape adds, including kube-state-metrics' own `pod` on
series that are not about a pod, so a rule that forgets to aggregate them away fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components import Metrics, Monitoring, PostgresDatabase, WebService
from tests import promtool
from tests.conftest import program_run, statefulset_program_run
from tests.harness import ROOT, ProgramRun, run, run_main
from tests.metric_catalog import METRICS, labels_of
from tests.promql import selectors
from tests.test_components import database_args, web_args

PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
NS = "webapp-prod"
RUNBOOK = "docs/monitoring.md"
HOUR = 3600

EXPORTER = {
    "namespace": NS,
    "pod": "webapp-db-0",
    "container": "exporter",
    "service": "webapp-db-metrics",
    "endpoint": "metrics",
    "job": "webapp-db-metrics",
    "instance": "10.1.2.3:9187",
    "server": "127.0.0.1:5432",
}
# kube-state-metrics' own pod and container: a series that is not about a pod keeps them.
KSM = {
    "job": "kube-state-metrics",
    "instance": "10.1.0.9:8080",
    "service": "kube-prometheus-stack-kube-state-metrics",
    "endpoint": "http",
    "pod": "kube-prometheus-stack-kube-state-metrics-7d9f8",
    "container": "kube-state-metrics",
}
KUBELET = {
    "job": "kubelet",
    "instance": "10.0.0.11:10250",
    "service": "kube-prometheus-stack-kubelet",
    "endpoint": "https-metrics",
}


def series(metric: str, labels: dict[str, str], values: str) -> dict[str, str]:
    """An input series; its labels must be ones its source (or the scrape) sets."""
    unknown = set(labels) - labels_of(metric)
    assert not unknown, f"{metric} has no labels {unknown}"
    rendered = ", ".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return {"series": f"{metric}{{{rendered}}}", "values": values}


def exporter(metric: str, values: str, **labels: str) -> dict[str, str]:
    server = {} if metric == "pg_up" else {"server": EXPORTER["server"]}
    base = {key: value for key, value in EXPORTER.items() if key != "server"}
    return series(metric, {**base, **server, **labels}, values)


def ksm(metric: str, values: str, **labels: str) -> dict[str, str]:
    return series(metric, {**KSM, "namespace": NS, **labels}, values)


def kubelet(metric: str, claim: str, values: str) -> dict[str, str]:
    labels = {**KUBELET, "namespace": NS, "persistentvolumeclaim": claim}
    return series(metric, labels, values)


def alert(name: str, labels: dict[str, str], summary: str, description: str) -> dict[str, Any]:
    return {
        "exp_labels": labels,
        "exp_annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": f"{RUNBOOK}#{name.lower()}",
        },
    }


def check(eval_time: str, name: str, *alerts: dict[str, Any]) -> dict[str, Any]:
    """At `eval_time`, `name` fires exactly `alerts` (none: it does not fire)."""
    return {"eval_time": eval_time, "alertname": name, "exp_alerts": list(alerts)}


def group(interval: str, input_series: list[dict], *checks: dict[str, Any]) -> dict[str, Any]:
    return {"interval": interval, "input_series": input_series, "alert_rule_test": list(checks)}


# --- the cases ---------------------------------------------------------------------------


def _postgres_down() -> list[dict]:
    down = alert(
        "PostgresDown",
        {"severity": "critical", "namespace": NS, "pod": "webapp-db-0"},
        "PostgreSQL webapp-db-0 is down",
        f"The exporter beside webapp-db-0 in {NS} has not reached PostgreSQL for 2 minutes: "
        "the server is down, refuses connections or rejects the exporter's login.",
    )
    return [
        group(
            "1m",
            [
                exporter("pg_up", "1 1 1 0x10"),
                # Another database's exporter in the namespace is not this alert's business.
                exporter("pg_up", "0x12", pod="other-db-0", service="other-db-metrics"),
            ],
            check("2m", "PostgresDown"),
            check("4m", "PostgresDown"),
            check("6m", "PostgresDown", down),
        )
    ]


def _postgres_not_ready() -> list[dict]:
    not_ready = alert(
        "PostgresNotReady",
        {"severity": "critical", "namespace": NS, "statefulset": "webapp-db"},
        "PostgreSQL webapp-db is not ready",
        f"webapp-db in {NS} has had no ready database pod for 5 minutes, so the app cannot "
        "reach its database.",
    )
    return [
        group(
            "1m",
            [
                ksm("kube_statefulset_status_replicas_ready", "1 1 0x10", statefulset="webapp-db"),
                ksm("kube_statefulset_replicas", "1x12", statefulset="webapp-db"),
            ],
            check("6m", "PostgresNotReady"),
            check("8m", "PostgresNotReady", not_ready),
        ),
        # Scaled to zero on purpose: nothing is missing.
        group(
            "1m",
            [
                ksm("kube_statefulset_status_replicas_ready", "0x12", statefulset="webapp-db"),
                ksm("kube_statefulset_replicas", "0x12", statefulset="webapp-db"),
            ],
            check("10m", "PostgresNotReady"),
        ),
    ]


def _postgres_metrics_absent() -> list[dict]:
    absent = alert(
        "PostgresMetricsAbsent",
        {"severity": "warning", "namespace": NS},
        "No metrics from the exporter of webapp-db",
        f"Prometheus has had no pg_up from the exporter of webapp-db in {NS} for 15 minutes, "
        "so the other database alerts cannot fire.",
    )
    return [
        group(
            "1m",
            [exporter("pg_up", "1x20", namespace="webapp-dev")],
            check("10m", "PostgresMetricsAbsent"),
            check("16m", "PostgresMetricsAbsent", absent),
        ),
        group("1m", [exporter("pg_up", "1x20")], check("16m", "PostgresMetricsAbsent")),
    ]


def _connections(active: int, idle: int) -> list[dict]:
    return [
        exporter("pg_stat_activity_count", f"{active}x15", datname="app", state="active"),
        exporter("pg_stat_activity_count", f"{idle}x15", datname="app", state="idle"),
        exporter("pg_stat_activity_count", "0x15", datname="postgres", state="idle"),
        exporter("pg_settings_max_connections", "100x15"),
    ]


def _postgres_connections_near_limit() -> list[dict]:
    near = alert(
        "PostgresConnectionsNearLimit",
        {"severity": "warning", "namespace": NS, "pod": "webapp-db-0"},
        "PostgreSQL webapp-db-0 is near max_connections",
        f"webapp-db-0 in {NS} has used 85% of max_connections for 10 minutes; new "
        "connections fail once it is full.",
    )
    return [
        group(
            "1m",
            _connections(40, 45),
            check("5m", "PostgresConnectionsNearLimit"),
            check("11m", "PostgresConnectionsNearLimit", near),
        ),
        group("1m", _connections(30, 30), check("11m", "PostgresConnectionsNearLimit")),
    ]


def _postgres_restarting() -> list[dict]:
    restarted = alert(
        "PostgresRestarting",
        {"severity": "warning", "namespace": NS, "pod": "webapp-db-0", "container": "postgres"},
        "PostgreSQL webapp-db-0 restarted",
        f"The postgres container of webapp-db-0 in {NS} restarted in the last 15 minutes; "
        "each restart is an outage followed by crash recovery.",
    )
    pod = {"pod": "webapp-db-0", "uid": "3f1c"}
    return [
        group(
            "1m",
            [
                ksm(
                    "kube_pod_container_status_restarts_total",
                    "0 0 0 1x30",
                    container="postgres",
                    **pod,
                ),
                # The exporter restarting is no database outage.
                ksm(
                    "kube_pod_container_status_restarts_total",
                    "0 1 2 3x30",
                    container="exporter",
                    **pod,
                ),
            ],
            check("2m", "PostgresRestarting"),
            check("5m", "PostgresRestarting", restarted),
            check("25m", "PostgresRestarting"),
        )
    ]


def _postgres_volume_filling_up() -> list[dict]:
    def full(claim: str, percent: int, severity: str) -> dict[str, Any]:
        threshold = {"warning": 80, "critical": 90}[severity]
        return alert(
            "PostgresVolumeFillingUp",
            {"severity": severity, "namespace": NS, "persistentvolumeclaim": claim},
            f"Volume {claim} is {percent}% full",
            f"The volume claim {claim} in {NS} is over {threshold}% full; PostgreSQL stops "
            "writing when its data volume is full, and a backup fails when its volume is.",
        )

    capacity = 10 * 2**30
    used = {percent: capacity * percent // 100 for percent in (50, 85, 95)}
    return [
        group(
            "1m",
            [
                kubelet("kubelet_volume_stats_capacity_bytes", "webapp-db-data", f"{capacity}x30"),
                kubelet("kubelet_volume_stats_used_bytes", "webapp-db-data", f"{used[85]}x30"),
            ],
            check("3m", "PostgresVolumeFillingUp"),
            check("6m", "PostgresVolumeFillingUp", full("webapp-db-data", 85, "warning")),
        ),
        # The backup volume is measured only while a backup mounts it: the last value seen
        # stands, here an hour after the backup ended.
        group(
            "1m",
            [
                kubelet(
                    "kubelet_volume_stats_capacity_bytes", "webapp-db-backups", f"{capacity}x5 _x60"
                ),
                kubelet(
                    "kubelet_volume_stats_used_bytes", "webapp-db-backups", f"{used[95]}x5 _x60"
                ),
                kubelet("kubelet_volume_stats_capacity_bytes", "webapp-db-data", f"{capacity}x65"),
                kubelet("kubelet_volume_stats_used_bytes", "webapp-db-data", f"{used[50]}x65"),
            ],
            check(
                "65m",
                "PostgresVolumeFillingUp",
                *(full("webapp-db-backups", 95, severity) for severity in ("warning", "critical")),
            ),
        ),
        group(
            "1m",
            [
                kubelet("kubelet_volume_stats_capacity_bytes", "webapp-db-data", f"{capacity}x30"),
                kubelet("kubelet_volume_stats_used_bytes", "webapp-db-data", f"{used[50]}x30"),
            ],
            check("20m", "PostgresVolumeFillingUp"),
        ),
    ]


CRONJOB = "webapp-db-backup"
BACKUP_JOB = f"{CRONJOB}-29001000"


def _job(name: str, start_hour: int, failed: bool, owner: str = CRONJOB) -> list[dict]:
    """A backup Job's series as kube-state-metrics reports them, hourly: the Job appears at
    `start_hour`; a failed one gets its Failed condition an hour later."""
    job = {"job_name": name}
    absent, present = f"_x{start_hour}" if start_hour else "", 60 - start_hour
    found = [
        ksm("kube_job_status_start_time", f"{absent} {start_hour * HOUR}x{present}", **job),
        ksm(
            "kube_job_owner",
            f"{absent} 1x{present}",
            owner_kind="CronJob",
            owner_name=owner,
            owner_is_controller="true",
            **job,
        ),
    ]
    if failed:
        for condition, value in (("true", 1), ("false", 0), ("unknown", 0)):
            found.append(
                ksm(
                    "kube_job_failed",
                    f"_x{start_hour + 1} {value}x{present}",
                    condition=condition,
                    **job,
                )
            )
    return found


def _cronjob(last_success: str | None) -> list[dict]:
    found = [ksm("kube_cronjob_created", "0x60", cronjob=CRONJOB)]
    if last_success is not None:
        found.append(ksm("kube_cronjob_status_last_successful_time", last_success, cronjob=CRONJOB))
    return found


def _backup_failed() -> list[dict]:
    failed = alert(
        "PostgresBackupFailed",
        {"severity": "warning", "namespace": NS},
        "A backup of webapp-db failed",
        f"The latest failed Job of CronJob {CRONJOB} in {NS} started after the last good "
        "backup; the dumps already on the volume are kept.",
    )
    return [
        group(
            "1h",
            # Succeeded at 1h; a Job started at 2h failed; the next one succeeded at 28h.
            [
                *_cronjob(f"{HOUR}x27 {28 * HOUR}x30"),
                *_job(BACKUP_JOB, 2, failed=True),
                # An older failure, and another CronJob's, are no news.
                *_job(f"{CRONJOB}-28999000", 0, failed=True),
                *_job("reports-29001000", 2, failed=True, owner="reports"),
            ],
            check("1h", "PostgresBackupFailed"),
            check("4h", "PostgresBackupFailed", failed),
            check("30h", "PostgresBackupFailed"),
        ),
        # Never succeeded: the failure counts from the CronJob's creation.
        group(
            "1h",
            [*_cronjob(None), *_job(BACKUP_JOB, 2, failed=True)],
            check("3h", "PostgresBackupFailed", failed),
        ),
        group(
            "1h",
            [*_cronjob(f"{3 * HOUR}x60"), *_job(BACKUP_JOB, 2, failed=False)],
            check("4h", "PostgresBackupFailed"),
        ),
    ]


def _backup_too_old() -> list[dict]:
    def overdue(seconds_ago: str) -> dict[str, Any]:
        return alert(
            "PostgresBackupTooOld",
            {"severity": "critical", "namespace": NS},
            "The last good backup of webapp-db is overdue",
            f"The last good backup of webapp-db in {NS} finished {seconds_ago} ago, while the "
            "schedule '0 3 * * *' runs at least every 1d.",
        )

    # The schedule runs daily, so a backup is overdue after 36 hours.
    return [
        group(
            "1h",
            [*_cronjob(f"{HOUR}x60")],
            check("30h", "PostgresBackupTooOld"),
            check("37h", "PostgresBackupTooOld"),
            check("40h", "PostgresBackupTooOld", overdue("1d 15h 0m 0s")),
        ),
        group(
            "1h", [*_cronjob(None)], check("40h", "PostgresBackupTooOld", overdue("1d 16h 0m 0s"))
        ),
        group("1h", [*_cronjob(f"{HOUR}x20 {21 * HOUR}x40")], check("40h", "PostgresBackupTooOld")),
    ]


def _upload(reason: str) -> list[dict]:
    pod = {"pod": f"{BACKUP_JOB}-x7k2p", "uid": "9a0e"}
    return [
        ksm(
            "kube_pod_owner",
            "1x60",
            owner_kind="Job",
            owner_name=BACKUP_JOB,
            owner_is_controller="true",
            **pod,
        ),
        ksm(
            "kube_pod_container_status_terminated_reason",
            "1x60",
            container="upload",
            reason=reason,
            **pod,
        ),
    ]


def _backup_upload_failed() -> list[dict]:
    failed = alert(
        "PostgresBackupUploadFailed",
        {"severity": "warning", "namespace": NS},
        "A backup of webapp-db did not reach object storage",
        f"The upload of the latest failed backup of {CRONJOB} in {NS} failed after the last "
        "good backup, so the newest dump exists only on the cluster.",
    )
    return [
        group(
            "1h",
            [*_cronjob(f"{HOUR}x60"), *_job(BACKUP_JOB, 2, failed=True), *_upload("Error")],
            check("4h", "PostgresBackupUploadFailed", failed),
            check(
                "4h",
                "PostgresBackupFailed",
                alert(
                    "PostgresBackupFailed",
                    {"severity": "warning", "namespace": NS},
                    "A backup of webapp-db failed",
                    f"The latest failed Job of CronJob {CRONJOB} in {NS} started after the last "
                    "good backup; the dumps already on the volume are kept.",
                ),
            ),
        ),
        # The dump failed, so the upload never ran: only PostgresBackupFailed says so.
        group(
            "1h",
            [*_cronjob(f"{HOUR}x60"), *_job(BACKUP_JOB, 2, failed=True)],
            check("4h", "PostgresBackupUploadFailed"),
        ),
        group(
            "1h",
            [
                *_cronjob(f"{HOUR}x2 {3 * HOUR}x60"),
                *_job(BACKUP_JOB, 2, failed=False),
                *_upload("Completed"),
            ],
            check("4h", "PostgresBackupUploadFailed"),
        ),
    ]


def _deployment(spec: str, ready: str, available: str) -> list[dict]:
    app = {"deployment": "webapp"}
    return [
        ksm("kube_deployment_spec_replicas", spec, **app),
        ksm("kube_deployment_status_replicas_ready", ready, **app),
        ksm("kube_deployment_status_replicas_available", available, **app),
    ]


def _web_app_unavailable() -> list[dict]:
    down = alert(
        "WebAppUnavailable",
        {"severity": "critical", "namespace": NS, "deployment": "webapp"},
        "webapp has no ready pod",
        f"webapp in {NS} has had no ready pod for 2 minutes: every request fails.",
    )
    return [
        group(
            "1m",
            _deployment("3x10", "3 3 0x8", "3 3 0x8"),
            check("3m", "WebAppUnavailable"),
            check("5m", "WebAppUnavailable", down),
        ),
        # Scaled to zero on purpose.
        group("1m", _deployment("0x10", "0x10", "0x10"), check("8m", "WebAppUnavailable")),
    ]


def _web_app_replicas_unavailable() -> list[dict]:
    short = alert(
        "WebAppReplicasUnavailable",
        {"severity": "warning", "namespace": NS, "deployment": "webapp"},
        "webapp is short of pods",
        f"1 of the pods webapp in {NS} should run have not been available for 10 minutes.",
    )
    return [
        group(
            "1m",
            _deployment("3x15", "2x15", "2x15"),
            check("5m", "WebAppReplicasUnavailable"),
            check("11m", "WebAppReplicasUnavailable", short),
        ),
        # A rollout's new pod is unavailable for a few minutes: no alert.
        group(
            "1m",
            _deployment("3x15", "2x5 3x10", "2x5 3x10"),
            check("11m", "WebAppReplicasUnavailable"),
        ),
    ]


def _web_app_autoscaler_at_max() -> list[dict]:
    at_max = alert(
        "WebAppAutoscalerAtMax",
        {"severity": "warning", "namespace": NS, "horizontalpodautoscaler": "webapp"},
        "webapp is at its maximum",
        f"webapp in {NS} has run 10 pods, its maximum, for 15 minutes: the app may be short "
        "of capacity.",
    )

    def hpa(current: str) -> list[dict]:
        labels = {"horizontalpodautoscaler": "webapp"}
        return [
            ksm("kube_horizontalpodautoscaler_status_current_replicas", current, **labels),
            ksm("kube_horizontalpodautoscaler_spec_max_replicas", "10x20", **labels),
        ]

    return [
        group(
            "1m",
            hpa("10x20"),
            check("10m", "WebAppAutoscalerAtMax"),
            check("16m", "WebAppAutoscalerAtMax", at_max),
        ),
        group("1m", hpa("7x20"), check("16m", "WebAppAutoscalerAtMax")),
    ]


CASES = {
    "PostgresDown": _postgres_down,
    "PostgresNotReady": _postgres_not_ready,
    "PostgresMetricsAbsent": _postgres_metrics_absent,
    "PostgresConnectionsNearLimit": _postgres_connections_near_limit,
    "PostgresRestarting": _postgres_restarting,
    "PostgresVolumeFillingUp": _postgres_volume_filling_up,
    "PostgresBackupFailed": _backup_failed,
    "PostgresBackupTooOld": _backup_too_old,
    "PostgresBackupUploadFailed": _backup_upload_failed,
    "WebAppUnavailable": _web_app_unavailable,
    "WebAppReplicasUnavailable": _web_app_replicas_unavailable,
    "WebAppAutoscalerAtMax": _web_app_autoscaler_at_max,
}


# --- the rendered rules ------------------------------------------------------------------


def rule_groups(run: ProgramRun) -> list[dict]:
    return [
        group_
        for record in run.of_type(PROMETHEUS_RULE)
        for group_ in record.manifest()["spec"]["groups"]
    ]


def rules(run: ProgramRun) -> Iterator[dict]:
    for group_ in rule_groups(run):
        yield from group_["rules"]


@pytest.fixture(scope="module")
def prod_rules() -> list[dict]:
    return rule_groups(statefulset_program_run("prod-statefulset"))


@pytest.fixture(params=["prod", "prod-statefulset"])
def prod_engine_run(request: pytest.FixtureRequest) -> ProgramRun:
    """prod as it is (cloudnative-pg, its rules tested in test_cnpg_alert_rules.py) and
    with the statefulset engine."""
    if request.param == "prod":
        return program_run("prod")
    return statefulset_program_run(request.param)


def test_alerts_are_on_in_prod_and_off_in_dev(
    dev_run: ProgramRun, prod_run: ProgramRun, prod_statefulset_run: ProgramRun
) -> None:
    assert dev_run.of_type(PROMETHEUS_RULE) == []
    for run_ in (prod_run, prod_statefulset_run):
        assert {r.name for r in run_.of_type(PROMETHEUS_RULE)} == {
            "webapp-db-alerts",
            "webapp-alerts",
        }
    # The database's alerts follow its engine.
    (cnpg_rules,) = [r for r in prod_run.of_type(PROMETHEUS_RULE) if r.name == "webapp-db-alerts"]
    assert {rule["alert"][:4] for rule in rules_of(cnpg_rules.manifest())} == {"Cnpg"}


def rules_of(manifest: dict) -> Iterator[dict]:
    for group_ in manifest["spec"]["groups"]:
        yield from group_["rules"]


def test_every_alert_has_severity_summary_description_and_a_runbook_entry(
    prod_engine_run: ProgramRun,
) -> None:
    readme = (ROOT / RUNBOOK).read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", readme, re.M)
    }
    for rule in rules(prod_engine_run):
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], rule["alert"]
        url, _, anchor = annotations["runbook_url"].partition("#")
        assert url == RUNBOOK and anchor == rule["alert"].lower(), annotations["runbook_url"]
        assert anchor in anchors, f"{RUNBOOK} has no runbook entry for {rule['alert']}"


def test_expressions_read_only_listed_metrics_by_their_labels(
    prod_engine_run: ProgramRun,
) -> None:
    for rule in rules(prod_engine_run):
        found = selectors(rule["expr"])
        assert found, rule["alert"]
        for selector in found:
            assert selector.metric in METRICS, f"{rule['alert']} reads {selector.metric}"
            unknown = set(selector.matchers) - labels_of(selector.metric)
            assert not unknown, f"{rule['alert']}: {selector.metric} has no labels {unknown}"
            assert selector.matchers.get("namespace") == ("=", NS), rule["alert"]


def test_every_alert_is_tested_firing_and_not_firing(prod_rules: list[dict]) -> None:
    names = {rule["alert"] for group_ in prod_rules for rule in group_["rules"]}
    assert names == set(CASES)
    for name, cases in CASES.items():
        checks = [c for g in cases() for c in g["alert_rule_test"] if c["alertname"] == name]
        assert any(c["exp_alerts"] for c in checks), f"{name} is never shown firing"
        assert any(not c["exp_alerts"] for c in checks), f"{name} is never shown quiet"


def test_promtool_accepts_the_rendered_rules(prod_rules: list[dict], tmp_path: Path) -> None:
    rules_file = promtool.write_rules(tmp_path, prod_rules)
    checked = promtool.run("check", "rules", rules_file.name, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("name", list(CASES))
def test_alert_fires_when_it_should_and_only_then(
    name: str, prod_rules: list[dict], tmp_path: Path
) -> None:
    result = promtool.run_alert_tests(tmp_path, prod_rules, CASES[name]())
    assert result.returncode == 0, result.stdout + result.stderr


# --- configuration -----------------------------------------------------------------------


def test_monitoring_labels_reach_the_service_monitor_and_the_rules(
    prod_engine_run: ProgramRun,
) -> None:
    """A default kube-prometheus-stack (Helm release kube-prometheus-stack) selects
    ServiceMonitors, PodMonitors and PrometheusRules labelled release=kube-prometheus-stack."""
    for type_ in (SERVICE_MONITOR, POD_MONITOR, PROMETHEUS_RULE):
        for record in prod_engine_run.of_type(type_):
            assert record.manifest()["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_backup_overdue_threshold_follows_the_schedule() -> None:
    run = run_main(
        "dev",
        {"webapp:alertsEnabled": "true", "webapp:backupSchedule": "0 */6 * * *"},
    )
    (too_old,) = [rule for rule in rules(run) if rule["alert"] == "PostgresBackupTooOld"]
    # Every 6 hours: overdue after 9.
    assert too_old["expr"].rstrip().endswith("> 32400")
    names = {rule["alert"] for rule in rules(run)}
    # Dev has no autoscaler and no bucket: no alert about them.
    assert "WebAppAutoscalerAtMax" not in names and "PostgresBackupUploadFailed" not in names


def test_without_backups_there_are_no_backup_alerts() -> None:
    run = run_main("dev", {"webapp:alertsEnabled": "true", "webapp:backupEnabled": "false"})
    names = {rule["alert"] for rule in rules(run)}
    assert names and not any(name.startswith("PostgresBackup") for name in names)
    volume = next(rule for rule in rules(run) if rule["alert"] == "PostgresVolumeFillingUp")
    assert "webapp-db-backups" not in volume["expr"]


def test_each_component_watches_only_its_own_objects() -> None:
    """Two databases and two apps side by side: every PrometheusRule is its own, and its
    selectors name only its own objects."""
    monitoring = Monitoring(alerts=True)
    # The database alerts read the exporter's metrics.
    metrics = Metrics(
        exporter_image="quay.io/prometheuscommunity/postgres-exporter:v0.17.1",
        scraper_namespace="monitoring",
    )

    def program() -> None:
        for name in ("orders", "billing"):
            database = PostgresDatabase(
                f"{name}-db",
                {**database_args("shop"), "metrics": metrics, "monitoring": monitoring},
            )
            WebService(f"{name}-web", {**web_args("shop", database), "monitoring": monitoring})

    pair = run("components", program)
    objects = {
        r.manifest()["metadata"]["name"]: r.manifest() for r in pair.of_type(PROMETHEUS_RULE)
    }
    assert set(objects) == {
        "orders-db-alerts",
        "billing-db-alerts",
        "orders-web-alerts",
        "billing-web-alerts",
    }
    for name, manifest in objects.items():
        own = name.removesuffix("-alerts")
        for group_ in manifest["spec"]["groups"]:
            for rule in group_["rules"]:
                other = "billing" if own.startswith("orders") else "orders"
                assert other not in rule["expr"] and own in rule["expr"], (name, rule["alert"])
