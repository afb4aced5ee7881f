"""What the components need to know to be monitored by the Prometheus operator: the
labels its selectors look for, whether to alert, and where the runbook is.

Each component monitors itself: it knows its own object names, so it writes the
selectors of its own alert rules (alert_rules.py, statefulset_alerts.py) and labels its
own ServiceMonitor. A single rule object for the whole stack would have to know
every component's internals, and would break when a component is used alone or twice.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from .._shared.metadata import object_meta
from .._shared.package import InvalidInput, known

MONITORING_API_VERSION = "monitoring.coreos.com/v1"
DEFAULT_RUNBOOK_URL = "docs/monitoring.md"
# Ours: operator labels must not move an object out of its component's selectors.
OWN_LABEL_PREFIX = "app.kubernetes.io/"


class Monitoring(TypedDict):
    """Monitoring by the Prometheus operator: labels for its selectors, and alert rules."""

    labels: NotRequired[pulumi.Input[dict[str, str]]]
    """Labels added to the component's ServiceMonitor and PrometheusRule, so a Prometheus
    whose selectors ask for them picks them up (kube-prometheus-stack:
    release=<release name>); none under app.kubernetes.io/. Must be a plain value."""
    alerts: NotRequired[pulumi.Input[bool]]
    """A PrometheusRule with the component's alerts (needs the Prometheus operator's
    CRDs; a database's alerts read its exporter's metrics); none if unset. Must be a plain
    value."""
    runbook_url: NotRequired[pulumi.Input[str]]
    """Address of the page holding the runbook: each alert links to its entry
    (`#<alert name in lowercase>`); docs/monitoring.md if unset."""


@dataclass(frozen=True)
class Watching:
    """A component's monitoring input, checked."""

    labels: Mapping[str, str] = field(default_factory=dict)
    alerts: bool = False
    runbook_url: pulumi.Input[str] = DEFAULT_RUNBOOK_URL


def runbook(runbook_url: str, alert: str) -> str:
    """The link to an alert's runbook entry: the runbook page's heading named after the alert
    (GitHub makes `#### PostgresDown` the anchor `#postgresdown`)."""
    return f"{runbook_url}#{alert.lower()}"


def read_monitoring(value: Any, component: str) -> Watching | None:
    monitoring = known(value, f"{component} input 'monitoring'")
    if not monitoring:
        return None

    def what(field: str) -> str:
        return f"{component} input 'monitoring.{field}'"

    labels = dict(known(monitoring.get("labels"), what("labels")) or {})
    for key, label in labels.items():
        known(label, what("labels"))
        if key.startswith(OWN_LABEL_PREFIX):
            raise InvalidInput(
                f"{what('labels')} holds '{key}', but labels under {OWN_LABEL_PREFIX} are the "
                "component's own and select its objects"
            )
    return Watching(
        labels=labels,
        alerts=bool(known(monitoring.get("alerts"), what("alerts"))),
        runbook_url=monitoring.get("runbook_url") or DEFAULT_RUNBOOK_URL,
    )


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
