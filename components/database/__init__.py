"""PostgresDatabase (`webapp:index:PostgresDatabase`) and its two engines behind one
seam (engine): the built-in server as a StatefulSet (statefulset/) and a CloudNativePG
Cluster (cloudnative_pg/). What both share: the resolved inputs (parts) and the object
storage for backups (object_storage)."""

from .cloudnative_pg import CloudNativePg
from .component import PostgresDatabase, PostgresDatabaseArgs
from .engine import ENGINES
from .object_storage import ObjectStorage
from .statefulset.backups import Backups
from .statefulset.metrics import Metrics
from .statefulset.server_logs import ServerLogs

__all__ = [
    "ENGINES",
    "Backups",
    "CloudNativePg",
    "Metrics",
    "ObjectStorage",
    "PostgresDatabase",
    "PostgresDatabaseArgs",
    "ServerLogs",
]
