"""AppNamespace: a namespace hardened for running untrusted-by-default workloads."""

import json
from typing import NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from .._shared.metadata import object_meta, standard_labels
from .._shared.network import dns_egress_rule
from .._shared.package import component_options, component_type, known, whole
from .._shared.resources import ContainerResources
from ..observability.dashboard import SIDECAR_LABEL, grafana_dashboard

POD_SECURITY_LEVEL = "restricted"
# For containers that declare no resources (ours always do): a quota on cpu/memory
# otherwise rejects such pods outright.
DEFAULT_CONTAINER_RESOURCES = ContainerResources(
    cpu_request="100m", cpu_limit="500m", memory_request="128Mi", memory_limit="256Mi"
)


class Quota(TypedDict):
    """The namespace's ResourceQuota: what all its pods and volumes may use together."""

    cpu: pulumi.Input[str]
    """CPU requests and limits of all pods together, such as 4."""
    memory: pulumi.Input[str]
    """Memory requests and limits of all pods together, such as 4Gi."""
    storage: pulumi.Input[str]
    """Storage all volume claims may request together, such as 20Gi."""
    pods: pulumi.Input[int]
    """Number of pods."""


class AppNamespaceArgs(TypedDict):
    namespace: pulumi.Input[str]
    """Name of the namespace to create (a DNS label, not a system namespace)."""
    app: pulumi.Input[str]
    """Name of the application, in the labels of every object."""
    quota: pulumi.Input[Quota]
    """The namespace's quota on CPU, memory, storage and pods."""
    container_defaults: NotRequired[pulumi.Input[ContainerResources]]
    """Requests and limits (LimitRange) of containers that declare none; 100m/500m CPU and
    128Mi/256Mi memory if unset."""
    protect: NotRequired[pulumi.Input[bool]]
    """Protect the namespace from deletion and replacement and keep it if deleted:
    deleting a namespace deletes every volume in it. Must be a plain value."""
    dashboard: NotRequired[pulumi.Input[bool]]
    """A Grafana dashboard of everything in the namespace (the app, the database, backups
    and volumes), in a ConfigMap labelled for Grafana's dashboard sidecar; none if unset.
    Must be a plain value."""
    database_engine: NotRequired[pulumi.Input[str]]
    """The engine of the namespace's database, whose metrics the dashboard reads:
    statefulset (the postgres exporter's, the backup CronJob's) or cloudnative-pg
    (CloudNativePG's and the Barman Cloud plugin's); statefulset if unset. Must be a plain
    value."""
    database_backups: NotRequired[pulumi.Input[bool]]
    """Whether the database takes backups (statefulset: its dumps; cloudnative-pg: a WAL
    archive and base backups in object storage): without, the dashboard has no backup
    panels. True if unset. Must be a plain value."""


class AppNamespace(pulumi.ComponentResource):
    """A namespace labelled to enforce Pod Security "restricted", with a ResourceQuota, a
    LimitRange giving containers default resources, a default-deny NetworkPolicy for
    ingress and egress, and the DNS egress every pod needs; optionally a Grafana dashboard
    of the namespace."""

    namespace_name: pulumi.Output[str]
    """Name of the created namespace; using it makes objects wait for the namespace."""

    def __init__(
        self, name: str, args: AppNamespaceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            component_type("AppNamespace"), name, None, component_options("AppNamespace", opts)
        )
        self._name = name
        app = known(args["app"], "AppNamespace input 'app'")
        self._labels = standard_labels(app, name, "namespace")
        protect = bool(known(args.get("protect", False), "AppNamespace input 'protect'"))

        self._namespace_name = self._namespace(args["namespace"], protect).metadata.name
        guards = [
            self._quota(known(args["quota"], "AppNamespace input 'quota'")),
            self._limit_range(args.get("container_defaults") or DEFAULT_CONTAINER_RESOURCES),
            *self._network_policies(),
        ]
        if known(args.get("dashboard"), "AppNamespace input 'dashboard'"):
            engine = str(
                known(args.get("database_engine"), "AppNamespace input 'databaseEngine'")
                or "statefulset"
            )
            backups = known(args.get("database_backups"), "AppNamespace input 'databaseBackups'")
            guards.append(self._dashboard(app, args["namespace"], engine, backups is not False))
        # Objects given this name also wait for the namespace's guards (quota, limit range,
        # network policies, dashboard). The engine deletes an object only after everything
        # that depends on it, and a refused deletion (a protected object) keeps everything
        # it depends on: through this name the guards outlive every object in the
        # namespace. URNs are known even in a preview, so the name stays known.
        self.namespace_name = pulumi.Output.all(
            self._namespace_name, *(guard.urn for guard in guards)
        ).apply(lambda values: values[0])
        self.register_outputs({"namespace_name": self.namespace_name})

    def _child(self, suffix: str) -> tuple[str, k8s.meta.v1.ObjectMetaArgs]:
        """Resource name and metadata of a child named `<component>-<suffix>`. Taking the
        namespace from the created Namespace makes every child wait for it."""
        name = f"{self._name}-{suffix}"
        return name, object_meta(self._labels, self._namespace_name, name)

    def _namespace(self, namespace: pulumi.Input[str], protect: bool) -> k8s.core.v1.Namespace:
        pod_security = {
            f"pod-security.kubernetes.io/{mode}": POD_SECURITY_LEVEL
            for mode in ("enforce", "audit", "warn")
        } | {
            f"pod-security.kubernetes.io/{mode}-version": "latest"
            for mode in ("enforce", "audit", "warn")
        }
        return k8s.core.v1.Namespace(
            f"{self._name}-namespace",
            metadata=object_meta({**self._labels, **pod_security}, name=namespace),
            # Deleting or replacing the namespace deletes every volume in it, so when the
            # data must survive, the namespace is protected and retained too.
            opts=pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect),
        )

    def _quota(self, quota: Quota) -> k8s.core.v1.ResourceQuota:
        name, metadata = self._child("quota")
        pods = whole(quota["pods"], "AppNamespace input 'quota.pods'")
        return k8s.core.v1.ResourceQuota(
            name,
            metadata=metadata,
            spec=k8s.core.v1.ResourceQuotaSpecArgs(
                hard={
                    "requests.cpu": quota["cpu"],
                    "limits.cpu": quota["cpu"],
                    "requests.memory": quota["memory"],
                    "limits.memory": quota["memory"],
                    "requests.storage": quota["storage"],
                    "pods": pulumi.Output.from_input(pods).apply(str),
                }
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _limit_range(self, defaults: ContainerResources) -> k8s.core.v1.LimitRange:
        name, metadata = self._child("limits")
        return k8s.core.v1.LimitRange(
            name,
            metadata=metadata,
            spec=k8s.core.v1.LimitRangeSpecArgs(
                limits=[
                    k8s.core.v1.LimitRangeItemArgs(
                        type="Container",
                        default={"cpu": defaults["cpu_limit"], "memory": defaults["memory_limit"]},
                        default_request={
                            "cpu": defaults["cpu_request"],
                            "memory": defaults["memory_request"],
                        },
                    )
                ]
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _network_policies(self) -> list[k8s.networking.v1.NetworkPolicy]:
        every_pod = k8s.meta.v1.LabelSelectorArgs()
        name, metadata = self._child("default-deny")
        deny = k8s.networking.v1.NetworkPolicy(
            name,
            metadata=metadata,
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=every_pod, policy_types=["Ingress", "Egress"]
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        name, metadata = self._child("allow-dns")
        dns = k8s.networking.v1.NetworkPolicy(
            name,
            metadata=metadata,
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=every_pod, policy_types=["Egress"], egress=[dns_egress_rule()]
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return [deny, dns]

    def _dashboard(
        self, app: str, namespace: pulumi.Input[str], engine: str, backups: bool
    ) -> k8s.core.v1.ConfigMap:
        """The namespace's dashboard, in a ConfigMap that Grafana's sidecar loads. The
        namespace holds one stack, so its queries select by namespace alone; the file name
        carries the namespace, since the sidecar puts the dashboards of every namespace
        into one directory."""
        name = f"{self._name}-dashboard"
        return k8s.core.v1.ConfigMap(
            name,
            metadata=object_meta({**self._labels, **SIDECAR_LABEL}, self._namespace_name, name),
            data=pulumi.Output.from_input(namespace).apply(
                lambda namespace: {
                    f"{namespace}-{self._name}.json": json.dumps(
                        grafana_dashboard(app, namespace, engine, backups), indent=1
                    )
                }
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
