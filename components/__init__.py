"""Reusable components that make up the webapp stack."""

from .app_namespace import AppNamespace, AppNamespaceArgs, Quota
from .common import ContainerResources
from .monitoring import Monitoring
from .postgres_database import (
    DatabaseConnection,
    Metrics,
    PostgresDatabase,
    PostgresDatabaseArgs,
)
from .postgres_jobs import Backups, ObjectStorage
from .postgres_logging import ServerLogs
from .web_service import Autoscaling, Ingress, WebService, WebServiceArgs

__all__ = [
    "AppNamespace",
    "AppNamespaceArgs",
    "Autoscaling",
    "Backups",
    "ContainerResources",
    "DatabaseConnection",
    "Ingress",
    "Metrics",
    "Monitoring",
    "ObjectStorage",
    "PostgresDatabase",
    "PostgresDatabaseArgs",
    "Quota",
    "ServerLogs",
    "WebService",
    "WebServiceArgs",
]
