"""What the components need to know to be monitored by the Prometheus operator: the
labels its selectors look for, whether to alert, and where the runbook is.

Each component monitors itself: it knows its own object names, so it writes the
selectors of its own alert rules (components/alert_rules.py) and labels its own
ServiceMonitor. A single rule object for the whole stack would have to know every
component's internals, and would break when a component is used alone or twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from .common import object_meta

MONITORING_API_VERSION = "monitoring.coreos.com/v1"


@dataclass(frozen=True)
class Monitoring:
    # Added to every ServiceMonitor and PrometheusRule, so a Prometheus whose selectors
    # ask for them (kube-prometheus-stack: `release: <release name>`) picks them up.
    labels: Mapping[str, str] = field(default_factory=dict)
    # A PrometheusRule per component with its alerts.
    alerts: bool = False
    # The README holding the runbook; each alert links to its entry (`#<alert name>`).
    runbook_url: str = "README.md"

    def runbook(self, alert: str) -> str:
        """The link to an alert's runbook entry: the README heading named after the alert
        (GitHub makes `#### PostgresDown` the anchor `#postgresdown`)."""
        return f"{self.runbook_url}#{alert.lower()}"


def prometheus_rule(
    resource_name: str,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    groups: pulumi.Input[list[dict]],
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    """A PrometheusRule named like its resource, holding `groups` (Prometheus' own rule
    group format)."""
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version=MONITORING_API_VERSION,
        kind="PrometheusRule",
        metadata=object_meta(labels, namespace, resource_name),
        spec={"groups": groups},
        opts=opts,
    )
