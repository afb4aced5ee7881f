"""The pods the CNPG operator runs for a Cluster, as it builds them from what the Cluster
and its ObjectStore declare (CNPG 1.30 pkg/specs/pods.go and jobs.go; the Barman Cloud
plugin's pod and job lifecycle hooks), with what a namespace's quota counts in them:
their containers' names and resources. The operator creates these pods, not Pulumi, so
this is the one place that says what they hold."""

import pulumi_kubernetes as k8s

from ..._shared.pods import PodDemand
from .backup import sidecar_resources
from .settings import CnpgSettings
from .spec import instance_resources

# The operator's own names for the containers it puts in every instance and job pod.
POSTGRES_CONTAINER = "postgres"
BOOTSTRAP_CONTAINER = "bootstrap-controller"
# The plugin's sidecar, a native sidecar (an init container with restartPolicy Always).
PLUGIN_SIDECAR = "plugin-barman-cloud"


def _container(
    name: str, resources: dict, restart_policy: str | None = None
) -> k8s.core.v1.ContainerArgs:
    return k8s.core.v1.ContainerArgs(
        name=name,
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests=dict(resources["requests"]), limits=dict(resources["limits"])
        ),
        restart_policy=restart_policy,
    )


def _pod(settings: CnpgSettings, container: str, sidecar: bool) -> k8s.core.v1.PodSpecArgs:
    """The bootstrap-controller init container and the main container both get the
    Cluster's `resources`; the plugin's sidecar gets the ObjectStore's
    instanceSidecarConfiguration resources."""
    resources = instance_resources(settings)
    inits = [_container(BOOTSTRAP_CONTAINER, resources)]
    if sidecar:
        inits.append(_container(PLUGIN_SIDECAR, sidecar_resources(settings.resources), "Always"))
    return k8s.core.v1.PodSpecArgs(
        init_containers=inits, containers=[_container(container, resources)]
    )


def cnpg_pods(settings: CnpgSettings) -> list[PodDemand]:
    """Every instance, with the plugin's sidecar while it archives to a bucket; and one job
    pod (initdb, join or a recovery) beside them while the operator creates an instance.
    The plugin adds its sidecar to a recovery job only (the one that reads the archive);
    an initdb or join job runs without it."""
    archiving = settings.object_storage is not None
    recovering = archiving and bool(settings.recovery_source_archive)
    job = "full-recovery" if recovering else "initdb"
    instances = settings.instances
    return [
        PodDemand(
            instances,
            _pod(settings, POSTGRES_CONTAINER, archiving),
            f"{instances} database instances",
        ),
        PodDemand(1, _pod(settings, job, recovering), "an operator job"),
    ]
