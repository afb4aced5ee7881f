"""Bad config stops the program before anything is created, with one sentence that
names the key, the value, what is allowed and the command that fixes it."""

from __future__ import annotations

import pulumi
import pytest

from stack_settings import ConfigError
from tests.harness import Mocks, RecordingMonitor, run_main

FIX = "fix it with: pulumi config set --stack dev"

BAD_VALUES = [
    (
        "replicas",
        "0",
        "webapp:replicas is '0', but it must be a whole number from 1 to 100; "
        f"{FIX} webapp:replicas 1",
    ),
    (
        "replicas",
        "-2",
        "webapp:replicas is '-2', but it must be a whole number from 1 to 100; "
        f"{FIX} webapp:replicas 1",
    ),
    (
        "replicas",
        "2.5",
        "webapp:replicas is '2.5', but it must be a whole number from 1 to 100; "
        f"{FIX} webapp:replicas 2",
    ),
    (
        "replicas",
        "three",
        "webapp:replicas is 'three', but it must be a whole number from 1 to 100; "
        f"{FIX} webapp:replicas 1",
    ),
    (
        "storageSize",
        "10GB",
        "webapp:storageSize is '10GB', but it must be a positive Kubernetes quantity of bytes "
        f"with a suffix such as Mi, Gi or Ti; {FIX} webapp:storageSize 10Gi",
    ),
    (
        "storageSize",
        "512m",
        "webapp:storageSize is '512m', but it must be a positive Kubernetes quantity of bytes "
        f"with a suffix such as Mi, Gi or Ti; {FIX} webapp:storageSize 512Mi",
    ),
    (
        "storageSize",
        "-5Gi",
        "webapp:storageSize is '-5Gi', but it must be a positive Kubernetes quantity of bytes "
        f"with a suffix such as Mi, Gi or Ti; {FIX} webapp:storageSize 5Gi",
    ),
    (
        "storageSize",
        "lots",
        "webapp:storageSize is 'lots', but it must be a positive Kubernetes quantity of bytes "
        f"with a suffix such as Mi, Gi or Ti; {FIX} webapp:storageSize 1Gi",
    ),
    (
        "serviceType",
        "loadbalancer",
        "webapp:serviceType is 'loadbalancer', but it must be one of ClusterIP, NodePort, "
        f"LoadBalancer; {FIX} webapp:serviceType LoadBalancer",
    ),
    (
        "serviceType",
        "Ingress",
        "webapp:serviceType is 'Ingress', but it must be one of ClusterIP, NodePort, "
        f"LoadBalancer; {FIX} webapp:serviceType ClusterIP",
    ),
    (
        "image",
        "",
        "webapp:image is '', but it must be a container image with a pinned version, a tag "
        "other than 'latest' or a digest (for example nginx:1.27); "
        f"{FIX} webapp:image nginxinc/nginx-unprivileged:1.27-alpine",
    ),
    (
        "image",
        "nginx:latest",
        "webapp:image is 'nginx:latest', but it must be a container image with a pinned "
        "version, a tag other than 'latest' or a digest (for example nginx:1.27); "
        f"{FIX} webapp:image 'nginx:<version>'",
    ),
    (
        "image",
        "nginx",
        "webapp:image is 'nginx', but it must be a container image with a pinned version, a "
        "tag other than 'latest' or a digest (for example nginx:1.27); "
        f"{FIX} webapp:image 'nginx:<version>'",
    ),
    (
        "namespace",
        "My_App",
        "webapp:namespace is 'My_App', but it must be a DNS label (lowercase letters, digits "
        "and '-', at most 63 characters, starting and ending with a letter or digit) that is "
        f"not a system namespace; {FIX} webapp:namespace my-app",
    ),
    (
        "namespace",
        "kube-system",
        "webapp:namespace is 'kube-system', but it must be a namespace of the app's own, not a "
        "system namespace (default, kube-system, kube-public, kube-node-lease or any other "
        f"kube-*); {FIX} webapp:namespace webapp",
    ),
    (
        "namespace",
        "default",
        "webapp:namespace is 'default', but it must be a namespace of the app's own, not a "
        "system namespace (default, kube-system, kube-public, kube-node-lease or any other "
        f"kube-*); {FIX} webapp:namespace webapp",
    ),
    (
        "appPort",
        "80",
        "webapp:appPort is '80', but it must be a port from 1024 to 65535 (the app runs as "
        "non-root, without the capability to bind lower ports); "
        f"{FIX} webapp:appPort 8080",
    ),
    (
        "healthPath",
        "healthz",
        "webapp:healthPath is 'healthz', but it must be an HTTP path starting with '/' (for "
        f"example /healthz); {FIX} webapp:healthPath /",
    ),
    (
        "dbUser",
        "App-User",
        "webapp:dbUser is 'App-User', but it must be a PostgreSQL identifier: lowercase "
        "letters, digits and '_', starting with a letter or '_', at most 63 characters, not "
        "starting with 'pg_', and not postgres, exporter, webapp_layout_upgrade, public, none, "
        "current_user, session_user, current_role (roles PostgreSQL or the database keep for "
        f"themselves); {FIX} webapp:dbUser app_user",
    ),
    (
        "dbUser",
        "postgres",
        "webapp:dbUser is 'postgres', but it must be a PostgreSQL identifier: lowercase "
        "letters, digits and '_', starting with a letter or '_', at most 63 characters, not "
        "starting with 'pg_', and not postgres, exporter, webapp_layout_upgrade, public, none, "
        "current_user, session_user, current_role (roles PostgreSQL or the database keep for "
        f"themselves); {FIX} webapp:dbUser postgres_app",
    ),
    (
        "appCpuLimit",
        "2 cores",
        "webapp:appCpuLimit is '2 cores', but it must be a positive Kubernetes CPU quantity "
        f"such as 250m, 0.5 or 2; {FIX} webapp:appCpuLimit 500m",
    ),
    (
        "appMemoryRequest",
        "1Gi",
        "webapp:appMemoryRequest is '1Gi', but a request must not exceed its limit "
        f"webapp:appMemoryLimit ('256Mi'); {FIX} webapp:appMemoryRequest 256Mi",
    ),
    (
        "quotaCpu",
        "1",
        "webapp:quotaCpu is '1', but that cap is below what the workload needs at its "
        "largest: 2 app pods, the database and a backup need 2700m of CPU limits (counting "
        "every container: 2 app pods: web; the database: postgres, exporter, check-data-owner "
        "(init), prepare-logs (init); a backup: dump); "
        f"{FIX} webapp:quotaCpu 3400m (or pulumi config rm --stack dev webapp:quotaCpu to let "
        "the quota follow the workload)",
    ),
    (
        "quotaStorage",
        "500Mi",
        "webapp:quotaStorage is '500Mi', but that cap is below what the workload needs at its "
        "largest: 2 app pods, the database and a backup need 2Gi of storage for the database "
        "volumes, with webapp:backupStorageSize '1Gi'; "
        f"{FIX} webapp:quotaStorage 3Gi (or pulumi config rm --stack dev webapp:quotaStorage to "
        "let the quota follow the workload)",
    ),
    (
        "storageSize",
        "10",
        "webapp:storageSize is '10', but it needs a unit: a plain number counts bytes, and "
        "Kubernetes quantities of bytes take a suffix such as Mi, Gi or Ti; "
        f"{FIX} webapp:storageSize 10Gi",
    ),
    (
        "appMemoryLimit",
        "512",
        "webapp:appMemoryLimit is '512', but it needs a unit: a plain number counts bytes, and "
        "Kubernetes quantities of bytes take a suffix such as Mi, Gi or Ti; "
        f"{FIX} webapp:appMemoryLimit 512Mi",
    ),
    (
        "appCpuLimit",
        "500",
        "webapp:appCpuLimit is '500', but that is 500 CPUs, more than a container gets (at "
        "most 64): a plain number counts whole CPUs, and millicores take an m; "
        f"{FIX} webapp:appCpuLimit 500m",
    ),
    (
        "image",
        "MyOrg/MyApp:1.0",
        "webapp:image is 'MyOrg/MyApp:1.0', but its repository name has capital letters, which "
        "image references do not allow (only the registry host and the tag may have them); "
        f"{FIX} webapp:image myorg/myapp:1.0",
    ),
    (
        "image",
        "nginx:1.27 ",
        "webapp:image is 'nginx:1.27 ', but it has spaces around it, which an image reference "
        f"cannot have; {FIX} webapp:image nginx:1.27",
    ),
    (
        "ingressHost",
        "https://app.example.com/",
        "webapp:ingressHost is 'https://app.example.com/', but it must be a host name alone, "
        f"without a scheme, port or path, such as app.example.com; {FIX} webapp:ingressHost "
        "app.example.com",
    ),
    (
        "ingressHost",
        "10.0.0.1",
        "webapp:ingressHost is '10.0.0.1', but it must be a DNS host name: Kubernetes refuses "
        "an IP address as an Ingress host (leave it empty and reach the app by its Service's "
        f"address instead); {FIX} webapp:ingressHost ''",
    ),
    (
        "ingressHost",
        "*.example.com",
        "webapp:ingressHost is '*.example.com', but it must be one host name, not a wildcard: "
        "the app's Ingress and its certificate serve one host, such as app.example.com; "
        f"{FIX} webapp:ingressHost app.example.com",
    ),
    (
        "maxSurge",
        "0",
        "webapp:maxSurge is '0', but it must be the extra pods a rollout may start, a share of "
        "the replicas from 1% to 100% (such as 25%) or a count of at least 1 (such as 2); "
        f"{FIX} webapp:maxSurge 25%",
    ),
    (
        "env",
        "LOG_LEVEL=debug",
        "webapp:env is 'LOG_LEVEL=debug', but it must be an object of variable names and "
        "values; fix it with: pulumi config set --stack dev --path 'webapp:env.NAME' value",
    ),
    (
        "env",
        '{"my-var": "x"}',
        "webapp:env holds 'my-var', but variable names are letters, digits and '_', not "
        "starting with a digit; fix it with: pulumi config rm --stack dev --path "
        "'webapp:env.my-var'",
    ),
    (
        "env",
        '{"DATABASE_URL": "postgresql://elsewhere/app"}',
        "webapp:env holds 'DATABASE_URL', but names starting with DATABASE_ are set from the "
        "database; fix it with: pulumi config rm --stack dev --path 'webapp:env.DATABASE_URL'",
    ),
    (
        "secretEnv",
        '{"API_KEY": "abc"}',
        "webapp:secretEnv is 'set in plaintext (API_KEY)', but its values must be set as "
        "secrets, so they are encrypted in the stack file; fix it with: pulumi config rm "
        "--stack dev --path 'webapp:secretEnv.API_KEY' && pulumi config set --secret --stack "
        "dev --path 'webapp:secretEnv.API_KEY' <value> (on a local stack of make, add "
        "--config-file .pulumi-local/Pulumi.dev.yaml)",
    ),
    (
        "imagePullSecrets",
        '["Reg_Cred"]',
        "webapp:imagePullSecrets holds 'Reg_Cred' at [0], but each entry must be a Secret name; "
        "fix it with: pulumi config set --plaintext --stack dev --path "
        "'webapp:imagePullSecrets[0]' <Secret name>",
    ),
    (
        "egress",
        '["203.0.113.10:443"]',
        "webapp:egress holds '203.0.113.10:443' at [0], but each entry must be a CIDR:PORT "
        "such as 203.0.113.0/24:443; fix it with: pulumi config set --stack dev --path "
        "'webapp:egress[0]' <CIDR:PORT such as 203.0.113.0/24:443>",
    ),
    (
        "storageClass",
        "Fast SSD",
        "webapp:storageClass is 'Fast SSD', but it must be empty (the cluster's default "
        "storage class) or the name of a storage class (lowercase letters, digits, '-' and "
        f"'.'); {FIX} webapp:storageClass fast-ssd",
    ),
    (
        "renderYamlTo",
        ".",
        "webapp:renderYamlTo is '.', but it must be empty (apply to the cluster) or a directory "
        "to write manifests to, without surrounding spaces, not the project directory itself; "
        f"{FIX} webapp:renderYamlTo rendered",
    ),
    (
        "kubeContext",
        " kind-dev",
        "webapp:kubeContext is ' kind-dev', but it must be empty (the kubeconfig's current "
        "context) or the name of a kubeconfig context, without surrounding spaces; "
        f"{FIX} webapp:kubeContext kind-dev",
    ),
    (
        "serviceType",
        "LoadBalancer",
        "webapp:allowLoadBalancer is 'false', but it must be true when webapp:serviceType is "
        "LoadBalancer, which exposes the app outside the cluster and costs a cloud load "
        f"balancer; {FIX} webapp:allowLoadBalancer true",
    ),
    (
        "minReplicas",
        "9",
        "webapp:minReplicas is '9', but it must not exceed webapp:maxReplicas ('5'); "
        f"{FIX} webapp:minReplicas 5",
    ),
    (
        "targetCpuPercent",
        "150",
        "webapp:targetCpuPercent is '150', but it must be a whole percentage from 1 to 100; "
        f"{FIX} webapp:targetCpuPercent 70",
    ),
    (
        "terminationGracePeriodSeconds",
        "3",
        "webapp:terminationGracePeriodSeconds is '3', but it must exceed webapp:drainSeconds "
        "('5') so the app has time to shut down after endpoints drain; "
        f"{FIX} webapp:terminationGracePeriodSeconds 35",
    ),
    (
        "ingressHost",
        "Not A Host",
        "webapp:ingressHost is 'Not A Host', but it must be empty (no Ingress) or a DNS host "
        f"name such as app.example.com; {FIX} webapp:ingressHost not-a-host",
    ),
    (
        "appName",
        "1shop",
        "webapp:appName is '1shop', but it must be at most 30 characters of lowercase "
        "letters, digits and '-', starting with a letter and ending with a letter or digit; "
        f"{FIX} webapp:appName shop",
    ),
    (
        "backupSchedule",
        "0 25 * * *",
        "webapp:backupSchedule is '0 25 * * *', but it must be a cron schedule of five fields "
        "(minute hour day month weekday, such as '0 3 * * *') or a macro such as @daily; "
        f"{FIX} webapp:backupSchedule '0 3 * * *'",
    ),
    (
        "backupSchedule",
        "every day",
        "webapp:backupSchedule is 'every day', but it must be a cron schedule of five fields "
        "(minute hour day month weekday, such as '0 3 * * *') or a macro such as @daily; "
        f"{FIX} webapp:backupSchedule '0 3 * * *'",
    ),
    (
        "restoreFrom",
        "../etc/passwd",
        "webapp:restoreFrom is '../etc/passwd', but it must be empty (no restore), the file "
        "name of a dump in the backup volume such as app-20261125T030000Z.dump, or the s3:// "
        f"URL of a dump in webapp:backupBucket; {FIX} webapp:restoreFrom ''",
    ),
    (
        "backupBucket",
        "my-backups/webapp",
        "webapp:backupBucket is 'my-backups/webapp', but it must be empty (no off-cluster "
        "copies) or an S3 URL such as s3://my-backups/webapp/prod (a bucket name of 3 to "
        "63 lowercase letters, digits, dots and hyphens); "
        f"{FIX} webapp:backupBucket s3://my-backups/webapp",
    ),
    (
        "backupBucket",
        "s3://My_Bucket",
        "webapp:backupBucket is 's3://My_Bucket', but it must be empty (no off-cluster "
        "copies) or an S3 URL such as s3://my-backups/webapp/prod (a bucket name of 3 to "
        "63 lowercase letters, digits, dots and hyphens); "
        f"{FIX} webapp:backupBucket s3://my-bucket",
    ),
    (
        "backupS3Endpoint",
        "minio.example.com:9000",
        "webapp:backupS3Endpoint is 'minio.example.com:9000', but it must be empty (AWS S3) "
        "or the URL of an S3-compatible API without a path, such as "
        f"https://minio.example.com:9000; {FIX} webapp:backupS3Endpoint "
        "https://minio.example.com:9000",
    ),
    (
        "backupS3Region",
        "EU West 1",
        "webapp:backupS3Region is 'EU West 1', but it must be a region name such as us-east-1 "
        f"(or auto, for Cloudflare R2); {FIX} webapp:backupS3Region eu-west-1",
    ),
    (
        "backupS3IdentityAnnotation",
        "eks.amazonaws.com/role-arn",
        "webapp:backupS3IdentityAnnotation is 'eks.amazonaws.com/role-arn', but it must be "
        "empty or one ServiceAccount annotation as key=value, such as "
        "eks.amazonaws.com/role-arn=arn:aws:iam::111122223333:role/webapp-backups; "
        f"{FIX} webapp:backupS3IdentityAnnotation 'eks.amazonaws.com/role-arn=<value>'",
    ),
    (
        "backupS3CredentialsSecret",
        "Backup_Keys",
        "webapp:backupS3CredentialsSecret is 'Backup_Keys', but it must be empty or a "
        "Kubernetes object name (lowercase letters, digits, '-' and '.'); "
        "fix it with: pulumi config set --plaintext --stack dev "
        "webapp:backupS3CredentialsSecret backup-keys",
    ),
    (
        "backupS3Image",
        "amazon/aws-cli",
        "webapp:backupS3Image is 'amazon/aws-cli', but it must be a container image with a "
        "pinned version, a tag other than 'latest' or a digest (for example nginx:1.27); "
        f"{FIX} webapp:backupS3Image 'amazon/aws-cli:<version>'",
    ),
    (
        "metricsEnabled",
        "yes",
        f"webapp:metricsEnabled is 'yes', but it must be true or false; {FIX} "
        "webapp:metricsEnabled true",
    ),
]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    BAD_VALUES,
    ids=[f"{key}={value!r}" for key, value, _ in BAD_VALUES],
)
def test_bad_value_stops_the_program_with_one_sentence(key: str, value: str, message: str) -> None:
    # A bucket's way in is set, or a bad bucket is also told that it has none.
    way_in = {"webapp:backupS3CredentialsSecret": "my-keys"} if key == "backupBucket" else {}
    with pytest.raises(ConfigError) as raised:
        run_main("dev", {**way_in, f"webapp:{key}": value})
    assert str(raised.value) == message


def test_service_monitor_needs_the_exporter() -> None:
    with pytest.raises(ConfigError) as raised:
        run_main("dev", {"webapp:serviceMonitor": "true", "webapp:metricsEnabled": "false"})
    assert str(raised.value) == (
        "webapp:serviceMonitor is 'true', but a ServiceMonitor scrapes the exporter, which runs "
        f"only while webapp:metricsEnabled is true; {FIX} webapp:serviceMonitor false"
    )


@pytest.mark.parametrize(
    "schedule", ["@daily", "*/15 * * * *", "0 3 * * 1-5", "30 2 1,15 jan-jun sun", "0 0 * * 7"]
)
def test_valid_backup_schedules_are_accepted(schedule: str) -> None:
    run = run_main("dev", {"webapp:backupSchedule": schedule})
    (cronjob,) = run.of_type("kubernetes:batch/v1:CronJob")
    assert cronjob.manifest()["spec"]["schedule"] == schedule


def test_misspelled_key_is_named_with_the_likely_intended_one() -> None:
    with pytest.raises(ConfigError) as raised:
        run_main("dev", {"webapp:appCpuLimt": "2"})
    assert str(raised.value) == (
        "webapp:appCpuLimt is set, but it is not a setting of this program (did you mean "
        "webapp:appCpuLimit? every setting is listed in Pulumi.yaml); move it with: "
        "pulumi config set --stack dev webapp:appCpuLimit 2 && pulumi config rm --stack dev "
        "webapp:appCpuLimt"
    )
    # The move keeps the value the user meant.
    moved = run_main("dev", {"webapp:appCpuLimit": "2"})
    deployment = moved.one("kubernetes:apps/v1:Deployment", "webapp-deployment").manifest()
    (web,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "web"]
    assert web["resources"]["limits"]["cpu"] == "2"


def test_a_misspelled_key_beside_its_set_key_is_removed_and_the_set_value_kept() -> None:
    with pytest.raises(ConfigError) as raised:
        run_main("dev", {"webapp:replica": "1", "webapp:replicas": "3"})
    assert str(raised.value).endswith(
        "(did you mean webapp:replicas? every setting is listed in Pulumi.yaml); remove it "
        "with: pulumi config rm --stack dev webapp:replica (webapp:replicas is set already, "
        "to '3')"
    )


def test_a_key_like_no_setting_is_removed() -> None:
    with pytest.raises(ConfigError) as raised:
        run_main("dev", {"webapp:zzzqqq": "3"})
    assert str(raised.value) == (
        "webapp:zzzqqq is set, but it is not a setting of this program (every setting is "
        "listed in Pulumi.yaml); remove it with: pulumi config rm --stack dev webapp:zzzqqq"
    )


def test_every_bad_value_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        run_main("dev", {"webapp:replicas": "0", "webapp:serviceType": "Ingress"})
    lines = str(raised.value).splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == ["webapp:replicas", "webapp:serviceType"]


def test_a_config_error_is_shown_without_a_traceback() -> None:
    """The CLI prints only the message of a RunError; anything else gets a traceback."""
    assert issubclass(ConfigError, pulumi.RunError)


def test_nothing_is_created_when_config_is_bad() -> None:
    monitor = RecordingMonitor(Mocks())
    with pytest.raises(ConfigError):
        run_main("dev", {"webapp:replicas": "0"}, monitor=monitor)
    assert monitor.registrations == []


# --- what tripped a new user ---------------------------------------------------------------


def _error(overrides: dict[str, str], secret_overrides: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as raised:
        run_main("dev", overrides, secret_overrides=secret_overrides)
    return str(raised.value)


def test_a_key_of_the_wrong_case_namespace_is_not_ignored() -> None:
    assert _error({"webApp:replicas": "3"}) == (
        "webApp:replicas is set, but this program reads only keys of the webapp: namespace "
        "(all lowercase), so it would be ignored; move it with: pulumi config rm --stack dev "
        "webApp:replicas && pulumi config set --stack dev webapp:replicas 3"
    )


def test_a_misspelt_namespace_is_not_ignored_but_another_program_s_is() -> None:
    assert _error({"webap:replicas": "3"}) == (
        "webap:replicas is set, but this program reads only keys of the webapp: namespace "
        "(all lowercase), so it would be ignored; move it with: pulumi config rm --stack dev "
        "webap:replicas && pulumi config set --stack dev webapp:replicas 3"
    )
    # A provider's own settings are the provider's: kubernetes:, pulumi:.
    assert run_main("dev", {"kubernetes:enableServerSideApply": "true"}).kubernetes()


def test_a_database_password_is_explained_not_just_refused() -> None:
    assert _error({"webapp:dbPassword": "hunter2"}) == (
        "webapp:dbPassword is set, but it is not a setting of this program: the database "
        "passwords are generated (one per role, by pulumi-random) and kept encrypted in the "
        "stack's state, so none is configured; read the app's with: pulumi stack output "
        "--stack dev databasePassword --show-secrets; remove it with: pulumi config rm --stack "
        "dev webapp:dbPassword"
    )


def test_a_secret_on_a_key_that_is_not_secret_is_refused_without_showing_it() -> None:
    message = _error({}, secret_overrides={"webapp:ingressHost": "internal.example.com"})
    assert message == (
        "webapp:ingressHost is 'set as a secret', but it is not secret: it goes into plain "
        "outputs, labels and ConfigMaps, where its secrecy would be lost; fix it with: pulumi "
        "config set --stack dev webapp:ingressHost <value> (without --secret)"
    )
    assert "internal.example.com" not in message


def test_a_secret_among_the_plain_variables_is_sent_to_secret_env() -> None:
    message = _error({}, secret_overrides={"webapp:env": '{"API_KEY": "s3cr3t-value"}'})
    assert message == (
        "webapp:env is 'set with a secret value', but values of webapp:env go into the app's "
        "ConfigMap in plaintext; secret values belong in webapp:secretEnv, which goes into its "
        "Secret; fix it with: pulumi config rm --stack dev --path 'webapp:env.<NAME>' && "
        "pulumi config set --secret --stack dev --path 'webapp:secretEnv.<NAME>' <value> "
        "(on a local stack of make, add --config-file .pulumi-local/Pulumi.dev.yaml)"
    )
    assert "s3cr3t" not in message


def test_a_variable_set_twice_is_refused() -> None:
    message = _error(
        {"webapp:env": '{"API_KEY": "plain"}'},
        secret_overrides={"webapp:secretEnv": '{"API_KEY": "s3cr3t-value"}'},
    )
    assert message == (
        "webapp:secretEnv holds 'API_KEY', but webapp:env sets it too, and a variable has one "
        "value; fix it with: pulumi config rm --stack dev --path 'webapp:secretEnv.API_KEY'"
    )


def test_more_replicas_or_autoscaling_just_work_without_touching_the_quota() -> None:
    for overrides in ({"webapp:replicas": "12"}, {"webapp:autoscaling": "true"}):
        run = run_main("dev", overrides)
        assert run.of_type("kubernetes:core/v1:ResourceQuota"), overrides


def test_a_quota_cap_names_the_setting_that_outgrew_it() -> None:
    assert _error({"webapp:replicas": "12", "webapp:quotaCpu": "4"}) == (
        "webapp:quotaCpu is '4', but that cap is below what the workload needs at its largest: "
        "15 app pods, the database and a backup need 9200m of CPU limits (counting every "
        "container: 15 app pods: web; the database: postgres, exporter, check-data-owner (init), "
        "prepare-logs (init); a backup: dump), with webapp:replicas "
        f"'12'; {FIX} webapp:quotaCpu 11500m (or pulumi config rm --stack dev webapp:quotaCpu "
        "to let the quota follow the workload)"
    )


def test_a_wrong_case_secret_key_is_moved_as_a_secret() -> None:
    """Following the fix must not write the secret into the stack file in clear."""
    with pytest.raises(ConfigError) as raised:
        run_main("dev", secret_overrides={"WebApp:backupS3SecretAccessKey": "hidden-value"})
    message = str(raised.value)
    assert "pulumi config set --secret --stack dev webapp:backupS3SecretAccessKey <value>" in (
        message
    )
    assert "hidden-value" not in message
