"""Stack configuration, read and checked in one place before any resource is declared.

Every project key is declared (type, default, description) in Pulumi.yaml; that file is
the single list of known keys, and its defaults are the examples in fix-it commands.
Each bad value becomes one sentence that names the key, the value, what is allowed and
the `pulumi config set` command that fixes it. All problems are reported together, as a
`pulumi.RunError`, which the CLI shows without a Python traceback.
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import pulumi
import yaml

from .common import ROLLOUT_MAX_SURGE, ContainerResources
from .quantity import (
    QuantityError,
    format_bytes,
    format_cpu,
    parse_quantity,
    suggest_byte_quantity,
)

PROJECT = "webapp"
PROJECT_FILE = Path(__file__).resolve().parent.parent / "Pulumi.yaml"

SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# Derived names (`<app>-db-headless`, StatefulSet pods and their revision-hash labels)
# must stay within Kubernetes' 63-character limits.
MAX_APP_NAME = 30
MAX_REPLICAS = 100

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_PG_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_HTTP_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")
_IMAGE_PATH_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_IMAGE_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(?::\d+)?$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_IMAGE_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")


class ConfigError(pulumi.RunError):
    """Bad stack configuration; the CLI prints only the message."""


@dataclass(frozen=True)
class NamespaceSettings:
    name: str
    quota_cpu: str
    quota_memory: str
    quota_storage: str
    quota_pods: int


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


@dataclass(frozen=True)
class DatabaseSettings:
    image: str
    name: str
    user: str
    storage_size: str
    storage_class: str | None
    resources: ContainerResources


@dataclass(frozen=True)
class ClusterSettings:
    # None: the kubeconfig's current context.
    context: str | None
    # A directory to write manifests to instead of applying them; None applies them.
    render_yaml_to: str | None


@dataclass(frozen=True)
class Settings:
    stack: str
    cluster: ClusterSettings
    cluster_domain: str
    namespace: NamespaceSettings
    app: AppSettings
    database: DatabaseSettings


@cache
def declared_config() -> Mapping[str, Mapping[str, Any]]:
    """The project's own config declarations from Pulumi.yaml, by short key."""
    project = yaml.safe_load(PROJECT_FILE.read_text())
    declared = project.get("config") or {}
    return {key: spec for key, spec in declared.items() if ":" not in key}


T = TypeVar("T")


class _Reader:
    """Reads raw config strings and collects one sentence per bad value."""

    def __init__(self, config: pulumi.Config, stack: str) -> None:
        self._config = config
        self._stack = stack
        self.errors: list[str] = []

    def fix_command(self, key: str, value: str) -> str:
        return f"pulumi config set --stack {self._stack} {PROJECT}:{key} {shlex.quote(value)}"

    def example(self, key: str) -> str:
        default = declared_config()[key].get("default")
        if isinstance(default, bool):
            return "true" if default else "false"
        return str(default)

    def fail(self, key: str, raw: str | None, allowed: str, fix_value: str | None = None) -> None:
        shown = "not set" if raw is None else f"'{raw}'"
        fix = self.fix_command(key, fix_value if fix_value is not None else self.example(key))
        self.errors.append(f"{PROJECT}:{key} is {shown}, but {allowed}; fix it with: {fix}")

    def raw(self, key: str) -> str | None:
        if key not in declared_config():
            raise KeyError(f"{PROJECT}:{key} is read but not declared in Pulumi.yaml")
        return self._config.get(key)

    def read(
        self,
        key: str,
        parse: Callable[[str], T],
        allowed: str,
        suggest: Callable[[str], str | None] | None = None,
    ) -> T | None:
        """`parse` raises ValueError on a bad value; `suggest` proposes a fixed value."""
        raw = self.raw(key)
        if raw is None:
            self.fail(key, raw, allowed)
            return None
        try:
            return parse(raw)
        except ValueError:
            self.fail(key, raw, allowed, suggest(raw) if suggest else None)
            return None


def _dns_label(max_length: int, reserved: tuple[str, ...] = ()) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if len(raw) > max_length or not _DNS_LABEL.match(raw) or raw in reserved:
            raise ValueError(raw)
        if reserved and raw.startswith("kube-"):
            raise ValueError(raw)
        return raw

    return parse


def _suggest_dns_label(raw: str) -> str | None:
    label = re.sub(r"[^a-z0-9-]+", "-", raw.strip().lower()).strip("-")
    return label[:63].rstrip("-") or None


def _suggest_dns_subdomain(raw: str) -> str | None:
    name = re.sub(r"[^a-z0-9.-]+", "-", raw.strip().lower()).strip("-.")
    return name[:253] or None


def _whole_number(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw.strip()) if re.fullmatch(r"\s*[+-]?\d+\s*", raw) else None
        if value is None or not low <= value <= high:
            raise ValueError(raw)
        return value

    return parse


def _suggest_whole_number(low: int, high: int) -> Callable[[str], str | None]:
    def suggest(raw: str) -> str | None:
        try:
            number = round(float(raw))
        except ValueError:
            return None
        return str(min(max(number, low), high))

    return suggest


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in choices:
            raise ValueError(raw)
        return raw

    return parse


def _suggest_choice(choices: tuple[str, ...]) -> Callable[[str], str | None]:
    def suggest(raw: str) -> str | None:
        by_lower = {choice.lower(): choice for choice in choices}
        close = difflib.get_close_matches(raw.lower(), list(by_lower), n=1, cutoff=0.5)
        return by_lower[close[0]] if close else None

    return suggest


def _pinned_image(raw: str) -> str:
    """A container image reference with a pinned version: a tag other than `latest`, or a
    digest. An unpinned image lets two pods of one Deployment run different builds."""
    reference, _, digest = raw.partition("@")
    if digest and not _IMAGE_DIGEST.match(digest):
        raise ValueError(raw)
    name, tag = reference, ""
    if ":" in reference.rsplit("/", 1)[-1]:
        name, tag = reference.rsplit(":", 1)
        if not _IMAGE_TAG.match(tag):
            raise ValueError(raw)
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        if not _IMAGE_REGISTRY.match(parts[0]):
            raise ValueError(raw)
        parts = parts[1:]
    if not parts or not all(_IMAGE_PATH_COMPONENT.match(part) for part in parts):
        raise ValueError(raw)
    if not digest and tag in ("", "latest"):
        raise ValueError(raw)
    return raw


def _suggest_image(raw: str) -> str | None:
    stripped = raw.strip()
    if not stripped:
        return None
    base = stripped.rsplit(":", 1)[0] if stripped.endswith(":latest") else stripped
    return f"{base}:<version>" if base else None


def _http_path(raw: str) -> str:
    if not _HTTP_PATH.match(raw):
        raise ValueError(raw)
    return raw


def _pg_identifier(raw: str) -> str:
    if not _PG_IDENTIFIER.match(raw) or raw.startswith("pg_"):
        raise ValueError(raw)
    return raw


def _suggest_pg_identifier(raw: str) -> str | None:
    identifier = re.sub(r"[^a-z0-9_]+", "_", raw.strip().lower()).strip("_")
    if not identifier:
        return None
    if identifier[0].isdigit() or identifier.startswith("pg_"):
        identifier = f"app_{identifier}"
    return identifier[:63]


def _quantity(kind: str) -> Callable[[str], Decimal]:
    """`kind` is "cpu" (cores, millicores) or "bytes" (binary or decimal sizes)."""

    def parse(raw: str) -> Decimal:
        try:
            amount, suffix = parse_quantity(raw)
        except QuantityError as error:
            raise ValueError(raw) from error
        if amount <= 0:
            raise ValueError(raw)
        if kind == "cpu" and suffix not in ("", "m"):
            raise ValueError(raw)
        if kind == "bytes" and (suffix == "m" or amount != amount.to_integral_value()):
            raise ValueError(raw)
        return amount

    return parse


_CPU_ALLOWED = "it must be a positive Kubernetes CPU quantity such as 250m, 0.5 or 2"
_BYTES_ALLOWED = (
    "it must be a positive Kubernetes quantity of bytes with a suffix such as Mi, Gi or Ti"
)


def _read_resources(reader: _Reader, prefix: str) -> ContainerResources | None:
    keys = {
        "cpu_request": f"{prefix}CpuRequest",
        "cpu_limit": f"{prefix}CpuLimit",
        "memory_request": f"{prefix}MemoryRequest",
        "memory_limit": f"{prefix}MemoryLimit",
    }
    amounts = {
        field: reader.read(
            key,
            _quantity("cpu" if field.startswith("cpu") else "bytes"),
            _CPU_ALLOWED if field.startswith("cpu") else _BYTES_ALLOWED,
            None if field.startswith("cpu") else suggest_byte_quantity,
        )
        for field, key in keys.items()
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
    return ContainerResources(**{field: str(reader.raw(key)) for field, key in keys.items()})


def _check_quota(
    reader: _Reader, namespace: NamespaceSettings, app: AppSettings, database: DatabaseSettings
) -> None:
    """A ResourceQuota rejects pods beyond it, and `pulumi up` then waits for pods that
    never come: check here that the workload, mid-rollout, fits in the namespace."""
    app_pods = app.replicas + ROLLOUT_MAX_SURGE
    needs = {
        "quotaCpu": (
            app_pods * parse_quantity(app.resources.cpu_limit)[0]
            + parse_quantity(database.resources.cpu_limit)[0],
            "CPU limits",
            format_cpu,
        ),
        "quotaMemory": (
            app_pods * parse_quantity(app.resources.memory_limit)[0]
            + parse_quantity(database.resources.memory_limit)[0],
            "memory limits",
            format_bytes,
        ),
    }
    for key, (needed, what, formatted) in needs.items():
        quota_raw = str(reader.raw(key))
        if parse_quantity(quota_raw)[0] < needed:
            reader.fail(
                key,
                quota_raw,
                f"it must hold the workload's {what} during a rollout ({app_pods} app pods "
                f"and the database need {formatted(needed)})",
                formatted(needed),
            )
    storage = parse_quantity(database.storage_size)[0]
    if parse_quantity(namespace.quota_storage)[0] < storage:
        reader.fail(
            "quotaStorage",
            namespace.quota_storage,
            f"it must hold the database volume ({PROJECT}:storageSize is "
            f"'{database.storage_size}')",
            database.storage_size,
        )
    pods_needed = app_pods + 1
    if namespace.quota_pods < pods_needed:
        reader.fail(
            "quotaPods",
            str(namespace.quota_pods),
            f"it must allow the {pods_needed} pods of a rollout ({app_pods} app pods and "
            "the database)",
            str(pods_needed),
        )


def _unknown_keys(reader: _Reader, present: list[str]) -> None:
    declared = list(declared_config())
    for full_key in sorted(present):
        namespace, _, key = full_key.partition(":")
        if namespace != PROJECT or key in declared:
            continue
        close = difflib.get_close_matches(key, declared, n=1)
        hint = f"did you mean {PROJECT}:{close[0]}? " if close else ""
        reader.errors.append(
            f"{full_key} is set, but it is not a setting of this program ({hint}every setting "
            f"is listed in Pulumi.yaml); remove it with: pulumi config rm --stack "
            f"{reader._stack} {full_key}"
        )


def present_config_keys() -> list[str]:
    """Every config key the engine handed to this program (any namespace)."""
    keys = set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.get_config_env())
    return sorted(keys)


def load_settings() -> Settings:
    stack = pulumi.get_stack()
    reader = _Reader(pulumi.Config(PROJECT), stack)
    _unknown_keys(reader, present_config_keys())

    namespace_name = reader.read(
        "namespace",
        _dns_label(63, RESERVED_NAMESPACES),
        "it must be a DNS label (lowercase letters, digits and '-', at most 63 characters, "
        "starting and ending with a letter or digit) that is not a system namespace",
        _suggest_dns_label,
    )
    app_name = reader.read(
        "appName",
        _dns_label(MAX_APP_NAME),
        f"it must be a DNS label of at most {MAX_APP_NAME} characters (lowercase letters, "
        "digits and '-', starting and ending with a letter or digit)",
        lambda raw: (_suggest_dns_label(raw) or "")[:MAX_APP_NAME].rstrip("-") or None,
    )
    image_allowed = (
        "it must be a container image with a pinned version, a tag other than 'latest' "
        "or a digest (for example nginx:1.27)"
    )
    image = reader.read("image", _pinned_image, image_allowed, _suggest_image)
    replicas = reader.read(
        "replicas",
        _whole_number(1, MAX_REPLICAS),
        f"it must be a whole number from 1 to {MAX_REPLICAS}",
        _suggest_whole_number(1, MAX_REPLICAS),
    )
    app_port = reader.read(
        "appPort",
        _whole_number(1024, 65535),
        "it must be a port from 1024 to 65535 (the app runs as non-root, without the "
        "capability to bind lower ports)",
    )
    service_port = reader.read(
        "servicePort", _whole_number(1, 65535), "it must be a port from 1 to 65535"
    )
    service_type = reader.read(
        "serviceType",
        _one_of(SERVICE_TYPES),
        f"it must be one of {', '.join(SERVICE_TYPES)}",
        _suggest_choice(SERVICE_TYPES),
    )
    path_allowed = "it must be an HTTP path starting with '/' (for example /healthz)"
    health_path = reader.read("healthPath", _http_path, path_allowed)
    readiness_path = reader.read("readinessPath", _http_path, path_allowed)
    app_user = reader.read(
        "appUserId",
        _whole_number(1, 2**31 - 1),
        "it must be a non-root user id, a whole number from 1 to 2147483647",
    )
    app_resources = _read_resources(reader, "app")

    db_image = reader.read("dbImage", _pinned_image, image_allowed, _suggest_image)
    identifier_allowed = (
        "it must be a PostgreSQL identifier: lowercase letters, digits and '_', starting "
        "with a letter or '_', at most 63 characters, not starting with 'pg_'"
    )
    db_name = reader.read("dbName", _pg_identifier, identifier_allowed, _suggest_pg_identifier)
    db_user = reader.read("dbUser", _pg_identifier, identifier_allowed, _suggest_pg_identifier)
    reader.read("storageSize", _quantity("bytes"), _BYTES_ALLOWED, suggest_byte_quantity)
    storage_class = reader.read(
        "storageClass",
        lambda raw: (
            raw if raw == "" or (len(raw) <= 253 and _DNS_SUBDOMAIN.match(raw)) else _raise(raw)
        ),
        "it must be empty (the cluster's default storage class) or the name of a storage "
        "class (lowercase letters, digits, '-' and '.')",
        _suggest_dns_subdomain,
    )
    db_resources = _read_resources(reader, "db")
    cluster_domain = reader.read(
        "clusterDomain",
        lambda raw: raw if _DNS_SUBDOMAIN.match(raw) else _raise(raw),
        "it must be a DNS domain such as cluster.local",
    )
    reader.read("quotaCpu", _quantity("cpu"), _CPU_ALLOWED)
    reader.read("quotaMemory", _quantity("bytes"), _BYTES_ALLOWED, suggest_byte_quantity)
    reader.read("quotaStorage", _quantity("bytes"), _BYTES_ALLOWED, suggest_byte_quantity)
    quota_pods = reader.read(
        "quotaPods", _whole_number(1, 10000), "it must be a whole number from 1 to 10000"
    )

    kube_context = reader.read(
        "kubeContext",
        lambda raw: raw if raw == raw.strip() else _raise(raw),
        "it must be empty (the kubeconfig's current context) or the name of a kubeconfig "
        "context, without surrounding spaces",
        lambda raw: raw.strip(),
    )
    render_yaml_to = reader.read(
        "renderYamlTo",
        _render_directory,
        "it must be empty (apply to the cluster) or a directory to write manifests to, "
        "without surrounding spaces, not the project directory itself",
        lambda raw: raw.strip() if raw.strip() not in ("", ".", "./") else "rendered",
    )

    if reader.errors:
        raise ConfigError("\n".join(reader.errors))

    # Every value below passed its check (errors would be non-empty otherwise). Quantities
    # are kept as written: Kubernetes takes the text, the checks above took the numbers.
    namespace = NamespaceSettings(
        name=_present(namespace_name),
        quota_cpu=str(reader.raw("quotaCpu")),
        quota_memory=str(reader.raw("quotaMemory")),
        quota_storage=str(reader.raw("quotaStorage")),
        quota_pods=_present(quota_pods),
    )
    app = AppSettings(
        name=_present(app_name),
        image=_present(image),
        replicas=_present(replicas),
        port=_present(app_port),
        service_port=_present(service_port),
        service_type=_present(service_type),
        health_path=_present(health_path),
        readiness_path=_present(readiness_path),
        user_id=_present(app_user),
        resources=_present(app_resources),
    )
    database = DatabaseSettings(
        image=_present(db_image),
        name=_present(db_name),
        user=_present(db_user),
        storage_size=str(reader.raw("storageSize")),
        storage_class=_present(storage_class) or None,
        resources=_present(db_resources),
    )
    _check_quota(reader, namespace, app, database)
    if reader.errors:
        raise ConfigError("\n".join(reader.errors))
    return Settings(
        stack=stack,
        cluster=ClusterSettings(
            context=_present(kube_context) or None,
            render_yaml_to=_present(render_yaml_to) or None,
        ),
        cluster_domain=_present(cluster_domain),
        namespace=namespace,
        app=app,
        database=database,
    )


def _render_directory(raw: str) -> str:
    # Rendering into the project directory itself would mix manifests with the program.
    if raw != raw.strip() or raw.strip() in (".", "./"):
        raise ValueError(raw)
    return raw


def _raise(raw: str) -> str:
    raise ValueError(raw)


def _present(value: T | None) -> T:
    if value is None:
        raise AssertionError("a checked setting is missing")
    return value
