"""A Grafana dashboard for everything in one namespace: the app's availability and
rollouts, the database's connections, transactions, cache hit ratio and locks, the age of
the last good backup, and the volumes.

AppNamespace owns it: a stack's namespace holds exactly its app and database, so every
query selects by namespace alone and needs no component's internal names, and a new
component (or another database engine) shows up in the app, backup and volume panels
without a change. The queries read only metrics listed, with their sources, in
tests/metric_catalog.py: the postgres exporter's, kube-state-metrics' and the kubelet's.

The JSON is Grafana's dashboard model at SCHEMA_VERSION; Grafana migrates older models on
load, so a newer Grafana reads it as it is.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Any

# Grafana 11.0's dashboard JSON model.
SCHEMA_VERSION = 39
# Grafana's sidecar (kube-prometheus-stack, the grafana chart) loads every ConfigMap
# labelled so as a dashboard.
SIDECAR_LABEL = {"grafana_dashboard": "1"}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_WIDTH = 24
_HEIGHT = 8
# Grafana keeps uids to 40 characters.
_MAX_UID = 40


@dataclass
class _Query:
    expr: str
    legend: str


@dataclass
class _Panel:
    title: str
    kind: str
    queries: list[_Query]
    width: int
    unit: str = "short"
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _q(expr: str, legend: str) -> _Query:
    return _Query(expr, legend)


def _rows(namespace: str) -> list[tuple[str, list[_Panel]]]:
    ns = f'{{namespace="{namespace}"}}'
    rate = "[$__rate_interval]"
    # max: a series kube-state-metrics reports twice (two replicas) counts once.
    deployments = "max by (deployment)"
    autoscalers = "by (horizontalpodautoscaler)"
    databases = "sum by (datname)"
    percent = {"min": 0, "max": 1}
    app = [
        _Panel(
            "Ready pods",
            "stat",
            [_q(f"{deployments} (kube_deployment_status_replicas_ready{ns})", "{{deployment}}")],
            6,
            description="Pods that pass their readiness probe and get traffic.",
        ),
        _Panel(
            "Pods: desired, available, on the new version",
            "timeseries",
            [
                _q(f"{deployments} (kube_deployment_spec_replicas{ns})", "{{deployment}} desired"),
                _q(
                    f"{deployments} (kube_deployment_status_replicas_available{ns})",
                    "{{deployment}} available",
                ),
                _q(
                    f"{deployments} (kube_deployment_status_replicas_updated{ns})",
                    "{{deployment}} on the new version",
                ),
            ],
            9,
        ),
        _Panel(
            "Rollouts: pods still on the old version",
            "timeseries",
            [
                _q(
                    f"{deployments} (kube_deployment_spec_replicas{ns})\n"
                    f"- {deployments} (kube_deployment_status_replicas_updated{ns})",
                    "{{deployment}}",
                ),
                _q(
                    f"{deployments} (kube_deployment_metadata_generation{ns})\n"
                    f"- {deployments} (kube_deployment_status_observed_generation{ns})",
                    "{{deployment}} changes the controller has not seen yet",
                ),
            ],
            9,
            description="Above zero while a rollout is under way; stuck above zero, a rollout "
            "that does not finish.",
        ),
        _Panel(
            "Autoscaler: pods and maximum",
            "timeseries",
            [
                _q(
                    f"sum {autoscalers} (kube_horizontalpodautoscaler_status_current_replicas{ns})",
                    "{{horizontalpodautoscaler}} pods",
                ),
                _q(
                    f"max {autoscalers} (kube_horizontalpodautoscaler_spec_max_replicas{ns})",
                    "{{horizontalpodautoscaler}} maximum",
                ),
            ],
            12,
        ),
        _Panel(
            "Container restarts per hour",
            "timeseries",
            [
                _q(
                    "sum by (pod, container) "
                    f"(increase(kube_pod_container_status_restarts_total{ns}[1h]))",
                    "{{pod}} {{container}}",
                )
            ],
            12,
        ),
    ]
    hits = f"{databases} (rate(pg_stat_database_blks_hit{ns}{rate}))"
    reads = f"{databases} (rate(pg_stat_database_blks_read{ns}{rate}))"
    database = [
        _Panel(
            "PostgreSQL up",
            "stat",
            [_q(f"max by (pod) (pg_up{ns})", "{{pod}}")],
            6,
            description="1 while the exporter reaches the server.",
            extra={
                "mappings": [
                    {
                        "type": "value",
                        "options": {
                            "0": {"text": "down", "color": "red"},
                            "1": {"text": "up", "color": "green"},
                        },
                    }
                ]
            },
        ),
        _Panel(
            "Connections by state",
            "timeseries",
            [
                _q(f"sum by (state) (pg_stat_activity_count{ns})", "{{state}}"),
                _q(f"max(pg_settings_max_connections{ns})", "max_connections"),
            ],
            9,
        ),
        _Panel(
            "Transactions per second",
            "timeseries",
            [
                _q(
                    f"{databases} (rate(pg_stat_database_xact_commit{ns}{rate}))",
                    "{{datname}} commits",
                ),
                _q(
                    f"{databases} (rate(pg_stat_database_xact_rollback{ns}{rate}))",
                    "{{datname}} rollbacks",
                ),
            ],
            9,
            unit="ops",
        ),
        _Panel(
            "Cache hit ratio",
            "timeseries",
            [_q(f"{hits}\n/ ({hits}\n  + {reads})", "{{datname}}")],
            8,
            unit="percentunit",
            description="Blocks found in shared buffers; below about 99% the working set "
            "does not fit in memory.",
            extra=percent,
        ),
        _Panel(
            "Locks by mode",
            "timeseries",
            [_q(f"sum by (mode) (pg_locks_count{ns})", "{{mode}}")],
            8,
        ),
        _Panel(
            "Deadlocks and database size",
            "timeseries",
            [
                _q(
                    f"{databases} (increase(pg_stat_database_deadlocks{ns}{rate}))",
                    "{{datname}} deadlocks",
                ),
                _q(f"{databases} (pg_database_size_bytes{ns})", "{{datname}} bytes"),
            ],
            8,
        ),
    ]
    backups_and_volumes = [
        _Panel(
            "Age of the last good backup",
            "stat",
            [
                _q(
                    f"time() - max by (cronjob) (kube_cronjob_status_last_successful_time{ns})",
                    "{{cronjob}}",
                )
            ],
            6,
            unit="s",
        ),
        _Panel(
            "Failed Jobs kept in the history",
            "timeseries",
            [
                _q(
                    f'sum(kube_job_failed{{namespace="{namespace}", condition="true"}})',
                    "failed Jobs",
                )
            ],
            6,
        ),
        _Panel(
            "Volume usage",
            "timeseries",
            [
                _q(
                    "max by (persistentvolumeclaim) (\n"
                    f"  kubelet_volume_stats_used_bytes{ns}\n"
                    f"  / kubelet_volume_stats_capacity_bytes{ns}\n)",
                    "{{persistentvolumeclaim}}",
                )
            ],
            12,
            unit="percentunit",
            description="The kubelet measures a volume only while a pod mounts it: the backup "
            "volume during backups.",
            extra=percent,
        ),
    ]
    return [
        ("App: availability and rollouts", app),
        ("Database", database),
        ("Backups and volumes", backups_and_volumes),
    ]


# Where replication lag goes once the database can run on CloudNativePG.
REPLICATION_NOTE = (
    "Replication lag appears here once the database runs on CloudNativePG, whose exporter "
    "reports it; the single PostgreSQL server of the StatefulSet has no replicas."
)


def _panel_json(panel: _Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit}
    defaults.update(
        {key: panel.extra[key] for key in ("min", "max", "mappings") if key in panel.extra}
    )
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": _HEIGHT, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}}
        if panel.kind == "timeseries"
        else {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
        "targets": [
            {
                "refId": chr(ord("A") + index),
                "datasource": DATASOURCE,
                "expr": query.expr,
                "legendFormat": query.legend,
            }
            for index, query in enumerate(panel.queries)
        ],
    }


def _row(panel_id: int, title: str, y: int, collapsed: bool = False) -> dict[str, Any]:
    """A row header; a collapsed row holds its panels, an open one is followed by them."""
    return {
        "id": panel_id,
        "type": "row",
        "title": title,
        "collapsed": collapsed,
        "gridPos": {"h": 1, "w": _WIDTH, "x": 0, "y": y},
        "panels": [],
    }


def dashboard_uid(app: str, namespace: str) -> str:
    """Unique per stack (app and namespace), within Grafana's 40 characters."""
    uid = f"{app}-{namespace}"
    if len(uid) <= _MAX_UID:
        return uid
    digest = hashlib.sha256(uid.encode()).hexdigest()[:8]
    return f"{uid[: _MAX_UID - 9]}-{digest}"


def grafana_dashboard(app: str, namespace: str) -> dict[str, Any]:
    ids = itertools.count(1)
    panels: list[dict[str, Any]] = []
    y = 0
    for title, row in _rows(namespace):
        panels.append(_row(next(ids), title, y))
        y += 1
        x = 0
        for panel in row:
            if x + panel.width > _WIDTH:
                x, y = 0, y + _HEIGHT
            panels.append(_panel_json(panel, next(ids), x, y))
            x += panel.width
        y += _HEIGHT
    replication = _row(next(ids), "Replication (CloudNativePG)", y, collapsed=True)
    replication["panels"].append(
        {
            "id": next(ids),
            "type": "text",
            "title": "Replication lag",
            "gridPos": {"h": 4, "w": _WIDTH, "x": 0, "y": y + 1},
            "options": {"mode": "markdown", "content": REPLICATION_NOTE},
        }
    )
    panels.append(replication)
    return {
        "id": None,
        "uid": dashboard_uid(app, namespace),
        "title": f"{app} ({namespace})",
        "description": f"The app {app} and its PostgreSQL database in namespace {namespace}.",
        "tags": [app, namespace, "postgresql", "kubernetes"],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "timezone": "utc",
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "annotations": {"list": []},
        "links": [],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                    "options": [],
                    "refresh": 1,
                    "regex": "",
                }
            ]
        },
        "panels": panels,
    }
