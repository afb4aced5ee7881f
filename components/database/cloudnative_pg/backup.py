"""WAL archive and base backups of a CNPG Cluster in object storage, through the Barman
Cloud plugin: its `ObjectStore`, the credentials it reads, and the `ScheduledBackup`."""

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from ..._shared.metadata import object_meta
from ..._shared.quantity import is_guaranteed
from ..._shared.resources import BACKUP_RESOURCES, ContainerResources
from ..._shared.secrets import secret_data
from ..args import ObjectStorage
from ..object_storage import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from .rules import cnpg_schedule
from .settings import CnpgSettings

PLUGIN_NAME = "barman-cloud.cloudnative-pg.io"
# zstd: WAL compresses well and archiving must keep up with writes; the plugin's sidecar
# image ships the zstandard module. snappy for base backups: the fastest of the
# benchmarked codecs to write, at about 2.4:1 (plugin docs, "Compression").
WAL_COMPRESSION = "zstd"
DATA_COMPRESSION = "snappy"
# WAL files moved at once, both archiving and restoring: a recovery replays faster.
WAL_PARALLEL = 4


@dataclass(frozen=True)
class CnpgBackups:
    parent: pulumi.Resource
    name: str
    namespace: pulumi.Input[str]
    labels: Mapping[str, str]
    schedule_text: str
    store: k8s.apiextensions.CustomResource
    store_name: str
    archive: str

    @property
    def object_name(self) -> str:
        suffix = "" if self.archive == self.name else f"-{self.archive}"
        return f"{self.name}-backup{suffix}"

    def schedule(self, cluster: k8s.apiextensions.CustomResource) -> None:
        """Base backups on the schedule, the first one as soon as the Cluster is Ready: a
        fresh archive has nothing to recover from until then."""
        k8s.apiextensions.CustomResource(
            f"{self.name}-scheduledbackup",
            api_version="postgresql.cnpg.io/v1",
            kind="ScheduledBackup",
            # A new archive gets a new ScheduledBackup, whose immediate backup gives the
            # recovered cluster a base backup to recover from in turn.
            metadata=object_meta(self.labels, self.namespace, self.object_name),
            spec={
                "schedule": cnpg_schedule(self.schedule_text),
                "cluster": {"name": self.name},
                "method": "plugin",
                "pluginConfiguration": {"name": PLUGIN_NAME},
                "immediate": True,
                # Backup objects go with their ScheduledBackup, not pile up forever.
                "backupOwnerReference": "self",
            },
            opts=pulumi.ResourceOptions(parent=self.parent, depends_on=[cluster]),
        )


def _credentials(
    parent: pulumi.Resource,
    name: str,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    storage: ObjectStorage,
) -> dict[str, object]:
    """s3Credentials from exactly one source: access keys put into our Secret, the user's
    Secret with the same keys, or the pods' cloud identity."""
    if storage.get("service_account_annotations"):
        return {"inheritFromIAMRole": True}
    secret_name: pulumi.Input[str] | None = storage.get("credentials_secret")
    if secret_name is None:
        if storage.get("access_key_id") is None or storage.get("secret_access_key") is None:
            raise ValueError("object storage needs access keys, a Secret or an identity")
        secret = k8s.core.v1.Secret(
            f"{name}-objectstore-s3",
            # Auto-named, as the app's Secret (cnpg.py): new keys give a new Secret,
            # created before the old one is deleted, and the ObjectStore points at it;
            # the plugin reads it on its next command.
            metadata=object_meta({**labels, "cnpg.io/reload": "true"}, namespace),
            type="Opaque",
            data=secret_data(
                {
                    ACCESS_KEY_ID: storage["access_key_id"],
                    SECRET_ACCESS_KEY: storage["secret_access_key"],
                }
            ),
            opts=pulumi.ResourceOptions(parent=parent),
        )
        secret_name = secret.metadata.name
    return {
        "accessKeyId": {"name": secret_name, "key": ACCESS_KEY_ID},
        "secretAccessKey": {"name": secret_name, "key": SECRET_ACCESS_KEY},
    }


def _sidecar_env(storage: ObjectStorage) -> list[dict[str, str]]:
    env = [{"name": "AWS_DEFAULT_REGION", "value": storage["region"]}]
    if storage.get("endpoint"):
        # S3-compatible stores that reject boto3's newer default checksums
        # (plugin-barman-cloud issue #393; the workaround its docs give).
        env += [
            {"name": "AWS_REQUEST_CHECKSUM_CALCULATION", "value": "when_required"},
            {"name": "AWS_RESPONSE_CHECKSUM_VALIDATION", "value": "when_required"},
        ]
    return env


def sidecar_resources(instance: ContainerResources) -> dict[str, dict[str, str]]:
    """Sized like the statefulset engine's dump jobs, which the quota counts. A pod is
    Guaranteed only if every container is, so beside a Guaranteed instance the sidecar
    requests its limits too."""
    limits = {"cpu": BACKUP_RESOURCES["cpu_limit"], "memory": BACKUP_RESOURCES["memory_limit"]}
    if is_guaranteed(instance):
        return {"requests": dict(limits), "limits": limits}
    requests = {
        "cpu": BACKUP_RESOURCES["cpu_request"],
        "memory": BACKUP_RESOURCES["memory_request"],
    }
    return {"requests": requests, "limits": limits}


def declare_backups(
    parent: pulumi.Resource,
    name: str,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    settings: CnpgSettings,
    archive: str,
) -> CnpgBackups:
    """The ObjectStore both archiving and a recovery use; each cluster writes under its
    own archive name (the plugin's serverName) below the bucket URL."""
    storage = settings.object_storage
    if storage is None:
        raise ValueError("backups need object storage")
    store_name = f"{name}-store"
    configuration: dict[str, object] = {
        "destinationPath": storage["bucket_url"],
        "s3Credentials": _credentials(parent, name, namespace, labels, storage),
        "wal": {"compression": WAL_COMPRESSION, "maxParallel": WAL_PARALLEL},
        "data": {"compression": DATA_COMPRESSION},
    }
    if storage.get("endpoint"):
        configuration["endpointURL"] = storage["endpoint"]
    store = k8s.apiextensions.CustomResource(
        f"{name}-objectstore",
        api_version="barmancloud.cnpg.io/v1",
        kind="ObjectStore",
        metadata=object_meta(labels, namespace, store_name),
        spec={
            "configuration": configuration,
            "retentionPolicy": f"{settings.retention_days}d",
            "instanceSidecarConfiguration": {
                "env": _sidecar_env(storage),
                # The sidecar runs in every instance pod and in the recovery job; sized
                # like the dump jobs of the statefulset engine, it fits the quota check.
                "resources": sidecar_resources(settings.resources),
            },
        },
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return CnpgBackups(
        parent=parent,
        name=name,
        namespace=namespace,
        labels=labels,
        schedule_text=settings.backup_schedule,
        store=store,
        store_name=store_name,
        archive=archive,
    )
