"""The CloudNativePG engine: a PostgreSQL `Cluster` run by the CNPG operator (1.30), with
WAL archiving and base backups through the Barman Cloud plugin (0.14).

Self-contained behind one seam, `declare_cnpg_cluster`, so PostgresDatabase can hand
over to it whatever shape its own arguments take. Everything it declares is a child of
`parent` named `<name>-...`; the Cluster itself is named `name`, so its read-write
Service is `<name>-rw`.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from .cnpg_backup import declare_backups
from .cnpg_network import declare_network_policy
from .cnpg_rules import CRON_DESCRIPTORS, shared_buffers_bytes
from .cnpg_spec import CnpgImport, cluster_spec, instance_selector
from .common import ContainerResources, object_meta, secret_data, standard_labels
from .postgres_object_storage import ObjectStorage
from .quantity import parse_quantity

DEFAULT_IMAGE = "ghcr.io/cloudnative-pg/postgresql:17.6-minimal-bookworm"
POSTGRES_PORT = 5432
CLUSTER_API = "postgresql.cnpg.io/v1"
# `pulumi up` waits for the Cluster's Ready condition: long enough for initdb and the
# replicas' first sync; a recovery also copies the base backup and replays WAL.
READY_TIMEOUT = "30m"
RECOVERY_READY_TIMEOUT = "6h"
# CNPG checks cluster names as DNS-1035 labels of at most 50 characters (its webhook).
_CLUSTER_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# RFC 3339 with an explicit zone: CNPG reads a time without one as UTC, which is rarely
# what someone typing a local time meant.
_TARGET_TIME = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


@dataclass(frozen=True)
class CnpgSettings:
    """Everything the engine needs besides names. `archive_name` is the folder of this
    cluster's WAL and base backups in the bucket (the plugin's serverName; the cluster's
    name when None); a recovery reads `recovery_source_archive` and writes a new,
    different archive. `recovery_target_time` stops the recovery at that moment; without
    it a recovery replays every WAL in the source archive."""

    instances: int
    storage_size: str
    resources: ContainerResources
    database: str
    owner: str
    image: str = DEFAULT_IMAGE
    storage_class: str | None = None
    operator_namespace: str = "cnpg-system"
    # Namespace of the Prometheus that scrapes port 9187; None keeps the port closed.
    metrics_namespace: str | None = None
    pod_monitor: bool = False
    pod_monitor_labels: Mapping[str, str] = field(default_factory=dict)
    object_storage: ObjectStorage | None = None
    # Five fields as in webapp:backupSchedule (or a descriptor such as @daily).
    backup_schedule: str = "0 3 * * *"
    retention_days: int = 30
    archive_name: str | None = None
    recovery_target_time: str | None = None
    recovery_source_archive: str | None = None
    import_from: CnpgImport | None = None
    protect: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.instances < 1:
            problems.append("instances must be at least 1")
        if self.retention_days < 1:
            problems.append("retention_days must be at least 1")
        if self.pod_monitor and not self.metrics_namespace:
            problems.append("a PodMonitor needs metrics_namespace, from where it scrapes")
        if self.import_from and self.recovery_source_archive:
            problems.append("a cluster starts from an import or from a recovery, not both")
        if self.recovery_target_time and not self.recovery_source_archive:
            problems.append("a recovery target time needs recovery_source_archive")
        if self.recovery_source_archive and self.object_storage is None:
            problems.append("a recovery reads the archive from object_storage, which is unset")
        if self.recovery_target_time and not _TARGET_TIME.match(self.recovery_target_time):
            problems.append(
                f"recovery_target_time {self.recovery_target_time!r} is not an RFC 3339 time "
                "with a zone, such as 2026-11-25T14:30:00Z"
            )
        if self.recovery_source_archive and self.recovery_source_archive == self.archive_name:
            problems.append(
                "a recovery writes a new archive: archive_name must differ from "
                "recovery_source_archive"
            )
        if self.backup_schedule not in CRON_DESCRIPTORS and len(self.backup_schedule.split()) != 5:
            problems.append(f"backup_schedule {self.backup_schedule!r} is not five cron fields")
        request, _ = parse_quantity(self.resources["memory_request"])
        if request < shared_buffers_bytes(self.resources["memory_limit"]):
            # The CNPG webhook refuses a memory request below shared_buffers.
            problems.append(
                f"memory request {self.resources['memory_request']} is below shared_buffers "
                f"(a quarter of the limit {self.resources['memory_limit']})"
            )
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class CnpgCluster:
    host: pulumi.Output[str]
    port: int
    secret_name: pulumi.Output[str]
    # Labels of the instance pods, for the app's egress policy.
    selector: dict[str, str]
    cluster: k8s.apiextensions.CustomResource


def declare_cnpg_cluster(
    parent: pulumi.Resource,
    name: str,
    namespace: pulumi.Input[str],
    app: str,
    client_selector: Mapping[str, str],
    password: pulumi.Input[str],
    settings: CnpgSettings,
    cluster_domain: str,
) -> CnpgCluster:
    """Declares the Cluster named `name` and what it needs, as children of `parent`."""
    if not _CLUSTER_NAME.match(name) or len(name) > 50:
        raise ValueError(f"{name!r} cannot name a CNPG Cluster: a DNS-1035 label of 1-50 chars")
    # Our objects only: the operator labels the pods it creates itself (with
    # app.kubernetes.io/name: postgresql), so these never select or collide with them.
    labels = standard_labels(app, name, "database")
    child = pulumi.ResourceOptions(parent=parent)
    archive = settings.archive_name or name
    app_secret = k8s.core.v1.Secret(
        f"{name}-app-secret",
        # Auto-named, so its name follows the password: the provider treats Secrets as
        # immutable (a new password replaces the Secret), and a fixed name would make that
        # a delete before the create, leaving the Cluster's Secret missing in between. A
        # new name is created first; the Cluster's managed role then points at it and the
        # operator applies the new password to the role, then the old Secret is deleted.
        metadata=object_meta({**labels, "cnpg.io/reload": "true"}, namespace),
        type="kubernetes.io/basic-auth",
        data=secret_data({"username": settings.owner, "password": password}),
        opts=child,
    )
    backups = (
        declare_backups(parent, name, namespace, labels, settings, archive)
        if settings.object_storage
        else None
    )
    cluster = k8s.apiextensions.CustomResource(
        f"{name}-cluster",
        api_version=CLUSTER_API,
        kind="Cluster",
        metadata=object_meta(
            labels, namespace, name, annotations={"pulumi.com/waitFor": "condition=Ready"}
        ),
        spec=cluster_spec(name, settings, app_secret.metadata.name, backups, archive),
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=[backups.store] if backups else None,
            # Its name is fixed (it names the -rw Service): a replacement, such as a
            # point-in-time recovery, must delete the old Cluster first.
            delete_before_replace=True,
            protect=settings.protect,
            retain_on_delete=settings.protect,
            custom_timeouts=pulumi.CustomTimeouts(
                create=(
                    RECOVERY_READY_TIMEOUT if settings.recovery_source_archive else READY_TIMEOUT
                ),
                update=READY_TIMEOUT,
            ),
        ),
    )
    if backups:
        backups.schedule(cluster)
    if settings.pod_monitor:
        k8s.apiextensions.CustomResource(
            f"{name}-podmonitor",
            api_version="monitoring.coreos.com/v1",
            kind="PodMonitor",
            metadata=object_meta({**labels, **settings.pod_monitor_labels}, namespace, name),
            spec={
                "selector": {"matchLabels": instance_selector(name)},
                "podMetricsEndpoints": [{"port": "metrics"}],
            },
            opts=child,
        )
    declare_network_policy(
        parent,
        name,
        namespace,
        labels,
        client_selector,
        settings,
    )
    return CnpgCluster(
        # From names, not from the Cluster's outputs: those resolve only once it is
        # Ready, and the app must not wait for that to start rolling out.
        host=pulumi.Output.concat(f"{name}-rw.", namespace, f".svc.{cluster_domain}"),
        port=POSTGRES_PORT,
        secret_name=app_secret.metadata.name,
        selector=instance_selector(name),
        cluster=cluster,
    )
