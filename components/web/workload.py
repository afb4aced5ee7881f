"""The app's Deployment and its pod: how it rolls out, where it runs, and how many pods
it can have at once."""

import pulumi
import pulumi_kubernetes as k8s

from .._shared.metadata import object_meta
from .._shared.pods import empty_dir_volume, hardened_pod_spec, surge_pods, topology_spread
from .containers import app_container, sidecar_containers
from .parts import WebParts

# New pods must stay ready this long before the rollout counts them and moves on, so a
# pod that crashes right after its first successful probe stops the rollout.
MIN_READY_SECONDS = 5


def pod_spec(
    web: WebParts,
    account_name: pulumi.Input[str],
    config_name: pulumi.Input[str],
    secret_name: pulumi.Input[str] | None,
) -> k8s.core.v1.PodSpecArgs:
    """The app's pod, as the Deployment declares it and the namespace's quota is sized
    from (WebService.pods): every container of it is here."""
    return hardened_pod_spec(
        user_id=web.user_id,
        service_account_name=account_name,
        containers=[app_container(web, config_name, secret_name), *sidecar_containers(web)],
        volumes=[empty_dir_volume("tmp", "64Mi")],
        termination_grace_period_seconds=web.termination_grace_seconds,
        topology_spread_constraints=topology_spread(web.selector),
        image_pull_secrets=web.image_pull_secrets,
    )


def most_pods(web: WebParts) -> int:
    """App pods at once at the most: the most replicas, plus a rollout's surge."""
    return web.most_replicas + surge_pods(web.most_replicas, web.max_surge)


def deployment(
    web: WebParts,
    account: k8s.core.v1.ServiceAccount,
    config: k8s.core.v1.ConfigMap,
    secret: k8s.core.v1.Secret | None,
) -> k8s.apps.v1.Deployment:
    """Rolls out a share of the replicas at a time and never goes below the desired count
    (maxUnavailable 0), spread over nodes and zones."""
    spec = pod_spec(
        web,
        account.metadata.name,
        config.metadata.name,
        secret.metadata.name if secret is not None else None,
    )
    autoscaling = web.autoscaling
    return k8s.apps.v1.Deployment(
        f"{web.name}-deployment",
        metadata=object_meta(web.labels, web.namespace, web.name),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            replicas=autoscaling["min_replicas"] if autoscaling else web.replicas,
            min_ready_seconds=MIN_READY_SECONDS,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(web.selector)),
            strategy=k8s.apps.v1.DeploymentStrategyArgs(
                type="RollingUpdate",
                rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                    max_surge=web.max_surge, max_unavailable=0
                ),
            ),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=dict(web.labels)), spec=spec
            ),
        ),
        # With an autoscaler the replica count is its to set: Pulumi sends the count when
        # it creates the Deployment, and leaves it alone on every later update.
        opts=web.opts(ignore_changes=["spec.replicas"] if autoscaling else None),
    )
