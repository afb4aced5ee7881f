"""Production defaults an operator would sign (issue 17): backups fail closed, and the
database runs Guaranteed and spread over nodes. Each stack here is the tracked stack file
with the overrides a test names, so no assertion depends on a value in the user's files."""

from __future__ import annotations

import pytest

from stack_settings import ConfigError
from tests.harness import Mocks, ProgramRun, RecordingMonitor, run_main
from tests.test_data_safety import _cronjob_steps

CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
OBJECT_STORE = "kubernetes:barmancloud.cnpg.io/v1:ObjectStore"
SCHEDULED_BACKUP = "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup"
CRONJOB = "kubernetes:batch/v1:CronJob"
CNPG = {"webapp:dbEngine": "cloudnative-pg"}
NO_BUCKET = {"webapp:backupBucket": "", "webapp:backupS3CredentialsSecret": ""}
OPT_OUT = "webapp:acceptNoOffClusterBackups"


def _refusal(stack: str, overrides: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as raised:
        run_main(stack, overrides)
    return str(raised.value)


# --- 1. backups fail closed --------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_cloudnative_pg_without_a_bucket_is_refused_with_the_fix(stack: str) -> None:
    assert _refusal(stack, {**CNPG, **NO_BUCKET}) == (
        "webapp:backupBucket is '', but the cloudnative-pg engine keeps its WAL archive and "
        "base backups only in a bucket, so without one a lost cluster loses its data: it must "
        "be the S3 URL of a bucket you own, with one way to reach it and webapp:backupEnabled "
        "true (or webapp:acceptNoOffClusterBackups true to run without off-cluster backups); "
        f"fix it with: pulumi config set --stack {stack} webapp:backupBucket "
        f"'s3://<bucket>/<prefix>' && pulumi config set --plaintext --stack {stack} "
        "webapp:backupS3CredentialsSecret webapp-backup-s3"
    )


def test_cloudnative_pg_with_backups_turned_off_is_refused_the_same_way() -> None:
    message = _refusal("prod", {**CNPG, **NO_BUCKET, "webapp:backupEnabled": "false"})
    assert message.startswith("webapp:backupBucket is '', but the cloudnative-pg engine")


@pytest.mark.parametrize("engine", ["statefulset", "cloudnative-pg"])
def test_a_bucket_no_one_can_own_is_refused_on_either_engine(engine: str) -> None:
    placeholder = "s3://sthree-replace-with-your-bucket/prod"
    message = _refusal(
        "prod",
        {
            "webapp:dbEngine": engine,
            "webapp:backupBucket": placeholder,
            "webapp:backupS3CredentialsSecret": "webapp-backup-s3",
        },
    )
    assert message == (
        f"webapp:backupBucket is '{placeholder}', but S3 reserves the 'sthree-' prefix, so no "
        "one can own that bucket and every backup sent there would fail; it must be the S3 "
        "URL of a bucket you own; fix it with: pulumi config set --stack prod "
        "webapp:backupBucket 's3://<bucket>/<prefix>'"
    )


def test_an_explicit_opt_out_runs_without_archive_and_warns() -> None:
    run = run_main("prod", {**CNPG, **NO_BUCKET, OPT_OUT: "true"})
    assert not run.of_type(OBJECT_STORE) and not run.of_type(SCHEDULED_BACKUP)
    spec = run.one(CLUSTER, "webapp-db-cluster").manifest()["spec"]
    assert "plugins" not in spec
    (warning,) = [log for log in run.logs if OPT_OUT in log]
    assert warning == (
        "webapp:acceptNoOffClusterBackups is true and webapp:backupBucket is empty, so the "
        "cloudnative-pg database has no WAL archive and no base backups at all: a lost "
        "cluster or volume loses its data, and no point-in-time recovery is possible; send "
        "them off the cluster with: pulumi config set --stack prod webapp:backupBucket "
        "'s3://<bucket>/<prefix>' && pulumi config set --plaintext --stack prod "
        "webapp:backupS3CredentialsSecret webapp-backup-s3 && pulumi config rm --stack prod "
        "webapp:acceptNoOffClusterBackups"
    )


def test_the_opt_out_beside_a_bucket_is_refused() -> None:
    message = _refusal(
        "prod",
        {
            **CNPG,
            "webapp:backupBucket": "s3://team-backups/prod",
            "webapp:backupS3CredentialsSecret": "webapp-backup-s3",
            OPT_OUT: "true",
        },
    )
    assert message == (
        "webapp:acceptNoOffClusterBackups is 'true', but webapp:backupBucket is set "
        "('s3://team-backups/prod'), so the backups do leave the cluster; fix it with: "
        "pulumi config rm --stack prod webapp:acceptNoOffClusterBackups"
    )


def test_statefulset_without_a_bucket_keeps_its_in_cluster_dumps_silently() -> None:
    run = run_main("dev", {"webapp:dbEngine": "statefulset", **NO_BUCKET})
    assert [step["name"] for step in _cronjob_steps(run)] == ["dump"]
    assert not [log for log in run.logs if "backupBucket" in log]


def test_statefulset_with_the_opt_out_warns_that_dumps_stay_in_the_cluster() -> None:
    run = run_main("dev", {"webapp:dbEngine": "statefulset", **NO_BUCKET, OPT_OUT: "true"})
    assert run.of_type(CRONJOB)
    (warning,) = [log for log in run.logs if OPT_OUT in log]
    assert "dumps stay on the backup volume in the cluster" in warning


def test_a_cloudnative_pg_stack_with_a_bucket_archives_there() -> None:
    run: ProgramRun = run_main(
        "prod",
        {
            **CNPG,
            "webapp:backupBucket": "s3://team-backups/prod",
            "webapp:backupS3CredentialsSecret": "webapp-backup-s3",
        },
    )
    (store,) = run.of_type(OBJECT_STORE)
    assert store.manifest()["spec"]["configuration"]["destinationPath"] == (
        "s3://team-backups/prod"
    )
    assert not [log for log in run.logs if "backupBucket" in log]


# --- 8. Guaranteed QoS and instances on nodes of their own -------------------------------

BUCKET = {
    "webapp:backupBucket": "s3://team-backups/prod",
    "webapp:backupS3CredentialsSecret": "webapp-backup-s3",
}
SIZES = {
    "webapp:dbCpuLimit": "2",
    "webapp:dbMemoryLimit": "2Gi",
    "webapp:dbCpuRequest": "2",
    "webapp:dbMemoryRequest": "2Gi",
}


def _instance_pod(run: ProgramRun) -> tuple[dict, dict]:
    """The Cluster's resources (its postgres and bootstrap containers) and the Barman
    Cloud sidecar's, which together make an instance pod's QoS class."""
    cluster = run.one(CLUSTER, "webapp-db-cluster").manifest()["spec"]
    (store,) = run.of_type(OBJECT_STORE)
    return cluster["resources"], store.manifest()["spec"]["instanceSidecarConfiguration"][
        "resources"
    ]


def _qos(*containers: dict) -> str:
    if all(c["requests"] == c["limits"] for c in containers):
        return "Guaranteed"
    return "Burstable"


def test_three_instances_run_guaranteed_each_on_a_node_of_its_own() -> None:
    run = run_main("prod", {**CNPG, **BUCKET, **SIZES, "webapp:dbInstances": "3"})
    instance, sidecar = _instance_pod(run)
    assert _qos(instance, sidecar) == "Guaranteed"
    assert instance["requests"] == {"cpu": "2", "memory": "2Gi"}
    affinity = run.one(CLUSTER, "webapp-db-cluster").manifest()["spec"]["affinity"]
    assert affinity["podAntiAffinityType"] == "required"
    assert affinity["topologyKey"] == "kubernetes.io/hostname"


def _nodes_reminder(run: ProgramRun) -> list[str]:
    return [log for log in run.logs if "schedulable nodes" in log]


def _with_previous(overrides: dict[str, str], previous: dict[str, object]) -> ProgramRun:
    return run_main(
        "prod",
        {**CNPG, **BUCKET, **SIZES, **overrides},
        monitor=RecordingMonitor(Mocks(stack_outputs=previous)),
    )


def test_a_new_cluster_of_three_is_told_the_nodes_it_needs() -> None:
    """The program cannot count the cluster's nodes: it says what the required
    anti-affinity needs, with an instance pod's requests as the rendered pod has them
    (the postgres container and the Barman Cloud sidecar)."""
    run = _with_previous({"webapp:dbInstances": "3"}, {})
    instance, sidecar = _instance_pod(run)
    assert (instance["requests"], sidecar["requests"]) == (
        {"cpu": "2", "memory": "2Gi"},
        {"cpu": "500m", "memory": "512Mi"},
    )
    assert _nodes_reminder(run) == [
        "webapp:dbInstances is 3, and each instance runs on a node of its own (required "
        "anti-affinity), so the cluster needs at least 3 schedulable nodes, each with 2500m "
        "CPU and 2560Mi memory free to request, or an instance stays Pending and `pulumi up` "
        "waits for it until its timeout; check with: kubectl get nodes, and on fewer nodes "
        "set: pulumi config set --stack prod webapp:dbInstances <nodes>"
    ]
    assert run.outputs["databaseInstances"].value == 3


@pytest.mark.parametrize(
    ("instances", "previous", "told"),
    [
        # The same Cluster again: nothing new to place, and no warning that never changes.
        ("3", {"databaseEngine": "cloudnative-pg", "databaseInstances": 3.0}, False),
        ("4", {"databaseEngine": "cloudnative-pg", "databaseInstances": 3.0}, True),
        ("2", {"databaseEngine": "cloudnative-pg", "databaseInstances": 3.0}, False),
        # A new Cluster beside the statefulset engine's server.
        ("3", {"databaseEngine": "statefulset", "databaseInstances": 1.0}, True),
        # A stack whose last update left no count yet.
        ("3", {"databaseEngine": "cloudnative-pg"}, True),
        ("1", {}, False),
    ],
)
def test_the_nodes_are_told_when_the_instances_grow(
    instances: str, previous: dict[str, object], told: bool
) -> None:
    overrides = {"webapp:dbInstances": instances}
    if previous.get("databaseEngine") == "statefulset":
        overrides["webapp:dbEngineSwitch"] = "statefulset-to-cloudnative-pg"
    run = _with_previous(overrides, previous)
    reminder = _nodes_reminder(run)
    assert bool(reminder) == told
    if told:
        assert reminder[0].startswith(f"webapp:dbInstances is {instances}, ")
        assert f"at least {instances} schedulable nodes" in reminder[0]


def test_a_request_left_at_its_default_follows_its_limit() -> None:
    defaults = {"webapp:dbCpuRequest": "250m", "webapp:dbMemoryRequest": "256Mi"}
    run = run_main(
        "prod",
        {**CNPG, **BUCKET, **defaults, "webapp:dbCpuLimit": "1", "webapp:dbMemoryLimit": "1Gi"},
    )
    instance, sidecar = _instance_pod(run)
    assert instance["requests"] == {"cpu": "1", "memory": "1Gi"} == instance["limits"]
    assert _qos(instance, sidecar) == "Guaranteed"


def test_a_single_instance_is_not_held_to_a_node_of_its_own() -> None:
    run = run_main("prod", {**CNPG, **BUCKET, **SIZES, "webapp:dbInstances": "1"})
    affinity = run.one(CLUSTER, "webapp-db-cluster").manifest()["spec"]["affinity"]
    assert affinity["podAntiAffinityType"] == "preferred"


def test_a_request_below_its_limit_is_refused_without_a_reason() -> None:
    message = _refusal("prod", {**CNPG, **BUCKET, **SIZES, "webapp:dbCpuRequest": "500m"})
    assert message == (
        "webapp:dbCpuRequest is '500m', but with cloudnative-pg it must equal "
        "webapp:dbCpuLimit ('2'), so the database runs with Guaranteed QoS as CloudNativePG "
        "advises (a Burstable instance is evicted first under memory pressure), unless "
        "webapp:dbBurstableReason says why it may not; fix it with: pulumi config set "
        "--stack prod webapp:dbCpuRequest 2"
    )


def test_a_stated_reason_lets_the_database_run_burstable() -> None:
    run = run_main(
        "prod",
        {
            **CNPG,
            **BUCKET,
            **SIZES,
            "webapp:dbCpuRequest": "500m",
            "webapp:dbBurstableReason": "a shared staging node pool",
        },
    )
    instance, sidecar = _instance_pod(run)
    assert instance["requests"]["cpu"] == "500m" and instance["limits"]["cpu"] == "2"
    assert _qos(instance, sidecar) == "Burstable"
    assert sidecar["requests"] != sidecar["limits"]


def test_the_statefulset_engine_keeps_its_requests() -> None:
    run = run_main(
        "dev", {"webapp:dbEngine": "statefulset", "webapp:dbCpuRequest": "100m", **NO_BUCKET}
    )
    (statefulset,) = run.of_type("kubernetes:apps/v1:StatefulSet")
    (postgres, *_) = statefulset.manifest()["spec"]["template"]["spec"]["containers"]
    assert postgres["resources"]["requests"]["cpu"] == "100m"
