"""The Grafana dashboard: a ConfigMap Grafana's sidecar loads, holding valid dashboard JSON
whose every query reads listed metrics of this stack's namespace."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.observability.dashboard import DATASOURCE, SCHEMA_VERSION
from tests import promtool
from tests.harness import ProgramRun, run_main
from tests.metric_catalog import (
    BARMAN_CLOUD_PLUGIN,
    CLOUDNATIVE_PG,
    METRICS,
    POSTGRES_EXPORTER,
    labels_of,
)
from tests.promql import metric_names, selectors

CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
NS = "webapp-prod"
PANEL_TYPES = {"row", "text", "stat", "timeseries"}
# Grafana's own variables, as a query may hold them, and a value Prometheus would see.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def _dashboard_maps(run: ProgramRun) -> list[dict]:
    return [
        record.manifest()
        for record in run.of_type(CONFIG_MAP)
        if (record.manifest()["metadata"].get("labels") or {}).get("grafana_dashboard")
    ]


ENGINES = ("statefulset", "cloudnative-pg")
_DASHBOARDS: dict[str, dict[str, Any]] = {}


def engine_dashboard(engine: str) -> dict[str, Any]:
    """prod's stack file with the dashboard on and the given database engine."""
    if engine not in _DASHBOARDS:
        run = run_main("prod", {"webapp:dashboardEnabled": "true", "webapp:dbEngine": engine})
        (config_map,) = _dashboard_maps(run)
        (content,) = config_map["data"].values()
        _DASHBOARDS[engine] = json.loads(content)
    return _DASHBOARDS[engine]


@pytest.fixture(params=ENGINES)
def dashboard(request: pytest.FixtureRequest) -> dict[str, Any]:
    return engine_dashboard(request.param)


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in all_panels(dashboard):
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def test_prod_has_a_dashboard_grafanas_sidecar_loads_and_dev_has_none(
    prod_run: ProgramRun, dev_run: ProgramRun
) -> None:
    assert _dashboard_maps(dev_run) == []
    (config_map,) = _dashboard_maps(prod_run)
    metadata = config_map["metadata"]
    assert metadata["labels"]["grafana_dashboard"] == "1"
    assert metadata["namespace"] == NS
    # The sidecar writes every namespace's dashboards into one directory.
    assert list(config_map["data"]) == [f"{NS}-webapp.json"]


def test_dashboard_model(dashboard: dict[str, Any]) -> None:
    assert dashboard["schemaVersion"] == SCHEMA_VERSION
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", dashboard["uid"])
    assert NS in dashboard["title"]
    (variable,) = dashboard["templating"]["list"]
    assert (
        variable | {"name": "datasource", "type": "datasource", "query": "prometheus"} == variable
    )
    assert dashboard["time"]["from"].startswith("now-")


def test_panels_have_unique_ids_and_do_not_overlap(dashboard: dict[str, Any]) -> None:
    panels = list(all_panels(dashboard))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) and i > 0 for i in ids)
    visible = []
    for panel in panels:
        assert panel["type"] in PANEL_TYPES, panel["title"]
        grid = panel["gridPos"]
        assert set(grid) == {"h", "w", "x", "y"} and all(isinstance(v, int) for v in grid.values())
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel in dashboard["panels"]:
            visible.append(panel)
    for one, other in itertools.combinations(visible, 2):
        a, b = one["gridPos"], other["gridPos"]
        apart = (
            a["x"] + a["w"] <= b["x"]
            or b["x"] + b["w"] <= a["x"]
            or a["y"] + a["h"] <= b["y"]
            or b["y"] + b["h"] <= a["y"]
        )
        assert apart, f"{one['title']} overlaps {other['title']}"


def test_every_data_panel_queries_prometheus_through_the_datasource_variable(
    dashboard: dict[str, Any],
) -> None:
    for panel in all_panels(dashboard):
        if panel["type"] in ("row", "text"):
            assert "targets" not in panel, panel["title"]
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        targets = panel["targets"]
        assert targets, panel["title"]
        assert len({target["refId"] for target in targets}) == len(targets), panel["title"]
        for target in targets:
            assert target["datasource"] == DATASOURCE and target["expr"].strip(), panel["title"]


def test_every_query_reads_listed_metrics_of_this_namespace(dashboard: dict[str, Any]) -> None:
    for title, expr in queries(dashboard):
        for selector in selectors(expr):
            assert selector.metric in METRICS, f"{title}: {selector.metric} is not listed"
            assert set(selector.matchers) <= labels_of(selector.metric), title
            assert selector.matchers.get("namespace") == ("=", NS), title


WANTED = {
    "statefulset": {
        "app availability": "kube_deployment_status_replicas_available",
        "rollouts": "kube_deployment_status_replicas_updated",
        "database connections": "pg_stat_activity_count",
        "transactions": "pg_stat_database_xact_commit",
        "cache hit ratio": "pg_stat_database_blks_read",
        "locks": "pg_locks_count",
        "age of the last backup": "kube_cronjob_status_last_successful_time",
        "volume usage": "kubelet_volume_stats_used_bytes",
    },
    "cloudnative-pg": {
        "app availability": "kube_deployment_status_replicas_available",
        "rollouts": "kube_deployment_status_replicas_updated",
        "which instance is primary": "cnpg_pg_replication_in_recovery",
        "database connections": "cnpg_backends_total",
        "transactions": "cnpg_pg_stat_database_xact_commit",
        "cache hit ratio": "cnpg_pg_stat_database_blks_read",
        "lock waits": "cnpg_backends_waiting_total",
        "age of the last base backup": (
            "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp"
        ),
        "replication lag": "cnpg_pg_replication_lag",
        "WAL archiving": "cnpg_pg_stat_archiver_failed_count",
        "volume usage": "kubelet_volume_stats_used_bytes",
    },
}
# What the other engine has and this one does not: a panel reading it shows "No data".
NOT_EXPORTED = {
    "statefulset": {CLOUDNATIVE_PG.name, BARMAN_CLOUD_PLUGIN.name},
    "cloudnative-pg": {POSTGRES_EXPORTER.name},
}


@pytest.mark.parametrize("engine", ENGINES)
def test_the_dashboard_shows_what_on_call_looks_for(engine: str) -> None:
    read = set().union(*(metric_names(expr) for _, expr in queries(engine_dashboard(engine))))
    missing = {what for what, metric in WANTED[engine].items() if metric not in read}
    assert missing == set()


@pytest.mark.parametrize("engine", ENGINES)
def test_each_engine_s_panels_read_only_metrics_that_engine_exports(engine: str) -> None:
    for title, expr in queries(engine_dashboard(engine)):
        for name in metric_names(expr):
            assert METRICS[name].source.name not in NOT_EXPORTED[engine], (title, name)
    if engine == "cloudnative-pg":
        # No CronJob backs it up: its backups are the plugin's, its volumes the instances'.
        read = set().union(*(metric_names(e) for _, e in queries(engine_dashboard(engine))))
        assert "kube_cronjob_status_last_successful_time" not in read


def test_prometheus_parses_every_query(dashboard: dict[str, Any], tmp_path: Path) -> None:
    """promtool checks each query as the expression of a recording rule."""
    rules = []
    for index, (_, expr) in enumerate(queries(dashboard)):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        rules.append({"record": f"dashboard:query{index}", "expr": expr})
    rules_file = promtool.write_rules(tmp_path, [{"name": "dashboard", "rules": rules}])
    checked = promtool.run("check", "rules", rules_file.name, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_backup_age_shows_nothing_before_the_first_backup(tmp_path: Path) -> None:
    """The Barman Cloud plugin reports its last backup's timestamp as 0 until there is one:
    the panel must drop that sample before subtracting it from time(), or it shows the age
    of 1970 (about 56 years). After a backup it shows the age of that backup."""
    (expr,) = (
        e
        for title, e in queries(engine_dashboard("cloudnative-pg"))
        if title == "Age of the last base backup"
    )
    expr = expr.replace("$namespace", "webapp-prod")
    metric = "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp"
    labels = '{namespace="webapp-prod", pod="webapp-db-1"}'
    tests = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": f"{metric}{labels}", "values": "0x20"}],
                "promql_expr_test": [{"expr": expr, "eval_time": "10m", "exp_samples": []}],
            },
            {
                "interval": "1m",
                "input_series": [{"series": f"{metric}{labels}", "values": "300x20"}],
                "promql_expr_test": [
                    {
                        "expr": expr,
                        "eval_time": "10m",
                        "exp_samples": [{"labels": "{}", "value": 300}],
                    }
                ],
            },
        ],
    }
    (tmp_path / "tests.yaml").write_text(json.dumps(tests))
    result = promtool.run("test", "rules", "tests.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


BACKUP_METRICS = {
    "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp",
    "cnpg_collector_last_available_backup_timestamp",
    "cnpg_pg_stat_archiver_seconds_since_last_archival",
    "cnpg_pg_stat_archiver_failed_count",
    "kube_cronjob_status_last_successful_time",
    "kube_job_failed",
}


@pytest.mark.parametrize(
    "overrides",
    [
        {
            "webapp:dbEngine": "cloudnative-pg",
            "webapp:backupBucket": "",
            "webapp:backupS3CredentialsSecret": "",
            "webapp:acceptNoOffClusterBackups": "true",
        },
        {
            "webapp:dbEngine": "statefulset",
            "webapp:backupEnabled": "false",
            "webapp:backupBucket": "",
            "webapp:backupS3CredentialsSecret": "",
        },
    ],
    ids=["cloudnative-pg-without-a-bucket", "statefulset-without-backups"],
)
def test_a_stack_without_backups_has_no_backup_panels_and_says_why(
    overrides: dict[str, str],
) -> None:
    """No panel that would show no data or, for CloudNativePG's archiver, successes that
    archive to nowhere; the row's title tells the reader there are no backups."""
    run = run_main("prod", {"webapp:dashboardEnabled": "true", **overrides})
    (config_map,) = _dashboard_maps(run)
    (content,) = config_map["data"].values()
    dashboard = json.loads(content)
    read = set().union(*(metric_names(expr) for _, expr in queries(dashboard)))
    assert read & BACKUP_METRICS == set()
    assert "kubelet_volume_stats_used_bytes" in read
    titles = [panel["title"] for panel in dashboard["panels"] if panel["type"] == "row"]
    assert "Volumes (no backups: the stack runs without them)" in titles


@pytest.mark.parametrize("engine", ENGINES)
def test_a_stack_with_backups_shows_them(engine: str) -> None:
    read = set().union(*(metric_names(expr) for _, expr in queries(engine_dashboard(engine))))
    assert read & BACKUP_METRICS
