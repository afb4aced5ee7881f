"""Reusable components that make up the webapp stack."""

from .app_namespace import AppNamespace, AppNamespaceArgs, Quota
from .common import ContainerResources
from .postgres_database import PostgresDatabase, PostgresDatabaseArgs
from .web_service import DatabaseConnection, WebService, WebServiceArgs

__all__ = [
    "AppNamespace",
    "AppNamespaceArgs",
    "ContainerResources",
    "DatabaseConnection",
    "PostgresDatabase",
    "PostgresDatabaseArgs",
    "Quota",
    "WebService",
    "WebServiceArgs",
]
