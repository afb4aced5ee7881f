"""The webapp component package: AppNamespace, PostgresDatabase and WebService.

A Python program imports them from here; a program in any other Pulumi language adds
the package with `pulumi package add` and gets them from the provider in __main__.py.
"""

from .app_namespace import AppNamespace, AppNamespaceArgs, Quota
from .common import ContainerResources
from .monitoring import Monitoring
from .package import PACKAGE, VERSION, PackageProvider
from .postgres_backups import Backups
from .postgres_database import PostgresDatabase, PostgresDatabaseArgs
from .postgres_engine_cnpg import CloudNativePg
from .postgres_logging import ServerLogs
from .postgres_metrics import Metrics
from .postgres_object_storage import ObjectStorage
from .web_args import Autoscaling, EgressRule, Ingress, WebServiceArgs
from .web_service import WebService

COMPONENTS = [AppNamespace, PostgresDatabase, WebService]
"""What the package serves to other languages."""

__version__ = VERSION
__all__ = [
    "COMPONENTS",
    "PACKAGE",
    "VERSION",
    "AppNamespace",
    "AppNamespaceArgs",
    "Autoscaling",
    "Backups",
    "CloudNativePg",
    "ContainerResources",
    "EgressRule",
    "Ingress",
    "Metrics",
    "Monitoring",
    "ObjectStorage",
    "PackageProvider",
    "PostgresDatabase",
    "PostgresDatabaseArgs",
    "Quota",
    "ServerLogs",
    "WebService",
    "WebServiceArgs",
]
