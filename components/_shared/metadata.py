"""Labels, annotations and object metadata every object of the package carries."""

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

MANAGED_BY = "pulumi"
# The explicit allow the policy pack looks for on a LoadBalancer Service.
ALLOW_LOAD_BALANCER_ANNOTATION = "webapp.dev/allow-load-balancer"
SKIP_AWAIT = "pulumi.com/skipAwait"


def selector_labels(app: str, instance: str, component: str) -> dict[str, str]:
    """Labels that identify one component instance's pods. `instance` is the component's
    resource name, so two instances never select each other's pods. Never change them on
    a live workload: the selector is immutable and a change forces a replacement."""
    return {
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
    }


def standard_labels(app: str, instance: str, component: str) -> dict[str, str]:
    return {
        **selector_labels(app, instance, component),
        "app.kubernetes.io/part-of": app,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def object_meta(
    labels: Mapping[str, str],
    namespace: pulumi.Input[str] | None = None,
    name: str | None = None,
    annotations: Mapping[str, pulumi.Input[str]] | None = None,
) -> k8s.meta.v1.ObjectMetaArgs:
    """Object metadata; leave `name` unset to let the provider auto-name the object, which
    makes it replaced (and its users rolled) whenever its content changes."""
    return k8s.meta.v1.ObjectMetaArgs(
        name=name,
        namespace=namespace,
        labels=dict(labels),
        annotations=dict(annotations) if annotations else None,
    )
