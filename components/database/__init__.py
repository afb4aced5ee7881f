"""PostgresDatabase (`webapp:index:PostgresDatabase`) and its two engines behind one
seam (engine: each engine declares its objects and names its pods through the same two
functions): the built-in server as a StatefulSet (statefulset/) and a CloudNativePG
Cluster (cloudnative_pg/). The component's and the engines' inputs are in args; what both
engines share: the resolved inputs (parts), the object storage for backups
(object_storage) and the deletion guard (deletion_guard). Neither engine imports the
other or the component."""

from .args import Backups, Metrics, ObjectStorage, PostgresDatabaseArgs, ServerLogs
from .cloudnative_pg import CloudNativePg
from .component import PostgresDatabase
from .engine import ENGINES

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
