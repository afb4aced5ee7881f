"""Monitoring shared by the components: the `monitoring` input and the PrometheusRule
and ServiceMonitor plumbing (monitoring), the app's alert rules and rule groups
(alert_rules), each database engine's alert list (statefulset_alerts,
cloudnative_pg_alerts) and the Grafana dashboard (dashboard; its rows in dashboard_panels and
cloudnative_pg_panels, built of panel). Imports only _shared."""

from .monitoring import Monitoring, Watching

__all__ = ["Monitoring", "Watching"]
