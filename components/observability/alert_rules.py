"""The alerts an on-call team needs for the database and the app, as Prometheus rule
groups (the `spec.groups` of a PrometheusRule).

The app's alerts are here, the database's in statefulset_alerts.py. Every expression reads
only metrics of three sources, each with the labels it really has: the postgres exporter
beside the database (with the `namespace` and `pod` labels the ServiceMonitor's scrape
adds), kube-state-metrics and the kubelet. The list of those metrics, with their sources,
is kept in tests/metric_catalog.py, and the tests run every alert through `promtool test
rules`. Each rule aggregates to a few labels, so an alert carries the same labels however
Prometheus scrapes its sources.

The severities follow kube-prometheus-stack's Alertmanager defaults: `critical` pages,
`warning` waits for working hours, and a critical alert inhibits the warning of the same
name in the same namespace.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from .monitoring import runbook


@dataclass(frozen=True)
class Alert:
    name: str
    severity: str
    expr: str
    summary: str
    description: str
    # How long the condition must hold; "" fires at the first evaluation.
    for_: str = ""


def rule_group(name: str, alerts: Sequence[Alert], runbook_url: str) -> dict:
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
                    "runbook_url": runbook(runbook_url, alert.name),
                },
            }
            for alert in alerts
        ],
    }


def duration(seconds: float) -> str:
    """A Prometheus duration of whole seconds, such as 129600s."""
    return f"{round(seconds)}s"


def humane(seconds: float) -> str:
    days, rest = divmod(round(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{amount}{unit}" for amount, unit in ((days, "d"), (hours, "h"), (minutes, "m"))]
    return " ".join(part for part in parts if not part.startswith("0")) or f"{round(seconds)}s"


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
