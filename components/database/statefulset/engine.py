"""The statefulset engine behind the seam (database/engine.py): one pod of the official
image, its roles, its volume, and scheduled dumps with their restore Job."""

import pulumi

from ..._shared.metadata import selector_labels
from ..._shared.package import known
from ..._shared.pods import PodDemand
from ..args import Metrics, PostgresDatabaseArgs
from ..engine import Engine, EngineOutputs
from ..parts import PASSWORD_KEY, DatabaseParts
from .backups import backup_pods, backups
from .metrics import alert_rules, metrics_service
from .network import network_policy
from .server import (
    claim,
    credentials_secret,
    passwords,
    server_config,
    server_pod_spec,
    services,
    statefulset,
)


def _metrics(args: PostgresDatabaseArgs) -> Metrics | None:
    return known(args.get("metrics"), "PostgresDatabase input 'metrics'")


def _service_monitor(metrics: Metrics | None) -> bool:
    return bool(
        metrics and known(metrics.get("service_monitor"), "PostgresDatabase input 'metrics'")
    )


def declare_statefulset(db: DatabaseParts, args: PostgresDatabaseArgs) -> EngineOutputs:
    name = db.name
    metrics = _metrics(args)
    backup_settings = known(args.get("backups"), "PostgresDatabase input 'backups'")
    monitor = _service_monitor(metrics)
    generated = passwords(db)
    credentials = credentials_secret(db, generated)
    config = server_config(db)
    data_claim = claim(db, f"{name}-data", args["storage_size"], db.labels)
    services(db)
    statefulset(db, credentials, config, data_claim, metrics, monitor)
    admitted = [args["client_selector"]]
    if backup_settings:
        admitted.append(selector_labels(db.app, name, "backup"))
    network_policy(db, admitted, metrics["scraper_namespace"] if metrics else None)
    if metrics:
        metrics_service(db, monitor)
    restore_job = backups(db, backup_settings, credentials) if backup_settings else None
    if db.monitoring and db.monitoring.alerts:
        alert_rules(db, db.monitoring, backup_settings)
    # Built from names, not from the Services' outputs: those resolve only once the
    # database is ready, and the app must not wait for that to start rolling out.
    domain = args.get("cluster_domain") or "cluster.local"
    return EngineOutputs(
        host=pulumi.Output.concat(name, ".", db.namespace, ".svc.", domain),
        password=pulumi.Output.secret(generated[PASSWORD_KEY].result),
        secret_name=credentials.metadata.name,
        password_secret_key=PASSWORD_KEY,
        selector=dict(db.selector),
        storage_size=data_claim.spec.apply(lambda spec: str(spec.resources.requests["storage"])),
        restore_job=restore_job,
        data_storage_class=data_claim.spec.apply(
            lambda spec: (spec.storage_class_name if spec else None) or ""
        ),
    )


def statefulset_pods(db: DatabaseParts, args: PostgresDatabaseArgs) -> list[PodDemand]:
    backup_settings = known(args.get("backups"), "PostgresDatabase input 'backups'")
    server = PodDemand(1, server_pod_spec(db, "", "", "", _metrics(args)), "the database")
    return [server, *(backup_pods(db, backup_settings) if backup_settings else [])]


STATEFULSET = Engine(declare=declare_statefulset, pods=statefulset_pods)
