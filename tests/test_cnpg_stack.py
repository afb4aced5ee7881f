"""The whole program with prod's database on CloudNativePG (webapp:dbEngine cloudnative-pg):
what prod renders, what the app is pointed at, that dev is unchanged, the new keys'
mistakes, and the guard against switching a stack's engine by accident."""

from __future__ import annotations

import base64
import json

import pytest

from stack_settings import ConfigError
from tests.harness import Mocks, ProgramRun, RecordingMonitor, run_main
from tests.test_invariants import (
    _carries,
    _generated_passwords,
    _strings,
    test_generated_secrets_appear_only_in_secret_outputs,
    test_generated_secrets_appear_only_in_secret_values,
)

CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
OBJECT_STORE = "kubernetes:barmancloud.cnpg.io/v1:ObjectStore"
SCHEDULED_BACKUP = "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup"
POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
CRONJOB = "kubernetes:batch/v1:CronJob"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
RW_HOST = "webapp-db-rw.webapp-prod.svc.cluster.local"
INSTANCE_PODS = {"cnpg.io/cluster": "webapp-db", "cnpg.io/podRole": "instance"}
FIX = "fix it with: pulumi config set --stack prod"
SWITCH = "statefulset-to-cloudnative-pg"


def _cluster(run: ProgramRun) -> dict:
    return run.one(CLUSTER, "webapp-db-cluster").manifest()


# --- what prod renders -------------------------------------------------------------------


def test_prod_renders_a_cluster_of_three_instances(prod_run: ProgramRun) -> None:
    record = prod_run.one(CLUSTER, "webapp-db-cluster")
    cluster = record.manifest()
    assert cluster["metadata"] == {**cluster["metadata"], "name": "webapp-db"}
    assert cluster["metadata"]["namespace"] == "webapp-prod"
    spec = cluster["spec"]
    assert spec["instances"] == 3
    assert spec["storage"]["size"] == "20Gi"
    assert spec["resources"]["limits"]["memory"] == "2Gi"
    assert spec["enableSuperuserAccess"] is False
    assert spec["bootstrap"]["initdb"] == {
        "database": "app",
        "owner": "app",
        "secret": {
            "name": prod_run.one(SECRET, "webapp-db-app-secret").manifest()["metadata"]["name"]
        },
    }
    # `pulumi up` waits for the Cluster; protectData protects it and keeps it on delete.
    wait_for = json.loads(cluster["metadata"]["annotations"]["pulumi.com/waitFor"])
    assert wait_for[0] == "condition=Ready"
    assert record.protect and record.retain_on_delete


def test_prod_archives_to_the_bucket_and_backs_up_on_schedule(prod_run: ProgramRun) -> None:
    (store,) = prod_run.of_type(OBJECT_STORE)
    configuration = store.manifest()["spec"]["configuration"]
    assert configuration["destinationPath"] == prod_run.config["webapp:backupBucket"]
    assert store.manifest()["spec"]["retentionPolicy"] == "14d"
    (plugin,) = _cluster(prod_run)["spec"]["plugins"]
    assert plugin["name"] == "barman-cloud.cloudnative-pg.io" and plugin["isWALArchiver"]
    assert plugin["parameters"]["barmanObjectName"] == store.manifest()["metadata"]["name"]
    (backup,) = prod_run.of_type(SCHEDULED_BACKUP)
    spec = backup.manifest()["spec"]
    assert spec["cluster"] == {"name": "webapp-db"}
    assert spec["method"] == "plugin"
    assert spec["schedule"] == "0 0 3 * * *"  # webapp:backupSchedule in CNPG's six fields


def test_prod_scrapes_the_instances_with_a_pod_monitor(prod_run: ProgramRun) -> None:
    (monitor,) = prod_run.of_type(POD_MONITOR)
    spec = monitor.manifest()["spec"]
    assert spec["selector"]["matchLabels"] == INSTANCE_PODS
    assert spec["podMetricsEndpoints"] == [{"port": "metrics"}]
    assert prod_run.of_type(SERVICE_MONITOR) == []
    # Without serviceMonitor, no PodMonitor.
    without = run_main("prod", {"webapp:serviceMonitor": "false"})
    assert without.of_type(POD_MONITOR) == []


def test_prod_cluster_network_policy(prod_run: ProgramRun) -> None:
    policy = prod_run.one(NETPOL, "webapp-db-cluster-netpol").manifest()["spec"]
    assert policy["podSelector"] == {"matchLabels": {"cnpg.io/cluster": "webapp-db"}}
    by_port = {rule["ports"][0]["port"]: rule["from"] for rule in policy["ingress"]}
    app_pods = {
        "app.kubernetes.io/component": "web",
        "app.kubernetes.io/instance": "webapp",
        "app.kubernetes.io/name": "webapp",
    }
    # Only the app and the instances themselves reach 5432.
    assert by_port[5432] == [
        {"podSelector": {"matchLabels": app_pods}},
        {"podSelector": {"matchLabels": {"cnpg.io/cluster": "webapp-db"}}},
    ]
    operator = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "cnpg-system"}}
    }
    assert operator in by_port[8000]
    egress_ports = {port["port"] for rule in policy["egress"] for port in rule["ports"]}
    assert {443, 6443, 53, 5432, 8000} <= egress_ports


def test_no_built_in_server_is_left_in_prod(prod_run: ProgramRun) -> None:
    for kind in (STATEFULSET, CRONJOB, PVC, SERVICE_MONITOR):
        assert prod_run.of_type(kind) == [], kind
    assert not [r for r in prod_run.of_type(NETPOL) if r.name == "webapp-db-netpol"]


# --- the app -----------------------------------------------------------------------------


def test_the_app_connects_to_the_read_write_service(prod_run: ProgramRun) -> None:
    config = prod_run.one(CONFIG_MAP, "webapp-config").manifest()["data"]
    assert config["DATABASE_HOST"] == RW_HOST
    secret = prod_run.one(SECRET, "webapp-credentials").manifest()["data"]
    url = base64.b64decode(secret["DATABASE_URL"]).decode()
    assert url.endswith(f"@{RW_HOST}:5432/app") and url.startswith("postgresql://app:")
    assert prod_run.outputs["databaseHost"].value == RW_HOST
    assert prod_run.outputs["databaseEngine"].value == "cloudnative-pg"


def test_the_app_may_reach_only_the_instance_pods(prod_run: ProgramRun) -> None:
    egress = prod_run.one(NETPOL, "webapp-netpol").manifest()["spec"]["egress"]
    to_database = egress[0]
    assert to_database["to"] == [{"podSelector": {"matchLabels": INSTANCE_PODS}}]
    assert to_database["ports"] == [{"protocol": "TCP", "port": 5432}]


def test_dev_is_unchanged_on_the_statefulset_engine(dev_run: ProgramRun) -> None:
    assert len(dev_run.of_type(STATEFULSET)) == 1
    for kind in (CLUSTER, OBJECT_STORE, SCHEDULED_BACKUP, POD_MONITOR):
        assert dev_run.of_type(kind) == [], kind
    assert dev_run.outputs["databaseHost"].value == "webapp-db.webapp-dev.svc.cluster.local"
    assert dev_run.outputs["databaseEngine"].value == "statefulset"


def test_the_password_is_only_in_secrets_and_secret_outputs(prod_run: ProgramRun) -> None:
    test_generated_secrets_appear_only_in_secret_values(prod_run)
    test_generated_secrets_appear_only_in_secret_outputs(prod_run)
    # Not vacuous: the Cluster's basic-auth Secret and the app's Secret carry it.
    passwords = _generated_passwords(prod_run)
    carriers = {
        record.name
        for record in prod_run.registrations
        if any(_carries(text, passwords) for _, text in _strings(record.inputs))
    }
    assert carriers == {"webapp-db-app-secret", "webapp-credentials"}
    app_secret = prod_run.one(SECRET, "webapp-db-app-secret").manifest()
    assert app_secret["type"] == "kubernetes.io/basic-auth"
    assert base64.b64decode(app_secret["data"]["username"]).decode() == "app"


# --- the new keys' mistakes ----------------------------------------------------------------

BAD_VALUES = [
    (
        "dbEngine",
        "cnpg",
        "webapp:dbEngine is 'cnpg', but it must be one of statefulset, cloudnative-pg; "
        f"{FIX} webapp:dbEngine cloudnative-pg",
    ),
    (
        "dbEngine",
        "CloudNativePG",
        "webapp:dbEngine is 'CloudNativePG', but it must be one of statefulset, "
        f"cloudnative-pg; {FIX} webapp:dbEngine cloudnative-pg",
    ),
    (
        "dbInstances",
        "0",
        "webapp:dbInstances is '0', but it must be a whole number of instances from 1 to 9; "
        f"{FIX} webapp:dbInstances 3",
    ),
    (
        "dbInstances",
        "two",
        "webapp:dbInstances is 'two', but it must be a whole number of instances from 1 to 9; "
        f"{FIX} webapp:dbInstances 3",
    ),
    (
        "cnpgImage",
        "ghcr.io/cloudnative-pg/postgresql:latest",
        "webapp:cnpgImage is 'ghcr.io/cloudnative-pg/postgresql:latest', but it must be a "
        "container image with a pinned version, a tag other than 'latest' or a digest (for "
        f"example nginx:1.27); {FIX} webapp:cnpgImage "
        "'ghcr.io/cloudnative-pg/postgresql:<version>'",
    ),
    (
        "cnpgOperatorNamespace",
        "CNPG_System",
        "webapp:cnpgOperatorNamespace is 'CNPG_System', but it must be the namespace of the "
        f"CloudNativePG operator, a DNS label; {FIX} webapp:cnpgOperatorNamespace cnpg-system",
    ),
    (
        "backupRetentionDays",
        "2w",
        "webapp:backupRetentionDays is '2w', but it must be a whole number of days from 1 to "
        f"3650; {FIX} webapp:backupRetentionDays 30",
    ),
    (
        "dbArchiveName",
        "Webapp_DB",
        "webapp:dbArchiveName is 'Webapp_DB', but it must be empty or a folder name of "
        f"lowercase letters, digits and '-' (at most 63); {FIX} webapp:dbArchiveName webapp-db",
    ),
    (
        "recoverySourceArchive",
        "Webapp DB",
        "webapp:recoverySourceArchive is 'Webapp DB', but it must be empty or a folder name of "
        "lowercase letters, digits and '-' (at most 63); "
        f"{FIX} webapp:recoverySourceArchive webapp-db",
    ),
    (
        "recoveryTargetTime",
        "2026-11-25 14:30:00",
        "webapp:recoveryTargetTime is '2026-11-25 14:30:00', but it must be empty or an RFC "
        "3339 time with a zone, such as 2026-11-25T14:30:00Z; "
        f"{FIX} webapp:recoveryTargetTime 2026-11-25T14:30:00Z",
    ),
    (
        "recoveryTargetTime",
        "yesterday",
        "webapp:recoveryTargetTime is 'yesterday', but it must be empty or an RFC 3339 time "
        "with a zone, such as 2026-11-25T14:30:00Z; "
        f"{FIX} webapp:recoveryTargetTime '<YYYY-MM-DD>T<hh:mm:ss>Z'",
    ),
    (
        "dbEngineSwitch",
        "yes",
        "webapp:dbEngineSwitch is 'yes', but it must be empty or statefulset-to-cloudnative-pg, "
        "which confirms moving the data of a stack deployed with the statefulset engine "
        "(docs/engines.md: Moving a stack to cloudnative-pg); "
        f"{FIX} webapp:dbEngineSwitch statefulset-to-cloudnative-pg",
    ),
]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    BAD_VALUES,
    ids=[f"{key}={value!r}" for key, value, _ in BAD_VALUES],
)
def test_bad_value_stops_the_program_with_one_sentence(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        run_main("prod", {f"webapp:{key}": value})
    assert str(raised.value) == message


COMBINATION_ERRORS = [
    (
        {"webapp:recoveryTargetTime": "2026-11-25T14:30:00Z"},
        "webapp:recoveryTargetTime is '2026-11-25T14:30:00Z', but a recovery needs the archive "
        "to read, webapp:recoverySourceArchive, which is empty; "
        f"{FIX} webapp:recoverySourceArchive webapp-db && pulumi config set --stack prod "
        # The archive read is the Cluster's own, and the recovery writes a new one.
        "webapp:dbArchiveName webapp-db-2026-11-25",
    ),
    (
        # The default archive is the Cluster's name: recovering from it would write into it.
        {"webapp:recoverySourceArchive": "webapp-db"},
        "webapp:dbArchiveName is '', but a recovery writes a new archive, and "
        "webapp:recoverySourceArchive is 'webapp-db' (the archive it reads); "
        f"{FIX} webapp:dbArchiveName webapp-db-recovered",
    ),
    (
        {
            "webapp:dbMemoryRequest": "300Mi",
            "webapp:dbMemoryLimit": "2Gi",
            "webapp:dbBurstableReason": "shared nodes",
        },
        "webapp:dbMemoryRequest is '300Mi', but with cloudnative-pg it must be at least a "
        "quarter of webapp:dbMemoryLimit ('2Gi'): shared_buffers takes that much and "
        f"CloudNativePG refuses a smaller request; {FIX} webapp:dbMemoryRequest 512Mi",
    ),
]


@pytest.mark.parametrize(("overrides", "message"), COMBINATION_ERRORS)
def test_combinations_the_operator_would_refuse_are_refused_first(
    overrides: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        run_main("prod", overrides)
    assert str(raised.value) == message


def test_a_recovery_to_a_new_archive_is_declared() -> None:
    run = run_main(
        "prod",
        {
            "webapp:recoverySourceArchive": "webapp-db",
            "webapp:dbArchiveName": "webapp-db-20261125",
            "webapp:recoveryTargetTime": "2026-11-25T14:30:00Z",
        },
    )
    spec = _cluster(run)["spec"]
    assert "recovery" in spec["bootstrap"]
    (plugin,) = spec["plugins"]
    assert plugin["parameters"]["serverName"] == "webapp-db-20261125"


def test_restore_from_a_dump_is_refused_with_cloudnative_pg() -> None:
    with pytest.raises(ConfigError) as raised:
        run_main("prod", {"webapp:restoreFrom": "app-20261125T030000Z.dump"})
    assert str(raised.value) == (
        "webapp:restoreFrom is 'app-20261125T030000Z.dump', but dumps are restored by the "
        "statefulset engine; with cloudnative-pg, recover from the archive with "
        "webapp:recoverySourceArchive (docs/engines.md: Point-in-time recovery); "
        "fix it with: pulumi config rm --stack prod webapp:restoreFrom"
    )


# --- the engine-switch guard ---------------------------------------------------------------


def _with_previous(outputs: dict[str, str], overrides: dict[str, str] | None = None) -> ProgramRun:
    return run_main("prod", overrides, monitor=RecordingMonitor(Mocks(stack_outputs=outputs)))


def test_a_stack_that_ran_the_statefulset_engine_is_not_switched_by_accident() -> None:
    with pytest.raises(ConfigError) as raised:
        _with_previous({"databaseEngine": "statefulset"})
    assert str(raised.value) == (
        "webapp:dbEngine is 'cloudnative-pg', but this stack's database runs on the "
        "statefulset engine, and switching would delete that server and its volume: move the "
        "data first (docs/engines.md: Moving a stack to cloudnative-pg), then confirm; "
        f"{FIX} webapp:dbEngineSwitch {SWITCH}"
    )


def test_a_confirmed_switch_passes() -> None:
    run = _with_previous({"databaseEngine": "statefulset"}, {"webapp:dbEngineSwitch": SWITCH})
    assert run.outputs["databaseEngine"].value == "cloudnative-pg"
    assert run.of_type(CLUSTER)


@pytest.mark.parametrize(
    "previous",
    [{}, {"databaseEngine": "cloudnative-pg"}],
    ids=["never-deployed", "already-cloudnative-pg"],
)
def test_a_new_stack_or_one_already_on_cloudnative_pg_passes(previous: dict[str, str]) -> None:
    run = _with_previous(previous)
    assert run.outputs["databaseEngine"].value == "cloudnative-pg"
    assert run.of_type(CLUSTER)


def test_the_quota_counts_every_instance_and_the_operator_job() -> None:
    """Without caps the quota follows the workload: 13 app pods (10 and a surge of
    3) at 1 CPU and 512Mi, 3 instances at 2 CPUs and 2Gi with the Barman Cloud sidecar's
    500m and 512Mi, and one operator job pod (initdb or join) at 2 CPUs and 2Gi, which the
    plugin gives no sidecar (it joins recovery jobs only); plus 25%. Storage: 20Gi per
    instance, no backup volume."""
    caps = {f"webapp:quota{kind}": "" for kind in ("Cpu", "Memory", "Storage")}
    sizes = {
        "webapp:autoscaling": "true",
        "webapp:maxReplicas": "10",
        "webapp:maxSurge": "25%",
        "webapp:appCpuLimit": "1",
        "webapp:appMemoryLimit": "512Mi",
        "webapp:dbInstances": "3",
        "webapp:dbCpuRequest": "2",
        "webapp:dbCpuLimit": "2",
        "webapp:dbMemoryRequest": "2Gi",
        "webapp:dbMemoryLimit": "2Gi",
        "webapp:storageSize": "20Gi",
    }
    run = run_main("prod", {**caps, **sizes, "webapp:quotaPods": "0"})
    (quota,) = run.of_type("kubernetes:core/v1:ResourceQuota")
    hard = quota.manifest()["spec"]["hard"]
    assert hard["limits.cpu"] == "28200m"  # (13 x 1 + 3 x 2.5 + 2) x 1.25, rounded up
    assert hard["limits.memory"] == "20Gi"  # (13 x 512Mi + 3 x 2560Mi + 2Gi) x 1.25
    assert hard["requests.storage"] == "75Gi"  # 3 x 20Gi x 1.25
    assert hard["pods"] == "22"  # (13 + 4) x 1.25, rounded up


def test_the_pod_monitor_carries_the_prometheus_operator_labels(prod_run: ProgramRun) -> None:
    """A default kube-prometheus-stack selects monitors by its release label."""
    (monitor,) = prod_run.of_type("kubernetes:monitoring.coreos.com/v1:PodMonitor")
    labels = monitor.manifest()["metadata"]["labels"]
    assert labels["release"] == "kube-prometheus-stack"


def test_the_slow_statement_log_follows_db_slow_query_ms(prod_run: ProgramRun) -> None:
    """webapp:dbSlowQueryMs reaches the Cluster's PostgreSQL as on the built-in server (the
    real engine found it dropped: an edit of it planned no change), bind parameters off."""
    parameters = _cluster(prod_run)["spec"]["postgresql"]["parameters"]
    assert parameters["log_min_duration_statement"] == "500"
    assert parameters["log_parameter_max_length"] == "0"
    edited = run_main("prod", {"webapp:dbSlowQueryMs": "250"})
    assert _cluster(edited)["spec"]["postgresql"]["parameters"]["log_min_duration_statement"] == (
        "250"
    )
