"""AppNamespace: a namespace hardened for running untrusted-by-default workloads."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from .common import component_type, dns_egress_rule, object_meta, standard_labels
from .dashboard import SIDECAR_LABEL, grafana_dashboard


@dataclass(frozen=True)
class Quota:
    cpu: str
    memory: str
    storage: str
    pods: int


@dataclass(frozen=True)
class AppNamespaceArgs:
    namespace: str
    app: str
    quota: Quota
    # Deleting or replacing the namespace deletes every volume in it, so when the data
    # must survive, the namespace is protected and retained too.
    protect: bool = False
    # Applied to containers that declare no resources (our own always do): a quota on
    # cpu/memory otherwise rejects such pods outright.
    default_limits: dict[str, str] = field(
        default_factory=lambda: {"cpu": "500m", "memory": "256Mi"}
    )
    default_requests: dict[str, str] = field(
        default_factory=lambda: {"cpu": "100m", "memory": "128Mi"}
    )
    # A Grafana dashboard of everything in the namespace (components/dashboard.py).
    dashboard: bool = False


POD_SECURITY_LEVEL = "restricted"


class AppNamespace(pulumi.ComponentResource):
    """The namespace, labelled to enforce Pod Security "restricted"; a quota and default
    container resources; a default-deny network policy for ingress and egress, plus the
    DNS egress every pod needs."""

    namespace_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: AppNamespaceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(component_type("AppNamespace"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = standard_labels(args.app, name, "namespace")

        pod_security = {
            f"pod-security.kubernetes.io/{mode}": POD_SECURITY_LEVEL
            for mode in ("enforce", "audit", "warn")
        } | {
            f"pod-security.kubernetes.io/{mode}-version": "latest"
            for mode in ("enforce", "audit", "warn")
        }
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=object_meta({**labels, **pod_security}, name=args.namespace),
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protect, retain_on_delete=args.protect
            ),
        )
        # Taking the name from the created Namespace makes every object below wait for it.
        self.namespace_name = namespace.metadata.name

        k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=object_meta(labels, self.namespace_name, f"{name}-quota"),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(
                hard={
                    "requests.cpu": args.quota.cpu,
                    "limits.cpu": args.quota.cpu,
                    "requests.memory": args.quota.memory,
                    "limits.memory": args.quota.memory,
                    "requests.storage": args.quota.storage,
                    "pods": str(args.quota.pods),
                }
            ),
            opts=child,
        )
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=object_meta(labels, self.namespace_name, f"{name}-limits"),
            spec=k8s.core.v1.LimitRangeSpecArgs(
                limits=[
                    k8s.core.v1.LimitRangeItemArgs(
                        type="Container",
                        default=dict(args.default_limits),
                        default_request=dict(args.default_requests),
                    )
                ]
            ),
            opts=child,
        )
        every_pod = k8s.meta.v1.LabelSelectorArgs()
        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata=object_meta(labels, self.namespace_name, f"{name}-default-deny"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=every_pod, policy_types=["Ingress", "Egress"]
            ),
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-dns",
            metadata=object_meta(labels, self.namespace_name, f"{name}-allow-dns"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=every_pod, policy_types=["Egress"], egress=[dns_egress_rule()]
            ),
            opts=child,
        )
        if args.dashboard:
            self._dashboard(name, args, labels)
        self.register_outputs({"namespace_name": self.namespace_name})

    def _dashboard(self, name: str, args: AppNamespaceArgs, labels: dict[str, str]) -> None:
        """The namespace's dashboard, in a ConfigMap that Grafana's sidecar loads. The
        namespace holds one stack, so its queries select by namespace alone; the file name
        carries the namespace, since the sidecar puts the dashboards of every namespace
        into one directory."""
        k8s.core.v1.ConfigMap(
            f"{name}-dashboard",
            metadata=object_meta(
                {**labels, **SIDECAR_LABEL}, self.namespace_name, f"{name}-dashboard"
            ),
            data={
                f"{args.namespace}-{name}.json": json.dumps(
                    grafana_dashboard(args.app, args.namespace), indent=1
                )
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
