"""The webapp stack: a hardened namespace, a PostgreSQL database and the web app, from the
components in components/, configured by the stack's settings (stack_settings/)."""

import pulumi

from components import (
    AppNamespace,
    AppNamespaceArgs,
    PostgresDatabase,
    PostgresDatabaseArgs,
    WebService,
    WebServiceArgs,
)
from stack_settings import (
    cluster_options,
    kubernetes_provider,
    load_settings,
    refuse_app_rename,
    refuse_engine_switch,
    refuse_major_upgrade_into_the_same_archive,
    refuse_namespace_move,
    refuse_other_stacks_objects,
    refuse_storage_class_change,
    refuse_storage_shrink,
    remind_of_nodes,
)

settings = load_settings()
app, db = settings.app, settings.database
# The Cluster's image comes through the major-upgrade check: a refused upgrade is never
# registered, not even by `pulumi up --skip-preview`.
db = db.with_engine(refuse_major_upgrade_into_the_same_archive(settings.stack, db.engine))
observability = settings.observability
web_name = app.name
db_name = f"{app.name}-db"
provider = kubernetes_provider("kubernetes", settings.cluster)
# Components hand the provider (and webapp:adoptExisting's takeover) down to their
# children through `parent`.
on_cluster = cluster_options(settings.cluster, provider)

# The name comes through the namespace-move and app-rename checks: a refused move or
# rename registers nothing in the namespace.
namespace = AppNamespace(
    app.name,
    AppNamespaceArgs(
        namespace=refuse_app_rename(
            settings.stack,
            app.name,
            settings.cluster,
            refuse_namespace_move(
                settings.stack, settings.namespace, settings.cluster, app.held_ingress_host
            ),
        ),
        app=app.name,
        quota=settings.namespace.quota,
        container_defaults=settings.namespace.container_defaults,
        protect=settings.namespace.protect,
        dashboard=observability.dashboard,
        database_engine=db.engine.name,
        database_backups=db.takes_backups,
    ),
    opts=on_cluster,
)
# Nothing goes into a namespace that holds another stack's objects unless this stack
# adopts them (webapp:adoptExisting): their fields would conflict with this stack's.
namespace_name = refuse_other_stacks_objects(settings.stack, settings.cluster, namespace)

database_args = PostgresDatabaseArgs(
    namespace=namespace_name,
    app=app.name,
    client_selector=WebService.pod_selector(app.name, web_name),
    cluster_domain=settings.cluster.domain,
    protect=settings.namespace.protect,
    monitoring=observability.monitoring,
    logs=observability.server_logs,
    **db.inputs(),  # type: ignore[typeddict-item]
)
database = PostgresDatabase(db_name, database_args, opts=on_cluster)

# No depends_on the database: the two roll out side by side, and the app's readiness
# probe covers the time the database takes to come up.
web_args = WebServiceArgs(
    namespace=namespace_name,
    cluster_domain=settings.cluster.domain,
    monitoring=observability.monitoring,
    **app.inputs(),  # type: ignore[typeddict-item]
    **database.connection_inputs(),  # type: ignore[typeddict-item]
)
web = WebService(web_name, web_args, opts=on_cluster)

pulumi.export("namespace", namespace_name)
pulumi.export("serviceName", web.service_name)
pulumi.export("url", web.url)
# How to reach the app from outside the cluster, where there is a way.
pulumi.export("portForward", web.port_forward)
if web.load_balancer_address is not None:
    pulumi.export("loadBalancerAddress", web.load_balancer_address)
if web.node_port is not None:
    pulumi.export("nodePort", web.node_port)
pulumi.export("databaseHost", database.host)
pulumi.export("databasePort", database.port)
pulumi.export("databaseName", database.database)
pulumi.export("databaseUser", database.user)
pulumi.export("databasePassword", database.password)
pulumi.export("databaseUrl", database.url)
pulumi.export(
    "databaseStorageClass",
    refuse_storage_class_change(
        settings.stack, db, database.data_storage_class or pulumi.Output.from_input("")
    ),
)
pulumi.export("databaseEngine", refuse_engine_switch(settings.stack, db.engine))
# What the next update's major-upgrade guard compares with.
pulumi.export(
    "databaseImage", db.engine.cloudnative_pg["image"] if db.engine.cloudnative_pg else db.image
)
pulumi.export("databaseArchive", db.engine.checked_archive)
# What the next update's reminder that each instance needs a node compares with.
pulumi.export("databaseInstances", remind_of_nodes(settings.stack, app.name, db))
pulumi.export(
    "databaseStorageSize", refuse_storage_shrink(settings.stack, db, database.data_storage_size)
)
if database.restore_job:
    # `kubectl logs -n <namespace> job/<restoreJob> --all-containers` shows how it went.
    pulumi.export("restoreJob", database.restore_job)
