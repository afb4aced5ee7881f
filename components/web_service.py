"""WebService: the stateless web application, its settings, credentials and Service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from .alert_rules import AppWatch, app_alerts, rule_group
from .common import (
    ALLOW_LOAD_BALANCER_ANNOTATION,
    ROLLOUT_MAX_SURGE,
    ContainerResources,
    component_type,
    container_security_context,
    dns_egress_rule,
    empty_dir_volume,
    hardened_pod_spec,
    http_probes,
    namespace_peer,
    object_meta,
    secret_data,
    selector_labels,
    standard_labels,
    topology_spread,
)
from .monitoring import Monitoring, prometheus_rule
from .postgres_database import DatabaseConnection

COMPONENT = "web"
# New pods must stay ready this long before the rollout counts them and moves on, so a
# pod that crashes right after its first successful probe stops the rollout.
MIN_READY_SECONDS = 5


@dataclass(frozen=True)
class Autoscaling:
    min_replicas: int
    max_replicas: int
    cpu_percent: int
    memory_percent: int | None = None


@dataclass(frozen=True)
class Ingress:
    host: str
    controller_namespace: str
    ingress_class: str | None = None
    # TLS from an existing Secret, or from a certificate cert-manager issues.
    tls_secret: str | None = None
    cluster_issuer: str | None = None

    @property
    def tls(self) -> bool:
        return bool(self.tls_secret or self.cluster_issuer)


@dataclass(frozen=True)
class WebServiceArgs:
    namespace: pulumi.Input[str]
    app: str
    image: str
    # The replica count; with autoscaling, only the count the Deployment is created with.
    replicas: int
    port: int
    service_port: int
    service_type: str
    health_path: str
    readiness_path: str
    user_id: int
    resources: ContainerResources
    database: DatabaseConnection
    autoscaling: Autoscaling | None = None
    ingress: Ingress | None = None
    drain_seconds: int = 5
    termination_grace_seconds: int = 30
    cluster_domain: str = "cluster.local"
    # Labels for the Prometheus operator and alert rules (components/monitoring.py).
    monitoring: Monitoring | None = None

    @property
    def most_replicas(self) -> int:
        return self.autoscaling.max_replicas if self.autoscaling else self.replicas


class WebService(pulumi.ComponentResource):
    """A ServiceAccount without API token; a Deployment that rolls out without dropping
    below its desired count, spread over nodes and zones, reading plain settings from a
    ConfigMap and credentials from a Secret; a Service; optionally an autoscaler and an
    Ingress; a PodDisruptionBudget when more than one replica can run; and a
    NetworkPolicy that admits traffic to the app port and lets the app reach its
    database and DNS.

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
            # A stopping pod is removed from endpoints while it keeps serving; the pause
            # lets load balancers and kube-proxy catch up before the app gets SIGTERM.
            # The sleep action needs no shell or `sleep` binary in the image.
            lifecycle=k8s.core.v1.LifecycleArgs(
                pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                    sleep=k8s.core.v1.SleepActionArgs(seconds=args.drain_seconds)
                )
            )
            if args.drain_seconds
            else None,
        )
        pod_spec = hardened_pod_spec(
            user_id=args.user_id,
            service_account_name=service_account.metadata.name,
            containers=[container],
            volumes=[empty_dir_volume("tmp", "64Mi")],
            termination_grace_period_seconds=args.termination_grace_seconds,
            topology_spread_constraints=topology_spread(selector),
        )
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=object_meta(labels, args.namespace, name),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=args.autoscaling.min_replicas if args.autoscaling else args.replicas,
                min_ready_seconds=MIN_READY_SECONDS,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_surge=ROLLOUT_MAX_SURGE, max_unavailable=0
                    ),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels), spec=pod_spec
                ),
            ),
            # With an autoscaler the replica count is its to set: Pulumi sends the count
            # when it creates the Deployment, and leaves it alone on every later update.
            opts=pulumi.ResourceOptions(
                parent=self, ignore_changes=["spec.replicas"] if args.autoscaling else None
            ),
        )
        if args.autoscaling:
            self._autoscaler(name, args, labels, args.autoscaling, deployment)
        if args.most_replicas > 1:
            # maxUnavailable (not minAvailable) always lets one pod go, so a node drain
            # proceeds even at the minimum count; unhealthy pods never block it.
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata=object_meta(labels, args.namespace, name),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                    unhealthy_pod_eviction_policy="AlwaysAllow",
                ),
                opts=child,
            )

        load_balanced = args.service_type == "LoadBalancer"
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=object_meta(
                labels,
                args.namespace,
                name,
                # The stack's explicit allow, which the policy pack checks for.
                annotations={ALLOW_LOAD_BALANCER_ANNOTATION: "true"} if load_balanced else None,
            ),
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
        if args.ingress:
            self._ingress(name, args, labels, args.ingress, service)
        self._network_policy(name, args, labels, selector, child)
        if args.monitoring and args.monitoring.alerts:
            self._alert_rules(name, args, labels, args.monitoring)

        self.service_name = service.metadata.name
        # From known names, not the Service's output: that resolves only once the
        # Service has endpoints, and the URL is known before.
        if args.ingress:
            scheme = "https" if args.ingress.tls else "http"
            self.url = pulumi.Output.from_input(f"{scheme}://{args.ingress.host}/")
        else:
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

    def _alert_rules(
        self, name: str, args: WebServiceArgs, labels: Mapping[str, str], monitoring: Monitoring
    ) -> None:
        """The app's alerts, in a PrometheusRule of its own."""

        def groups(namespace: str) -> list[dict]:
            watch = AppWatch(
                namespace=namespace,
                deployment=name,
                autoscaler=name if args.autoscaling else None,
            )
            return [rule_group(f"{name}-app", app_alerts(watch), monitoring)]

        prometheus_rule(
            f"{name}-alerts",
            args.namespace,
            {**monitoring.labels, **labels},
            pulumi.Output.from_input(args.namespace).apply(groups),
            pulumi.ResourceOptions(parent=self),
        )

    def _autoscaler(
        self,
        name: str,
        args: WebServiceArgs,
        labels: Mapping[str, str],
        autoscaling: Autoscaling,
        deployment: k8s.apps.v1.Deployment,
    ) -> None:
        targets = [("cpu", autoscaling.cpu_percent), ("memory", autoscaling.memory_percent)]
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata=object_meta(labels, args.namespace, name),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=deployment.metadata.name
                ),
                min_replicas=autoscaling.min_replicas,
                max_replicas=autoscaling.max_replicas,
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
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _ingress(
        self,
        name: str,
        args: WebServiceArgs,
        labels: Mapping[str, str],
        ingress: Ingress,
        service: k8s.core.v1.Service,
    ) -> None:
        tls_secret = ingress.tls_secret or (f"{name}-tls" if ingress.cluster_issuer else None)
        k8s.networking.v1.Ingress(
            f"{name}-ingress",
            metadata=object_meta(
                labels,
                args.namespace,
                name,
                annotations={"cert-manager.io/cluster-issuer": ingress.cluster_issuer}
                if ingress.cluster_issuer
                else None,
            ),
            spec=k8s.networking.v1.IngressSpecArgs(
                ingress_class_name=ingress.ingress_class,
                tls=[k8s.networking.v1.IngressTLSArgs(hosts=[ingress.host], secret_name=tls_secret)]
                if tls_secret
                else None,
                rules=[
                    k8s.networking.v1.IngressRuleArgs(
                        host=ingress.host,
                        http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                            paths=[
                                k8s.networking.v1.HTTPIngressPathArgs(
                                    path="/",
                                    path_type="Prefix",
                                    backend=k8s.networking.v1.IngressBackendArgs(
                                        service=k8s.networking.v1.IngressServiceBackendArgs(
                                            name=service.metadata.name,
                                            port=k8s.networking.v1.ServiceBackendPortArgs(
                                                name="http"
                                            ),
                                        )
                                    ),
                                )
                            ]
                        ),
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _network_policy(
        self,
        name: str,
        args: WebServiceArgs,
        labels: Mapping[str, str],
        selector: Mapping[str, str],
        opts: pulumi.ResourceOptions,
    ) -> None:
        # A ClusterIP app behind an Ingress is reached only through the ingress
        # controller; otherwise clients come from anywhere (a NodePort or LoadBalancer
        # Service brings traffic from outside the cluster).
        behind_ingress = args.ingress is not None and args.service_type == "ClusterIP"
        sources = (
            [namespace_peer(args.ingress.controller_namespace)]
            if behind_ingress and args.ingress
            else None
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol",
            metadata=object_meta(labels, args.namespace, name),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector)),
                policy_types=["Ingress", "Egress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=sources,
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=args.port)
                        ],
                    )
                ],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels=dict(args.database.selector)
                                )
                            )
                        ],
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(
                                protocol="TCP", port=args.database.port
                            )
                        ],
                    ),
                    dns_egress_rule(),
                ],
            ),
            opts=opts,
        )
