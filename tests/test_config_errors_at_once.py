"""A bad configuration is reported whole (issue 17's operator review): every problem in one
run, before anything is created, each as one sentence with the command that fixes it; and
those commands together leave no problem, so a user never fixes one error to be shown the
next. Checks across keys (the one way in, the grace period, the exporter the alerts read,
a recovery's archive, the quota) run once their own keys are valid, whatever else is
wrong. Every setting a test relies on is set here, over the fixture stacks."""

from __future__ import annotations

import shlex

import pytest

from stack_settings import ConfigError
from stack_settings.reader import declared_config
from tests.harness import Mocks, RecordingMonitor, run_main
from tools.mock_engine import _config_text

INGRESS = {
    "webapp:ingressHost": "app.test.example",
    "webapp:ingressControllerNamespace": "ingress-test-controller",
    "webapp:ingressTlsSecret": "",
    "webapp:ingressClusterIssuer": "",
}
LOAD_BALANCER_BESIDE_INGRESS = {
    **INGRESS,
    "webapp:serviceType": "LoadBalancer",
    "webapp:allowLoadBalancer": "false",
    "webapp:allowServiceBesideIngress": "false",
}


def _refusal(stack: str, overrides: dict[str, str]) -> list[str]:
    monitor = RecordingMonitor(Mocks())
    with pytest.raises(ConfigError) as raised:
        run_main(stack, overrides, monitor=monitor)
    assert monitor.registrations == [], "nothing may be declared from a bad configuration"
    return str(raised.value).splitlines()


def _keys(lines: list[str]) -> list[str]:
    return [line.split(" ", 1)[0] for line in lines]


# What a user puts in for a fix's placeholders: a bucket they own.
FILLED_IN = {"<bucket>": "team-backups", "<prefix>": "prod"}


def _fixed(stack: str, overrides: dict[str, str], lines: list[str]) -> dict[str, str]:
    """The overrides after every line's fix, as the CLI would apply the commands: `config
    set` sets the value, `config rm` leaves the key's declared default. The user fills in
    the bucket's placeholders, and no other placeholder may be left to guess."""
    fixed = dict(overrides)
    for line in lines:
        command = line.split("; fix it with: ", 1)[1].split(" (or ", 1)[0]
        for placeholder, value in FILLED_IN.items():
            command = command.replace(placeholder, value)
        assert "<" not in command, command
        for part in command.split(" && "):
            # --plaintext only tells the CLI not to take the value for a secret's.
            words = [word for word in shlex.split(part) if word != "--plaintext"]
            assert words[:5] in (
                ["pulumi", "config", "set", "--stack", stack],
                ["pulumi", "config", "rm", "--stack", stack],
            ), part
            key, *value = words[5:]
            if words[2] == "set":
                (fixed[key],) = value
            else:
                fixed[key] = _config_text(declared_config()[key.partition(":")[2]]["default"])
    return fixed


def test_a_load_balancer_beside_an_ingress_is_one_sentence_whose_fix_settles_it() -> None:
    """Both keys of the rule in one sentence: the fix, ClusterIP, needs no allow, and the
    stack that keeps the load balancer is told both keys it needs."""
    (line,) = _refusal("dev", LOAD_BALANCER_BESIDE_INGRESS)
    assert line == (
        "webapp:serviceType is 'LoadBalancer', but with webapp:ingressHost set it must be "
        "ClusterIP, so the app is reached only through the ingress controller (a LoadBalancer "
        "Service beside the Ingress is a plain-HTTP way around it), unless "
        "webapp:allowServiceBesideIngress and webapp:allowLoadBalancer are both true; fix it "
        "with: pulumi config set --stack dev webapp:serviceType ClusterIP"
    )
    run_main("dev", _fixed("dev", LOAD_BALANCER_BESIDE_INGRESS, [line]))
    both = {"webapp:allowServiceBesideIngress": "true", "webapp:allowLoadBalancer": "true"}
    kept = run_main("dev", {**LOAD_BALANCER_BESIDE_INGRESS, **both})
    service = kept.one("kubernetes:core/v1:Service", "webapp-service").manifest()
    assert service["spec"]["type"] == "LoadBalancer"


def test_a_load_balancer_without_its_allow_is_told_beside_other_problems() -> None:
    lines = _refusal(
        "dev",
        {
            **INGRESS,
            "webapp:serviceType": "LoadBalancer",
            "webapp:allowLoadBalancer": "false",
            "webapp:allowServiceBesideIngress": "true",
            "webapp:replicas": "0",
        },
    )
    assert _keys(lines) == ["webapp:replicas", "webapp:allowLoadBalancer"]


DEV_PROBLEMS = {
    "webapp:replicas": "0",
    **LOAD_BALANCER_BESIDE_INGRESS,
    "webapp:drainSeconds": "20",
    "webapp:terminationGracePeriodSeconds": "15",
    "webapp:backupS3Endpoint": "https://objects.test.example:9000",
    # A ServiceMonitor and alerts without the exporter: two sentences, two fixes.
    "webapp:serviceMonitor": "true",
    "webapp:metricsEnabled": "false",
    "webapp:alertsEnabled": "true",
    "webapp:clusterDomain": "cluster_local",
}
PROD_PROBLEMS = {
    "webapp:serviceMonitor": "yes",
    "webapp:dbInstances": "12",
    "webapp:dbBurstableReason": "",
    "webapp:dbCpuRequest": "500m",
    "webapp:dbMemoryRequest": "1Gi",
    "webapp:apiServerCidrs": "10.20.0.10 10.20.0.11",
    "webapp:recoverySourceArchive": "",
    "webapp:recoveryTargetTime": "2026-11-25T14:30:00Z",
    "webapp:dbArchiveName": "",
}


@pytest.mark.parametrize(
    ("stack", "problems", "keys"),
    [
        (
            "dev",
            DEV_PROBLEMS,
            [
                "webapp:replicas",
                "webapp:serviceType",
                "webapp:terminationGracePeriodSeconds",
                "webapp:backupS3Endpoint",
                "webapp:serviceMonitor",
                "webapp:clusterDomain",
                "webapp:alertsEnabled",
            ],
        ),
        (
            "prod",
            PROD_PROBLEMS,
            [
                "webapp:serviceMonitor",
                "webapp:dbCpuRequest",
                "webapp:dbMemoryRequest",
                "webapp:dbInstances",
                "webapp:apiServerCidrs",
                "webapp:recoveryTargetTime",
            ],
        ),
    ],
)
def test_every_problem_is_told_in_one_run_and_the_fixes_leave_none(
    stack: str, problems: dict[str, str], keys: list[str]
) -> None:
    lines = _refusal(stack, problems)
    assert _keys(lines) == keys
    run_main(stack, _fixed(stack, problems, lines))


def test_the_quota_is_checked_beside_problems_elsewhere() -> None:
    """The quota needs the workload's keys valid, not every key: a cap below the workload
    is told in the same run as a bad cluster or monitoring key."""
    problems = {
        "webapp:quotaPods": "5",
        "webapp:clusterDomain": "cluster_local",
        "webapp:runbookUrl": "has space",
    }
    lines = _refusal("prod", problems)
    assert _keys(lines) == ["webapp:clusterDomain", "webapp:runbookUrl", "webapp:quotaPods"]
    run_main("prod", _fixed("prod", problems, lines))


NO_BUCKET = {"webapp:backupBucket": "", "webapp:backupS3CredentialsSecret": ""}


@pytest.mark.parametrize(
    ("problems", "keys"),
    [
        # The placeholder as a stack file or a message shows it: the placeholder again (not
        # s3://bucket/-prefix-, which would pass), and the missing way to it in the same run.
        (
            {**NO_BUCKET, "webapp:backupBucket": "s3://<bucket>/<prefix>"},
            ["webapp:backupBucket", "webapp:backupBucket"],
        ),
        # cloudnative-pg without a bucket: the bucket and a way to it in one fix.
        (NO_BUCKET, ["webapp:backupBucket"]),
        # ... with the way to it already set: kept, not removed, since the bucket comes.
        (
            {**NO_BUCKET, "webapp:backupS3CredentialsSecret": "webapp-backup-s3"},
            ["webapp:backupBucket"],
        ),
        # ... and with backups off: they are turned on in the same fix.
        ({**NO_BUCKET, "webapp:backupEnabled": "false"}, ["webapp:backupBucket"]),
        # A bucket with backups off: on cloudnative-pg that is the archive off, not a
        # backup volume it does not have.
        ({"webapp:backupEnabled": "false"}, ["webapp:backupEnabled"]),
        # A misspelt Service type beside an Ingress: the type the one way in accepts.
        ({"webapp:serviceType": "loadbalancer"}, ["webapp:serviceType"]),
        ({"webapp:serviceType": "nodeport"}, ["webapp:serviceType"]),
    ],
    ids=[
        "bucket-placeholder",
        "cnpg-no-bucket",
        "cnpg-no-bucket-with-secret",
        "cnpg-no-bucket-backups-off",
        "cnpg-bucket-backups-off",
        "service-type-beside-ingress",
        "node-port-beside-ingress",
    ],
)
def test_each_fix_settles_its_problem_without_revealing_another(
    problems: dict[str, str], keys: list[str]
) -> None:
    lines = _refusal("prod", problems)
    assert _keys(lines) == keys
    assert "backup volume" not in " ".join(lines)
    run_main("prod", _fixed("prod", problems, lines))


def test_the_opt_out_warning_s_commands_send_the_backups_off_the_cluster() -> None:
    """Its commands, applied, leave a stack that archives to a bucket, with nothing
    refused."""
    problems = {
        **NO_BUCKET,
        "webapp:backupEnabled": "false",
        "webapp:acceptNoOffClusterBackups": "true",
    }
    run = run_main("prod", problems)
    (warning,) = [log for log in run.logs if "acceptNoOffClusterBackups is true" in log]
    commands = warning.split("send them off the cluster with: ", 1)[1]
    fixed = run_main("prod", _fixed("prod", problems, [f"x; fix it with: {commands}"]))
    (store,) = fixed.of_type("kubernetes:barmancloud.cnpg.io/v1:ObjectStore")
    assert store.manifest()["spec"]["configuration"]["destinationPath"] == "s3://team-backups/prod"
