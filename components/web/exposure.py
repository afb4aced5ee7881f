"""How the app is reached and what it may reach: its Service, an Ingress, and its
NetworkPolicy."""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .._shared.metadata import ALLOW_LOAD_BALANCER_ANNOTATION, object_meta
from .._shared.network import dns_egress_rule, namespace_peer, pod_peer, tcp_port
from .._shared.package import whole
from .args import Ingress
from .parts import WebParts


def service(web: WebParts) -> k8s.core.v1.Service:
    load_balanced = web.service_type == "LoadBalancer"
    return k8s.core.v1.Service(
        f"{web.name}-service",
        metadata=object_meta(
            web.labels,
            web.namespace,
            web.name,
            # The stack's explicit allow, which the policy pack checks for.
            annotations={ALLOW_LOAD_BALANCER_ANNOTATION: "true"} if load_balanced else None,
        ),
        spec=k8s.core.v1.ServiceSpecArgs(
            type=web.service_type,
            selector=dict(web.selector),
            ports=[
                k8s.core.v1.ServicePortArgs(
                    name="http", port=web.service_port, target_port="http", protocol="TCP"
                )
            ],
        ),
        opts=web.opts(),
    )


def tls_secret_name(web: WebParts, ingress: Ingress) -> pulumi.Input[str] | None:
    if ingress.get("tls_secret"):
        return ingress["tls_secret"]
    return f"{web.name}-tls" if ingress.get("cluster_issuer") else None


def ingress(web: WebParts, target: k8s.core.v1.Service) -> None:
    settings = web.ingress
    if settings is None:
        return
    tls_secret = tls_secret_name(web, settings)
    issuer = settings.get("cluster_issuer")
    backend = k8s.networking.v1.IngressBackendArgs(
        service=k8s.networking.v1.IngressServiceBackendArgs(
            name=target.metadata.name,
            port=k8s.networking.v1.ServiceBackendPortArgs(name="http"),
        )
    )
    k8s.networking.v1.Ingress(
        f"{web.name}-ingress",
        metadata=object_meta(
            web.labels,
            web.namespace,
            web.name,
            annotations={"cert-manager.io/cluster-issuer": issuer} if issuer else None,
        ),
        spec=k8s.networking.v1.IngressSpecArgs(
            ingress_class_name=settings.get("ingress_class") or None,
            tls=[k8s.networking.v1.IngressTLSArgs(hosts=[settings["host"]], secret_name=tls_secret)]
            if tls_secret
            else None,
            rules=[
                k8s.networking.v1.IngressRuleArgs(
                    host=settings["host"],
                    http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                        paths=[
                            k8s.networking.v1.HTTPIngressPathArgs(
                                path="/", path_type="Prefix", backend=backend
                            )
                        ]
                    ),
                )
            ],
        ),
        opts=web.opts(),
    )


def _egress_rule(rule: Any, index: int) -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
    protocol = rule.get("protocol") or "TCP"
    return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
        to=[
            k8s.networking.v1.NetworkPolicyPeerArgs(
                ip_block=k8s.networking.v1.IPBlockArgs(cidr=rule["cidr"])
            )
        ],
        ports=[
            k8s.networking.v1.NetworkPolicyPortArgs(
                protocol=pulumi.Output.from_input(protocol).apply(str.upper),
                port=whole(rule["port"], f"WebService input 'egress[{index}].port'"),
            )
        ],
    )


# cert-manager's HTTP-01 solver: a pod it starts in the Ingress's namespace, with this
# label, that serves the ACME challenge on this port (cert-manager's acmesolver defaults).
ACME_SOLVER_LABELS = {"acme.cert-manager.io/http01-solver": "true"}
ACME_SOLVER_PORT = 8089


def app_sources(web: WebParts) -> list[k8s.networking.v1.NetworkPolicyPeerArgs] | None:
    """Who may reach the app port. A NodePort or LoadBalancer Service brings traffic from
    outside the cluster, from addresses no policy can name in advance: only that demands
    every source (None). A ClusterIP app is reached through the ingress controller when it
    has an Ingress, and otherwise only from its own namespace."""
    if web.service_type != "ClusterIP":
        return None
    if web.ingress is not None:
        return [namespace_peer(web.ingress["controller_namespace"])]
    return [k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs())]


def warn_of_second_way_in(web: WebParts) -> None:
    """A NodePort or LoadBalancer Service beside an Ingress is a second way in, in plain
    HTTP and around the ingress controller: said on every preview, never silently."""
    if web.ingress is None or web.service_type == "ClusterIP":
        return
    where = (
        "the load balancer's address"
        if web.service_type == "LoadBalancer"
        else "a port of every node (the nodePort output)"
    )
    pulumi.log.warn(
        f"WebService {web.name} has an Ingress and a {web.service_type} Service: the app is "
        f"also reachable in plain HTTP at {where}, around the ingress controller and its TLS, "
        "and its NetworkPolicy admits every source to the app port",
        resource=web.parent,
    )


def acme_solver_policy(web: WebParts) -> None:
    """With a ClusterIssuer, cert-manager answers HTTP-01 challenges from a solver pod in
    this namespace, which the namespace's default-deny would isolate: the certificate would
    never issue. This admits the ingress controller to the solver pods' port, and to
    nothing else."""
    if web.ingress is None or not web.ingress.get("cluster_issuer"):
        return
    k8s.networking.v1.NetworkPolicy(
        f"{web.name}-acme-solver-netpol",
        metadata=object_meta(web.labels, web.namespace, f"{web.name}-acme-solver"),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(ACME_SOLVER_LABELS)),
            policy_types=["Ingress"],
            ingress=[
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[namespace_peer(web.ingress["controller_namespace"])],
                    ports=[tcp_port(ACME_SOLVER_PORT)],
                )
            ],
        ),
        opts=web.opts(),
    )


def network_policy(web: WebParts) -> None:
    """Admits traffic to the app port from app_sources only. Lets the app reach its
    database, DNS and the destinations listed in egress, nothing else."""
    sources = app_sources(web)
    db = web.database
    k8s.networking.v1.NetworkPolicy(
        f"{web.name}-netpol",
        metadata=object_meta(web.labels, web.namespace, web.name),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(web.selector)),
            policy_types=["Ingress", "Egress"],
            ingress=[
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=sources, ports=[tcp_port(web.port)]
                )
            ],
            egress=[
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[pod_peer(db.selector)], ports=[tcp_port(db.port)]
                ),
                dns_egress_rule(),
                *(_egress_rule(rule, index) for index, rule in enumerate(web.egress)),
            ],
        ),
        opts=web.opts(),
    )


def url(web: WebParts) -> pulumi.Output[str]:
    """The Ingress URL, or the in-cluster one. From known names, not the Service's output:
    that resolves only once the Service has endpoints, and the URL is known before."""
    if web.ingress:
        scheme = "https" if tls_secret_name(web, web.ingress) else "http"
        return pulumi.Output.concat(scheme, "://", web.ingress["host"], "/")
    port = pulumi.Output.from_input(web.service_port).apply(str)
    return pulumi.Output.concat(
        "http://", web.name, ".", web.namespace, ".svc.", web.cluster_domain, ":", port
    )


def load_balancer_address(target: k8s.core.v1.Service) -> pulumi.Output[str]:
    """The load balancer's host name or IP address, from the Service's status: `pulumi up`
    waits until a LoadBalancer Service has one."""

    def first(status: Any) -> str:
        ingresses = (
            status.load_balancer.ingress if status and status.load_balancer else None
        ) or []
        return next(
            (entry.hostname or entry.ip for entry in ingresses if entry.hostname or entry.ip), ""
        )

    return target.status.apply(first)


def node_port(target: k8s.core.v1.Service) -> pulumi.Output[int]:
    """The port every node forwards to the app, as Kubernetes assigned it."""
    return target.spec.apply(
        lambda spec: (spec.ports[0].node_port if spec and spec.ports else 0) or 0
    )


def port_forward(web: WebParts) -> pulumi.Output[str]:
    """A command that makes the app reachable at http://localhost:8080 from this machine."""
    port = pulumi.Output.from_input(web.service_port).apply(str)
    return pulumi.Output.concat(
        "kubectl -n ", web.namespace, " port-forward svc/", web.name, " 8080:", port
    )
