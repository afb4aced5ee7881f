"""A WebService's inputs checked and completed with their defaults, the way every builder
of the component reads them, from whichever language they came."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from .._shared.metadata import selector_labels, standard_labels
from .._shared.package import InvalidInput, known, known_whole, whole
from .._shared.pods import DEFAULT_MAX_SURGE
from .._shared.resources import ContainerResources
from ..observability.monitoring import Watching, read_monitoring
from .args import Autoscaling, EgressRule, Ingress, WebServiceArgs

COMPONENT = "web"
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A container's name, as Kubernetes takes it.
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# Variables the component sets itself from the database inputs.
RESERVED_ENV_PREFIX = "DATABASE_"
_SURGE = re.compile(r"^(?:[1-9]\d*|[1-9]\d?%|100%)$")


@dataclass(frozen=True)
class DatabaseConnection:
    """How the app reaches its database."""

    host: pulumi.Input[str]
    port: pulumi.Input[int]
    name: pulumi.Input[str]
    user: pulumi.Input[str]
    selector: pulumi.Input[Mapping[str, str]]
    # Exactly one of: the password itself (secret), or the Secret holding it.
    password: pulumi.Input[str] | None
    password_secret: pulumi.Input[str] | None
    password_secret_key: pulumi.Input[str]


@dataclass(frozen=True)
class WebParts:
    """One WebService instance: its checked inputs, names and labels."""

    name: str
    app: str
    namespace: pulumi.Input[str]
    # None while the pods are only sized (WebService.pods), before anything is declared.
    parent: pulumi.Resource | None
    labels: Mapping[str, str]
    selector: Mapping[str, str]
    image: pulumi.Input[str]
    resources: ContainerResources
    database: DatabaseConnection
    replicas: int
    port: pulumi.Input[int]
    service_port: pulumi.Input[int]
    service_type: str
    health_path: pulumi.Input[str]
    readiness_path: pulumi.Input[str]
    user_id: pulumi.Input[int]
    env: Mapping[str, pulumi.Input[str]]
    secret_env: Mapping[str, pulumi.Input[str]]
    image_pull_secrets: list[pulumi.Input[str]]
    command: pulumi.Input[list[str]] | None
    args: pulumi.Input[list[str]] | None
    egress: list[EgressRule]
    autoscaling: Autoscaling | None
    ingress: Ingress | None
    max_surge: int | str
    drain_seconds: int
    termination_grace_seconds: pulumi.Input[int]
    cluster_domain: pulumi.Input[str]
    monitoring: Watching | None
    # The inputs as given, for builders of inputs that need no resolving of their own.
    inputs: WebServiceArgs

    @property
    def most_replicas(self) -> int:
        if self.autoscaling:
            return int(self.autoscaling["max_replicas"])
        return self.replicas

    def opts(self, **options: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self.parent, **options)


def _what(field: str) -> str:
    return f"WebService input '{field}'"


def _env(values: Any, field: str, taken: Mapping[str, Any] | None = None) -> dict[str, Any]:
    values = dict(known(values, _what(field)) or {})
    for key in values:
        if not ENV_NAME.match(key) or key.upper().startswith(RESERVED_ENV_PREFIX):
            raise InvalidInput(
                f"{_what(field)} holds '{key}', but variable names are letters, digits and '_', "
                f"not starting with a digit, and not starting with {RESERVED_ENV_PREFIX}"
            )
        if taken is not None and key in taken:
            raise InvalidInput(f"{_what(field)} and {_what('env')} both set '{key}'")
    return values


def _max_surge(value: Any) -> int | str:
    value = known(value, _what("maxSurge"))
    text = str(known_whole(value, _what("maxSurge")) if isinstance(value, float) else value)
    if not _SURGE.match(text):
        raise InvalidInput(f"{_what('maxSurge')} must be a count such as 2 or a share such as 25%")
    return text if text.endswith("%") else int(text)


def _autoscaling(value: Any) -> Autoscaling | None:
    settings = known(value, _what("autoscaling"))
    if not settings:
        return None
    checked = Autoscaling(
        min_replicas=known_whole(settings["min_replicas"], _what("autoscaling.minReplicas")) or 1,
        max_replicas=known_whole(settings["max_replicas"], _what("autoscaling.maxReplicas")) or 1,
        cpu_percent=whole(settings["cpu_percent"], _what("autoscaling.cpuPercent")),
    )
    memory = known_whole(settings.get("memory_percent"), _what("autoscaling.memoryPercent"))
    if memory:
        checked["memory_percent"] = memory
    return checked


def _database(args: WebServiceArgs) -> DatabaseConnection:
    password = args.get("database_password")
    secret = args.get("database_password_secret")
    if (password is None) == (secret is None):
        raise InvalidInput(
            "WebService needs exactly one of the inputs 'databasePassword' and "
            "'databasePasswordSecret'"
        )
    return DatabaseConnection(
        host=args["database_host"],
        port=whole(args["database_port"], _what("databasePort")),
        name=args["database_name"],
        user=args["database_user"],
        selector=args["database_selector"],
        password=password,
        password_secret=secret,
        password_secret_key=args.get("database_password_secret_key") or "password",
    )


def read_parts(name: str, args: WebServiceArgs, parent: pulumi.Resource | None) -> WebParts:
    app = known(args["app"], _what("app"))
    service_type = known(args.get("service_type") or "ClusterIP", _what("serviceType"))
    if service_type not in SERVICE_TYPES:
        raise InvalidInput(f"{_what('serviceType')} must be one of {', '.join(SERVICE_TYPES)}")
    env = _env(args.get("env"), "env")
    lists = {key: known(args.get(key), _what(key)) for key in ("image_pull_secrets", "egress")}
    ingress = known(args.get("ingress"), _what("ingress"))
    if ingress:
        known(ingress.get("tls_secret"), _what("ingress.tlsSecret"))
        known(ingress.get("cluster_issuer"), _what("ingress.clusterIssuer"))
    return WebParts(
        name=name,
        app=app,
        namespace=args["namespace"],
        parent=parent,
        labels=standard_labels(app, name, COMPONENT),
        selector=selector_labels(app, name, COMPONENT),
        image=args["image"],
        resources=known(args["resources"], _what("resources")),
        database=_database(args),
        replicas=known_whole(args.get("replicas", 1), _what("replicas")) or 1,
        port=whole(args.get("port", 8080), _what("port")),
        service_port=whole(args.get("service_port", 80), _what("servicePort")),
        service_type=service_type,
        health_path=args.get("health_path") or "/",
        readiness_path=args.get("readiness_path") or "/",
        user_id=whole(args.get("user_id", 10101), _what("userId")),
        env=env,
        secret_env=_env(args.get("secret_env"), "secretEnv", taken=env),
        image_pull_secrets=list(lists["image_pull_secrets"] or []),
        command=args.get("command") or None,
        args=args.get("args") or None,
        egress=list(lists["egress"] or []),
        autoscaling=_autoscaling(args.get("autoscaling")),
        ingress=ingress or None,
        max_surge=_max_surge(args.get("max_surge", DEFAULT_MAX_SURGE)),
        drain_seconds=known_whole(args.get("drain_seconds", 5), _what("drainSeconds")) or 0,
        termination_grace_seconds=whole(
            args.get("termination_grace_seconds", 30), _what("terminationGraceSeconds")
        ),
        cluster_domain=args.get("cluster_domain") or "cluster.local",
        monitoring=read_monitoring(args.get("monitoring"), "WebService"),
        inputs=args,
    )
