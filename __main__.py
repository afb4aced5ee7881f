"""The webapp stack: a hardened namespace, a PostgreSQL database and the web app."""

import pulumi

from components import (
    AppNamespace,
    AppNamespaceArgs,
    PostgresDatabase,
    PostgresDatabaseArgs,
    WebService,
    WebServiceArgs,
)
from components.cluster import kubernetes_provider
from components.settings import load_settings

settings = load_settings()
app, db = settings.app, settings.database
observability = settings.observability
web_name = app.name
db_name = f"{app.name}-db"
provider = kubernetes_provider("kubernetes", settings.cluster)
# Components hand the provider down to their children through `parent`.
on_cluster = pulumi.ResourceOptions(providers=[provider])

namespace = AppNamespace(
    app.name,
    AppNamespaceArgs(
        namespace=settings.namespace.name,
        app=app.name,
        quota=settings.namespace.quota,
        protect=settings.namespace.protect,
        dashboard=observability.dashboard,
    ),
    opts=on_cluster,
)

database = PostgresDatabase(
    db_name,
    PostgresDatabaseArgs(
        namespace=namespace.namespace_name,
        app=app.name,
        image=db.image,
        database=db.name,
        user=db.user,
        storage_size=db.storage_size,
        storage_class=db.storage_class,
        resources=db.resources,
        client_selector=WebService.pod_selector(app.name, web_name),
        cluster_domain=settings.cluster.domain,
        backups=db.backups,
        metrics=db.metrics,
        protect=settings.namespace.protect,
        monitoring=observability.monitoring,
        logs=observability.server_logs,
    ),
    opts=on_cluster,
)

# No depends_on the database: the two roll out side by side, and the app's readiness
# probe covers the time the database takes to come up.
web = WebService(
    web_name,
    WebServiceArgs(
        namespace=namespace.namespace_name,
        app=app.name,
        image=app.image,
        replicas=app.replicas,
        port=app.port,
        service_port=app.service_port,
        service_type=app.service_type,
        health_path=app.health_path,
        readiness_path=app.readiness_path,
        user_id=app.user_id,
        resources=app.resources,
        database=database.connection,
        autoscaling=app.autoscaling,
        ingress=app.ingress,
        drain_seconds=app.drain_seconds,
        termination_grace_seconds=app.termination_grace_seconds,
        cluster_domain=settings.cluster.domain,
        monitoring=observability.monitoring,
    ),
    opts=on_cluster,
)

pulumi.export("namespace", namespace.namespace_name)
pulumi.export("serviceName", web.service_name)
pulumi.export("url", web.url)
pulumi.export("databaseHost", database.host)
pulumi.export("databasePort", database.port)
pulumi.export("databaseName", database.database)
pulumi.export("databaseUser", database.user)
pulumi.export("databasePassword", database.password)
pulumi.export("databaseUrl", database.url)
if database.restore_job:
    # `kubectl logs -n <namespace> job/<restoreJob> --all-containers` shows how it went.
    pulumi.export("restoreJob", database.restore_job)
