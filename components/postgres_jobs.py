"""The pods PostgresDatabase runs besides the server: scheduled dumps and a restore.

Both use the database's own image, so pg_dump and pg_restore match the server's major
version, and connect over the client Service with the password from the database's
Secret (by reference, never as a literal)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from .common import (
    BACKUP_RESOURCES,
    container_security_context,
    empty_dir_volume,
    hardened_pod_spec,
)

BACKUP_MOUNT = "/backups"

# Dump to a partial file and rename it, so a dump cut short never counts as a backup;
# then keep only the newest $KEEP dumps.
BACKUP_SCRIPT = """\
set -eu
until pg_isready -q; do sleep 2; done
rm -f "$BACKUP_DIR"/*.dump.partial
file="$BACKUP_DIR/${PGDATABASE}-$(date -u +%Y%m%dT%H%M%SZ).dump"
pg_dump --format=custom --file="$file.partial"
mv "$file.partial" "$file"
ls -1t "$BACKUP_DIR"/*.dump | tail -n +$((KEEP + 1)) | while read -r old; do rm -f -- "$old"; done
echo "backup written: $file"
ls -l "$BACKUP_DIR"
"""

# --clean --if-exists replaces what the dump holds and leaves other objects alone;
# --no-owner because roles may differ between the dumped and the restored server.
RESTORE_SCRIPT = """\
set -eu
until pg_isready -q; do sleep 2; done
if [ ! -f "$BACKUP_DIR/$RESTORE_FILE" ]; then
  echo "no dump $BACKUP_DIR/$RESTORE_FILE; the backup volume holds:"
  ls -1 "$BACKUP_DIR"
  exit 1
fi
pg_restore --clean --if-exists --no-owner --exit-on-error --dbname="$PGDATABASE" \\
  "$BACKUP_DIR/$RESTORE_FILE"
echo "restored $BACKUP_DIR/$RESTORE_FILE into $PGDATABASE"
"""


@dataclass(frozen=True)
class DatabaseClient:
    """How a job pod reaches the database."""

    image: str
    host: str
    port: int
    database: str
    user: str
    password_secret: pulumi.Input[str]
    password_key: str
    user_id: int
    backup_claim: pulumi.Input[str]


def _job_pod(
    client: DatabaseClient,
    labels: Mapping[str, str],
    script: str,
    extra_env: Mapping[str, str],
) -> k8s.core.v1.PodTemplateSpecArgs:
    env = [
        k8s.core.v1.EnvVarArgs(name="PGHOST", value=client.host),
        k8s.core.v1.EnvVarArgs(name="PGPORT", value=str(client.port)),
        k8s.core.v1.EnvVarArgs(name="PGDATABASE", value=client.database),
        k8s.core.v1.EnvVarArgs(name="PGUSER", value=client.user),
        k8s.core.v1.EnvVarArgs(name="BACKUP_DIR", value=BACKUP_MOUNT),
        k8s.core.v1.EnvVarArgs(
            name="PGPASSWORD",
            value_from=k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                    name=client.password_secret, key=client.password_key
                )
            ),
        ),
        *(k8s.core.v1.EnvVarArgs(name=key, value=value) for key, value in extra_env.items()),
    ]
    container = k8s.core.v1.ContainerArgs(
        name="pg",
        image=client.image,
        command=["/bin/sh", "-c", script],
        env=env,
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="backups", mount_path=BACKUP_MOUNT),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
        ],
        resources=BACKUP_RESOURCES.to_k8s(),
        security_context=container_security_context(),
    )
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(labels=dict(labels)),
        spec=hardened_pod_spec(
            user_id=client.user_id,
            containers=[container],
            volumes=[
                k8s.core.v1.VolumeArgs(
                    name="backups",
                    persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                        claim_name=client.backup_claim
                    ),
                ),
                empty_dir_volume("tmp", "64Mi"),
            ],
            restart_policy="Never",
        ),
    )


def backup_job_spec(
    client: DatabaseClient, labels: Mapping[str, str], keep: int
) -> k8s.batch.v1.JobSpecArgs:
    return k8s.batch.v1.JobSpecArgs(
        backoff_limit=2,
        # A dump that hangs (a lock, a full disk) must not hold the volume forever.
        active_deadline_seconds=3 * 3600,
        template=_job_pod(client, labels, BACKUP_SCRIPT, {"KEEP": str(keep)}),
    )


def restore_job_spec(
    client: DatabaseClient, labels: Mapping[str, str], dump_file: str
) -> k8s.batch.v1.JobSpecArgs:
    return k8s.batch.v1.JobSpecArgs(
        backoff_limit=1,
        active_deadline_seconds=6 * 3600,
        template=_job_pod(client, labels, RESTORE_SCRIPT, {"RESTORE_FILE": dump_file}),
    )
