"""What scales the app and keeps it up while nodes drain: its autoscaler and its
disruption budget."""

import pulumi_kubernetes as k8s

from .._shared.metadata import object_meta
from .parts import WebParts


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
