"""The webapp component package: AppNamespace, PostgresDatabase and WebService.

One package per component (namespace/, web/, database/ with its engines statefulset/ and
cloudnative_pg/ behind one seam), observability/ for what they share of monitoring, and
_shared/ for labels, security contexts, probes, quantities and the package's own name,
version and input checks. Each package's __init__ names what it offers.

A Python program imports them from here; a program in any other Pulumi language adds
the package with `pulumi package add` and gets them from the provider in __main__.py.
"""

from ._shared.common import ContainerResources
from ._shared.package import PACKAGE, VERSION, PackageProvider
from .database import (
    Backups,
    CloudNativePg,
    Metrics,
    ObjectStorage,
    PostgresDatabase,
    PostgresDatabaseArgs,
    ServerLogs,
)
from .namespace import AppNamespace, AppNamespaceArgs, Quota
from .observability import Monitoring
from .web import Autoscaling, EgressRule, Ingress, WebService, WebServiceArgs

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
