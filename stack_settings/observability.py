"""Monitoring and logs: alerts, labels for the Prometheus operator, the runbook, the
dashboard and the server's slow statement log."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi

from components import Backups, Metrics, Monitoring, ServerLogs
from components._shared.cron import longest_gap_seconds
from components.observability.monitoring import OWN_LABEL_PREFIX

from .reader import PROJECT, Feature, Reader, present
from .values import (
    BOOLEAN_ALLOWED,
    DNS_SUBDOMAIN,
    boolean,
    suggest_boolean,
    suggest_whole_number,
    whole_number,
)

_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_RUNBOOK_URL = re.compile(r"^(https?://[^\s#]+|[A-Za-z0-9._/-]+)$")
MAX_SLOW_STATEMENT_MS = 3_600_000


@dataclass(frozen=True)
class ObservabilitySettings:
    # The components' monitoring input: operator labels, alerts, runbook.
    monitoring: Monitoring
    dashboard: bool
    server_logs: ServerLogs


def _label_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and not (len(prefix) <= 253 and DNS_SUBDOMAIN.match(prefix)):
        return False
    return bool(_LABEL_NAME.match(name)) and not key.startswith(OWN_LABEL_PREFIX)


def _monitoring_labels(raw: str) -> dict[str, str]:
    """`key=value` pairs separated by commas, like a kubectl label selector."""
    labels: dict[str, str] = {}
    for pair in raw.split(",") if raw else []:
        key, separator, value = pair.partition("=")
        if not separator or not _label_key(key) or not _LABEL_VALUE.match(value):
            raise ValueError(raw)
        labels[key] = value
    return labels


def _suggest_monitoring_labels(raw: str) -> str | None:
    pairs = [re.split(r"\s*[=:]\s*", pair.strip(), maxsplit=1) for pair in re.split(r"[,;]", raw)]
    cleaned = ",".join("=".join(pair) for pair in pairs if len(pair) == 2 and all(pair))
    try:
        return cleaned if cleaned and _monitoring_labels(cleaned) else None
    except ValueError:
        return None


def _runbook_url(raw: str) -> str:
    if not _RUNBOOK_URL.match(raw):
        raise ValueError(raw)
    return raw


def _suggest_runbook_url(raw: str) -> str | None:
    candidate = raw.strip().split("#", 1)[0]
    return candidate if _RUNBOOK_URL.match(candidate) else None


def read_observability(
    reader: Reader, backups: Feature[Backups], metrics: Feature[Metrics]
) -> ObservabilitySettings | None:
    alerts = reader.read("alertsEnabled", boolean, BOOLEAN_ALLOWED, suggest_boolean)
    labels = reader.read(
        "monitoringLabels",
        _monitoring_labels,
        "it must be empty or labels for the Prometheus operator's selectors as key=value "
        "pairs separated by commas, such as release=kube-prometheus-stack (label names and "
        f"values as Kubernetes allows them, none under {OWN_LABEL_PREFIX})",
        _suggest_monitoring_labels,
    )
    runbook = reader.read(
        "runbookUrl",
        _runbook_url,
        "it must be the address of the runbook page (docs/monitoring.md) that alerts link "
        "their entries to, an http(s) URL or a path, without spaces or '#'",
        _suggest_runbook_url,
    )
    dashboard = reader.read("dashboardEnabled", boolean, BOOLEAN_ALLOWED, suggest_boolean)
    slow_ms = reader.read(
        "dbSlowQueryMs",
        whole_number(-1, MAX_SLOW_STATEMENT_MS),
        "it must be -1 (no slow statement log) or a whole number of milliseconds from 0 to "
        f"{MAX_SLOW_STATEMENT_MS} (0 logs every statement)",
        suggest_whole_number(-1, MAX_SLOW_STATEMENT_MS),
    )
    # Each check across keys runs once its own keys are valid, whatever else is wrong, so
    # one run reports every problem.
    valid = None not in (alerts, labels, runbook, dashboard, slow_ms)
    # The exporter is off by metricsEnabled alone: a bad serviceMonitor beside it (its own
    # sentence) must not hide this one, whose fix is another key.
    exporter_off = (
        metrics.value is None if metrics.valid else reader.raw("metricsEnabled") == "false"
    )
    if alerts and exporter_off:
        reader.fail(
            "alertsEnabled",
            "true",
            "the database alerts read the postgres exporter's metrics, and the exporter runs "
            f"only while {PROJECT}:metricsEnabled is true",
            fix=reader.fix_command("metricsEnabled", "true"),
        )
        valid = False
    if backups.value is not None:
        schedule = str(backups.value["schedule"])
        try:
            longest_gap_seconds(schedule)
        except ValueError:
            reader.fail(
                "backupSchedule",
                schedule,
                "it must name a day that exists, or no backup ever runs (and the backup "
                "alerts cannot tell when one is late)",
            )
            valid = False
    if not valid:
        return None
    if alerts and not present(runbook).startswith(("https://", "http://")):
        # No address is knowable from here (the repository may live anywhere), so the
        # default stays the page's path in it, which a reader of the rule can follow but a
        # notification cannot open: said on every preview until the stack names the page.
        example = "https://<host>/<org>/<repo>/blob/main/docs/monitoring.md"
        pulumi.log.warn(
            f"{PROJECT}:runbookUrl is '{runbook}', a path, so the alerts' runbook links "
            "open from no notification; name the page's address in your repository, for "
            "every stack as runbookUrl's default in Pulumi.yaml or for this one with: "
            f"{reader.fix_command('runbookUrl', example)}"
        )
    return ObservabilitySettings(
        monitoring=Monitoring(
            labels=present(labels), alerts=bool(alerts), runbook_url=present(runbook)
        ),
        dashboard=bool(dashboard),
        server_logs=ServerLogs(slow_statement_ms=present(slow_ms)),
    )
