"""The app's alert rules, in a PrometheusRule of its own."""

from typing import Any

import pulumi

from ..observability.alert_rules import AppWatch, app_alerts, rule_group
from ..observability.monitoring import prometheus_rule
from .parts import WebParts


def alert_rules(web: WebParts) -> None:
    """The app's alerts, in a PrometheusRule of its own."""
    monitoring = web.monitoring
    if monitoring is None or not monitoring.alerts:
        return

    def groups(resolved: list[Any]) -> list[dict]:
        namespace, runbook_url = resolved
        watch = AppWatch(
            namespace=namespace,
            deployment=web.name,
            autoscaler=web.name if web.autoscaling else None,
        )
        return [rule_group(f"{web.name}-app", app_alerts(watch), runbook_url)]

    prometheus_rule(
        f"{web.name}-alerts",
        web.namespace,
        {**monitoring.labels, **web.labels},
        pulumi.Output.all(web.namespace, monitoring.runbook_url).apply(groups),
        web.opts(),
    )
