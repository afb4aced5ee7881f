"""What every component builds with: the package's name, version, type tokens and input
checks (package), labels, object metadata, security contexts, probes and pod specs
(common), Kubernetes quantities (quantity) and cron schedules (cron). Imports nothing else
of components/."""

from .common import ContainerResources
from .package import PACKAGE, VERSION, InvalidInput, PackageProvider

__all__ = ["PACKAGE", "VERSION", "ContainerResources", "InvalidInput", "PackageProvider"]
