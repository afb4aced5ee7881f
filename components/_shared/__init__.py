"""What every component builds with, each rule written once so every workload gets it
(Pod Security "restricted", probe tuning, label conventions): labels and object metadata
(metadata), Secret values (secrets), container sizes (resources), security contexts
(security), probes (probes), pod specs (pods), NetworkPolicy peers and DNS egress
(network), Kubernetes quantities (quantity), cron schedules (cron), and the package's
name, version, type tokens and input checks (package). Imports nothing else of
components/."""

from .package import PACKAGE, VERSION, InvalidInput, PackageProvider
from .resources import ContainerResources

__all__ = ["PACKAGE", "VERSION", "ContainerResources", "InvalidInput", "PackageProvider"]
