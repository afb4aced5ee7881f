"""CPU and memory of a container, and the fixed sizes of the helper containers."""

from typing import TypedDict

import pulumi
import pulumi_kubernetes as k8s


class ContainerResources(TypedDict):
    """CPU and memory of a container, as Kubernetes quantities."""

    cpu_request: pulumi.Input[str]
    """CPU the container is guaranteed, such as 250m."""
    cpu_limit: pulumi.Input[str]
    """CPU the container may use at most, such as 1."""
    memory_request: pulumi.Input[str]
    """Memory the container is guaranteed, such as 256Mi."""
    memory_limit: pulumi.Input[str]
    """Memory the container may use at most (it is killed beyond), such as 512Mi."""


def resource_requirements(resources: ContainerResources) -> k8s.core.v1.ResourceRequirementsArgs:
    return k8s.core.v1.ResourceRequirementsArgs(
        requests={"cpu": resources["cpu_request"], "memory": resources["memory_request"]},
        limits={"cpu": resources["cpu_limit"], "memory": resources["memory_limit"]},
    )


# Sidecar and job sizes are fixed: they do little work whatever the database's size.
EXPORTER_RESOURCES = ContainerResources(
    cpu_request="50m", cpu_limit="200m", memory_request="64Mi", memory_limit="128Mi"
)
BACKUP_RESOURCES = ContainerResources(
    cpu_request="100m", cpu_limit="500m", memory_request="128Mi", memory_limit="512Mi"
)
