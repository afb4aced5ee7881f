"""The list of metrics the rules and the dashboard may read (tests/metric_catalog.py), and
the PromQL reader that holds them to it (tests/promql.py)."""

from __future__ import annotations

import json

import pytest

from tests.harness import ProgramRun, project_file
from tests.metric_catalog import METRICS, POSTGRES_EXPORTER
from tests.promql import PromQLError, Selector, metric_names, selectors


def test_the_catalog_names_the_exporter_version_the_stacks_run() -> None:
    image = project_file()["config"]["exporterImage"]["default"]
    assert image.endswith(f":{POSTGRES_EXPORTER.version}"), (
        "the exporter image changed: check its metrics in tests/metric_catalog.py and bump "
        "POSTGRES_EXPORTER.version"
    )


def test_every_listed_metric_is_read_by_a_rule_or_a_panel(
    prod_run: ProgramRun, prod_statefulset_run: ProgramRun
) -> None:
    """prod runs cloudnative-pg; the statefulset engine's rules read the exporter's."""
    runs = (prod_run, prod_statefulset_run)
    expressions = [
        rule["expr"]
        for run in runs
        for record in run.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
        for group in record.manifest()["spec"]["groups"]
        for rule in group["rules"]
    ]
    # Each engine's dashboard reads its own engine's metrics.
    configmaps = [r for run in runs for r in run.of_type("kubernetes:core/v1:ConfigMap")]
    for record in configmaps:
        for key, content in record.manifest().get("data", {}).items():
            if key.endswith(".json"):
                dashboard = json.loads(content)
                expressions += [
                    target["expr"]
                    for panel in dashboard["panels"]
                    for inner in [panel, *panel.get("panels", [])]
                    for target in inner.get("targets", [])
                ]
    read = set().union(*(metric_names(expr) for expr in expressions))
    assert set(METRICS) - read == set(), "listed but never read: drop them from the list"


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('up{job="a"} == 0', [Selector("up", {"job": ("=", "a")})]),
        (
            'sum by (namespace, pod) (rate(x_total{a=~"b|c", d!="e"}[5m]))'
            " / on (pod) group_left(node) y",
            [Selector("x_total", {"a": ("=~", "b|c"), "d": ("!=", "e")}), Selector("y", {})],
        ),
        (
            'max without (instance) (a) and on (namespace) b unless c or absent(d{e="f"})',
            [Selector(name, {}) for name in "abc"] + [Selector("d", {"e": ("=", "f")})],
        ),
        (
            'label_replace(a{x="1"}, "job_name", "$1", "owner_name", "(.+)") offset 5m',
            [Selector("a", {"x": ("=", "1")})],
        ),
        ("time() - max(b[$__rate_interval]) > bool 1.5e3", [Selector("b", {})]),
        ('sum(rate(a{s="x, y"}[1d:5m]))', [Selector("a", {"s": ("=", "x, y")})]),
    ],
)
def test_the_promql_reader_finds_every_selector(expr: str, expected: list[Selector]) -> None:
    assert selectors(expr) == expected


def test_the_promql_reader_refuses_what_it_cannot_read() -> None:
    with pytest.raises(PromQLError):
        selectors('{__name__="up"}')
    with pytest.raises(PromQLError):
        selectors("a{b=c}")
