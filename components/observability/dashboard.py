"""A Grafana dashboard for everything in one namespace: the app's availability and
rollouts, the database's connections, transactions, cache hit ratio and locks, the age of
the last good backup, the volumes, and with CloudNativePG the replication lag and WAL
archiving. The database's panels are the engine's own: the postgres exporter and the
backup CronJob with the statefulset engine, CloudNativePG's instance manager and the
Barman Cloud plugin with cloudnative-pg.

AppNamespace owns it: a stack's namespace holds exactly its app and database, so every
query selects by namespace alone and needs no component's internal names, and a new
component (or another database engine) shows up in the app, backup and volume panels
without a change. The queries read only metrics listed, with their sources, in
tests/metric_catalog.py: the postgres exporter's, CloudNativePG's, kube-state-metrics' and
the kubelet's.

The panels are in dashboard_panels.py. The JSON is Grafana's dashboard model at
SCHEMA_VERSION; Grafana migrates older models on load, so a newer Grafana reads it as it
is.
"""

import hashlib
import itertools
from typing import Any

from .dashboard_panels import rows
from .panel import Panel

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


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
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


def _row(panel_id: int, title: str, y: int) -> dict[str, Any]:
    """A row header, followed by its panels."""
    return {
        "id": panel_id,
        "type": "row",
        "title": title,
        "collapsed": False,
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


def grafana_dashboard(
    app: str, namespace: str, engine: str = "statefulset", backups: bool = True
) -> dict[str, Any]:
    """`engine` picks the database's panels: each engine's read only the metrics it has;
    `backups` False leaves out the backup panels."""
    ids = itertools.count(1)
    panels: list[dict[str, Any]] = []
    y = 0
    for title, row in rows(namespace, engine, backups):
        panels.append(_row(next(ids), title, y))
        y += 1
        x = 0
        for panel in row:
            if x + panel.width > _WIDTH:
                x, y = 0, y + _HEIGHT
            panels.append(_panel_json(panel, next(ids), x, y))
            x += panel.width
        y += _HEIGHT
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
