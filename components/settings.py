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
from typing import Any, Generic, TypeVar

import pulumi
import yaml

from .app_namespace import Quota
from .common import BACKUP_RESOURCES, EXPORTER_RESOURCES, ROLLOUT_MAX_SURGE, ContainerResources
from .cron import longest_gap_seconds
from .monitoring import Monitoring
from .postgres_database import Metrics
from .postgres_jobs import Backups, ObjectStorage
from .postgres_logging import ServerLogs
from .postgres_scripts import RESERVED_ROLES, UPGRADE_ROLE
from .quantity import (
    QuantityError,
    format_bytes,
    format_cpu,
    parse_quantity,
    suggest_byte_quantity,
)
from .web_service import Autoscaling, Ingress

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
_DUMP_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.dump$")
_BUCKET_URL = re.compile(
    r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?P<prefix>(/[A-Za-z0-9!_.*'()-]+)*)/?$"
)
_ENDPOINT = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?/?$")
_REGION = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_ANNOTATION_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_IMAGE_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")


class ConfigError(pulumi.RunError):
    """Bad stack configuration; the CLI prints only the message."""


@dataclass(frozen=True)
class NamespaceSettings:
    name: str
    quota: Quota
    # Protect the namespace and the data volumes from deletion and replacement.
    protect: bool


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
    # None when the feature is off: the component arguments, ready to hand over.
    autoscaling: Autoscaling | None
    ingress: Ingress | None

    @property
    def most_replicas(self) -> int:
        return self.autoscaling.max_replicas if self.autoscaling else self.replicas


@dataclass(frozen=True)
class DatabaseSettings:
    image: str
    name: str
    user: str
    storage_size: str
    storage_class: str | None
    resources: ContainerResources
    backups: Backups | None
    metrics: Metrics | None


@dataclass(frozen=True)
class ClusterSettings:
    # None: the kubeconfig's current context.
    context: str | None
    # A directory to write manifests to instead of applying them; None applies them.
    render_yaml_to: str | None
    domain: str


@dataclass(frozen=True)
class Settings:
    stack: str
    cluster: ClusterSettings
    namespace: NamespaceSettings
    app: AppSettings
    database: DatabaseSettings
    observability: ObservabilitySettings


@cache
def declared_config() -> Mapping[str, Mapping[str, Any]]:
    """The project's own config declarations from Pulumi.yaml, by short key."""
    project = yaml.safe_load(PROJECT_FILE.read_text())
    declared = project.get("config") or {}
    return {key: spec for key, spec in declared.items() if ":" not in key}


T = TypeVar("T")


@dataclass(frozen=True)
class Feature(Generic[T]):
    """A switchable feature's settings: `value` None means off; `valid` False means its
    config had errors (already reported)."""

    value: T | None
    valid: bool = True


INVALID: Feature[Any] = Feature(None, valid=False)


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

    def fail(
        self,
        key: str,
        raw: str | None,
        allowed: str,
        fix_value: str | None = None,
        fix: str | None = None,
    ) -> None:
        """`fix` replaces the whole `pulumi config set` command where that is not the fix."""
        shown = "not set" if raw is None else f"'{raw}'"
        if fix is None:
            fix = self.fix_command(key, fix_value if fix_value is not None else self.example(key))
        self.errors.append(f"{PROJECT}:{key} is {shown}, but {allowed}; fix it with: {fix}")

    def remove_command(self, key: str) -> str:
        return f"pulumi config rm --stack {self._stack} {PROJECT}:{key}"

    def is_secret(self, key: str) -> bool:
        return pulumi.runtime.config.is_config_secret(f"{PROJECT}:{key}")

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


def _app_name(raw: str) -> str:
    # Service names derive from it, and before Kubernetes 1.37 they must start with a
    # letter (RFC 1035), unlike other object names.
    if not raw[:1].isalpha():
        raise ValueError(raw)
    return _dns_label(MAX_APP_NAME)(raw)


def _suggest_dns_label(raw: str) -> str | None:
    label = re.sub(r"[^a-z0-9-]+", "-", raw.strip().lower()).strip("-")
    return label[:63].rstrip("-") or None


def _suggest_dns_subdomain(raw: str) -> str | None:
    name = re.sub(r"[^a-z0-9.-]+", "-", raw.strip().lower()).strip("-.")
    return name[:253] or None


def _boolean(raw: str) -> bool:
    if raw not in ("true", "false"):
        raise ValueError(raw)
    return raw == "true"


def _suggest_boolean(raw: str) -> str | None:
    lowered = raw.strip().lower()
    if lowered in ("true", "yes", "on", "1", "y"):
        return "true"
    if lowered in ("false", "no", "off", "0", "n"):
        return "false"
    return None


def _optional_name(raw: str) -> str:
    if raw and not (len(raw) <= 253 and _DNS_SUBDOMAIN.match(raw)):
        raise ValueError(raw)
    return raw


_CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
# minute, hour, day of month, month, day of week: the ranges Kubernetes' cron parser takes.
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_CRON_NAMES = (
    (),
    (),
    (),
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    ("sun", "mon", "tue", "wed", "thu", "fri", "sat"),
)
_CRON_ITEM = re.compile(r"^(?P<base>\*|\?|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/(?P<step>\d+))?$")


def _cron_schedule(raw: str) -> str:
    if raw in _CRON_MACROS:
        return raw
    fields = raw.split()
    if len(fields) != 5 or raw != " ".join(fields):
        raise ValueError(raw)
    for field_text, (low, high), names in zip(fields, _CRON_RANGES, _CRON_NAMES, strict=True):
        for item in field_text.lower().split(","):
            match = _CRON_ITEM.match(item)
            if match is None or match.group("step") == "0":
                raise ValueError(raw)
            base = match.group("base")
            if base in ("*", "?"):
                continue
            for bound in base.split("-"):
                value = (
                    names.index(bound) + (1 if names is _CRON_NAMES[3] else 0)
                    if (bound in names)
                    else (int(bound) if bound.isdigit() else None)
                )
                if value is None or not low <= value <= high:
                    raise ValueError(raw)
    return raw


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
    never come: check here that the workload at its largest (most app replicas plus a
    rollout's extra pod, the database with its exporter, a backup and a restore job)
    fits in the namespace."""
    app_pods = app.most_replicas + ROLLOUT_MAX_SURGE
    pods: list[tuple[int, list[ContainerResources]]] = [
        (app_pods, [app.resources]),
        (1, [database.resources] + ([EXPORTER_RESOURCES] if database.metrics else [])),
    ]
    backups = database.backups
    if backups:
        pods.append((1, [BACKUP_RESOURCES]))
    if backups and backups.restore_from:
        pods.append((1, [BACKUP_RESOURCES]))
    parts = [f"{app_pods} app pods", "the database"]
    parts += ["a backup"] if backups else []
    parts += ["a restore"] if backups and backups.restore_from else []
    workload = ", ".join(parts[:-1]) + " and " + parts[-1]

    def total(field: str) -> Decimal:
        return sum(
            (
                count * parse_quantity(getattr(resources, field))[0]
                for count, containers in pods
                for resources in containers
            ),
            Decimal(0),
        )

    needs = {
        "quotaCpu": (total("cpu_limit"), "CPU limits", format_cpu),
        "quotaMemory": (total("memory_limit"), "memory limits", format_bytes),
    }
    for key, (needed, what, formatted) in needs.items():
        quota_raw = str(reader.raw(key))
        if parse_quantity(quota_raw)[0] < needed:
            reader.fail(
                key,
                quota_raw,
                f"it must hold the workload's {what} ({workload} need {formatted(needed)})",
                formatted(needed),
            )
    storage = parse_quantity(database.storage_size)[0]
    storage_keys = f"{PROJECT}:storageSize '{database.storage_size}'"
    if backups:
        storage += parse_quantity(backups.storage_size)[0]
        storage_keys += f" and {PROJECT}:backupStorageSize '{backups.storage_size}'"
    if parse_quantity(namespace.quota.storage)[0] < storage:
        reader.fail(
            "quotaStorage",
            namespace.quota.storage,
            f"it must hold the database volumes ({storage_keys})",
            format_bytes(storage),
        )
    pods_needed = sum(count for count, _ in pods)
    if namespace.quota.pods < pods_needed:
        reader.fail(
            "quotaPods",
            str(namespace.quota.pods),
            f"it must allow the {pods_needed} pods of {workload}",
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


_IMAGE_ALLOWED = (
    "it must be a container image with a pinned version, a tag other than 'latest' "
    "or a digest (for example nginx:1.27)"
)
_IDENTIFIER_ALLOWED = (
    "it must be a PostgreSQL identifier: lowercase letters, digits and '_', starting "
    "with a letter or '_', at most 63 characters, not starting with 'pg_'"
)
_BOOLEAN_ALLOWED = "it must be true or false"
_OPTIONAL_NAME_ALLOWED = (
    "it must be empty or a Kubernetes object name (lowercase letters, digits, '-' and '.')"
)


def _read_namespace(reader: _Reader) -> NamespaceSettings | None:
    name = reader.read(
        "namespace",
        _dns_label(63, RESERVED_NAMESPACES),
        "it must be a DNS label (lowercase letters, digits and '-', at most 63 characters, "
        "starting and ending with a letter or digit) that is not a system namespace",
        _suggest_dns_label,
    )
    quota_cpu = reader.read("quotaCpu", _quantity("cpu"), _CPU_ALLOWED)
    quota_memory = reader.read(
        "quotaMemory", _quantity("bytes"), _BYTES_ALLOWED, suggest_byte_quantity
    )
    quota_storage = reader.read(
        "quotaStorage", _quantity("bytes"), _BYTES_ALLOWED, suggest_byte_quantity
    )
    quota_pods = reader.read(
        "quotaPods", _whole_number(1, 10000), "it must be a whole number from 1 to 10000"
    )
    protect = reader.read("protectData", _boolean, _BOOLEAN_ALLOWED, _suggest_boolean)
    if None in (name, quota_cpu, quota_memory, quota_storage, quota_pods, protect):
        return None
    # Quantities are kept as written: Kubernetes takes the text, the checks took numbers.
    return NamespaceSettings(
        name=_present(name),
        quota=Quota(
            cpu=str(reader.raw("quotaCpu")),
            memory=str(reader.raw("quotaMemory")),
            storage=str(reader.raw("quotaStorage")),
            pods=_present(quota_pods),
        ),
        protect=_present(protect),
    )


def _read_autoscaling(reader: _Reader) -> Feature[Autoscaling]:
    enabled = reader.read("autoscaling", _boolean, _BOOLEAN_ALLOWED, _suggest_boolean)
    replicas_allowed = f"it must be a whole number from 1 to {MAX_REPLICAS}"
    minimum = reader.read("minReplicas", _whole_number(1, MAX_REPLICAS), replicas_allowed)
    maximum = reader.read("maxReplicas", _whole_number(1, MAX_REPLICAS), replicas_allowed)
    percent_allowed = "it must be a whole percentage from {low} to 100{extra}"
    cpu = reader.read(
        "targetCpuPercent",
        _whole_number(1, 100),
        percent_allowed.format(low=1, extra=""),
    )
    memory = reader.read(
        "targetMemoryPercent",
        _whole_number(0, 100),
        percent_allowed.format(low=0, extra=" (0 turns the memory target off)"),
    )
    if None in (enabled, minimum, maximum, cpu, memory):
        return INVALID
    if _present(minimum) > _present(maximum):
        reader.fail(
            "minReplicas",
            str(minimum),
            f"it must not exceed {PROJECT}:maxReplicas ('{maximum}')",
            str(maximum),
        )
        return INVALID
    if not enabled:
        return Feature(None)
    return Feature(
        Autoscaling(
            min_replicas=_present(minimum),
            max_replicas=_present(maximum),
            cpu_percent=_present(cpu),
            memory_percent=_present(memory) or None,
        )
    )


def _read_ingress(reader: _Reader) -> Feature[Ingress]:
    host = reader.read(
        "ingressHost",
        lambda raw: raw if raw == "" or _DNS_SUBDOMAIN.match(raw) else _raise(raw),
        "it must be empty (no Ingress) or a DNS host name such as app.example.com",
        _suggest_dns_subdomain,
    )
    ingress_class = reader.read(
        "ingressClass", _optional_name, _OPTIONAL_NAME_ALLOWED, _suggest_dns_subdomain
    )
    tls_secret = reader.read(
        "ingressTlsSecret", _optional_name, _OPTIONAL_NAME_ALLOWED, _suggest_dns_subdomain
    )
    issuer = reader.read(
        "ingressClusterIssuer", _optional_name, _OPTIONAL_NAME_ALLOWED, _suggest_dns_subdomain
    )
    controller_namespace = reader.read(
        "ingressControllerNamespace",
        _dns_label(63),
        "it must be the namespace of the ingress controller, a DNS label",
        _suggest_dns_label,
    )
    if None in (host, ingress_class, tls_secret, issuer, controller_namespace):
        return INVALID
    if tls_secret and issuer:
        reader.fail(
            "ingressTlsSecret",
            tls_secret,
            f"it must be empty when {PROJECT}:ingressClusterIssuer is set (cert-manager "
            "then creates the certificate's Secret)",
            "",
        )
        return INVALID
    if not host:
        return Feature(None)
    return Feature(
        Ingress(
            host=host,
            controller_namespace=_present(controller_namespace),
            ingress_class=ingress_class or None,
            tls_secret=tls_secret or None,
            cluster_issuer=issuer or None,
        )
    )


def _read_app(reader: _Reader) -> AppSettings | None:
    name = reader.read(
        "appName",
        _app_name,
        f"it must be at most {MAX_APP_NAME} characters of lowercase letters, digits and '-', "
        "starting with a letter and ending with a letter or digit",
        lambda raw: (
            (_suggest_dns_label(raw) or "").lstrip("0123456789-")[:MAX_APP_NAME].rstrip("-") or None
        ),
    )
    image = reader.read("image", _pinned_image, _IMAGE_ALLOWED, _suggest_image)
    replicas = reader.read(
        "replicas",
        _whole_number(1, MAX_REPLICAS),
        f"it must be a whole number from 1 to {MAX_REPLICAS}",
        _suggest_whole_number(1, MAX_REPLICAS),
    )
    port = reader.read(
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
    allow_load_balancer = reader.read(
        "allowLoadBalancer", _boolean, _BOOLEAN_ALLOWED, _suggest_boolean
    )
    path_allowed = "it must be an HTTP path starting with '/' (for example /healthz)"
    health_path = reader.read("healthPath", _http_path, path_allowed)
    readiness_path = reader.read("readinessPath", _http_path, path_allowed)
    user_id = reader.read(
        "appUserId",
        _whole_number(1, 2**31 - 1),
        "it must be a non-root user id, a whole number from 1 to 2147483647",
    )
    drain = reader.read(
        "drainSeconds",
        _whole_number(0, 300),
        "it must be a whole number of seconds from 0 to 300",
    )
    grace = reader.read(
        "terminationGracePeriodSeconds",
        _whole_number(1, 3600),
        "it must be a whole number of seconds from 1 to 3600",
    )
    resources = _read_resources(reader, "app")
    autoscaling = _read_autoscaling(reader)
    ingress = _read_ingress(reader)
    values = (
        name,
        image,
        replicas,
        port,
        service_port,
        service_type,
        allow_load_balancer,
        health_path,
        readiness_path,
        user_id,
        drain,
        grace,
        resources,
        autoscaling,
        ingress,
    )
    if None in values:
        return None
    if service_type == "LoadBalancer" and not allow_load_balancer:
        reader.fail(
            "allowLoadBalancer",
            "false",
            f"it must be true when {PROJECT}:serviceType is LoadBalancer, which exposes the "
            "app outside the cluster and costs a cloud load balancer",
            "true",
        )
        return None
    if _present(grace) <= _present(drain):
        reader.fail(
            "terminationGracePeriodSeconds",
            str(grace),
            f"it must exceed {PROJECT}:drainSeconds ('{drain}') so the app has time to shut "
            "down after endpoints drain",
            str(_present(drain) + 30),
        )
        return None
    return AppSettings(
        name=_present(name),
        image=_present(image),
        replicas=_present(replicas),
        port=_present(port),
        service_port=_present(service_port),
        service_type=_present(service_type),
        health_path=_present(health_path),
        readiness_path=_present(readiness_path),
        user_id=_present(user_id),
        resources=_present(resources),
        drain_seconds=_present(drain),
        termination_grace_seconds=_present(grace),
        autoscaling=autoscaling.value,
        ingress=ingress.value,
    )


def _bucket_url(raw: str) -> str:
    if raw and not _BUCKET_URL.match(raw):
        raise ValueError(raw)
    return raw.rstrip("/")


# AWS' own https forms of a bucket: virtual-hosted (bucket.s3.region.amazonaws.com/prefix)
# and path-style (s3.region.amazonaws.com/bucket/prefix).
_VIRTUAL_HOSTED = re.compile(r"^(?P<bucket>[^/]+)\.s3[.-][^/]*amazonaws\.com(?P<path>/.*)?$")
_PATH_STYLE = re.compile(r"^s3[.-][^/]*amazonaws\.com/(?P<bucket>[^/]+)(?P<path>/.*)?$")
BUCKET_PLACEHOLDER = "s3://<bucket>/<prefix>"


def _suggest_bucket_url(raw: str) -> str:
    """Never empty: an empty bucket turns off-cluster copies off."""
    location = re.sub(r"^[A-Za-z0-9]+://", "", raw.strip())
    aws = _VIRTUAL_HOSTED.match(location) or _PATH_STYLE.match(location)
    if aws:
        bucket, prefix = aws.group("bucket"), (aws.group("path") or "")
    else:
        bucket, _, prefix = location.strip("/").partition("/")
    bucket = re.sub(r"[^a-z0-9.-]+", "-", bucket.lower()).strip("-.")
    parts = [re.sub(r"[^A-Za-z0-9!_.*'()-]+", "-", part) for part in prefix.split("/") if part]
    candidate = f"s3://{bucket}" + "".join(f"/{part}" for part in parts)
    return candidate if len(bucket) >= 3 and _BUCKET_URL.match(candidate) else BUCKET_PLACEHOLDER


def _endpoint(raw: str) -> str:
    if raw and not _ENDPOINT.match(raw):
        raise ValueError(raw)
    return raw.rstrip("/")


def _suggest_identity_annotation(raw: str) -> str:
    key, _, value = re.sub(r"\s*[:=]\s*", "=", raw.strip(), count=1).partition("=")
    return f"{key}={value or '<value>'}" if _ANNOTATION_KEY.match(key) else "<key>=<value>"


def _suggest_endpoint(raw: str) -> str:
    candidate = raw.strip()
    if "://" not in candidate:
        candidate = f"https://{candidate}"
    scheme, _, rest = candidate.partition("://")
    return f"{scheme.lower()}://{rest.split('/', 1)[0]}"


def _identity_annotation(raw: str) -> tuple[str, str] | None:
    if not raw:
        return None
    key, separator, value = raw.partition("=")
    if not separator or not value or not _ANNOTATION_KEY.match(key) or len(key) > 316:
        raise ValueError(raw)
    return key, value


# Access key id and secret (secret Outputs), an existing Secret's name, an annotation.
_Credentials = tuple[
    pulumi.Output[str] | None, pulumi.Output[str] | None, str, tuple[str, str] | None
]


def _read_storage_credentials(reader: _Reader, bucket: str | None) -> _Credentials | None:
    """Exactly one way to the bucket: access keys as secret config, an existing Secret,
    or workload identity. Secret values are never shown in a message."""
    secret_keys = ("backupS3AccessKeyId", "backupS3SecretAccessKey")
    present = {key: bool(reader.raw(key)) for key in secret_keys}
    valid = True
    for key in secret_keys:
        if present[key] and not reader.is_secret(key):
            reader.errors.append(
                f"{PROJECT}:{key} is set in plaintext (its value is now in the stack file: "
                "rotate the key), but it must be set as a secret, so it is encrypted there; fix it "
                f"with: pulumi config "
                f"set --secret --stack {reader._stack} {PROJECT}:{key} <new value>"
            )
            valid = False
    if present[secret_keys[0]] != present[secret_keys[1]]:
        missing = secret_keys[1] if present[secret_keys[0]] else secret_keys[0]
        reader.fail(
            missing,
            None,
            f"access keys come in pairs: {PROJECT}:{secret_keys[0]} and "
            f"{PROJECT}:{secret_keys[1]} are set together",
            fix=f"pulumi config set --secret --stack {reader._stack} {PROJECT}:{missing} <value>",
        )
        valid = False
    existing_secret = reader.read(
        "backupS3CredentialsSecret", _optional_name, _OPTIONAL_NAME_ALLOWED, _suggest_dns_subdomain
    )
    identity = reader.read(
        "backupS3IdentityAnnotation",
        _identity_annotation,
        "it must be empty or one ServiceAccount annotation as key=value, such as "
        "eks.amazonaws.com/role-arn=arn:aws:iam::111122223333:role/webapp-backups",
        _suggest_identity_annotation,
    )
    if existing_secret is None or not valid or bucket is None:
        # A bucket that did not parse is reported already; comparing it here would only
        # add a wrong second sentence.
        return None
    if identity is None and reader.raw("backupS3IdentityAnnotation"):
        return None
    modes = [
        name
        for name, on in (
            (f"{PROJECT}:backupS3AccessKeyId", present[secret_keys[0]]),
            (f"{PROJECT}:backupS3CredentialsSecret", bool(existing_secret)),
            (f"{PROJECT}:backupS3IdentityAnnotation", identity is not None),
        )
        if on
    ]
    if modes and not bucket:
        key = modes[0].split(":", 1)[1]
        reader.fail(
            key,
            "set" if key == "backupS3AccessKeyId" else reader.raw(key),
            f"object storage credentials are used only with {PROJECT}:backupBucket, which is "
            "empty",
            fix=reader.remove_command(key),
        )
        return None
    if bucket and len(modes) != 1:
        allowed = (
            "off-cluster copies need exactly one way to the bucket: secret access keys "
            f"({PROJECT}:backupS3AccessKeyId and {PROJECT}:backupS3SecretAccessKey), an "
            f"existing Secret ({PROJECT}:backupS3CredentialsSecret) or workload identity "
            f"({PROJECT}:backupS3IdentityAnnotation)"
        )
        if modes:
            allowed += f"; {' and '.join(modes)} are {'both' if len(modes) == 2 else 'all'} set"
        reader.fail(
            "backupBucket",
            bucket,
            allowed,
            fix=(
                f"pulumi config rm --stack {reader._stack} {modes[1]}"
                if modes
                else f"pulumi config set --stack {reader._stack} "
                f"{PROJECT}:backupS3CredentialsSecret webapp-backup-s3"
            ),
        )
        return None
    config = pulumi.Config(PROJECT)
    access_key = config.get_secret(secret_keys[0]) if present[secret_keys[0]] else None
    secret_key = config.get_secret(secret_keys[1]) if present[secret_keys[1]] else None
    return access_key, secret_key, existing_secret, identity


def _read_object_storage(reader: _Reader) -> Feature[ObjectStorage]:
    bucket = reader.read(
        "backupBucket",
        _bucket_url,
        "it must be empty (no off-cluster copies) or an S3 URL such as "
        "s3://my-backups/webapp/prod (bucket name in lowercase)",
        _suggest_bucket_url,
    )
    endpoint = reader.read(
        "backupS3Endpoint",
        _endpoint,
        "it must be empty (AWS S3) or the URL of an S3-compatible API without a path, such "
        "as https://minio.example.com:9000",
        _suggest_endpoint,
    )
    region = reader.read(
        "backupS3Region",
        lambda raw: raw if _REGION.match(raw) else _raise(raw),
        "it must be a region name such as us-east-1 (or auto, for Cloudflare R2)",
        lambda raw: re.sub(r"[^a-z0-9]+", "-", raw.strip().lower()).strip("-") or None,
    )
    image = reader.read("backupS3Image", _pinned_image, _IMAGE_ALLOWED, _suggest_image)
    credentials = _read_storage_credentials(reader, bucket)
    if None in (bucket, endpoint, region, image, credentials):
        return INVALID
    if endpoint and not bucket:
        reader.fail(
            "backupS3Endpoint",
            endpoint,
            f"an endpoint is used only with {PROJECT}:backupBucket, which is empty",
            fix=reader.remove_command("backupS3Endpoint"),
        )
        return INVALID
    if not bucket:
        return Feature(None)
    if _present(bucket).startswith(f"s3://{PLACEHOLDER_BUCKET}"):
        pulumi.log.warn(
            f"{PROJECT}:backupBucket is the placeholder '{bucket}': no dump leaves the cluster "
            f"until you set your own bucket with: pulumi config set --stack {reader._stack} "
            f"{PROJECT}:backupBucket s3://<bucket>/<prefix>"
        )
    access_key, secret_key, existing_secret, identity = _present(credentials)
    return Feature(
        ObjectStorage(
            bucket_url=_present(bucket),
            image=_present(image),
            region=_present(region),
            endpoint=endpoint or None,
            access_key_id=access_key,
            secret_access_key=secret_key,
            credentials_secret=existing_secret or None,
            identity_annotation=identity,
        )
    )


# The prod stack file's placeholder: the `sthree-` prefix is reserved by S3, so no one can
# own a bucket of that name and receive the dumps of a stack that kept the placeholder.
PLACEHOLDER_BUCKET = "sthree-replace-with-your-bucket"


def _suggest_restore_from(raw: str) -> str:
    name = raw.strip()
    for suffix in (".sha256", ".partial"):
        name = name.removesuffix(suffix)
    if not name.endswith(".dump"):
        name += ".dump"
    if name.startswith("s3://") and _DUMP_FILE.match(name.rsplit("/", 1)[-1]):
        return name
    # A path that is not an s3:// URL names no dump in the volume: no restore.
    return name if "/" not in name and _DUMP_FILE.match(name) else ""


def _restore_from(raw: str) -> str:
    if raw == "" or _DUMP_FILE.match(raw):
        return raw
    if raw.startswith("s3://") and _DUMP_FILE.match(raw.rsplit("/", 1)[-1]):
        return raw
    raise ValueError(raw)


def _read_backups(reader: _Reader) -> Feature[Backups]:
    enabled = reader.read("backupEnabled", _boolean, _BOOLEAN_ALLOWED, _suggest_boolean)
    schedule = reader.read(
        "backupSchedule",
        _cron_schedule,
        "it must be a cron schedule of five fields (minute hour day month weekday, such as "
        "'0 3 * * *') or a macro such as @daily",
    )
    keep = reader.read(
        "backupRetain",
        _whole_number(1, 365),
        "it must be the number of dumps to keep, a whole number from 1 to 365",
    )
    storage = reader.read(
        "backupStorageSize", _quantity("bytes"), _BYTES_ALLOWED, suggest_byte_quantity
    )
    restore_from = reader.read(
        "restoreFrom",
        _restore_from,
        "it must be empty (no restore), the file name of a dump in the backup volume such "
        "as app-20261125T030000Z.dump, or the s3:// URL of a dump in webapp:backupBucket",
        _suggest_restore_from,
    )
    object_storage = _read_object_storage(reader)
    if None in (enabled, schedule, keep, storage, restore_from) or not object_storage.valid:
        return INVALID
    if (restore_from or object_storage.value) and not enabled:
        key = "restoreFrom" if restore_from else "backupBucket"
        reader.fail(
            key,
            reader.raw(key),
            f"restores and off-cluster copies use the backup volume, which exists only while "
            f"{PROJECT}:backupEnabled is true",
            fix=reader.fix_command("backupEnabled", "true"),
        )
        return INVALID
    if restore_from.startswith("s3://"):
        bucket = object_storage.value.bucket_url if object_storage.value else ""
        if not bucket or not restore_from.startswith(f"{bucket}/"):
            reader.fail(
                "restoreFrom",
                restore_from,
                f"a dump from object storage must be in {PROJECT}:backupBucket "
                f"('{bucket}'), whose credentials the restore uses (to restore another "
                "stack's dump, copy it into this stack's prefix first: see the README's "
                "'Restore a backup')",
                f"{bucket}/{restore_from.rsplit('/', 1)[-1]}" if bucket else "",
            )
            return INVALID
    if not enabled:
        return Feature(None)
    return Feature(
        Backups(
            schedule=_present(schedule),
            keep=_present(keep),
            storage_size=str(reader.raw("backupStorageSize")),
            object_storage=object_storage.value,
            restore_from=restore_from or None,
        )
    )


def _read_metrics(reader: _Reader) -> Feature[Metrics]:
    enabled = reader.read("metricsEnabled", _boolean, _BOOLEAN_ALLOWED, _suggest_boolean)
    service_monitor = reader.read("serviceMonitor", _boolean, _BOOLEAN_ALLOWED, _suggest_boolean)
    namespace = reader.read(
        "metricsNamespace",
        _dns_label(63),
        "it must be the namespace Prometheus scrapes from, a DNS label",
        _suggest_dns_label,
    )
    image = reader.read("exporterImage", _pinned_image, _IMAGE_ALLOWED, _suggest_image)
    if None in (enabled, service_monitor, namespace, image):
        return INVALID
    if service_monitor and not enabled:
        reader.fail(
            "serviceMonitor",
            "true",
            f"a ServiceMonitor scrapes the exporter, which runs only while "
            f"{PROJECT}:metricsEnabled is true",
            "false",
        )
        return INVALID
    if not enabled:
        return Feature(None)
    return Feature(
        Metrics(
            exporter_image=_present(image),
            scraper_namespace=_present(namespace),
            service_monitor=bool(service_monitor),
        )
    )


# Names PostgreSQL refuses for a role, and the roles the database keeps for itself.
_NOT_APP_ROLES = (
    *RESERVED_ROLES,
    UPGRADE_ROLE,
    "public",
    "none",
    "current_user",
    "session_user",
    "current_role",
)


def _app_role(raw: str) -> str:
    if raw in _NOT_APP_ROLES:
        raise ValueError(raw)
    return _pg_identifier(raw)


def _read_database(reader: _Reader) -> DatabaseSettings | None:
    image = reader.read("dbImage", _pinned_image, _IMAGE_ALLOWED, _suggest_image)
    name = reader.read("dbName", _pg_identifier, _IDENTIFIER_ALLOWED, _suggest_pg_identifier)
    user = reader.read(
        "dbUser",
        _app_role,
        f"{_IDENTIFIER_ALLOWED}, and not {', '.join(_NOT_APP_ROLES)} (roles PostgreSQL or "
        "the database keep for themselves)",
        lambda raw: (
            f"{name}_app"
            if (name := _suggest_pg_identifier(raw) or "app") in _NOT_APP_ROLES
            else name
        ),
    )
    storage = reader.read("storageSize", _quantity("bytes"), _BYTES_ALLOWED, suggest_byte_quantity)
    storage_class = reader.read(
        "storageClass",
        lambda raw: (
            raw if raw == "" or (len(raw) <= 253 and _DNS_SUBDOMAIN.match(raw)) else _raise(raw)
        ),
        "it must be empty (the cluster's default storage class) or the name of a storage "
        "class (lowercase letters, digits, '-' and '.')",
        _suggest_dns_subdomain,
    )
    resources = _read_resources(reader, "db")
    backups = _read_backups(reader)
    metrics = _read_metrics(reader)
    if None in (image, name, user, storage, storage_class, resources):
        return None
    if not backups.valid or not metrics.valid:
        return None
    return DatabaseSettings(
        image=_present(image),
        name=_present(name),
        user=_present(user),
        storage_size=str(reader.raw("storageSize")),
        storage_class=_present(storage_class) or None,
        resources=_present(resources),
        backups=backups.value,
        metrics=metrics.value,
    )


def _read_cluster(reader: _Reader) -> ClusterSettings | None:
    context = reader.read(
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
    domain = reader.read(
        "clusterDomain",
        lambda raw: raw if _DNS_SUBDOMAIN.match(raw) else _raise(raw),
        "it must be a DNS domain such as cluster.local",
    )
    if None in (context, render_yaml_to, domain):
        return None
    return ClusterSettings(
        context=_present(context) or None,
        render_yaml_to=_present(render_yaml_to) or None,
        domain=_present(domain),
    )


def load_settings() -> Settings:
    stack = pulumi.get_stack()
    reader = _Reader(pulumi.Config(PROJECT), stack)
    _unknown_keys(reader, present_config_keys())
    namespace = _read_namespace(reader)
    app = _read_app(reader)
    database = _read_database(reader)
    cluster = _read_cluster(reader)
    observability = _read_observability(reader, database)
    if (
        reader.errors
        or namespace is None
        or app is None
        or database is None
        or cluster is None
        or observability is None
    ):
        raise ConfigError("\n".join(reader.errors))
    _check_quota(reader, namespace, app, database)
    if reader.errors:
        raise ConfigError("\n".join(reader.errors))
    return Settings(
        stack=stack,
        cluster=cluster,
        namespace=namespace,
        app=app,
        database=database,
        observability=observability,
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


# --- Monitoring and logs: alerts, labels for the Prometheus operator, the runbook, the
# dashboard and the server's slow statement log. ------------------------------------------


@dataclass(frozen=True)
class ObservabilitySettings:
    # The components' monitoring arguments: operator labels, alerts, runbook.
    monitoring: Monitoring
    dashboard: bool
    server_logs: ServerLogs


_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
# Ours: operator labels must not move an object out of its component's selectors.
_OWN_LABEL_PREFIX = "app.kubernetes.io/"
_RUNBOOK_URL = re.compile(r"^(https?://[^\s#]+|[A-Za-z0-9._/-]+)$")
MAX_SLOW_STATEMENT_MS = 3_600_000


def _label_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and not (len(prefix) <= 253 and _DNS_SUBDOMAIN.match(prefix)):
        return False
    return bool(_LABEL_NAME.match(name)) and not key.startswith(_OWN_LABEL_PREFIX)


def _monitoring_labels(raw: str) -> dict[str, str]:
    """`key=value` pairs separated by commas, like a kubectl label selector."""
    labels: dict[str, str] = {}
    for pair in raw.split(",") if raw else []:
        key, separator, value = pair.partition("=")
        if not separator or not _label_key(key) or not _LABEL_VALUE.match(value):
            raise ValueError(raw)
        labels[key] = value
    return labels


def _suggest_monitoring_labels(raw: str) -> str | None:
    pairs = [re.split(r"\s*[=:]\s*", pair.strip(), maxsplit=1) for pair in re.split(r"[,;]", raw)]
    cleaned = ",".join("=".join(pair) for pair in pairs if len(pair) == 2 and all(pair))
    try:
        return cleaned if cleaned and _monitoring_labels(cleaned) else None
    except ValueError:
        return None


def _runbook_url(raw: str) -> str:
    if not _RUNBOOK_URL.match(raw):
        raise ValueError(raw)
    return raw


def _suggest_runbook_url(raw: str) -> str | None:
    candidate = raw.strip().split("#", 1)[0]
    return candidate if _RUNBOOK_URL.match(candidate) else None


def _read_observability(
    reader: _Reader, database: DatabaseSettings | None
) -> ObservabilitySettings | None:
    alerts = reader.read("alertsEnabled", _boolean, _BOOLEAN_ALLOWED, _suggest_boolean)
    labels = reader.read(
        "monitoringLabels",
        _monitoring_labels,
        "it must be empty or labels for the Prometheus operator's selectors as key=value "
        "pairs separated by commas, such as release=kube-prometheus-stack (label names and "
        f"values as Kubernetes allows them, none under {_OWN_LABEL_PREFIX})",
        _suggest_monitoring_labels,
    )
    runbook = reader.read(
        "runbookUrl",
        _runbook_url,
        "it must be the address of this README that alerts link their runbook entries to, "
        "an http(s) URL or a path such as README.md, without spaces or '#'",
        _suggest_runbook_url,
    )
    dashboard = reader.read("dashboardEnabled", _boolean, _BOOLEAN_ALLOWED, _suggest_boolean)
    slow_ms = reader.read(
        "dbSlowQueryMs",
        _whole_number(-1, MAX_SLOW_STATEMENT_MS),
        "it must be -1 (no slow statement log) or a whole number of milliseconds from 0 to "
        f"{MAX_SLOW_STATEMENT_MS} (0 logs every statement)",
        _suggest_whole_number(-1, MAX_SLOW_STATEMENT_MS),
    )
    if None in (alerts, labels, runbook, dashboard, slow_ms):
        return None
    if database is not None and alerts and database.metrics is None:
        reader.fail(
            "alertsEnabled",
            "true",
            "the database alerts read the postgres exporter's metrics, and the exporter runs "
            f"only while {PROJECT}:metricsEnabled is true",
            fix=reader.fix_command("metricsEnabled", "true"),
        )
        return None
    if database is not None and database.backups is not None:
        try:
            longest_gap_seconds(database.backups.schedule)
        except ValueError:
            reader.fail(
                "backupSchedule",
                database.backups.schedule,
                "it must name a day that exists, or no backup ever runs (and the backup "
                "alerts cannot tell when one is late)",
            )
            return None
    return ObservabilitySettings(
        monitoring=Monitoring(
            labels=_present(labels), alerts=bool(alerts), runbook_url=_present(runbook)
        ),
        dashboard=bool(dashboard),
        server_logs=ServerLogs(slow_statement_ms=_present(slow_ms)),
    )
