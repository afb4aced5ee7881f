"""The app's pods: its ServiceAccount, settings and credentials, the Deployment, what
scales and protects it (autoscaler, disruption budget), and the alerts that watch it."""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .._shared.common import (
    connection_url,
    container_security_context,
    empty_dir_volume,
    hardened_pod_spec,
    http_probes,
    object_meta,
    resource_requirements,
    secret_data,
    topology_spread,
)
from ..observability.alert_rules import AppWatch, app_alerts, rule_group
from ..observability.monitoring import prometheus_rule
from .parts import COMPONENT, WebParts

# New pods must stay ready this long before the rollout counts them and moves on, so a
# pod that crashes right after its first successful probe stops the rollout.
MIN_READY_SECONDS = 5


def service_account(web: WebParts) -> k8s.core.v1.ServiceAccount:
    return k8s.core.v1.ServiceAccount(
        f"{web.name}-serviceaccount",
        metadata=object_meta(web.labels, web.namespace, web.name),
        automount_service_account_token=False,
        opts=web.opts(),
    )


def settings(web: WebParts) -> k8s.core.v1.ConfigMap:
    """Plain settings. Auto-named, like the Secret: new content gets a new name, which
    changes the pod template and rolls the pods onto the new values."""
    db = web.database
    return k8s.core.v1.ConfigMap(
        f"{web.name}-config",
        metadata=object_meta(web.labels, web.namespace),
        data={
            "DATABASE_HOST": db.host,
            "DATABASE_PORT": pulumi.Output.from_input(db.port).apply(str),
            "DATABASE_NAME": db.name,
            "DATABASE_USER": db.user,
            **web.env,
        },
        opts=web.opts(),
    )


def credentials(web: WebParts) -> k8s.core.v1.Secret | None:
    """Secret settings: the database password and URL (unless the password comes from a
    Secret of its own) and the secret environment variables; none if there are none."""
    db = web.database
    values = dict(web.secret_env)
    if db.password is not None:
        url = pulumi.Output.all(db.user, db.password, db.host, db.port, db.name).apply(
            lambda parts: connection_url(*parts)
        )
        values = {"DATABASE_PASSWORD": db.password, "DATABASE_URL": url, **values}
    if not values:
        return None
    return k8s.core.v1.Secret(
        f"{web.name}-credentials",
        metadata=object_meta(web.labels, web.namespace),
        type="Opaque",
        data=secret_data(values),
        opts=web.opts(),
    )


def _container(
    web: WebParts, config: k8s.core.v1.ConfigMap, secret: k8s.core.v1.Secret | None
) -> k8s.core.v1.ContainerArgs:
    probes = http_probes("http", web.health_path, web.readiness_path)
    sources = [
        k8s.core.v1.EnvFromSourceArgs(
            config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=config.metadata.name)
        )
    ]
    if secret is not None:
        sources.append(
            k8s.core.v1.EnvFromSourceArgs(
                secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=secret.metadata.name)
            )
        )
    db = web.database
    password_ref = k8s.core.v1.EnvVarArgs(
        name="DATABASE_PASSWORD",
        value_from=k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                name=db.password_secret, key=db.password_secret_key
            )
        ),
    )
    return k8s.core.v1.ContainerArgs(
        name=COMPONENT,
        image=web.image,
        command=web.command,
        args=web.args,
        ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=web.port)],
        env_from=sources,
        env=[password_ref] if db.password_secret is not None else None,
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
        resources=resource_requirements(web.resources),
        security_context=container_security_context(),
        startup_probe=probes.startup,
        readiness_probe=probes.readiness,
        liveness_probe=probes.liveness,
        # A stopping pod is removed from endpoints while it keeps serving; the pause lets
        # load balancers and kube-proxy catch up before the app gets SIGTERM. The sleep
        # action needs no shell or `sleep` binary in the image.
        lifecycle=k8s.core.v1.LifecycleArgs(
            pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                sleep=k8s.core.v1.SleepActionArgs(seconds=web.drain_seconds)
            )
        )
        if web.drain_seconds
        else None,
    )


def deployment(
    web: WebParts,
    account: k8s.core.v1.ServiceAccount,
    config: k8s.core.v1.ConfigMap,
    secret: k8s.core.v1.Secret | None,
) -> k8s.apps.v1.Deployment:
    """Rolls out a share of the replicas at a time and never goes below the desired count
    (maxUnavailable 0), spread over nodes and zones."""
    pod_spec = hardened_pod_spec(
        user_id=web.user_id,
        service_account_name=account.metadata.name,
        containers=[_container(web, config, secret)],
        volumes=[empty_dir_volume("tmp", "64Mi")],
        termination_grace_period_seconds=web.termination_grace_seconds,
        topology_spread_constraints=topology_spread(web.selector),
        image_pull_secrets=web.image_pull_secrets,
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
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=dict(web.labels)), spec=pod_spec
            ),
        ),
        # With an autoscaler the replica count is its to set: Pulumi sends the count when
        # it creates the Deployment, and leaves it alone on every later update.
        opts=web.opts(ignore_changes=["spec.replicas"] if autoscaling else None),
    )


def autoscaler(web: WebParts, target: k8s.apps.v1.Deployment) -> None:
    autoscaling = web.autoscaling
    if autoscaling is None:
        return
    targets = [
        ("cpu", autoscaling["cpu_percent"]),
        ("memory", autoscaling.get("memory_percent")),
    ]
    k8s.autoscaling.v2.HorizontalPodAutoscaler(
        f"{web.name}-hpa",
        metadata=object_meta(web.labels, web.namespace, web.name),
        spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
            scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                api_version="apps/v1", kind="Deployment", name=target.metadata.name
            ),
            min_replicas=autoscaling["min_replicas"],
            max_replicas=autoscaling["max_replicas"],
            metrics=[
                k8s.autoscaling.v2.MetricSpecArgs(
                    type="Resource",
                    resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                        name=resource,
                        target=k8s.autoscaling.v2.MetricTargetArgs(
                            type="Utilization", average_utilization=percent
                        ),
                    ),
                )
                for resource, percent in targets
                if percent
            ],
        ),
        opts=web.opts(),
    )


def disruption_budget(web: WebParts) -> None:
    """maxUnavailable (not minAvailable) always lets one pod go, so a node drain proceeds
    even at the minimum count; unhealthy pods never block it. Only where more than one
    pod can run: over one pod a budget would block every drain or protect nothing."""
    if web.most_replicas <= 1:
        return
    k8s.policy.v1.PodDisruptionBudget(
        f"{web.name}-pdb",
        metadata=object_meta(web.labels, web.namespace, web.name),
        spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
            max_unavailable=1,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(web.selector)),
            unhealthy_pod_eviction_policy="AlwaysAllow",
        ),
        opts=web.opts(),
    )


def alert_rules(web: WebParts) -> None:
    """The app's alerts, in a PrometheusRule of its own."""
    monitoring = web.monitoring
    if monitoring is None or not monitoring.alerts:
        return

    def groups(resolved: list[Any]) -> list[dict]:
        namespace, runbook_url = resolved
        watch = AppWatch(
            namespace=namespace,
            deployment=web.name,
            autoscaler=web.name if web.autoscaling else None,
        )
        return [rule_group(f"{web.name}-app", app_alerts(watch), runbook_url)]

    prometheus_rule(
        f"{web.name}-alerts",
        web.namespace,
        {**monitoring.labels, **web.labels},
        pulumi.Output.all(web.namespace, monitoring.runbook_url).apply(groups),
        web.opts(),
    )
