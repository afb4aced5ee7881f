"""The web app's settings: image, size, replicas and autoscaling, read here; how it is
reached (app_exposure), what the app itself needs (app_env: environment, registry
credentials, command, egress) and its sidecars (app_containers) beside."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from components import Autoscaling, ContainerResources, EgressRule, Ingress
from components.web.args import Sidecar
from components.web.parts import SERVICE_TYPES

from .app_containers import read_containers
from .app_env import egress_rule, read_env, read_list
from .app_exposure import check_exposure, read_ingress, suggest_service_type
from .reader import INVALID, PROJECT, Feature, Reader, present
from .resources import read_resources
from .values import (
    BOOLEAN_ALLOWED,
    DNS_SUBDOMAIN,
    IMAGE_ALLOWED,
    MAX_APP_NAME,
    app_name,
    boolean,
    http_path,
    max_surge,
    one_of,
    pinned_image,
    suggest_boolean,
    suggest_dns_label,
    suggest_image,
    suggest_max_surge,
    suggest_whole_number,
    whole_number,
)

MAX_REPLICAS = 100


@dataclass(frozen=True)
class AppSettings:
    name: str
    image: str
    replicas: int
    port: int
    service_port: int
    service_type: str
    health_path: str
    readiness_path: str
    user_id: int
    resources: ContainerResources
    drain_seconds: int
    termination_grace_seconds: int
    max_surge: str
    # None when the feature is off: the component arguments, ready to hand over.
    autoscaling: Autoscaling | None
    ingress: Ingress | None
    env: dict[str, str] = field(default_factory=dict)
    # Secret values, each an Output marked secret from the moment it is read.
    secret_env: dict[str, pulumi.Output[str]] = field(default_factory=dict)
    image_pull_secrets: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    egress: list[EgressRule] = field(default_factory=list)
    sidecars: list[Sidecar] = field(default_factory=list)
    # The host of an Ingress the stack holds back while webapp:namespaceMovedFrom is set
    # (stack_settings/namespace_move.py).
    held_ingress_host: str | None = None

    @property
    def most_replicas(self) -> int:
        return int(self.autoscaling["max_replicas"]) if self.autoscaling else self.replicas

    def inputs(self) -> dict[str, Any]:
        """The WebService inputs that come from the stack's config alone, as the program
        hands them over (the namespace, the database and the monitoring come from other
        components): an input read here reaches the component with no change to the
        program, and the namespace's quota is sized from the pods they make."""
        inputs: dict[str, Any] = {
            "app": self.name,
            "image": self.image,
            "resources": self.resources,
            "replicas": self.replicas,
            "port": self.port,
            "service_port": self.service_port,
            "service_type": self.service_type,
            "health_path": self.health_path,
            "readiness_path": self.readiness_path,
            "user_id": self.user_id,
            "env": self.env,
            "secret_env": self.secret_env,
            "image_pull_secrets": self.image_pull_secrets,
            "command": self.command,
            "args": self.args,
            "egress": self.egress,
            "max_surge": self.max_surge,
            "drain_seconds": self.drain_seconds,
            "termination_grace_seconds": self.termination_grace_seconds,
        }
        if self.autoscaling:
            inputs["autoscaling"] = self.autoscaling
        if self.ingress:
            inputs["ingress"] = self.ingress
        if self.sidecars:
            inputs["sidecars"] = self.sidecars
        return inputs


def _read_autoscaling(reader: Reader) -> Feature[Autoscaling]:
    enabled = reader.read("autoscaling", boolean, BOOLEAN_ALLOWED, suggest_boolean)
    replicas_allowed = f"it must be a whole number from 1 to {MAX_REPLICAS}"
    minimum = reader.read("minReplicas", whole_number(1, MAX_REPLICAS), replicas_allowed)
    maximum = reader.read("maxReplicas", whole_number(1, MAX_REPLICAS), replicas_allowed)
    percent_allowed = "it must be a whole percentage from {low} to 100{extra}"
    cpu = reader.read(
        "targetCpuPercent", whole_number(1, 100), percent_allowed.format(low=1, extra="")
    )
    memory = reader.read(
        "targetMemoryPercent",
        whole_number(0, 100),
        percent_allowed.format(low=0, extra=" (0 turns the memory target off)"),
    )
    if None in (enabled, minimum, maximum, cpu, memory):
        return INVALID
    if present(minimum) > present(maximum):
        reader.fail(
            "minReplicas",
            str(minimum),
            f"it must not exceed {PROJECT}:maxReplicas ('{maximum}')",
            str(maximum),
        )
        return INVALID
    if not enabled:
        return Feature(None)
    settings = Autoscaling(
        min_replicas=present(minimum), max_replicas=present(maximum), cpu_percent=present(cpu)
    )
    if memory:
        settings["memory_percent"] = memory
    return Feature(settings)


def read_app(reader: Reader) -> AppSettings | None:
    name = reader.read(
        "appName",
        app_name,
        f"it must be at most {MAX_APP_NAME} characters of lowercase letters, digits and '-', "
        "starting with a letter and ending with a letter or digit",
        lambda raw: (
            (suggest_dns_label(raw) or "").lstrip("0123456789-")[:MAX_APP_NAME].rstrip("-") or None
        ),
    )
    image = reader.read("image", pinned_image, IMAGE_ALLOWED, suggest_image)
    replicas = reader.read(
        "replicas",
        whole_number(1, MAX_REPLICAS),
        f"it must be a whole number from 1 to {MAX_REPLICAS}",
        suggest_whole_number(1, MAX_REPLICAS),
    )
    port = reader.read(
        "appPort",
        whole_number(1024, 65535),
        "it must be a port from 1024 to 65535 (the app runs as non-root, without the "
        "capability to bind lower ports)",
    )
    service_port = reader.read(
        "servicePort", whole_number(1, 65535), "it must be a port from 1 to 65535"
    )
    service_type = reader.read(
        "serviceType",
        one_of(SERVICE_TYPES),
        f"it must be one of {', '.join(SERVICE_TYPES)}",
        lambda raw: suggest_service_type(reader, raw),
    )
    allow_load_balancer = reader.read(
        "allowLoadBalancer", boolean, BOOLEAN_ALLOWED, suggest_boolean
    )
    beside_ingress = reader.read(
        "allowServiceBesideIngress", boolean, BOOLEAN_ALLOWED, suggest_boolean
    )
    path_allowed = "it must be an HTTP path starting with '/' (for example /healthz)"
    health_path = reader.read("healthPath", http_path, path_allowed)
    readiness_path = reader.read("readinessPath", http_path, path_allowed)
    user_id = reader.read(
        "appUserId",
        whole_number(1, 2**31 - 1),
        "it must be a non-root user id, a whole number from 1 to 2147483647",
    )
    drain = reader.read(
        "drainSeconds", whole_number(0, 300), "it must be a whole number of seconds from 0 to 300"
    )
    grace = reader.read(
        "terminationGracePeriodSeconds",
        whole_number(1, 3600),
        "it must be a whole number of seconds from 1 to 3600",
    )
    surge = reader.read(
        "maxSurge",
        max_surge,
        "it must be the extra pods a rollout may start, a share of the replicas from 1% to "
        "100% (such as 25%) or a count of at least 1 (such as 2)",
        suggest_max_surge,
    )
    resources = read_resources(reader, "app")
    autoscaling = _read_autoscaling(reader)
    ingress = read_ingress(reader)
    env = read_env(reader, "env", {}) if not reader.is_secret("env") else None
    secret_env = read_env(reader, "secretEnv", env or {})
    pull_secrets = read_list(
        reader,
        "imagePullSecrets",
        "Secret name",
        lambda text: text if len(text) <= 253 and DNS_SUBDOMAIN.match(text) else None,
    )
    command = read_list(reader, "command", "string", lambda text: text)
    args = read_list(reader, "args", "string", lambda text: text)
    egress = read_list(reader, "egress", "CIDR:PORT such as 203.0.113.0/24:443", egress_rule)
    sidecars = read_containers(reader, "sidecars", port)
    values = (name, image, replicas, port, service_port, service_type, allow_load_balancer)
    values += (health_path, readiness_path, user_id, drain, grace, surge, resources)
    values += (env, secret_env, pull_secrets, command, args, egress, beside_ingress, sidecars)
    # Each check across keys runs once its own keys are valid, whatever else is wrong, so
    # one run reports every problem.
    valid = None not in values and autoscaling.valid and ingress.valid
    exposure = (service_type, allow_load_balancer, beside_ingress)
    if None not in exposure and ingress.valid:
        valid &= check_exposure(
            reader,
            present(service_type),
            ingress.value,
            present(allow_load_balancer),
            present(beside_ingress),
        )
    if grace is not None and drain is not None and grace <= drain:
        reader.fail(
            "terminationGracePeriodSeconds",
            str(grace),
            f"it must exceed {PROJECT}:drainSeconds ('{drain}') so the app has time to shut "
            "down after endpoints drain",
            str(drain + 30),
        )
        valid = False
    if not valid:
        return None
    return AppSettings(
        name=present(name),
        image=present(image),
        replicas=present(replicas),
        port=present(port),
        service_port=present(service_port),
        service_type=present(service_type),
        health_path=present(health_path),
        readiness_path=present(readiness_path),
        user_id=present(user_id),
        resources=present(resources),
        drain_seconds=present(drain),
        termination_grace_seconds=present(grace),
        max_surge=present(surge),
        autoscaling=autoscaling.value,
        ingress=ingress.value,
        env=present(env),
        secret_env={key: pulumi.Output.secret(value) for key, value in present(secret_env).items()},
        image_pull_secrets=present(pull_secrets),
        command=present(command),
        args=present(args),
        egress=present(egress),
        sidecars=present(sidecars),
    )
