"""The CloudNativePG engine: a PostgreSQL `Cluster` run by the CNPG operator (1.30), with
WAL archiving and base backups through the Barman Cloud plugin (0.14).

Self-contained behind one seam, `declare_cnpg_cluster`, so PostgresDatabase can hand
over to it whatever shape its own arguments take. Everything it declares is a child of
`parent` named `<name>-...`; the Cluster itself is named `name`, so its read-write
Service is `<name>-rw`.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from ..._shared.common import object_meta, secret_data, standard_labels
from .backup import declare_backups
from .network import declare_network_policy
from .settings import CnpgSettings
from .spec import cluster_spec, instance_selector

POSTGRES_PORT = 5432
CLUSTER_API = "postgresql.cnpg.io/v1"
# `pulumi up` waits for the Cluster's Ready condition: long enough for initdb and the
# replicas' first sync; a recovery also copies the base backup and replays WAL.
READY_TIMEOUT = "30m"
RECOVERY_READY_TIMEOUT = "6h"
# CNPG checks cluster names as DNS-1035 labels of at most 50 characters (its webhook).
_CLUSTER_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class CnpgCluster:
    host: pulumi.Output[str]
    port: int
    secret_name: pulumi.Output[str]
    # Labels of the instance pods, for the app's egress policy.
    selector: dict[str, str]
    cluster: k8s.apiextensions.CustomResource


def declare_cnpg_cluster(
    parent: pulumi.Resource,
    name: str,
    namespace: pulumi.Input[str],
    app: str,
    client_selector: Mapping[str, str],
    password: pulumi.Input[str],
    settings: CnpgSettings,
    cluster_domain: str,
) -> CnpgCluster:
    """Declares the Cluster named `name` and what it needs, as children of `parent`."""
    if not _CLUSTER_NAME.match(name) or len(name) > 50:
        raise ValueError(f"{name!r} cannot name a CNPG Cluster: a DNS-1035 label of 1-50 chars")
    # Our objects only: the operator labels the pods it creates itself (with
    # app.kubernetes.io/name: postgresql), so these never select or collide with them.
    labels = standard_labels(app, name, "database")
    child = pulumi.ResourceOptions(parent=parent)
    archive = settings.archive_name or name
    app_secret = k8s.core.v1.Secret(
        f"{name}-app-secret",
        # Auto-named, so its name follows the password: the provider treats Secrets as
        # immutable (a new password replaces the Secret), and a fixed name would make that
        # a delete before the create, leaving the Cluster's Secret missing in between. A
        # new name is created first; the Cluster's managed role then points at it and the
        # operator applies the new password to the role, then the old Secret is deleted.
        metadata=object_meta({**labels, "cnpg.io/reload": "true"}, namespace),
        type="kubernetes.io/basic-auth",
        data=secret_data({"username": settings.owner, "password": password}),
        opts=child,
    )
    backups = (
        declare_backups(parent, name, namespace, labels, settings, archive)
        if settings.object_storage
        else None
    )
    cluster = k8s.apiextensions.CustomResource(
        f"{name}-cluster",
        api_version=CLUSTER_API,
        kind="Cluster",
        metadata=object_meta(
            labels, namespace, name, annotations={"pulumi.com/waitFor": "condition=Ready"}
        ),
        spec=cluster_spec(name, settings, app_secret.metadata.name, backups, archive),
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=[backups.store] if backups else None,
            # Its name is fixed (it names the -rw Service): a replacement, such as a
            # point-in-time recovery, must delete the old Cluster first.
            delete_before_replace=True,
            protect=settings.protect,
            retain_on_delete=settings.protect,
            custom_timeouts=pulumi.CustomTimeouts(
                create=(
                    RECOVERY_READY_TIMEOUT if settings.recovery_source_archive else READY_TIMEOUT
                ),
                update=READY_TIMEOUT,
            ),
        ),
    )
    if backups:
        backups.schedule(cluster)
    if settings.pod_monitor:
        k8s.apiextensions.CustomResource(
            f"{name}-podmonitor",
            api_version="monitoring.coreos.com/v1",
            kind="PodMonitor",
            metadata=object_meta({**labels, **settings.pod_monitor_labels}, namespace, name),
            spec={
                "selector": {"matchLabels": instance_selector(name)},
                "podMetricsEndpoints": [{"port": "metrics"}],
            },
            opts=child,
        )
    declare_network_policy(
        parent,
        name,
        namespace,
        labels,
        client_selector,
        settings,
    )
    return CnpgCluster(
        # From names, not from the Cluster's outputs: those resolve only once it is
        # Ready, and the app must not wait for that to start rolling out.
        host=pulumi.Output.concat(f"{name}-rw.", namespace, f".svc.{cluster_domain}"),
        port=POSTGRES_PORT,
        secret_name=app_secret.metadata.name,
        selector=instance_selector(name),
        cluster=cluster,
    )
