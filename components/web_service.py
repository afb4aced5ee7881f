"""WebService: the stateless web application, its settings, credentials and Service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from .common import (
    ROLLOUT_MAX_SURGE,
    ContainerResources,
    component_type,
    container_security_context,
    dns_egress_rule,
    empty_dir_volume,
    hardened_pod_spec,
    http_probes,
    object_meta,
    secret_data,
    selector_labels,
    standard_labels,
)

COMPONENT = "web"


@dataclass(frozen=True)
class DatabaseConnection:
    host: pulumi.Input[str]
    port: pulumi.Input[int]
    name: pulumi.Input[str]
    user: pulumi.Input[str]
    password: pulumi.Input[str]
    url: pulumi.Input[str]
    # Labels of the database pods, which the app's egress policy admits.
    selector: Mapping[str, str]


@dataclass(frozen=True)
class WebServiceArgs:
    namespace: pulumi.Input[str]
    app: str
    image: str
    replicas: int
    port: int
    service_port: int
    service_type: str
    health_path: str
    readiness_path: str
    user_id: int
    resources: ContainerResources
    database: DatabaseConnection
    cluster_domain: str = "cluster.local"


class WebService(pulumi.ComponentResource):
    """A ServiceAccount without API token; a Deployment that rolls out without dropping
    below its desired count, reading plain settings from a ConfigMap and credentials
    from a Secret; a Service; and a NetworkPolicy that admits traffic to the app port and
    lets the app reach its database and DNS.

    The ConfigMap and Secret are auto-named, so a change of either gets a new name, which
    changes the pod template and rolls the pods onto the new values."""

    service_name: pulumi.Output[str]
    url: pulumi.Output[str]

    @staticmethod
    def pod_selector(app: str, name: str) -> dict[str, str]:
        """The labels of the pods a WebService called `name` will run, known before it is
        created so that a database can admit them."""
        return selector_labels(app, name, COMPONENT)

    def __init__(
        self, name: str, args: WebServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(component_type("WebService"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = standard_labels(args.app, name, COMPONENT)
        selector = self.pod_selector(args.app, name)
        db = args.database

        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-serviceaccount",
            metadata=object_meta(labels, args.namespace, name),
            automount_service_account_token=False,
            opts=child,
        )
        settings = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=object_meta(labels, args.namespace),
            data={
                "DATABASE_HOST": db.host,
                "DATABASE_PORT": pulumi.Output.from_input(db.port).apply(str),
                "DATABASE_NAME": db.name,
                "DATABASE_USER": db.user,
            },
            opts=child,
        )
        credentials = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata=object_meta(labels, args.namespace),
            type="Opaque",
            data=secret_data({"DATABASE_PASSWORD": db.password, "DATABASE_URL": db.url}),
            opts=child,
        )

        probes = http_probes("http", args.health_path, args.readiness_path)
        container = k8s.core.v1.ContainerArgs(
            name=COMPONENT,
            image=args.image,
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=args.port)],
            env_from=[
                k8s.core.v1.EnvFromSourceArgs(
                    config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=settings.metadata.name)
                ),
                k8s.core.v1.EnvFromSourceArgs(
                    secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=credentials.metadata.name)
                ),
            ],
            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
            resources=args.resources.to_k8s(),
            security_context=container_security_context(),
            startup_probe=probes.startup,
            readiness_probe=probes.readiness,
            liveness_probe=probes.liveness,
        )
        k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=object_meta(labels, args.namespace, name),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=args.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_surge=ROLLOUT_MAX_SURGE, max_unavailable=0
                    ),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=hardened_pod_spec(
                        user_id=args.user_id,
                        service_account_name=service_account.metadata.name,
                        containers=[container],
                        volumes=[empty_dir_volume("tmp", "64Mi")],
                    ),
                ),
            ),
            opts=child,
        )
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=object_meta(labels, args.namespace, name),
            spec=k8s.core.v1.ServiceSpecArgs(
                type=args.service_type,
                selector=selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="http", port=args.service_port, target_port="http", protocol="TCP"
                    )
                ],
            ),
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol",
            metadata=object_meta(labels, args.namespace, name),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                policy_types=["Ingress", "Egress"],
                # From any source: the Service may be a NodePort or LoadBalancer, whose
                # traffic arrives from outside the cluster.
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=args.port)
                        ]
                    )
                ],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels=dict(db.selector)
                                )
                            )
                        ],
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=db.port)
                        ],
                    ),
                    dns_egress_rule(),
                ],
            ),
            opts=child,
        )

        self.service_name = service.metadata.name
        # From the known name, not the Service's output: that resolves only once the
        # Service has endpoints, and the URL is known before.
        self.url = pulumi.Output.concat(
            "http://",
            name,
            ".",
            args.namespace,
            ".svc.",
            args.cluster_domain,
            ":",
            str(args.service_port),
        )
        self.register_outputs({"service_name": self.service_name, "url": self.url})
