"""Data safety of the built-in database, as the program declares it: least-privilege
roles, restores that run once per request, off-cluster copies configured safely.

What these objects do at run time (the scripts against a real PostgreSQL server and a
real S3 API) is in test_database_scripts.py.
"""

from __future__ import annotations

import base64
import shlex
from typing import Any

import pytest

from stack_settings import ConfigError
from tests.conftest import statefulset_program_run
from tests.harness import Mocks, ProgramRun, RecordingMonitor, Registration, run_main, stack_file

SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
CRONJOB = "kubernetes:batch/v1:CronJob"
JOB = "kubernetes:batch/v1:Job"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
FIX = "fix it with: pulumi config"
DUMP = "app-20261125T030000Z.dump"
BUCKET = "s3://team-backups/webapp/dev"
ACCESS_KEYS = {
    "webapp:backupS3AccessKeyId": "AKIAEXAMPLEKEYID0001",
    "webapp:backupS3SecretAccessKey": "wJalrXUtnFEMIexampleSecretAccessKey0001",
}


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env") or []}


def _job_steps(template: dict[str, Any]) -> list[dict[str, Any]]:
    spec = template["spec"]
    return (spec.get("initContainers") or []) + spec["containers"]


def _cronjob_steps(run: ProgramRun) -> list[dict[str, Any]]:
    (cronjob,) = run.of_type(CRONJOB)
    return _job_steps(cronjob.manifest()["spec"]["jobTemplate"]["spec"]["template"])


def _restore_job(run: ProgramRun) -> Registration:
    (job,) = run.of_type(JOB)
    return job


def _database_container(run: ProgramRun, name: str) -> dict[str, Any]:
    template = run.one(STATEFULSET, "webapp-db-statefulset").manifest()["spec"]["template"]
    return next(c for c in template["spec"]["containers"] if c["name"] == name)


# --- roles -------------------------------------------------------------------------------


def test_the_server_authenticates_with_our_rules_password_required_over_tcp(
    statefulset_run: ProgramRun,
) -> None:
    container = _database_container(statefulset_run, "postgres")
    (flag, hba_arg) = container["args"][1:3]
    assert flag == "-c" and hba_arg.startswith("hba_file=")
    hba_path = hba_arg.removeprefix("hba_file=")
    mount = next(m for m in container["volumeMounts"] if hba_path.startswith(m["mountPath"] + "/"))
    template = statefulset_run.one(STATEFULSET, "webapp-db-statefulset").manifest()["spec"][
        "template"
    ]
    volume = next(v for v in template["spec"]["volumes"] if v["name"] == mount["name"])
    (config,) = [
        c
        for c in statefulset_run.of_type(CONFIG_MAP)
        if c.manifest()["metadata"]["name"] == volume["configMap"]["name"]
    ]
    rules = [
        line.split()
        for line in config.manifest()["data"]["pg_hba.conf"].splitlines()
        if line and not line.startswith("#")
    ]
    host_rules = [rule for rule in rules if rule[0].startswith("host")]
    # First match wins: the superuser is refused before the password rule is reached,
    # and no TCP rule lets anyone in without a password.
    assert host_rules[0][2] == "postgres" and host_rules[0][-1] == "reject"
    assert {rule[-1] for rule in host_rules} == {"reject", "scram-sha-256"}
    assert all(rule[0] == "host" for rule in host_rules), "no replication or hostssl rule"
    assert [rule for rule in rules if rule[0] == "local"] == [["local", "all", "all", "trust"]]


def test_the_app_is_not_the_superuser_anywhere(statefulset_run: ProgramRun) -> None:
    """The image makes POSTGRES_USER the bootstrap superuser: it must stay unset, so the
    superuser is `postgres`, and the app's role is created by the start-up hook."""
    env = _env(_database_container(statefulset_run, "postgres"))
    assert "POSTGRES_USER" not in env
    assert env["APP_USER"]["value"] == "app"
    assert env["POSTGRES_PASSWORD_FILE"]["value"] == env["SUPERUSER_PASSWORD_FILE"]["value"]
    exporter = _env(_database_container(statefulset_run, "exporter"))
    assert exporter["DATA_SOURCE_USER"]["value"] == "exporter"
    # Dumps are taken as the owner: no read-only role may read large objects (up to 18).
    (dump,) = [step for step in _cronjob_steps(statefulset_run) if step["name"] == "dump"]
    assert _env(dump)["PGUSER"]["value"] == "app"
    assert _env(dump)["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "password"


def test_each_container_gets_only_its_own_password(statefulset_run: ProgramRun) -> None:
    template = statefulset_run.one(STATEFULSET, "webapp-db-statefulset").manifest()["spec"][
        "template"
    ]
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    exporter = _database_container(statefulset_run, "exporter")
    (mount,) = exporter["volumeMounts"]
    assert volumes[mount["name"]]["secret"]["items"] == [
        {"key": "exporter-password", "path": "password"}
    ]
    for step in _cronjob_steps(statefulset_run):
        assert not step.get("volumeMounts") or all(
            "secret" not in volumes.get(m["name"], {}) for m in step["volumeMounts"]
        )


# --- restores ----------------------------------------------------------------------------


def _would_replace(old: Registration, new: Registration) -> bool:
    """What pulumi-kubernetes decides for a Job (batch/v1 spec.template is immutable):
    a new name or namespace, or any change to the spec the engine does not ignore."""
    assert old.ignore_changes == new.ignore_changes
    old_meta, new_meta = old.inputs["metadata"], new.inputs["metadata"]
    if (old_meta.get("name"), old_meta.get("namespace")) != (
        new_meta.get("name"),
        new_meta.get("namespace"),
    ):
        return True
    if not old_meta.get("name"):
        return True  # auto-named: every replacement gets a new name anyway
    return "spec" not in new.ignore_changes and old.inputs["spec"] != new.inputs["spec"]


@pytest.fixture(scope="module")
def pending_restore() -> ProgramRun:
    return run_main("dev", {"webapp:restoreFrom": DUMP})


def test_a_pending_restore_survives_a_new_database_image(pending_restore: ProgramRun) -> None:
    upgraded = run_main("dev", {"webapp:restoreFrom": DUMP, "webapp:dbImage": "postgres:17.7"})
    old, new = _restore_job(pending_restore), _restore_job(upgraded)
    assert old.inputs["spec"] != new.inputs["spec"], "the image is in the Job's pod template"
    assert not _would_replace(old, new)


def test_a_pending_restore_survives_a_password_rotation(pending_restore: ProgramRun) -> None:
    rotated = run_main(
        "dev",
        {"webapp:restoreFrom": DUMP},
        monitor=RecordingMonitor(Mocks(password_generation="rotated")),
    )
    old, new = _restore_job(pending_restore), _restore_job(rotated)
    assert old.inputs["spec"] != new.inputs["spec"], "the Secret's name is in the template"
    assert not _would_replace(old, new)


def test_each_new_restore_request_is_a_new_job(pending_restore: ProgramRun) -> None:
    other = run_main("dev", {"webapp:restoreFrom": "app-20261126T030000Z.dump"})
    assert _would_replace(_restore_job(pending_restore), _restore_job(other))
    # Rendered anew (a monitor of its own), not handed the memoized copy of the first run.
    again = run_main("dev", {"webapp:restoreFrom": DUMP}, monitor=RecordingMonitor(Mocks()))
    assert not _would_replace(_restore_job(pending_restore), _restore_job(again))


def test_a_long_restore_does_not_fail_the_update(pending_restore: ProgramRun) -> None:
    """`pulumi up` waits for a Job for 10 minutes unless told otherwise, and a CI job
    may end sooner than a restore: the update must not wait on it at all. The Job runs
    once, stays once finished, and says which dump it restores."""
    job = _restore_job(pending_restore)
    manifest = job.manifest()
    assert manifest["metadata"]["annotations"] == {
        "pulumi.com/skipAwait": "true",
        "webapp.dev/restore-from": DUMP,
    }
    assert job.custom_timeouts == {}
    spec = manifest["spec"]
    assert spec["backoffLimit"] == 0
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert "ttlSecondsAfterFinished" not in spec, "a vanished Job would be recreated"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_app_keeps_its_size_during_and_after_a_restore(stack: str) -> None:
    """No scale-down: the restore ends the app's sessions and the app waits on its locks,
    so an autoscaled app is never left at 0 replicas. (Restores of dumps are the
    statefulset engine's: prod runs it here.)"""
    engine = {"webapp:dbEngine": "statefulset"}
    without = run_main(stack, engine)
    with_restore = run_main(stack, {**engine, "webapp:restoreFrom": DUMP})
    for kind in (DEPLOYMENT, HPA):
        assert [r.inputs["spec"] for r in without.of_type(kind)] == [
            r.inputs["spec"] for r in with_restore.of_type(kind)
        ]


def test_a_restore_from_the_bucket_downloads_and_checks_first() -> None:
    run = run_main(
        "dev",
        {"webapp:backupBucket": BUCKET, "webapp:restoreFrom": f"{BUCKET}/{DUMP}"},
        secret_overrides=ACCESS_KEYS,
    )
    download, restore = _job_steps(_restore_job(run).manifest()["spec"]["template"])
    assert download["name"] == "download" and restore["name"] == "restore"
    assert _env(download)["RESTORE_FROM"]["value"] == f"{BUCKET}/{DUMP}"
    # A directory of the Job's own, which no other job cleans.
    own = f"restore/{_restore_job(run).manifest()['metadata']['name']}"
    assert _env(download)["RESTORE_DIR"]["value"] == own
    assert _env(restore)["RESTORE_FILE"]["value"] == f"{own}/{DUMP}"
    assert _env(restore)["PGUSER"]["value"] == "app"


# --- off-cluster copies ------------------------------------------------------------------


def test_access_keys_reach_the_pods_only_through_a_secret() -> None:
    run = run_main("dev", {"webapp:backupBucket": BUCKET}, secret_overrides=ACCESS_KEYS)
    dump, upload = _cronjob_steps(run)
    assert upload["image"].startswith("amazon/aws-cli:")
    env = _env(upload)
    secret_name = env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"]
    (secret,) = [s for s in run.of_type(SECRET) if s.manifest()["metadata"]["name"] == secret_name]
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert secret.secret_paths & {"data", f"data.{key}"}, f"{key} is not a secret input"
    decoded = {
        key: base64.b64decode(value).decode() for key, value in secret.manifest()["data"].items()
    }
    assert decoded == {
        "AWS_ACCESS_KEY_ID": ACCESS_KEYS["webapp:backupS3AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": ACCESS_KEYS["webapp:backupS3SecretAccessKey"],
    }
    for record in run.registrations:
        if record is secret:
            continue
        text = str(record.inputs)
        for value in ACCESS_KEYS.values():
            assert value not in text, record.name
    for output in run.outputs.values():
        assert not any(value in str(output.value) for value in ACCESS_KEYS.values())
    assert "AWS_ACCESS_KEY_ID" not in _env(dump)


def test_an_existing_secret_or_workload_identity_instead_of_keys() -> None:
    existing = run_main(
        "dev", {"webapp:backupBucket": BUCKET, "webapp:backupS3CredentialsSecret": "my-keys"}
    )
    upload = _cronjob_steps(existing)[-1]
    assert _env(upload)["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "my-keys",
        "key": "AWS_SECRET_ACCESS_KEY",
        # A missing Secret lets the step start and say so, instead of hanging unseen.
        "optional": True,
    }
    assert {s.name for s in existing.of_type(SECRET)} == {
        "webapp-db-credentials",
        "webapp-credentials",
    }
    identity = run_main(
        "dev",
        {
            "webapp:backupBucket": BUCKET,
            "webapp:backupS3IdentityAnnotation": (
                "iam.gke.io/gcp-service-account=b@p.iam.gserviceaccount.com"
            ),
        },
    )
    account = identity.one("kubernetes:core/v1:ServiceAccount", "webapp-db-backup-sa")
    assert account.manifest()["metadata"]["annotations"] == {
        "iam.gke.io/gcp-service-account": "b@p.iam.gserviceaccount.com"
    }
    (cronjob,) = identity.of_type(CRONJOB)
    pod = cronjob.manifest()["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account.manifest()["metadata"]["name"]
    assert pod["automountServiceAccountToken"] is False
    assert "AWS_ACCESS_KEY_ID" not in _env(_job_steps({"spec": pod})[-1])


def test_backup_pods_may_reach_the_bucket_port_only() -> None:
    run = run_main(
        "dev",
        {"webapp:backupBucket": BUCKET, "webapp:backupS3Endpoint": "http://minio.minio:9000"},
        secret_overrides=ACCESS_KEYS,
    )
    policy = run.one(NETPOL, "webapp-db-backup-netpol").manifest()["spec"]
    to_bucket = policy["egress"][-1]
    assert to_bucket["ports"] == [{"protocol": "TCP", "port": 9000}]
    assert {peer["ipBlock"]["cidr"] for peer in to_bucket["to"]} == {"0.0.0.0/0", "::/0"}
    assert _env(_cronjob_steps(run)[-1])["AWS_ENDPOINT_URL"]["value"] == "http://minio.minio:9000"


def test_prod_copies_off_the_cluster_without_secrets_in_its_stack_file(
    prod_run: ProgramRun, dev_run: ProgramRun
) -> None:
    config = stack_file("prod")["config"]
    assert not [key for key, value in config.items() if isinstance(value, dict)]
    # Prod archives its WAL and base backups into its bucket (cloudnative-pg) ...
    (store,) = prod_run.of_type("kubernetes:barmancloud.cnpg.io/v1:ObjectStore")
    destination = store.manifest()["spec"]["configuration"]["destinationPath"]
    assert destination == prod_run.config["webapp:backupBucket"]
    assert not prod_run.of_type(CRONJOB)
    # ... and with the statefulset engine it would upload every dump there.
    statefulset_prod = statefulset_program_run("prod-statefulset")
    assert [step["name"] for step in _cronjob_steps(statefulset_prod)] == ["dump", "upload"]
    assert [step["name"] for step in _cronjob_steps(dev_run)] == ["dump"]


# Where a local stack of the Makefile keeps a secret it sets.
LOCAL_COPY = " (on a local stack of make, add --config-file .pulumi-local/Pulumi.dev.yaml)"

CREDENTIAL_ERRORS = [
    (
        {"webapp:backupBucket": BUCKET},
        {},
        "webapp:backupBucket is 's3://team-backups/webapp/dev', but off-cluster copies need "
        "exactly one way to the bucket: secret access keys (webapp:backupS3AccessKeyId and "
        "webapp:backupS3SecretAccessKey), an existing Secret (webapp:backupS3CredentialsSecret) "
        "or workload identity (webapp:backupS3IdentityAnnotation); "
        f"{FIX} set --plaintext --stack dev webapp:backupS3CredentialsSecret webapp-backup-s3",
    ),
    (
        {"webapp:backupBucket": BUCKET, **ACCESS_KEYS},
        {},
        "webapp:backupS3AccessKeyId is set in plaintext (its value is now in the stack file: "
        "rotate the key), but it must be set as a secret, so it is encrypted there; "
        f"{FIX} rm --stack dev webapp:backupS3AccessKeyId && pulumi config set --secret "
        "--stack dev "
        f"webapp:backupS3AccessKeyId <new value>{LOCAL_COPY}\n"
        "webapp:backupS3SecretAccessKey is set in plaintext (its value is now in the stack "
        "file: rotate the key), but it must be set as a secret, so it is encrypted there; "
        f"{FIX} rm --stack dev webapp:backupS3SecretAccessKey && pulumi config set --secret "
        "--stack dev "
        f"webapp:backupS3SecretAccessKey <new value>{LOCAL_COPY}",
    ),
    (
        {"webapp:backupBucket": BUCKET},
        {"webapp:backupS3AccessKeyId": "AKIAEXAMPLEKEYID0001"},
        "webapp:backupS3SecretAccessKey is not set, but access keys come in pairs: "
        "webapp:backupS3AccessKeyId and webapp:backupS3SecretAccessKey are set together; "
        f"{FIX} set --secret --stack dev webapp:backupS3SecretAccessKey <value>{LOCAL_COPY}",
    ),
    (
        {"webapp:backupBucket": BUCKET, "webapp:backupS3CredentialsSecret": "my-keys"},
        ACCESS_KEYS,
        "webapp:backupBucket is 's3://team-backups/webapp/dev', but off-cluster copies need "
        "exactly one way to the bucket: secret access keys (webapp:backupS3AccessKeyId and "
        "webapp:backupS3SecretAccessKey), an existing Secret (webapp:backupS3CredentialsSecret) "
        "or workload identity (webapp:backupS3IdentityAnnotation); webapp:backupS3AccessKeyId "
        "and webapp:backupS3CredentialsSecret are both set; "
        f"{FIX} rm --stack dev webapp:backupS3CredentialsSecret",
    ),
    (
        {"webapp:backupS3CredentialsSecret": "my-keys"},
        {},
        "webapp:backupS3CredentialsSecret is 'my-keys', but object storage credentials are "
        "used only with webapp:backupBucket, which is empty; "
        f"{FIX} rm --stack dev webapp:backupS3CredentialsSecret",
    ),
    (
        {"webapp:backupBucket": BUCKET, "webapp:backupEnabled": "false"},
        ACCESS_KEYS,
        "webapp:backupBucket is 's3://team-backups/webapp/dev', but restores and off-cluster "
        "copies use the backup volume, which exists only while webapp:backupEnabled is true; "
        f"{FIX} set --stack dev webapp:backupEnabled true",
    ),
    (
        {"webapp:backupBucket": BUCKET, "webapp:restoreFrom": f"s3://elsewhere/{DUMP}"},
        ACCESS_KEYS,
        f"webapp:restoreFrom is 's3://elsewhere/{DUMP}', but a dump from object storage must "
        f"be in webapp:backupBucket ('{BUCKET}'), whose credentials the restore uses (to "
        "restore another stack's dump, copy it into this stack's prefix first: see "
        "docs/backups-and-restore.md, 'Restore a backup'); "
        f"{FIX} set --stack dev webapp:restoreFrom {BUCKET}/{DUMP}",
    ),
    (
        # With its way in set: a bucket without one is also told that (one run, every
        # problem: tests/test_config_errors_at_once.py).
        {"webapp:backupBucket": "s3://x//prod", "webapp:backupS3CredentialsSecret": "my-keys"},
        {},
        "webapp:backupBucket is 's3://x//prod', but it must be empty (no off-cluster copies) "
        "or an S3 URL such as s3://my-backups/webapp/prod (a bucket name of 3 to 63 "
        "lowercase letters, digits, dots and hyphens); "
        f"{FIX} set --stack dev webapp:backupBucket 's3://<bucket>/<prefix>'",
    ),
    (
        {"webapp:backupS3Endpoint": "https://minio.example.com:9000"},
        {},
        "webapp:backupS3Endpoint is 'https://minio.example.com:9000', but an endpoint is used "
        f"only with webapp:backupBucket, which is empty; {FIX} rm --stack dev "
        "webapp:backupS3Endpoint",
    ),
]


@pytest.mark.parametrize(("plain", "secret", "message"), CREDENTIAL_ERRORS)
def test_object_storage_mistakes_stop_the_program_with_one_sentence_each(
    plain: dict[str, str], secret: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        run_main("dev", plain, secret_overrides=secret)
    assert str(raised.value) == message
    for value in ACCESS_KEYS.values():
        assert value not in str(raised.value)


SUGGESTED_FIXES = [
    ("backupBucket", "https://team-backups.s3.eu-west-1.amazonaws.com/webapp/dev", BUCKET),
    ("backupBucket", "https://s3.eu-west-1.amazonaws.com/team-backups/webapp/dev", BUCKET),
    ("backupBucket", "s3://team-backups/webapp dev", "s3://team-backups/webapp-dev"),
    ("backupS3Endpoint", "https://minio.example.com:9000/bucket", "https://minio.example.com:9000"),
    (
        "backupS3IdentityAnnotation",
        "eks.amazonaws.com/role-arn: arn:aws:iam::1:role/b",
        "eks.amazonaws.com/role-arn=arn:aws:iam::1:role/b",
    ),
    ("restoreFrom", "app-20261125T030000Z", DUMP),
    ("restoreFrom", f"{DUMP}.sha256", DUMP),
    # The files a backup writes beside a dump name the dump, not "<dump>.verified.dump".
    ("restoreFrom", f"{DUMP}.verified", DUMP),
    ("restoreFrom", f"{DUMP}.unverified", DUMP),
    ("restoreFrom", f"{DUMP}.sha256.partial", DUMP),
    ("dbUser", "Postgres", "postgres_app"),
    ("dbUser", "public", "public_app"),
]


@pytest.mark.parametrize(("key", "value", "fixed"), SUGGESTED_FIXES)
def test_the_suggested_fix_is_a_valid_value_that_keeps_the_meaning(
    key: str, value: str, fixed: str
) -> None:
    """Following the message's command must give a working config, and never quietly
    turn a feature off by suggesting an empty value."""
    # A bucket's way in is set, or a bad bucket is also told that it has none.
    way_in = {"webapp:backupS3CredentialsSecret": "my-keys"} if key == "backupBucket" else {}
    with pytest.raises(ConfigError) as raised:
        run_main("dev", {**way_in, f"webapp:{key}": value})
    (line,) = [line for line in str(raised.value).splitlines() if line.startswith(f"webapp:{key}")]
    assert line.endswith(f"webapp:{key} {shlex.quote(fixed)}"), line
    # Object storage settings need a bucket and one way to it to stand on their own.
    storage = {"webapp:backupBucket": BUCKET, "webapp:backupS3CredentialsSecret": "my-keys"}
    if key == "backupS3IdentityAnnotation":
        storage.pop("webapp:backupS3CredentialsSecret")
    context = storage if key.startswith("backup") else {}
    run_main("dev", {**context, f"webapp:{key}": fixed})
