"""The Cluster's PrometheusRule: the engine's alert list (observability) for this
database's names, namespace and monitoring labels."""

from typing import Any

import pulumi

from ..._shared.cron import longest_gap_seconds
from ...observability.alert_rules import rule_group
from ...observability.cloudnative_pg_alerts import ClusterWatch, cnpg_database_alerts
from ...observability.monitoring import Watching, prometheus_rule
from ..parts import DatabaseParts


def cnpg_alert_rules(
    db: DatabaseParts, monitoring: Watching, instances: int, schedule: str | None
) -> None:
    """The Cluster's alerts, in a PrometheusRule of its own; `schedule` is the base
    backups' schedule, None without an object store (no archive, no base backups)."""
    period = longest_gap_seconds(schedule) if schedule else None

    def groups(resolved: list[Any]) -> list[dict]:
        namespace, runbook_url = resolved
        watch = ClusterWatch(namespace, db.name, instances, schedule, period)
        return [rule_group(f"{db.name}-database", cnpg_database_alerts(watch), runbook_url)]

    prometheus_rule(
        f"{db.name}-alerts",
        db.namespace,
        {**monitoring.labels, **db.labels},
        pulumi.Output.all(db.namespace, monitoring.runbook_url).apply(groups),
        db.opts(),
    )
