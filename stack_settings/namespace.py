"""The namespace's settings, and its quota: it follows the workload by default, and an
explicit `webapp:quota*` value is a cap the workload is checked against.

The rule: the quota holds the workload at its largest (the most app pods plus a
rollout's surge, the database's pods, both data volumes) plus 25% headroom, rounded up
(CPU to 100m, memory to 128Mi, storage to 1Gi, pods to a whole pod). The pods are the
ones the components declare (WebService.pods, PostgresDatabase.pods), read from their
specs with every container, init container and sidecar: there is no second model of them
here. The LimitRange gives containers that declare no resources the app's own requests
and limits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from components import ContainerResources, PostgresDatabase, Quota, WebService
from components._shared.pods import pod_amount, pod_containers
from components._shared.quantity import (
    format_bytes,
    format_cpu,
    parse_quantity,
    suggest_byte_quantity,
)
from components.database.parts import POSTGRES_PORT

from .app import AppSettings
from .database import DatabaseSettings
from .reader import PROJECT, Reader, present
from .values import (
    BOOLEAN_ALLOWED,
    BYTES_ALLOWED,
    CPU_ALLOWED,
    NAMESPACE_ALLOWED,
    boolean,
    namespace,
    quantity,
    suggest_boolean,
    suggest_namespace,
    whole_number,
)

HEADROOM = Decimal("1.25")
_STEPS = {"cpu": Decimal("0.1"), "memory": Decimal(128 * 2**20), "storage": Decimal(2**30)}
_FOLLOWS = " (empty follows the workload)"


@dataclass(frozen=True)
class NamespaceSettings:
    name: str
    quota: Quota
    # The LimitRange's defaults for containers that declare no resources.
    container_defaults: ContainerResources
    # Protect the namespace and the data volumes from deletion and replacement.
    protect: bool
    # The namespace a confirmed move leaves (webapp:namespaceMovedFrom), "" for none.
    moved_from: str = ""


@dataclass(frozen=True)
class NamespaceConfig:
    """The namespace's keys as read, before the quota is settled against the workload;
    a cap of None follows the workload."""

    name: str
    caps: dict[str, Decimal | None]
    protect: bool
    # webapp:namespaceMovedFrom: the namespace a confirmed move leaves ("" for none).
    moved_from: str = ""


def _optional(parse: Callable[[str], Decimal]) -> Callable[[str], Decimal | None]:
    return lambda raw: None if raw == "" else parse(raw)


def read_namespace(reader: Reader) -> NamespaceConfig | None:
    name = reader.read("namespace", namespace, NAMESPACE_ALLOWED, suggest_namespace)
    caps = {
        "quotaCpu": reader.read("quotaCpu", _optional(quantity("cpu")), CPU_ALLOWED + _FOLLOWS),
        "quotaMemory": reader.read(
            "quotaMemory",
            _optional(quantity("memory")),
            BYTES_ALLOWED + _FOLLOWS,
            suggest_byte_quantity,
        ),
        "quotaStorage": reader.read(
            "quotaStorage",
            _optional(quantity("storage")),
            BYTES_ALLOWED + _FOLLOWS,
            suggest_byte_quantity,
        ),
    }
    pods = reader.read(
        "quotaPods",
        whole_number(0, 10000),
        "it must be a whole number from 1 to 10000, or 0 to follow the workload",
    )
    protect = reader.read("protectData", boolean, BOOLEAN_ALLOWED, suggest_boolean)
    moved_from = reader.read(
        "namespaceMovedFrom",
        lambda raw: raw if raw == "" else namespace(raw),
        "it must be empty or the namespace the stack's objects are in now, which confirms "
        "moving them to webapp:namespace",
        lambda raw: suggest_namespace(raw) or "",
    )
    read_ok = all(caps[key] is not None or reader.raw(key) == "" for key in caps)
    if None in (name, pods, protect, moved_from) or not read_ok:
        return None
    return NamespaceConfig(
        name=present(name),
        caps={**caps, "quotaPods": Decimal(present(pods)) if pods else None},
        protect=present(protect),
        moved_from=present(moved_from),
    )


@dataclass(frozen=True)
class _Need:
    key: str
    what: str
    amount: Decimal
    step: Decimal | None
    formatted: Callable[[Decimal], str]
    drivers: tuple[str, ...]
    # CPU and memory are the containers' sum: the message names the containers counted.
    counts_containers: bool = False


# What a WebService needs from the database to be built; sizing its pods reads none of it.
_SIZING_CONNECTION = {
    "namespace": "",
    "database_host": "",
    "database_port": POSTGRES_PORT,
    "database_name": "",
    "database_user": "",
    "database_selector": {},
    "database_password": "",
}
# What a PostgresDatabase needs from the namespace and the app to be built; sizing its
# pods reads none of it.
_SIZING_DATABASE = {"namespace": "", "client_selector": {}}
_CHARGED = {"cpu_limit": ("limits", "cpu"), "memory_limit": ("limits", "memory")}


def _needs(app: AppSettings, database: DatabaseSettings) -> tuple[str, str, list[_Need]]:
    """What the workload needs at its largest, the sentence that describes it and the one
    that names the containers counted. The pods are the ones the WebService and the
    PostgresDatabase declare (for cloudnative-pg, the ones the operator builds from the
    Cluster declared), every container, init container and sidecar counted."""
    web = WebService.pods(app.name, {**_SIZING_CONNECTION, **app.inputs()})  # type: ignore[typeddict-item]
    db = PostgresDatabase.pods(
        f"{app.name}-db",
        {**_SIZING_DATABASE, "app": app.name, **database.inputs()},  # type: ignore[typeddict-item]
    )
    demands = [*web, *db]
    backups = database.backups
    pods: list[tuple[int, dict[str, Decimal]]] = [
        (
            demand.count,
            {
                field: pod_amount(demand.spec, kind, resource)
                for field, (kind, resource) in _CHARGED.items()
            },
        )
        for demand in demands
    ]
    parts = [demand.what for demand in demands]
    workload = ", ".join(parts[:-1]) + " and " + parts[-1]
    counted = "; ".join(f"{demand.what}: {pod_containers(demand.spec)}" for demand in demands)

    def total(field: str) -> Decimal:
        return sum((count * amounts[field] for count, amounts in pods), Decimal(0))

    size = ("autoscaling", "maxReplicas") if app.autoscaling else ("replicas",)
    jobs = ("backupEnabled", "restoreFrom")
    database_keys = ("dbEngine", "dbInstances", "metricsEnabled", *jobs)
    storage = parse_quantity(database.storage_size)[0] * database.engine.instances
    if backups and database.engine.name != "cloudnative-pg":
        storage += parse_quantity(str(backups["storage_size"]))[0]
    return (
        workload,
        counted,
        [
            _Need(
                "quotaCpu",
                "CPU limits",
                total("cpu_limit"),
                _STEPS["cpu"],
                format_cpu,
                (*size, "maxSurge", "appCpuLimit", "dbCpuLimit", *database_keys),
                counts_containers=True,
            ),
            _Need(
                "quotaMemory",
                "memory limits",
                total("memory_limit"),
                _STEPS["memory"],
                format_bytes,
                (*size, "maxSurge", "appMemoryLimit", "dbMemoryLimit", *database_keys),
                counts_containers=True,
            ),
            _Need(
                "quotaStorage",
                "storage for the database volumes",
                storage,
                _STEPS["storage"],
                format_bytes,
                ("storageSize", "dbInstances", "backupEnabled", "backupStorageSize"),
            ),
            _Need(
                "quotaPods",
                "pods",
                Decimal(sum(count for count, _ in pods)),
                None,
                lambda amount: str(int(amount)),
                (*size, "maxSurge", "dbInstances", *jobs),
            ),
        ],
    )


def _with_headroom(need: _Need) -> Decimal:
    amount = need.amount * HEADROOM
    if need.step is None:
        return Decimal(math.ceil(amount))
    return (amount / need.step).to_integral_value(rounding="ROUND_CEILING") * need.step


def settle_namespace(
    reader: Reader, config: NamespaceConfig, app: AppSettings, database: DatabaseSettings
) -> NamespaceSettings | None:
    """A ResourceQuota rejects pods beyond it, and `pulumi up` then waits for pods that
    never come: a cap must hold the workload at its largest, checked here."""
    workload, counted, needs = _needs(app, database)
    quota: dict[str, str] = {}
    for need in needs:
        cap = config.caps[need.key]
        if cap is None:
            quota[need.key] = need.formatted(_with_headroom(need))
            continue
        quota[need.key] = str(reader.raw(need.key))
        if cap >= need.amount:
            continue
        changed = [
            f"{PROJECT}:{key} '{reader.raw(key)}'" for key in need.drivers if reader.changed(key)
        ]
        because = f", with {', '.join(changed)}" if changed else ""
        reader.fail(
            need.key,
            reader.raw(need.key),
            f"that cap is below what the workload needs at its largest: {workload} need "
            f"{need.formatted(need.amount)} of {need.what}"
            f"{f' (counting every container: {counted})' if need.counts_containers else ''}"
            f"{because}",
            fix=f"{reader.fix_command(need.key, need.formatted(_with_headroom(need)))} (or "
            f"{reader.remove_command(need.key)} to let the quota follow the workload)",
        )
    if reader.errors:
        return None
    return NamespaceSettings(
        name=config.name,
        quota=Quota(
            cpu=quota["quotaCpu"],
            memory=quota["quotaMemory"],
            storage=quota["quotaStorage"],
            pods=int(quota["quotaPods"]),
        ),
        container_defaults=app.resources,
        protect=config.protect,
        moved_from=config.moved_from,
    )
