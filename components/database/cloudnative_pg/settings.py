"""What the CloudNativePG engine is given besides names: its settings, checked when they
are made, and a live server to import from. Every builder of the engine imports them from
here, so the builders and the Cluster do not import each other."""

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

from ..._shared.quantity import parse_quantity
from ..._shared.resources import ContainerResources
from ..args import ObjectStorage
from .rules import CRON_DESCRIPTORS, shared_buffers_bytes

DEFAULT_IMAGE = "ghcr.io/cloudnative-pg/postgresql:17.6-minimal-bookworm"
# RFC 3339 with an explicit zone: CNPG reads a time without one as UTC, which is rarely
# what someone typing a local time meant.
_TARGET_TIME = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


@dataclass(frozen=True)
class CnpgImport:
    """A live server to copy `database` from once, when the Cluster is created: CNPG's
    bootstrap.initdb.import (microservice type) runs pg_dump as `user` and restores into
    the new database, owned by the app's role. The way off the statefulset engine."""

    host: str
    database: str
    user: str
    # A Secret in the Cluster's namespace holding `user`'s password.
    password_secret: str
    password_key: str
    # Labels of the server's pods: the import job's egress policy opens them.
    source_selector: Mapping[str, str]
    port: int = 5432


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
    # May be another resource's output: the image decides no object's existence or name,
    # and a program can so hold the Cluster back until a check of the image has passed.
    image: pulumi.Input[str] = DEFAULT_IMAGE
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
    # log_min_duration_statement: statements at least this slow are logged (-1: none).
    slow_statement_ms: int = 500
    # The API server's addresses; empty: any address on its ports.
    api_server_cidrs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems = []
        for cidr in self.api_server_cidrs:
            try:
                ipaddress.ip_network(cidr)
            except ValueError:
                problems.append(
                    f"apiServerCidrs holds '{cidr}', which is not a CIDR such as 10.0.0.10/32"
                )
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
