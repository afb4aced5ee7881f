"""The monitoring and log inputs of the components as another language's program sends
them (numbers as doubles, values that are other resources' outputs), and the inputs the
components refuse with the input named."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components import (
    AppNamespace,
    Metrics,
    Monitoring,
    PostgresDatabase,
    ServerLogs,
    WebService,
)
from components._shared.package import InvalidInput
from tests.harness import ProgramRun, run
from tests.test_components import database_args, namespace_args, web_args

STATEFULSET = "kubernetes:apps/v1:StatefulSet"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
METRICS = Metrics(
    exporter_image="quay.io/prometheuscommunity/postgres-exporter:v0.17.1",
    scraper_namespace="monitoring",
    service_monitor=True,
)


def _server_args(run_: ProgramRun) -> list[str]:
    (statefulset,) = run_.of_type(STATEFULSET)
    containers = statefulset.manifest()["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "postgres")["args"]


def _database(**extra: Any) -> ProgramRun:
    def program() -> None:
        PostgresDatabase("shop-db", {**database_args("shop"), **extra})

    return run("components", program)


def test_a_whole_number_from_another_language_sets_the_slow_statement_log() -> None:
    args = _server_args(_database(logs=ServerLogs(slow_statement_ms=250.0)))
    assert "log_min_duration_statement=250" in args


def test_the_slow_statement_log_may_come_from_another_resource() -> None:
    threshold = pulumi.Output.from_input(-1)
    args = _server_args(_database(logs=ServerLogs(slow_statement_ms=threshold)))
    assert "log_min_duration_statement=-1" in args


def test_without_a_logs_input_statements_of_half_a_second_are_logged() -> None:
    assert "log_min_duration_statement=500" in _server_args(_database())


def test_operator_labels_and_a_runbook_address_reach_the_rules() -> None:
    monitoring = Monitoring(
        labels={"release": "prom"}, alerts=True, runbook_url="https://example.com/README.md"
    )

    def program() -> None:
        AppNamespace("shop", {**namespace_args("shop"), "dashboard": True})
        database = PostgresDatabase(
            "shop-db", {**database_args("shop"), "metrics": METRICS, "monitoring": monitoring}
        )
        WebService("shop-web", {**web_args("shop", database), "monitoring": monitoring})

    run_ = run("components", program)
    rules = [record.manifest() for record in run_.of_type(PROMETHEUS_RULE)]
    assert {rule["metadata"]["name"] for rule in rules} == {"shop-db-alerts", "shop-web-alerts"}
    for rule in rules:
        assert rule["metadata"]["labels"]["release"] == "prom"
        for group in rule["spec"]["groups"]:
            for alert in group["rules"]:
                link = alert["annotations"]["runbook_url"]
                assert link == f"https://example.com/README.md#{alert['alert'].lower()}"
    (dashboard,) = [
        r for r in run_.of_type(CONFIG_MAP) if r.manifest()["metadata"]["name"] == "shop-dashboard"
    ]
    assert set(dashboard.manifest()["data"]) == {"shop-shop.json"}


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"monitoring": Monitoring(alerts=True)}, "'monitoring.alerts' needs the input 'metrics'"),
        (
            {"monitoring": Monitoring(labels={"app.kubernetes.io/name": "x"})},
            "'monitoring.labels' holds 'app.kubernetes.io/name'",
        ),
        ({"logs": ServerLogs(slow_statement_ms=-2)}, "'logs.slowStatementMs' must be -1"),
        ({"logs": ServerLogs(slow_statement_ms=0.5)}, "'logs.slowStatementMs' must be a whole"),
        (
            {
                "metrics": METRICS,
                "monitoring": Monitoring(alerts=True),
                "backups": {"schedule": "0 0 30 2 *", "keep": 3, "storage_size": "1Gi"},
            },
            "'backups.schedule' is '0 0 30 2 *', which never runs",
        ),
    ],
)
def test_inputs_it_cannot_use_are_refused_with_the_input_named(
    extra: dict[str, Any], named: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        _database(**extra)
    assert named in str(raised.value)
