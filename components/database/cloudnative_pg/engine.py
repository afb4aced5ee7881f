"""PostgresDatabase on CloudNativePG: the component's inputs handed to the engine's seam
(cluster.py), and what the app sees come back the same as with the built-in server: host,
port, database, user, password, Secret name and key, pod selector."""

import pulumi
import pulumi_random as random

from ..._shared.package import known
from ..._shared.pods import PodDemand
from ..args import DEFAULT_SLOW_STATEMENT_MS, Backups, CloudNativePg, Metrics, PostgresDatabaseArgs
from ..engine import Engine, EngineOutputs
from ..parts import PASSWORD_KEY, DatabaseParts
from .alert_rules import cnpg_alert_rules
from .cluster import declare_cnpg_cluster
from .pods import cnpg_pods
from .settings import DEFAULT_IMAGE, CnpgSettings


def _plain(value: object, field: str) -> object:
    return known(value, f"PostgresDatabase input 'cloudnativePg.{field}'")


def cnpg_settings(
    db: DatabaseParts,
    engine: CloudNativePg,
    storage_size: str,
    backups: Backups | None,
    metrics: Metrics | None,
) -> CnpgSettings:
    storage = (
        known(backups.get("object_storage"), "PostgresDatabase input 'backups'")
        if backups
        else None
    )
    optional = {
        key: _plain(engine.get(key), key)
        for key in ("archive_name", "recovery_source_archive", "recovery_target_time")
    }
    return CnpgSettings(
        instances=int(str(_plain(engine.get("instances"), "instances") or 3)),
        storage_size=storage_size,
        resources=db.resources,
        database=str(known(db.database, "PostgresDatabase input 'database'")),
        owner=str(known(db.user, "PostgresDatabase input 'user'")),
        # Not _plain: the image names no object, and the stack hands it over through its
        # major-upgrade check, so the Cluster is registered only once that check has passed.
        image=engine.get("image") or DEFAULT_IMAGE,
        storage_class=str(db.storage_class) if db.storage_class else None,
        operator_namespace=str(
            _plain(engine.get("operator_namespace"), "operatorNamespace") or "cnpg-system"
        ),
        metrics_namespace=str(metrics["scraper_namespace"]) if metrics else None,
        pod_monitor=bool(metrics and metrics.get("service_monitor")),
        # The Prometheus operator's selector labels, as on the ServiceMonitor: without them
        # a default kube-prometheus-stack never scrapes the instances.
        pod_monitor_labels=dict(db.monitoring.labels) if db.monitoring else {},
        object_storage=storage,  # type: ignore[arg-type]
        backup_schedule=str(backups["schedule"]) if backups else "0 3 * * *",
        retention_days=int(str(_plain(engine.get("retention_days"), "retentionDays") or 30)),
        archive_name=optional["archive_name"] or None,  # type: ignore[arg-type]
        recovery_target_time=optional["recovery_target_time"] or None,  # type: ignore[arg-type]
        recovery_source_archive=optional["recovery_source_archive"] or None,  # type: ignore[arg-type]
        protect=db.protect,
        # The same slow statement log as the built-in server's (webapp:dbSlowQueryMs).
        slow_statement_ms=int(
            known(
                (db.logs or {}).get("slow_statement_ms", DEFAULT_SLOW_STATEMENT_MS),
                "PostgresDatabase input 'logs.slowStatementMs'",
            )
        ),
        api_server_cidrs=tuple(
            str(cidr) for cidr in _plain(engine.get("api_server_cidrs"), "apiServerCidrs") or ()
        ),
    )


def cnpg_engine(
    db: DatabaseParts,
    engine: CloudNativePg,
    storage_size: str,
    backups: Backups | None,
    metrics: Metrics | None,
    client_selector: dict[str, str],
    cluster_domain: str,
) -> EngineOutputs:
    """The Cluster and what it needs, with the app's generated password (the same
    resource name as with the built-in server, so a stack keeps its password)."""
    password = random.RandomPassword(
        f"{db.name}-password", length=32, special=False, opts=db.opts()
    )
    try:
        settings = cnpg_settings(db, engine, storage_size, backups, metrics)
        cluster = declare_cnpg_cluster(
            db.parent,
            db.name,
            db.namespace,
            db.app,
            client_selector,
            password.result,
            settings,
            cluster_domain,
        )
        if db.monitoring and db.monitoring.alerts:
            # Archiving and base backups exist only with an object store: without one the
            # instance manager reports a backup timestamp of 0 forever (so an age rule
            # would fire for good) and archives WAL to nowhere.
            schedule = settings.backup_schedule if settings.object_storage else None
            cnpg_alert_rules(db, db.monitoring, settings.instances, schedule)
    except ValueError as problem:
        raise pulumi.RunError(f"PostgresDatabase {db.name}: {problem}") from None
    return EngineOutputs(
        host=cluster.host,
        password=pulumi.Output.secret(password.result),
        secret_name=cluster.secret_name,
        password_secret_key=PASSWORD_KEY,
        selector=dict(cluster.selector),
        storage_size=cluster.cluster.spec.apply(lambda spec: str(spec["storage"]["size"])),
    )


def _engine_inputs(
    args: PostgresDatabaseArgs,
) -> tuple[CloudNativePg, str, Backups | None, Metrics | None]:
    return (
        known(args.get("cloudnative_pg"), "PostgresDatabase input 'cloudnativePg'") or {},
        known(args["storage_size"], "PostgresDatabase input 'storageSize'"),
        known(args.get("backups"), "PostgresDatabase input 'backups'"),
        known(args.get("metrics"), "PostgresDatabase input 'metrics'"),
    )


def declare_cloudnative_pg(db: DatabaseParts, args: PostgresDatabaseArgs) -> EngineOutputs:
    return cnpg_engine(
        db,
        *_engine_inputs(args),
        known(args["client_selector"], "PostgresDatabase input 'clientSelector'"),
        args.get("cluster_domain") or "cluster.local",
    )


def cloudnative_pg_pods(db: DatabaseParts, args: PostgresDatabaseArgs) -> list[PodDemand]:
    return cnpg_pods(cnpg_settings(db, *_engine_inputs(args)))


CLOUDNATIVE_PG = Engine(declare=declare_cloudnative_pg, pods=cloudnative_pg_pods)
