"""Config checks of the monitoring and log keys: one sentence per bad value, like every
other key's (tests/test_settings.py)."""

from __future__ import annotations

import pytest

from stack_settings import ConfigError
from tests.harness import run_main

FIX = "fix it with: pulumi config set --stack dev"
LABELS_ALLOWED = (
    "but it must be empty or labels for the Prometheus operator's selectors as key=value "
    "pairs separated by commas, such as release=kube-prometheus-stack (label names and "
    "values as Kubernetes allows them, none under app.kubernetes.io/)"
)
RUNBOOK_ALLOWED = (
    "but it must be the address of the runbook page (docs/monitoring.md) that alerts link "
    "their entries to, an http(s) URL or a path, without spaces or '#'"
)
SLOW_ALLOWED = (
    "but it must be -1 (no slow statement log) or a whole number of milliseconds from 0 to "
    "3600000 (0 logs every statement)"
)

BAD_VALUES = [
    (
        {"webapp:alertsEnabled": "yes"},
        "webapp:alertsEnabled is 'yes', but it must be true or false; "
        f"{FIX} webapp:alertsEnabled true",
    ),
    (
        {"webapp:dashboardEnabled": "on"},
        "webapp:dashboardEnabled is 'on', but it must be true or false; "
        f"{FIX} webapp:dashboardEnabled true",
    ),
    (
        {"webapp:monitoringLabels": "release: kube-prometheus-stack"},
        f"webapp:monitoringLabels is 'release: kube-prometheus-stack', {LABELS_ALLOWED}; "
        f"{FIX} webapp:monitoringLabels release=kube-prometheus-stack",
    ),
    (
        {"webapp:monitoringLabels": "app.kubernetes.io/name=x"},
        f"webapp:monitoringLabels is 'app.kubernetes.io/name=x', {LABELS_ALLOWED}; "
        f"{FIX} webapp:monitoringLabels ''",
    ),
    (
        {"webapp:runbookUrl": "https://github.com/acme/webapp/blob/main/README.md#runbook"},
        "webapp:runbookUrl is 'https://github.com/acme/webapp/blob/main/README.md#runbook', "
        f"{RUNBOOK_ALLOWED}; {FIX} webapp:runbookUrl "
        "https://github.com/acme/webapp/blob/main/README.md",
    ),
    (
        {"webapp:runbookUrl": "my readme.md"},
        f"webapp:runbookUrl is 'my readme.md', {RUNBOOK_ALLOWED}; "
        f"{FIX} webapp:runbookUrl docs/monitoring.md",
    ),
    (
        {"webapp:dbSlowQueryMs": "-5"},
        f"webapp:dbSlowQueryMs is '-5', {SLOW_ALLOWED}; {FIX} webapp:dbSlowQueryMs -1",
    ),
    (
        {"webapp:dbSlowQueryMs": "1.5s"},
        f"webapp:dbSlowQueryMs is '1.5s', {SLOW_ALLOWED}; {FIX} webapp:dbSlowQueryMs 500",
    ),
    (
        {"webapp:alertsEnabled": "true", "webapp:metricsEnabled": "false"},
        "webapp:alertsEnabled is 'true', but the database alerts read the postgres exporter's "
        "metrics, and the exporter runs only while webapp:metricsEnabled is true; "
        f"{FIX} webapp:metricsEnabled true",
    ),
    (
        {"webapp:backupSchedule": "0 0 30 2 *"},
        "webapp:backupSchedule is '0 0 30 2 *', but it must name a day that exists, or no "
        "backup ever runs (and the backup alerts cannot tell when one is late); "
        f"{FIX} webapp:backupSchedule '0 3 * * *'",
    ),
]


@pytest.mark.parametrize(("config", "message"), BAD_VALUES, ids=lambda v: str(v)[:40])
def test_bad_value_stops_the_program_with_one_sentence(config: dict, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        run_main("dev", config)
    assert str(raised.value) == message


def test_several_labels_reach_the_service_monitor_below_our_own() -> None:
    run = run_main(
        "dev",
        {"webapp:serviceMonitor": "true", "webapp:monitoringLabels": "release=kps,team=web"},
    )
    (monitor,) = run.of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
    labels = monitor.manifest()["metadata"]["labels"]
    assert labels["release"] == "kps" and labels["team"] == "web"
    assert labels["app.kubernetes.io/instance"] == "webapp-db"


def test_the_slow_statement_threshold_reaches_the_server() -> None:
    run = run_main("dev", {"webapp:dbSlowQueryMs": "250"})
    (statefulset,) = run.of_type("kubernetes:apps/v1:StatefulSet")
    (server,) = [
        c
        for c in statefulset.manifest()["spec"]["template"]["spec"]["containers"]
        if c["name"] == "postgres"
    ]
    assert "log_min_duration_statement=250" in server["args"]


RUNBOOK_PAGE = "https://git.example.com/ops/webapp/blob/main/docs/monitoring.md"


def _runbook_warnings(stack: str, overrides: dict[str, str]) -> list[str]:
    return [log for log in run_main(stack, overrides).logs if "webapp:runbookUrl" in log]


def test_alerts_whose_runbook_is_a_path_are_told_on_every_preview() -> None:
    """A relative link opens from no notification; the stack is told how to name the page
    once for every stack or for itself."""
    (warning,) = _runbook_warnings("prod", {"webapp:runbookUrl": "docs/monitoring.md"})
    assert warning == (
        "webapp:runbookUrl is 'docs/monitoring.md', a path, so the alerts' runbook links open "
        "from no notification; name the page's address in your repository, for every stack "
        "as runbookUrl's default in Pulumi.yaml or for this one with: pulumi config set "
        "--stack prod webapp:runbookUrl "
        "'https://<host>/<org>/<repo>/blob/main/docs/monitoring.md'"
    )


def test_a_runbook_address_reaches_the_alerts_without_a_warning() -> None:
    run = run_main("prod", {"webapp:runbookUrl": RUNBOOK_PAGE})
    assert not [log for log in run.logs if "webapp:runbookUrl" in log]
    rules = [
        rule
        for record in run.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
        for group in record.manifest()["spec"]["groups"]
        for rule in group["rules"]
    ]
    assert rules and all(
        rule["annotations"]["runbook_url"] == f"{RUNBOOK_PAGE}#{rule['alert'].lower()}"
        for rule in rules
    )


def test_without_alerts_the_runbook_is_not_mentioned() -> None:
    assert _runbook_warnings("dev", {"webapp:alertsEnabled": "false"}) == []
