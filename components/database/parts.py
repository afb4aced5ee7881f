"""What every builder of a PostgresDatabase shares: where things live in the pod, and the
instance's checked inputs, names and labels."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from .._shared.resources import ContainerResources
from ..observability.monitoring import Watching
from .args import ServerLogs

POSTGRES_PORT = 5432
EXPORTER_PORT = 9187
# The uid the server and its jobs run as unless told otherwise: 10000 and up clash with no
# user of the node. The official image runs as any uid that owns PGDATA (999 is its own
# `postgres` user, which stacks created before this default keep: see `user_id`).
POSTGRES_USER_ID = 10999
DATA_MOUNT = "/var/lib/postgresql/data"
# initdb refuses a mount point that holds `lost+found`, so PGDATA is one level down. Set
# explicitly, it also holds for images from 18 on, whose default PGDATA moved.
PGDATA = f"{DATA_MOUNT}/pgdata"
SOCKET_DIR = "/var/run/postgresql"
CONFIG_MOUNT = "/etc/postgresql/webapp"
SECRETS_MOUNT = "/run/secrets/postgres"
EXPORTER_SECRETS_MOUNT = "/run/secrets/exporter"
# Keys of the database's Secret: one password per role.
PASSWORD_KEY = "password"
SUPERUSER_PASSWORD_KEY = "superuser-password"
EXPORTER_PASSWORD_KEY = "exporter-password"
ROLE_PASSWORD_KEYS = (PASSWORD_KEY, SUPERUSER_PASSWORD_KEY, EXPORTER_PASSWORD_KEY)
# Postgres stops on SIGINT with a fast shutdown and a checkpoint; on a busy or slow disk
# that takes longer than Kubernetes' default 30 s, after which it would be killed and
# have to run crash recovery on the next start.
TERMINATION_GRACE_SECONDS = 120


@dataclass(frozen=True)
class DatabaseParts:
    """One PostgresDatabase instance: its checked inputs, and the names and labels every
    object of it is built from."""

    name: str
    app: str
    namespace: pulumi.Input[str]
    image: pulumi.Input[str]
    database: pulumi.Input[str]
    user: pulumi.Input[str]
    resources: ContainerResources
    storage_class: pulumi.Input[str] | None
    # False: a storage class change never replaces an existing volume (see the claims).
    allow_storage_class_change: bool
    protect: bool
    # None: the parts size the pods (PostgresDatabase.pods) and declare nothing.
    parent: pulumi.Resource | None
    user_id: int = POSTGRES_USER_ID
    logs: ServerLogs | None = None
    # None: no operator labels and no alert rules.
    monitoring: Watching | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    selector: Mapping[str, str] = field(default_factory=dict)

    def opts(self, **options: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self.parent, **options)
