"""PostgresDatabase: a single PostgreSQL server with persistent storage, least-privilege
roles with generated passwords, and backups that can leave the cluster."""

from collections.abc import Mapping
from typing import NotRequired, TypedDict

import pulumi

from .._shared.common import ContainerResources, connection_url, selector_labels, standard_labels
from .._shared.package import InvalidInput, component_options, component_type, known, whole
from ..observability.monitoring import Monitoring, Watching, read_monitoring
from .cloudnative_pg.engine import CloudNativePg, cnpg_engine
from .deletion_guard import deletion_guard
from .engine import ENGINES, EngineOutputs
from .parts import PASSWORD_KEY, POSTGRES_PORT, POSTGRES_USER_ID, DatabaseParts
from .statefulset.backups import Backups, backups
from .statefulset.metrics import Metrics, alert_rules, metrics_service
from .statefulset.network import network_policy
from .statefulset.server import (
    claim,
    credentials_secret,
    passwords,
    server_config,
    services,
    statefulset,
)
from .statefulset.server_logs import ServerLogs


class PostgresDatabaseArgs(TypedDict):
    namespace: pulumi.Input[str]
    """Namespace to create the database in."""
    app: pulumi.Input[str]
    """Name of the application, in the labels of every object. Must be a plain value."""
    image: pulumi.Input[str]
    """Official PostgreSQL image, pinned, such as postgres:17.6-bookworm."""
    database: pulumi.Input[str]
    """Database created on first start, owned by `user` (fixed once created)."""
    user: pulumi.Input[str]
    """The app's role, owner of its database and no superuser (fixed once created)."""
    storage_size: pulumi.Input[str]
    """Size of the data volume, such as 10Gi; it can grow in place, never shrink."""
    resources: pulumi.Input[ContainerResources]
    """CPU and memory of the database server container."""
    client_selector: pulumi.Input[dict[str, str]]
    """Labels of the pods allowed to connect (a WebService's pods carry
    app.kubernetes.io/name=<app>, app.kubernetes.io/instance=<its name> and
    app.kubernetes.io/component=web); NetworkPolicy refuses every other pod."""
    storage_class: NotRequired[pulumi.Input[str]]
    """Storage class of the volumes; the cluster's default if unset or empty. Fixed once a
    volume exists: a change is ignored unless allowStorageClassChange is set."""
    allow_storage_class_change: NotRequired[pulumi.Input[bool]]
    """Let a storageClass change replace the volumes, which deletes their data (refused
    while protect is set). Must be a plain value."""
    cluster_domain: NotRequired[pulumi.Input[str]]
    """DNS domain of the cluster, in the host output; cluster.local if unset."""
    backups: NotRequired[pulumi.Input[Backups]]
    """Scheduled dumps, off-cluster copies and restores; none if unset."""
    metrics: NotRequired[pulumi.Input[Metrics]]
    """A Prometheus postgres exporter next to the server; none if unset."""
    protect: NotRequired[pulumi.Input[bool]]
    """Protect the volumes from deletion and replacement, and keep them in the cluster if
    they are deleted through Pulumi. Must be a plain value."""
    user_id: NotRequired[pulumi.Input[int]]
    """Non-root user id the server and its jobs run as; 10999 if unset. It must own the
    data: a database created as another uid (999, the image's own, before 10999 was the
    default) keeps that uid. Must be a plain value."""
    monitoring: NotRequired[pulumi.Input[Monitoring]]
    """Labels for the Prometheus operator on the ServiceMonitor, and the database's alert
    rules (which need metrics); neither if unset."""
    logs: NotRequired[pulumi.Input[ServerLogs]]
    """What the server logs as JSON lines on its container's stdout, besides connections,
    disconnections and lock waits; statements of 500 ms and more if unset."""
    engine: NotRequired[pulumi.Input[str]]
    """How PostgreSQL runs: statefulset (one pod of the official image, the default) or
    cloudnative-pg (a CloudNativePG Cluster; see cloudnativePg). Must be a plain value."""
    cloudnative_pg: NotRequired[pulumi.Input[CloudNativePg]]
    """Settings of the cloudnative-pg engine; with it, backups give the schedule of the base
    backups and the bucket of the WAL archive, and metrics a PodMonitor."""


class PostgresDatabase(pulumi.ComponentResource):
    """A StatefulSet of one PostgreSQL pod on a volume claim of its own, generated
    passwords in a Secret, a headless and a client Service, and a NetworkPolicy that
    admits only its clients; optionally a metrics exporter with its Service and
    ServiceMonitor, and scheduled dumps to a volume of their own (and to object storage)
    with a restore Job.

    Roles: a superuser that nothing routine uses and no TCP client can log in as; the
    app's role, which owns its database and nothing beyond it (backups dump as it); an
    exporter role with pg_monitor only. Every TCP connection needs a password
    (scram-sha-256). With engine cloudnative-pg the same outputs come from a
    CloudNativePG Cluster instead (its read-write Service as the host)."""

    host: pulumi.Output[str]
    """In-cluster host name of the database's client Service."""
    port: pulumi.Output[int]
    """Port of the database (5432)."""
    database: pulumi.Output[str]
    """Name of the app's database."""
    user: pulumi.Output[str]
    """The app's role."""
    password: pulumi.Output[str]
    """The app's role's password (a secret)."""
    url: pulumi.Output[str]
    """postgresql:// URL with the app's credentials (a secret)."""
    secret_name: pulumi.Output[str]
    """Name of the Secret holding the roles' passwords."""
    password_secret_key: pulumi.Output[str]
    """Key of the app's password in that Secret."""
    selector: pulumi.Output[dict[str, str]]
    """Labels of the database pods, for a client's egress NetworkPolicy."""
    data_storage_class: pulumi.Output[str] | None
    """Storage class the data volume has, as the cluster reports it once the volume exists
    (the cluster's default class resolved); compare it with storageClass before a
    change."""
    data_storage_size: pulumi.Output[str]
    """Size of the data volume as the cluster accepted it (the claim's request, or the
    Cluster's storage size); a volume can grow but never shrink, so compare it with
    storageSize before a change."""
    restore_job: pulumi.Output[str] | None
    """Name of the restore Job while a restore is requested."""

    def __init__(
        self, name: str, args: PostgresDatabaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            component_type("PostgresDatabase"),
            name,
            None,
            component_options("PostgresDatabase", opts),
        )
        db = self._parts(name, args)
        engine = known(args.get("engine"), "PostgresDatabase input 'engine'") or "statefulset"
        if engine not in ENGINES:
            raise pulumi.RunError(
                f"PostgresDatabase {name}: engine '{engine}' is not one of {', '.join(ENGINES)}"
            )
        self.data_storage_class = None
        self.restore_job = None
        if engine == "cloudnative-pg":
            served = cnpg_engine(
                db,
                known(args.get("cloudnative_pg"), "PostgresDatabase input 'cloudnativePg'") or {},
                known(args["storage_size"], "PostgresDatabase input 'storageSize'"),
                known(args.get("backups"), "PostgresDatabase input 'backups'"),
                known(args.get("metrics"), "PostgresDatabase input 'metrics'"),
                known(args["client_selector"], "PostgresDatabase input 'clientSelector'"),
                args.get("cluster_domain") or "cluster.local",
            )
        else:
            served = self._statefulset_engine(db, args)
        if db.protect:
            deletion_guard(self, db.name, db.namespace, db.labels)
        self._register(db, served)

    def _statefulset_engine(self, db: DatabaseParts, args: PostgresDatabaseArgs) -> EngineOutputs:
        """The built-in server: one pod of the official image, its roles, its volume, and
        scheduled dumps with their restore Job."""
        name = db.name
        metrics = known(args.get("metrics"), "PostgresDatabase input 'metrics'")
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
        self.restore_job = backups(db, backup_settings, credentials) if backup_settings else None
        if db.monitoring and db.monitoring.alerts:
            alert_rules(db, db.monitoring, backup_settings)
        self.data_storage_class = data_claim.spec.apply(
            lambda spec: (spec.storage_class_name if spec else None) or ""
        )
        # Built from names, not from the Services' outputs: those resolve only once the
        # database is ready, and the app must not wait for that to start rolling out.
        domain = args.get("cluster_domain") or "cluster.local"
        return EngineOutputs(
            host=pulumi.Output.concat(name, ".", db.namespace, ".svc.", domain),
            password=pulumi.Output.secret(generated[PASSWORD_KEY].result),
            secret_name=credentials.metadata.name,
            password_secret_key=PASSWORD_KEY,
            selector=dict(db.selector),
            storage_size=data_claim.spec.apply(
                lambda spec: str(spec.resources.requests["storage"])
            ),
        )

    def _register(self, db: DatabaseParts, served: EngineOutputs) -> None:
        self.host = served.host
        self.port = pulumi.Output.from_input(POSTGRES_PORT)
        self.database = pulumi.Output.from_input(db.database)
        self.user = pulumi.Output.from_input(db.user)
        self.password = served.password
        self.url = pulumi.Output.secret(
            pulumi.Output.all(self.user, self.password, self.host, self.port, self.database).apply(
                lambda parts: connection_url(*parts)
            )
        )
        self.secret_name = served.secret_name
        self.password_secret_key = pulumi.Output.from_input(served.password_secret_key)
        self.selector = pulumi.Output.from_input(served.selector)
        self.data_storage_size = served.storage_size
        self.register_outputs(
            {
                "host": self.host,
                "port": self.port,
                "database": self.database,
                "user": self.user,
                "secret_name": self.secret_name,
                "password": self.password,
                "url": self.url,
                "data_storage_size": self.data_storage_size,
                **({"restore_job": self.restore_job} if self.restore_job else {}),
            }
        )

    def _parts(self, name: str, args: PostgresDatabaseArgs) -> DatabaseParts:
        app = known(args["app"], "PostgresDatabase input 'app'")
        storage_class = args.get("storage_class")
        return DatabaseParts(
            name=name,
            app=app,
            namespace=args["namespace"],
            image=args["image"],
            database=args["database"],
            user=args["user"],
            resources=known(args["resources"], "PostgresDatabase input 'resources'"),
            storage_class=storage_class if storage_class != "" else None,
            allow_storage_class_change=bool(
                known(
                    args.get("allow_storage_class_change"),
                    "PostgresDatabase input 'allowStorageClassChange'",
                )
            ),
            protect=bool(known(args.get("protect"), "PostgresDatabase input 'protect'")),
            parent=self,
            user_id=int(
                known(
                    whole(
                        args.get("user_id") or POSTGRES_USER_ID, "PostgresDatabase input 'userId'"
                    ),
                    "PostgresDatabase input 'userId'",
                )
            ),
            logs=known(args.get("logs"), "PostgresDatabase input 'logs'"),
            monitoring=_monitoring(args),
            labels=standard_labels(app, name, "database"),
            selector=selector_labels(app, name, "database"),
        )

    def connection_inputs(self) -> Mapping[str, pulumi.Input]:
        """The database_* inputs of a WebService that connects to this database."""
        return {
            "database_host": self.host,
            "database_port": self.port,
            "database_name": self.database,
            "database_user": self.user,
            "database_password": self.password,
            "database_selector": self.selector,
        }


def _monitoring(args: PostgresDatabaseArgs) -> Watching | None:
    monitoring = read_monitoring(args.get("monitoring"), "PostgresDatabase")
    if monitoring and monitoring.alerts and not args.get("metrics"):
        raise InvalidInput(
            "PostgresDatabase input 'monitoring.alerts' needs the input 'metrics': the "
            "database alerts read the postgres exporter's metrics"
        )
    return monitoring


def _service_monitor(metrics: Metrics | None) -> bool:
    return bool(
        metrics and known(metrics.get("service_monitor"), "PostgresDatabase input 'metrics'")
    )
