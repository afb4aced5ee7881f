"""The pods PostgresDatabase runs besides the server: scheduled dumps, their off-cluster
copies, and a restore.

Dumps and restores use the database's own image, so pg_dump and pg_restore match the
server's major version; object storage is reached with the AWS CLI image. Each connects
over the client Service with its role's password from the database's Secret (by
reference, never as a literal). The scripts they run are in scripts/.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from ..._shared.pods import empty_dir_volume, hardened_pod_spec
from ..._shared.resources import BACKUP_RESOURCES, resource_requirements
from ..._shared.security import container_security_context
from ..args import ObjectStorage
from ..object_storage import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from .roles import scratch_database
from .scripts import (
    BACKUP_SCRIPT,
    DOWNLOAD_SCRIPT,
    RESTORE_SCRIPT,
    UPLOAD_SCRIPT,
)
from .waits import (
    BACKUP_DEADLINE_SECONDS,
    BACKUP_WAITS,
    RESTORE_DEADLINE_SECONDS,
    RESTORE_GRACE_SECONDS,
    RESTORE_WAITS,
    S3_WAITS,
)

BACKUP_MOUNT = "/backups"


@dataclass(frozen=True)
class JobPods:
    """What the job pods share: where the database is and how they log in."""

    image: pulumi.Input[str]
    host: str
    port: int
    database: pulumi.Input[str]
    app_user: pulumi.Input[str]
    credentials_secret: pulumi.Input[str]
    app_password_key: str
    user_id: int
    backup_claim: pulumi.Input[str]
    object_storage: ObjectStorage | None
    # The Secret with object storage credentials (ours or the user's); None with identity.
    storage_secret: pulumi.Input[str] | None
    service_account: pulumi.Input[str] | None


def _env(values: Mapping[str, pulumi.Input[str]]) -> list[k8s.core.v1.EnvVarArgs]:
    return [k8s.core.v1.EnvVarArgs(name=key, value=value) for key, value in values.items()]


def _texts(values: Mapping[str, int]) -> dict[str, str]:
    return {key: str(value) for key, value in values.items()}


def _secret_env(
    name: str, secret: pulumi.Input[str], key: str, optional: bool | None = None
) -> k8s.core.v1.EnvVarArgs:
    return k8s.core.v1.EnvVarArgs(
        name=name,
        value_from=k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                name=secret, key=key, optional=optional
            )
        ),
    )


_MOUNTS = [
    k8s.core.v1.VolumeMountArgs(name="backups", mount_path=BACKUP_MOUNT),
    k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
]


def _postgres_container(
    pods: JobPods,
    name: str,
    script: str,
    role: pulumi.Input[str],
    password_key: str,
    env: Mapping[str, pulumi.Input[str]],
) -> k8s.core.v1.ContainerArgs:
    return k8s.core.v1.ContainerArgs(
        name=name,
        image=pods.image,
        command=["/bin/sh", "-c", script],
        env=[
            *_env(
                {
                    "PGHOST": pods.host,
                    "PGPORT": str(pods.port),
                    "PGDATABASE": pods.database,
                    "PGUSER": role,
                    "BACKUP_DIR": BACKUP_MOUNT,
                    "TMPDIR": "/tmp",
                    **env,
                }
            ),
            _secret_env("PGPASSWORD", pods.credentials_secret, password_key),
        ],
        volume_mounts=_MOUNTS,
        resources=resource_requirements(BACKUP_RESOURCES),
        security_context=container_security_context(),
    )


def _storage_container(
    pods: JobPods,
    storage: ObjectStorage,
    name: str,
    script: str,
    env: Mapping[str, pulumi.Input[str]],
) -> k8s.core.v1.ContainerArgs:
    endpoint = storage.get("endpoint")
    settings = {
        "BUCKET_URL": storage["bucket_url"],
        "PGDATABASE": pods.database,
        "BACKUP_DIR": BACKUP_MOUNT,
        "AWS_REGION": storage["region"],
        "AWS_DEFAULT_REGION": storage["region"],
        # Bounded retries: an unreachable bucket fails the job instead of hanging it.
        "AWS_MAX_ATTEMPTS": "3",
        "AWS_RETRY_MODE": "standard",
        # The CLI caches credentials under $HOME; the root filesystem is read-only.
        "HOME": "/tmp",
        # Checksums only where the API requires them: CLI releases from 2.23 send CRC
        # checksums by default, which several S3-compatible stores refuse.
        "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
        "TMPDIR": "/tmp",
        **_texts(S3_WAITS),
        **({"AWS_ENDPOINT_URL": endpoint} if endpoint else {}),
        **env,
    }
    # Optional references: a missing Secret (the prod placeholder not yet created) lets
    # the container start and say so, instead of waiting unseen until the deadline.
    credentials = (
        [
            k8s.core.v1.EnvVarArgs(name="CREDENTIALS_FROM", value=pods.storage_secret),
            _secret_env(ACCESS_KEY_ID, pods.storage_secret, ACCESS_KEY_ID, optional=True),
            _secret_env(SECRET_ACCESS_KEY, pods.storage_secret, SECRET_ACCESS_KEY, optional=True),
        ]
        if pods.storage_secret is not None
        else []
    )
    return k8s.core.v1.ContainerArgs(
        name=name,
        image=storage["image"],
        command=["/bin/sh", "-c", script],
        env=[*_env(settings), *credentials],
        volume_mounts=_MOUNTS,
        resources=resource_requirements(BACKUP_RESOURCES),
        security_context=container_security_context(),
    )


def _job_pod(
    pods: JobPods,
    labels: Mapping[str, str],
    steps: list[k8s.core.v1.ContainerArgs],
    restart_policy: str,
    termination_grace_seconds: int | None = None,
) -> k8s.core.v1.PodTemplateSpecArgs:
    """Steps run in order: all but the last as init containers, so a failed step stops
    the job before the next one runs."""
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(labels=dict(labels)),
        spec=hardened_pod_spec(
            user_id=pods.user_id,
            init_containers=steps[:-1],
            containers=steps[-1:],
            service_account_name=pods.service_account,
            volumes=[
                k8s.core.v1.VolumeArgs(
                    name="backups",
                    persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                        claim_name=pods.backup_claim
                    ),
                ),
                empty_dir_volume("tmp", "64Mi"),
            ],
            restart_policy=restart_policy,
            termination_grace_period_seconds=termination_grace_seconds,
        ),
    )


def backup_job_spec(
    pods: JobPods, labels: Mapping[str, str], keep: pulumi.Input[int]
) -> k8s.batch.v1.JobSpecArgs:
    """Dump as the database's owner (see postgres_scripts), then (with a bucket) upload,
    verify and prune the bucket."""
    keep_text = pulumi.Output.from_input(keep).apply(str)
    steps = [
        _postgres_container(
            pods,
            "dump",
            BACKUP_SCRIPT,
            pods.app_user,
            pods.app_password_key,
            {
                "KEEP": keep_text,
                "SCRATCH_DATABASE": pulumi.Output.from_input(pods.database).apply(scratch_database),
                **_texts(BACKUP_WAITS),
            },
        )
    ]
    if pods.object_storage:
        steps.append(
            _storage_container(
                pods, pods.object_storage, "upload", UPLOAD_SCRIPT, {"KEEP": keep_text}
            )
        )
    return k8s.batch.v1.JobSpecArgs(
        backoff_limit=2,
        # A dump that hangs (a lock, a full disk) must not hold the volume forever.
        active_deadline_seconds=BACKUP_DEADLINE_SECONDS,
        # A failed upload is retried in the same pod: the dump (an init container) is not
        # taken again, so retries do not push older dumps out of the retention.
        template=_job_pod(pods, labels, steps, restart_policy="OnFailure"),
    )


def restore_job_name(database: str, restore_from: str) -> str:
    """One name per requested dump: a new request is a new Job, and the same request
    never runs twice."""
    digest = hashlib.sha256(restore_from.encode()).hexdigest()[:10]
    return f"{database}-restore-{digest}"


RESTORE_FROM_ANNOTATION = "webapp.dev/restore-from"


def restore_job_spec(
    pods: JobPods, labels: Mapping[str, str], restore_from: str
) -> k8s.batch.v1.JobSpecArgs:
    """Restore as the app's role, which owns the database and everything in it; a dump in
    the bucket is downloaded and checked first."""
    steps = []
    # The download goes to a directory of this Job's own, which only it removes.
    restore_dir = {"RESTORE_DIR": f"restore/{restore_job_name(pods.host, restore_from)}"}
    if restore_from.startswith("s3://"):
        if pods.object_storage is None:
            raise ValueError("a restore from object storage needs the object storage settings")
        steps.append(
            _storage_container(
                pods,
                pods.object_storage,
                "download",
                DOWNLOAD_SCRIPT,
                {"RESTORE_FROM": restore_from, **restore_dir},
            )
        )
        restore_file = f"{restore_dir['RESTORE_DIR']}/{restore_from.rsplit('/', 1)[-1]}"
    else:
        restore_file = restore_from
        restore_dir = {}
    steps.append(
        _postgres_container(
            pods,
            "restore",
            RESTORE_SCRIPT,
            pods.app_user,
            pods.app_password_key,
            {
                "RESTORE_FILE": restore_file,
                # The restore reopens the database, and asks what became of its
                # transaction, through the scratch database (see scripts/restore_transaction.py).
                "SCRATCH_DATABASE": pulumi.Output.from_input(pods.database).apply(scratch_database),
                **restore_dir,
                **_texts(RESTORE_WAITS),
            },
        )
    )
    return k8s.batch.v1.JobSpecArgs(
        # Once per request: a failed restore changed nothing, and runs again only when
        # the user asks again.
        backoff_limit=0,
        active_deadline_seconds=RESTORE_DEADLINE_SECONDS,
        template=_job_pod(
            pods,
            labels,
            steps,
            restart_policy="Never",
            termination_grace_seconds=RESTORE_GRACE_SECONDS,
        ),
    )
