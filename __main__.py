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
    refuse_engine_switch,
    refuse_storage_class_change,
    refuse_storage_shrink,
)

settings = load_settings()
app, db = settings.app, settings.database
observability = settings.observability
web_name = app.name
db_name = f"{app.name}-db"
provider = kubernetes_provider("kubernetes", settings.cluster)
# Components hand the provider (and webapp:adoptExisting's takeover) down to their
# children through `parent`.
on_cluster = cluster_options(settings.cluster, provider)

namespace = AppNamespace(
    app.name,
    AppNamespaceArgs(
        namespace=settings.namespace.name,
        app=app.name,
        quota=settings.namespace.quota,
        container_defaults=settings.namespace.container_defaults,
        protect=settings.namespace.protect,
        dashboard=observability.dashboard,
    ),
    opts=on_cluster,
)

database_args = PostgresDatabaseArgs(
    namespace=namespace.namespace_name,
    app=app.name,
    image=db.image,
    user_id=db.user_id,
    database=db.name,
    user=db.user,
    storage_size=db.storage_size,
    allow_storage_class_change=db.allow_storage_class_change,
    resources=db.resources,
    client_selector=WebService.pod_selector(app.name, web_name),
    cluster_domain=settings.cluster.domain,
    protect=settings.namespace.protect,
    monitoring=observability.monitoring,
    logs=observability.server_logs,
    engine=db.engine.name,
)
if db.engine.cloudnative_pg:
    database_args["cloudnative_pg"] = db.engine.cloudnative_pg
if db.storage_class:
    database_args["storage_class"] = db.storage_class
if db.backups:
    database_args["backups"] = db.backups
if db.metrics:
    database_args["metrics"] = db.metrics
database = PostgresDatabase(db_name, database_args, opts=on_cluster)

# No depends_on the database: the two roll out side by side, and the app's readiness
# probe covers the time the database takes to come up.
web_args = WebServiceArgs(
    namespace=namespace.namespace_name,
    app=app.name,
    image=app.image,
    resources=app.resources,
    replicas=app.replicas,
    port=app.port,
    service_port=app.service_port,
    service_type=app.service_type,
    health_path=app.health_path,
    readiness_path=app.readiness_path,
    user_id=app.user_id,
    env=app.env,
    secret_env=app.secret_env,
    image_pull_secrets=app.image_pull_secrets,
    command=app.command,
    args=app.args,
    egress=app.egress,
    max_surge=app.max_surge,
    drain_seconds=app.drain_seconds,
    termination_grace_seconds=app.termination_grace_seconds,
    cluster_domain=settings.cluster.domain,
    monitoring=observability.monitoring,
    **database.connection_inputs(),  # type: ignore[typeddict-item]
)
if app.autoscaling:
    web_args["autoscaling"] = app.autoscaling
if app.ingress:
    web_args["ingress"] = app.ingress
web = WebService(web_name, web_args, opts=on_cluster)

pulumi.export("namespace", namespace.namespace_name)
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
pulumi.export(
    "databaseStorageSize", refuse_storage_shrink(settings.stack, db, database.data_storage_size)
)
if database.restore_job:
    # `kubectl logs -n <namespace> job/<restoreJob> --all-containers` shows how it went.
    pulumi.export("restoreJob", database.restore_job)
