"""How the app is reached: its Ingress, and the rule that it has one way in."""

from __future__ import annotations

from components import Ingress
from components.web.parts import SERVICE_TYPES

from .reader import INVALID, PROJECT, Feature, Reader
from .values import (
    OPTIONAL_NAME_ALLOWED,
    dns_label,
    ingress_host,
    optional_name,
    suggest_choice,
    suggest_dns_label,
    suggest_dns_subdomain,
)


def read_ingress(reader: Reader) -> Feature[Ingress]:
    host = reader.read(
        "ingressHost",
        ingress_host,
        "it must be empty (no Ingress) or a DNS host name such as app.example.com",
        suggest_dns_subdomain,
    )
    names = {
        key: reader.read(key, optional_name, OPTIONAL_NAME_ALLOWED, suggest_dns_subdomain)
        for key in ("ingressClass", "ingressTlsSecret", "ingressClusterIssuer")
    }
    controller_namespace = reader.read(
        "ingressControllerNamespace",
        dns_label(63),
        "it must be the namespace of the ingress controller, a DNS label",
        suggest_dns_label,
    )
    if host is None or controller_namespace is None or None in names.values():
        return INVALID
    if names["ingressTlsSecret"] and names["ingressClusterIssuer"]:
        reader.fail(
            "ingressTlsSecret",
            names["ingressTlsSecret"],
            f"it must be empty when {PROJECT}:ingressClusterIssuer is set (cert-manager "
            "then creates the certificate's Secret)",
            "",
        )
        return INVALID
    if not host:
        return Feature(None)
    settings = Ingress(host=host, controller_namespace=controller_namespace)
    for key, field_name in (
        ("ingressClass", "ingress_class"),
        ("ingressTlsSecret", "tls_secret"),
        ("ingressClusterIssuer", "cluster_issuer"),
    ):
        if names[key]:
            settings[field_name] = names[key]  # type: ignore[literal-required]
    return Feature(settings)


def check_exposure(
    reader: Reader,
    service_type: str,
    ingress: Ingress | None,
    allow_load_balancer: bool,
    beside_ingress: bool,
) -> bool:
    """With an Ingress the app has one way in, through the ingress controller: a NodePort
    or LoadBalancer Service beside it would be a second, in plain HTTP around the
    controller and its TLS. The stack may ask for both, explicitly (the component then
    warns on every preview of what it exposes). A LoadBalancer also needs its own allow.
    One run names every key the rule needs: a LoadBalancer beside an Ingress is one
    sentence whose fix (ClusterIP) settles both keys, and which names both for the stack
    that keeps the load balancer, so no fix leads to a second refusal."""
    missing_allow = service_type == "LoadBalancer" and not allow_load_balancer
    if ingress is not None and service_type != "ClusterIP" and not beside_ingress:
        unless = f"{PROJECT}:allowServiceBesideIngress is true"
        if missing_allow:
            unless = (
                f"{PROJECT}:allowServiceBesideIngress and {PROJECT}:allowLoadBalancer are both true"
            )
        reader.fail(
            "serviceType",
            service_type,
            f"with {PROJECT}:ingressHost set it must be ClusterIP, so the app is reached only "
            f"through the ingress controller (a {service_type} Service beside the Ingress is a "
            f"plain-HTTP way around it), unless {unless}",
            "ClusterIP",
        )
        return False
    valid = True
    if missing_allow:
        reader.fail(
            "allowLoadBalancer",
            "false",
            f"it must be true when {PROJECT}:serviceType is LoadBalancer, which exposes the "
            "app outside the cluster and costs a cloud load balancer",
            "true",
        )
        valid = False
    if beside_ingress and (ingress is None or service_type == "ClusterIP"):
        reader.fail(
            "allowServiceBesideIngress",
            "true",
            f"it allows a NodePort or LoadBalancer {PROJECT}:serviceType beside an Ingress, "
            f"and this stack has {'no Ingress' if ingress is None else 'a ClusterIP Service'}",
            fix=reader.remove_command("allowServiceBesideIngress"),
        )
        valid = False
    return valid


def suggest_service_type(reader: Reader, raw: str) -> str | None:
    """The type meant, unless the one way in would then refuse it: beside an Ingress only
    ClusterIP goes without the allows (check_exposure)."""
    meant = suggest_choice(SERVICE_TYPES)(raw)
    if meant in (None, "ClusterIP") or not reader.raw("ingressHost"):
        return meant
    allowed = reader.raw("allowServiceBesideIngress") == "true" and (
        meant != "LoadBalancer" or reader.raw("allowLoadBalancer") == "true"
    )
    return meant if allowed else "ClusterIP"
