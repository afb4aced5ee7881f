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
from tests.harness import ProgramRun
from tests.metric_catalog import METRICS, labels_of
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


@pytest.fixture
def dashboard(prod_run: ProgramRun) -> dict[str, Any]:
    (config_map,) = _dashboard_maps(prod_run)
    (content,) = config_map["data"].values()
    return json.loads(content)


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


def test_the_dashboard_shows_what_on_call_looks_for(dashboard: dict[str, Any]) -> None:
    read = set().union(*(metric_names(expr) for _, expr in queries(dashboard)))
    wanted = {
        "app availability": "kube_deployment_status_replicas_available",
        "rollouts": "kube_deployment_status_replicas_updated",
        "database connections": "pg_stat_activity_count",
        "transactions": "pg_stat_database_xact_commit",
        "cache hit ratio": "pg_stat_database_blks_read",
        "locks": "pg_locks_count",
        "age of the last backup": "kube_cronjob_status_last_successful_time",
        "volume usage": "kubelet_volume_stats_used_bytes",
        "replication lag (CloudNativePG)": "cnpg_pg_replication_lag",
        "WAL archiving (CloudNativePG)": "cnpg_pg_stat_archiver_failed_count",
    }
    assert {what for what, metric in wanted.items() if metric not in read} == set()
    titles = [panel["title"] for panel in all_panels(dashboard)]
    assert any("Replication" in title for title in titles), "no place for replication lag"


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
