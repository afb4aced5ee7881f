"""What the app's pods read: their ServiceAccount (no API token), the ConfigMap of plain
settings and the Secret of credentials."""

import pulumi
import pulumi_kubernetes as k8s

from .._shared.metadata import object_meta
from .._shared.secrets import connection_url, secret_data
from .parts import WebParts


def service_account(web: WebParts) -> k8s.core.v1.ServiceAccount:
    return k8s.core.v1.ServiceAccount(
        f"{web.name}-serviceaccount",
        metadata=object_meta(web.labels, web.namespace, web.name),
        automount_service_account_token=False,
        opts=web.opts(),
    )


def settings(web: WebParts) -> k8s.core.v1.ConfigMap:
    """Plain settings. Auto-named, like the Secret: new content gets a new name, which
    changes the pod template and rolls the pods onto the new values."""
    db = web.database
    return k8s.core.v1.ConfigMap(
        f"{web.name}-config",
        metadata=object_meta(web.labels, web.namespace),
        data={
            "DATABASE_HOST": db.host,
            "DATABASE_PORT": pulumi.Output.from_input(db.port).apply(str),
            "DATABASE_NAME": db.name,
            "DATABASE_USER": db.user,
            **web.env,
        },
        opts=web.opts(),
    )


def credentials(web: WebParts) -> k8s.core.v1.Secret | None:
    """Secret settings: the database password and URL (unless the password comes from a
    Secret of its own) and the secret environment variables; none if there are none."""
    db = web.database
    values = dict(web.secret_env)
    if db.password is not None:
        url = pulumi.Output.all(db.user, db.password, db.host, db.port, db.name).apply(
            lambda parts: connection_url(*parts)
        )
        values = {"DATABASE_PASSWORD": db.password, "DATABASE_URL": url, **values}
    if not values:
        return None
    return k8s.core.v1.Secret(
        f"{web.name}-credentials",
        metadata=object_meta(web.labels, web.namespace),
        type="Opaque",
        data=secret_data(values),
        opts=web.opts(),
    )
