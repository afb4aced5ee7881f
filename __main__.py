"""The webapp stack: a hardened namespace, a PostgreSQL database and the web app."""

import pulumi

from components import (
    AppNamespace,
    AppNamespaceArgs,
    Autoscaling,
    Backups,
    DatabaseConnection,
    Ingress,
    Metrics,
    PostgresDatabase,
    PostgresDatabaseArgs,
    Quota,
    WebService,
    WebServiceArgs,
)
from components.cluster import kubernetes_provider
from components.settings import load_settings

settings = load_settings()
app, db = settings.app, settings.database
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
        quota=Quota(
            cpu=settings.namespace.quota_cpu,
            memory=settings.namespace.quota_memory,
            storage=settings.namespace.quota_storage,
            pods=settings.namespace.quota_pods,
        ),
        protect=settings.namespace.protect,
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
        backups=Backups(
            schedule=db.backups.schedule,
            keep=db.backups.keep,
            storage_size=db.backups.storage_size,
            restore_from=db.backups.restore_from,
        )
        if db.backups.enabled
        else None,
        metrics=Metrics(
            exporter_image=db.metrics.exporter_image,
            scraper_namespace=db.metrics.scraper_namespace,
            service_monitor=db.metrics.service_monitor,
        )
        if db.metrics.enabled
        else None,
        protect=settings.namespace.protect,
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
        database=DatabaseConnection(
            host=database.host,
            port=database.port,
            name=database.database,
            user=database.user,
            password=database.password,
            url=database.url,
            selector=database.selector,
        ),
        autoscaling=Autoscaling(
            min_replicas=app.autoscaling.min_replicas,
            max_replicas=app.autoscaling.max_replicas,
            cpu_percent=app.autoscaling.cpu_percent,
            memory_percent=app.autoscaling.memory_percent,
        )
        if app.autoscaling.enabled
        else None,
        ingress=Ingress(
            host=app.ingress.host,
            controller_namespace=app.ingress.controller_namespace,
            ingress_class=app.ingress.ingress_class,
            tls_secret=app.ingress.tls_secret,
            cluster_issuer=app.ingress.cluster_issuer,
        )
        if app.ingress.host
        else None,
        drain_seconds=app.drain_seconds,
        termination_grace_seconds=app.termination_grace_seconds,
        cluster_domain=settings.cluster.domain,
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
