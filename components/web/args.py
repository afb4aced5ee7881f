"""The inputs of a WebService. Inputs marked "plain" decide which objects exist and must be
known when the component is built (a literal or config value, not another resource's
output); every other input may be an output of another resource."""

from typing import NotRequired, TypedDict

import pulumi

from .._shared.common import ContainerResources
from ..observability.monitoring import Monitoring


class Autoscaling(TypedDict):
    """A HorizontalPodAutoscaler that keeps the app between minReplicas and maxReplicas
    pods; the Deployment's replica count is then left to it."""

    min_replicas: pulumi.Input[int]
    """Fewest app pods (plain)."""
    max_replicas: pulumi.Input[int]
    """Most app pods (plain: it decides whether a disruption budget is needed)."""
    cpu_percent: pulumi.Input[int]
    """Average CPU use, in percent of the CPU request, the autoscaler aims for."""
    memory_percent: NotRequired[pulumi.Input[int]]
    """Average memory use, in percent of the memory request, it aims for; none if unset
    or 0 (plain)."""


class Ingress(TypedDict):
    """An Ingress that routes a public host name to the app."""

    host: pulumi.Input[str]
    """Public DNS host name of the app, such as app.example.com (no IP address)."""
    controller_namespace: pulumi.Input[str]
    """Namespace of the ingress controller: with a ClusterIP Service, the only source the
    app's NetworkPolicy admits."""
    ingress_class: NotRequired[pulumi.Input[str]]
    """IngressClass of the Ingress; the cluster's default class if unset."""
    tls_secret: NotRequired[pulumi.Input[str]]
    """Existing TLS Secret for the host (plain: it decides whether there is TLS)."""
    cluster_issuer: NotRequired[pulumi.Input[str]]
    """cert-manager ClusterIssuer that issues the certificate into <name>-tls (plain: it
    decides whether there is TLS)."""


class EgressRule(TypedDict):
    """Traffic the app's pods may send beyond the database and DNS."""

    cidr: pulumi.Input[str]
    """Destination addresses, such as 203.0.113.0/24 or 2001:db8::/32."""
    port: pulumi.Input[int]
    """Destination port."""
    protocol: NotRequired[pulumi.Input[str]]
    """TCP (if unset) or UDP."""


class WebServiceArgs(TypedDict):
    namespace: pulumi.Input[str]
    """Namespace to create the app in."""
    app: pulumi.Input[str]
    """Name of the application, in the labels of every object (plain)."""
    image: pulumi.Input[str]
    """Container image of the app, pinned to a tag or digest."""
    resources: pulumi.Input[ContainerResources]
    """CPU and memory of each app container (plain)."""
    database_host: pulumi.Input[str]
    """Host name of the database (a PostgresDatabase's host output)."""
    database_port: pulumi.Input[int]
    """Port of the database (a PostgresDatabase's port output)."""
    database_name: pulumi.Input[str]
    """Name of the database (a PostgresDatabase's database output)."""
    database_user: pulumi.Input[str]
    """Role the app logs in as (a PostgresDatabase's user output)."""
    database_selector: pulumi.Input[dict[str, str]]
    """Labels of the database pods (a PostgresDatabase's selector output): the only pods the
    app's NetworkPolicy lets it reach on databasePort."""
    database_password: NotRequired[pulumi.Input[str]]
    """The role's password (a secret; a PostgresDatabase's password output): the app gets
    it, and a DATABASE_URL built with it, from a Secret. Give this or
    databasePasswordSecret."""
    database_password_secret: NotRequired[pulumi.Input[str]]
    """Name of an existing Secret in the namespace holding the password (a
    PostgresDatabase's secretName output), instead of databasePassword; the app then gets
    DATABASE_PASSWORD from it, and no DATABASE_URL."""
    database_password_secret_key: NotRequired[pulumi.Input[str]]
    """Key of the password in databasePasswordSecret; password if unset."""
    replicas: NotRequired[pulumi.Input[int]]
    """Number of app pods; 1 if unset. With autoscaling, the count the Deployment starts
    with (plain)."""
    port: NotRequired[pulumi.Input[int]]
    """Port the app listens on inside its container (1024-65535); 8080 if unset."""
    service_port: NotRequired[pulumi.Input[int]]
    """Port of the app's Service; 80 if unset."""
    service_type: NotRequired[pulumi.Input[str]]
    """ClusterIP (if unset), NodePort or LoadBalancer (plain)."""
    health_path: NotRequired[pulumi.Input[str]]
    """HTTP path of the startup and liveness probes; / if unset."""
    readiness_path: NotRequired[pulumi.Input[str]]
    """HTTP path of the readiness probe (can it serve, database included?); / if unset."""
    user_id: NotRequired[pulumi.Input[int]]
    """Non-root user id the app runs as; 10101 if unset (10000 and up clash with no user
    of the node)."""
    env: NotRequired[pulumi.Input[dict[str, str]]]
    """Extra environment variables, in the app's ConfigMap: valid names, none starting with
    DATABASE_ (plain names; values may be outputs). Never put secrets here."""
    secret_env: NotRequired[pulumi.Input[dict[str, str]]]
    """Extra environment variables with secret values, in the app's Secret; the same rules
    for names as env, and no name in both (plain names; values may be outputs)."""
    image_pull_secrets: NotRequired[pulumi.Input[list[str]]]
    """Names of Secrets in the namespace with credentials for a private registry."""
    command: NotRequired[pulumi.Input[list[str]]]
    """Replaces the image's entrypoint; the image's own if unset."""
    args: NotRequired[pulumi.Input[list[str]]]
    """Replaces the image's arguments; the image's own if unset."""
    egress: NotRequired[pulumi.Input[list[EgressRule]]]
    """Destinations the app may reach beyond the database and DNS; none if unset (plain
    list)."""
    autoscaling: NotRequired[pulumi.Input[Autoscaling]]
    """Scale the app with a HorizontalPodAutoscaler; a fixed replica count if unset."""
    ingress: NotRequired[pulumi.Input[Ingress]]
    """Route a public host name to the app; no Ingress if unset."""
    max_surge: NotRequired[pulumi.Input[str]]
    """Extra pods a rollout may start at once, a share of the replicas (25% if unset) or a
    count such as 2; it never drops below the desired count (plain)."""
    drain_seconds: NotRequired[pulumi.Input[int]]
    """Seconds a stopping pod keeps serving so load balancers stop sending it traffic; 5 if
    unset, 0 for none (plain)."""
    termination_grace_seconds: NotRequired[pulumi.Input[int]]
    """Seconds a stopping pod has in all, drainSeconds included; 30 if unset."""
    cluster_domain: NotRequired[pulumi.Input[str]]
    """DNS domain of the cluster, in the in-cluster URL; cluster.local if unset."""
    monitoring: NotRequired[pulumi.Input[Monitoring]]
    """The app's alert rules in a PrometheusRule, with labels for the Prometheus operator;
    none if unset."""
