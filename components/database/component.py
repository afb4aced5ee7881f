"""PostgresDatabase: a single PostgreSQL server with persistent storage, least-privilege
roles with generated passwords, and backups that can leave the cluster."""

from collections.abc import Mapping

import pulumi

from .._shared.metadata import selector_labels, standard_labels
from .._shared.package import InvalidInput, component_options, component_type, known, whole
from .._shared.pods import PodDemand
from .._shared.secrets import connection_url
from ..observability.monitoring import Watching, read_monitoring
from .args import PostgresDatabaseArgs
from .cloudnative_pg.engine import CLOUDNATIVE_PG
from .deletion_guard import deletion_guard
from .engine import ENGINES, Engine, EngineOutputs
from .parts import POSTGRES_PORT, POSTGRES_USER_ID, DatabaseParts
from .statefulset.engine import STATEFULSET

_ENGINES = {"statefulset": STATEFULSET, "cloudnative-pg": CLOUDNATIVE_PG}


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

    @staticmethod
    def pods(name: str, args: PostgresDatabaseArgs) -> list[PodDemand]:
        """The pods a PostgresDatabase called `name` runs at the most at once, with the
        specs it declares (for cloudnative-pg: the pods the operator builds from the
        Cluster it declares), known before it is created so that a namespace's quota can
        hold them. Names of other objects in the specs are left empty."""
        return _engine(name, args).pods(_read_parts(name, args, None), args)

    def __init__(
        self, name: str, args: PostgresDatabaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            component_type("PostgresDatabase"),
            name,
            None,
            component_options("PostgresDatabase", opts),
        )
        db = _read_parts(name, args, self)
        served = _engine(name, args).declare(db, args)
        self.restore_job = served.restore_job
        self.data_storage_class = served.data_storage_class
        deletion_guard(self, db.name, db.namespace, db.labels, db.protect)
        self._register(db, served)

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


def _read_parts(
    name: str, args: PostgresDatabaseArgs, parent: pulumi.Resource | None
) -> DatabaseParts:
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
        parent=parent,
        user_id=int(
            known(
                whole(args.get("user_id") or POSTGRES_USER_ID, "PostgresDatabase input 'userId'"),
                "PostgresDatabase input 'userId'",
            )
        ),
        logs=known(args.get("logs"), "PostgresDatabase input 'logs'"),
        monitoring=_monitoring(args),
        labels=standard_labels(app, name, "database"),
        selector=selector_labels(app, name, "database"),
    )


def _engine(name: str, args: PostgresDatabaseArgs) -> Engine:
    engine = known(args.get("engine"), "PostgresDatabase input 'engine'") or "statefulset"
    if engine not in ENGINES:
        raise pulumi.RunError(
            f"PostgresDatabase {name}: engine '{engine}' is not one of {', '.join(ENGINES)}"
        )
    return _ENGINES[engine]


def _monitoring(args: PostgresDatabaseArgs) -> Watching | None:
    monitoring = read_monitoring(args.get("monitoring"), "PostgresDatabase")
    if monitoring and monitoring.alerts and not args.get("metrics"):
        raise InvalidInput(
            "PostgresDatabase input 'monitoring.alerts' needs the input 'metrics': the "
            "database alerts read the postgres exporter's metrics"
        )
    return monitoring
