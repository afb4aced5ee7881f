"""The web app's settings: image, size, exposure, and what the app itself needs
(environment, registry credentials, command, egress)."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components import Autoscaling, ContainerResources, EgressRule, Ingress
from components._shared.quantity import suggest_byte_quantity
from components.web.args import Sidecar
from components.web.parts import COMPONENT, ENV_NAME, RESERVED_ENV_PREFIX, SERVICE_TYPES

from .reader import INVALID, PROJECT, Feature, Reader, present
from .values import (
    BOOLEAN_ALLOWED,
    BYTES_ALLOWED,
    CPU_ALLOWED,
    DNS_LABEL,
    DNS_SUBDOMAIN,
    IMAGE_ALLOWED,
    MAX_APP_NAME,
    OPTIONAL_NAME_ALLOWED,
    app_name,
    boolean,
    dns_label,
    http_path,
    ingress_host,
    max_surge,
    one_of,
    optional_name,
    pinned_image,
    quantity,
    suggest_boolean,
    suggest_choice,
    suggest_dns_label,
    suggest_dns_subdomain,
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


def read_resources(reader: Reader, prefix: str) -> ContainerResources | None:
    keys = {
        "cpu_request": f"{prefix}CpuRequest",
        "cpu_limit": f"{prefix}CpuLimit",
        "memory_request": f"{prefix}MemoryRequest",
        "memory_limit": f"{prefix}MemoryLimit",
    }
    amounts = {
        name: reader.read(
            key,
            quantity("container-cpu" if name.startswith("cpu") else "memory"),
            CPU_ALLOWED if name.startswith("cpu") else BYTES_ALLOWED,
            None if name.startswith("cpu") else suggest_byte_quantity,
        )
        for name, key in keys.items()
    }
    for resource in ("cpu", "memory"):
        request, limit = amounts[f"{resource}_request"], amounts[f"{resource}_limit"]
        if request is not None and limit is not None and request > limit:
            request_key, limit_key = keys[f"{resource}_request"], keys[f"{resource}_limit"]
            reader.fail(
                request_key,
                reader.raw(request_key),
                f"a request must not exceed its limit {PROJECT}:{limit_key} "
                f"('{reader.raw(limit_key)}')",
                reader.raw(limit_key),
            )
            amounts[f"{resource}_request"] = None
    if any(amount is None for amount in amounts.values()):
        return None
    # Quantities are kept as written: Kubernetes takes the text, the checks took numbers.
    return ContainerResources(**{name: str(reader.raw(key)) for name, key in keys.items()})


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


def _read_ingress(reader: Reader) -> Feature[Ingress]:
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


def _exposure(
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


def _suggest_service_type(reader: Reader, raw: str) -> str | None:
    """The type meant, unless the one way in would then refuse it: beside an Ingress only
    ClusterIP goes without the allows (_exposure)."""
    meant = suggest_choice(SERVICE_TYPES)(raw)
    if meant in (None, "ClusterIP") or not reader.raw("ingressHost"):
        return meant
    allowed = reader.raw("allowServiceBesideIngress") == "true" and (
        meant != "LoadBalancer" or reader.raw("allowLoadBalancer") == "true"
    )
    return meant if allowed else "ClusterIP"


def _env_text(value: Any) -> str | None:
    """A variable's value as text; `--path` may store numbers and booleans as such."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def _read_env(reader: Reader, key: str, taken: dict[str, str]) -> dict[str, str] | None:
    """`key`'s variables, their names checked. Values are never shown in a message."""
    secret = key == "secretEnv"
    target = f"--path '{PROJECT}:{key}.NAME'"
    example = (
        reader.secret_set(target)
        if secret
        else f"pulumi config set --stack {reader.stack} {target} value"
    )
    values = reader.read_json(
        key, dict, "it must be an object of variable names and values", example
    )
    if values is None:
        return None
    if secret and values and not reader.is_secret(key):
        reader.fail(
            key,
            "set in plaintext",
            "its values must be set as secrets, so they are encrypted in the stack file",
            fix=example,
        )
        return None
    checked: dict[str, str] = {}
    for name, value in values.items():
        remove = f"pulumi config rm --stack {reader.stack} --path '{PROJECT}:{key}.{name}'"
        problem = None
        if not ENV_NAME.match(name):
            problem = "variable names are letters, digits and '_', not starting with a digit"
        elif name.upper().startswith(RESERVED_ENV_PREFIX):
            problem = f"names starting with {RESERVED_ENV_PREFIX} are set from the database"
        elif name in taken:
            problem = f"{PROJECT}:env sets it too, and a variable has one value"
        elif _env_text(value) is None:
            problem = "a value is text, a number or a boolean"
        if problem:
            reader.errors.append(
                f"{PROJECT}:{key} holds '{name}', but {problem}; fix it with: {remove}"
            )
        else:
            checked[name] = present(_env_text(value))
    return checked if len(checked) == len(values) else None


def _read_list(reader: Reader, key: str, item: str, parse: Any) -> list[Any] | None:
    """An array of strings, each checked by `parse` (None: the entry is bad)."""
    fix = f"pulumi config set --stack {reader.stack} --path '{PROJECT}:{key}[0]' <{item}>"
    values = reader.read_json(key, list, f"it must be a list of {item}s", fix)
    if values is None:
        return None
    parsed = [parse(value) if isinstance(value, str) else None for value in values]
    for index, (value, result) in enumerate(zip(values, parsed, strict=True)):
        if result is None:
            reader.errors.append(
                f"{PROJECT}:{key} holds '{value}' at [{index}], but each entry must be a "
                f"{item}; fix it with: pulumi config set --stack {reader.stack} --path "
                f"'{PROJECT}:{key}[{index}]' <{item}>"
            )
    return None if None in parsed else parsed


def egress_rule(text: str) -> EgressRule | None:
    """CIDR:PORT, optionally /tcp or /udp: 203.0.113.0/24:443, 2001:db8::/32:53/udp."""
    cidr, _, port_part = text.rpartition(":")
    port, _, protocol = port_part.partition("/")
    try:
        network = ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        return None
    if "/" not in cidr or not port.isdigit() or not 1 <= int(port) <= 65535:
        return None
    if protocol.lower() not in ("", "tcp", "udp"):
        return None
    rule = EgressRule(cidr=str(network), port=int(port))
    if protocol:
        rule["protocol"] = protocol.upper()
    return rule


_SIDECAR_FIELDS = ("name", "image", "resources", "command", "args", "ports", "env")
_SIDECAR_RESOURCES = {
    "cpuRequest": ("cpu_request", "container-cpu", CPU_ALLOWED),
    "cpuLimit": ("cpu_limit", "container-cpu", CPU_ALLOWED),
    "memoryRequest": ("memory_request", "memory", BYTES_ALLOWED),
    "memoryLimit": ("memory_limit", "memory", BYTES_ALLOWED),
}


def _container_item(
    reader: Reader, list_key: str, index: int, item: Any, app_port: int
) -> Sidecar | None:
    """Item `index` of the container list `list_key` (sidecars), every field checked; the
    first problem is reported, as one sentence that names the item's path."""

    def fail(path: str, value: Any, allowed: str, example: str) -> None:
        where = f"{PROJECT}:{list_key}[{index}]{path}"
        fix = f"pulumi config set --stack {reader.stack} --path '{where}' {example}"
        shown = value if isinstance(value, str) else json.dumps(value)
        reader.errors.append(f"{where} is '{shown}', but {allowed}; fix it with: {fix}")

    if not isinstance(item, dict):
        fail("", item, "it must be an object with name, image and resources", "{}")
        return None
    unknown = sorted(set(item) - set(_SIDECAR_FIELDS))
    if unknown:
        fail(
            f".{unknown[0]}",
            item[unknown[0]],
            f"a container has only {', '.join(_SIDECAR_FIELDS)}",
            "''",
        )
        return None
    name = item.get("name")
    if (
        not isinstance(name, str)
        or not DNS_LABEL.match(name)
        or len(name) > 63
        or name == COMPONENT
    ):
        fail(
            ".name",
            name,
            f"it must be a DNS label other than {COMPONENT} (the app's container)",
            "log-shipper",
        )
        return None
    try:
        image = pinned_image(str(item.get("image", "")))
    except ValueError:
        fail(".image", item.get("image", ""), IMAGE_ALLOWED, "fluent/fluent-bit:3.1.9")
        return None
    resources = item.get("resources")
    if not isinstance(resources, dict) or set(resources) != set(_SIDECAR_RESOURCES):
        fail(".resources", resources, f"it must set {', '.join(_SIDECAR_RESOURCES)}", "'{}'")
        return None
    amounts = {}
    for key, (_, kind, allowed) in _SIDECAR_RESOURCES.items():
        try:
            amounts[key] = quantity(kind)(str(resources[key]))
        except ValueError:
            fail(f".resources.{key}", resources[key], allowed, "100m" if "cpu" in key else "64Mi")
            return None
    for resource in ("cpu", "memory"):
        if amounts[f"{resource}Request"] > amounts[f"{resource}Limit"]:
            key = f"{resource}Request"
            fail(
                f".resources.{key}",
                resources[key],
                f"a request must not exceed its limit ('{resources[resource + 'Limit']}')",
                str(resources[resource + "Limit"]),
            )
            return None
    sidecar = Sidecar(
        name=name,
        image=image,
        resources=ContainerResources(
            **{field: str(resources[key]) for key, (field, _, _) in _SIDECAR_RESOURCES.items()}
        ),  # type: ignore[typeddict-item]
    )
    for key in ("command", "args"):
        value = item.get(key, [])
        if not isinstance(value, list) or not all(isinstance(text, str) for text in value):
            fail(f".{key}", value, "it must be a list of strings", "'[]'")
            return None
        if value:
            sidecar[key] = value  # type: ignore[literal-required]
    ports = item.get("ports", [])
    if not isinstance(ports, list) or not all(
        isinstance(port, int) and 1024 <= port <= 65535 and port != app_port for port in ports
    ):
        fail(
            ".ports",
            ports,
            f"it must be a list of ports from 1024 to 65535 other than the app's {app_port}",
            "'[9090]'",
        )
        return None
    if ports:
        sidecar["ports"] = ports
    env = item.get("env", {})
    if not isinstance(env, dict) or not all(ENV_NAME.match(key) for key in env):
        fail(
            ".env",
            env,
            "it must be an object of variable names (letters, digits and '_') and values",
            "'{}'",
        )
        return None
    if env:
        sidecar["env"] = {key: _env_text(value) or "" for key, value in env.items()}
    return sidecar


def _read_containers(reader: Reader, key: str, app_port: int | None) -> list[Sidecar] | None:
    """A list of extra containers of the app's pod (`key`: sidecars), each checked."""
    example = (
        f"pulumi config set --stack {reader.stack} --path '{PROJECT}:{key}[0].name' log-shipper"
    )
    items = reader.read_json(key, list, "it must be a list of container objects", example)
    if items is None or app_port is None:
        return None
    sidecars = [
        _container_item(reader, key, index, item, app_port) for index, item in enumerate(items)
    ]
    if None in sidecars:
        return None
    names = [sidecar["name"] for sidecar in sidecars]  # type: ignore[index]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        index = len(names) - 1 - names[::-1].index(twice[0])
        reader.errors.append(
            f"{PROJECT}:{key}[{index}].name is '{twice[0]}', but each container needs a name "
            f"of its own; fix it with: pulumi config set --stack {reader.stack} --path "
            f"'{PROJECT}:{key}[{index}].name' {twice[0]}-2"
        )
        return None
    return sidecars  # type: ignore[return-value]


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
        lambda raw: _suggest_service_type(reader, raw),
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
    ingress = _read_ingress(reader)
    env = _read_env(reader, "env", {}) if not reader.is_secret("env") else None
    secret_env = _read_env(reader, "secretEnv", env or {})
    pull_secrets = _read_list(
        reader,
        "imagePullSecrets",
        "Secret name",
        lambda text: text if len(text) <= 253 and DNS_SUBDOMAIN.match(text) else None,
    )
    command = _read_list(reader, "command", "string", lambda text: text)
    args = _read_list(reader, "args", "string", lambda text: text)
    egress = _read_list(reader, "egress", "CIDR:PORT such as 203.0.113.0/24:443", egress_rule)
    sidecars = _read_containers(reader, "sidecars", port)
    values = (name, image, replicas, port, service_port, service_type, allow_load_balancer)
    values += (health_path, readiness_path, user_id, drain, grace, surge, resources)
    values += (env, secret_env, pull_secrets, command, args, egress, beside_ingress, sidecars)
    # Each check across keys runs once its own keys are valid, whatever else is wrong, so
    # one run reports every problem.
    valid = None not in values and autoscaling.valid and ingress.valid
    exposure = (service_type, allow_load_balancer, beside_ingress)
    if None not in exposure and ingress.valid:
        valid &= _exposure(
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
