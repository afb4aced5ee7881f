"""The `spec` of a CNPG `Cluster` (postgresql.cnpg.io/v1, CNPG 1.30): instances, image,
storage, resources, PostgreSQL sizing, placement, the app's role, bootstrap (initdb, or
recovery from the archive) and the Barman Cloud plugin as WAL archiver."""

import pulumi

from .backup import PLUGIN_NAME, CnpgBackups
from .rules import postgres_parameters
from .settings import CnpgSettings

CLUSTER_LABEL = "cnpg.io/cluster"
# What CNPG puts on every instance pod (pkg/specs/pods.go); the operator's own
# anti-affinity, PodMonitor and Services select instances with these two labels.
INSTANCE_LABELS = {"cnpg.io/podRole": "instance"}
RECOVERY_SOURCE = "recovery-source"
IMPORT_SOURCE = "import-source"


def instance_selector(name: str) -> dict[str, str]:
    return {CLUSTER_LABEL: name, **INSTANCE_LABELS}


def instance_resources(settings: CnpgSettings) -> dict[str, dict[str, object]]:
    """The Cluster's `resources`: the operator gives them to every instance's postgres
    container and bootstrap-controller init container, and to its job pods."""
    return {
        "requests": {
            "cpu": settings.resources["cpu_request"],
            "memory": settings.resources["memory_request"],
        },
        "limits": {
            "cpu": settings.resources["cpu_limit"],
            "memory": settings.resources["memory_limit"],
        },
    }


def cluster_spec(
    name: str,
    settings: CnpgSettings,
    app_secret: pulumi.Output[str],
    backups: CnpgBackups | None,
    archive: str,
) -> dict[str, object]:
    storage = settings.object_storage
    spec: dict[str, object] = {
        "instances": settings.instances,
        "imageName": settings.image,
        # The app's role owns its database; nothing routine needs the superuser.
        "enableSuperuserAccess": False,
        "storage": {
            "size": settings.storage_size,
            **({"storageClass": settings.storage_class} if settings.storage_class else {}),
        },
        "resources": instance_resources(settings),
        "postgresql": {
            "parameters": {
                **postgres_parameters(settings.resources["memory_limit"]),
                "log_min_duration_statement": str(settings.slow_statement_ms),
                # A slow statement's bind parameters can hold personal data or secrets; the
                # statement text with $1, $2 is enough to find it.
                "log_parameter_max_length": "0",
            }
        },
        # Pinned although it is the operator's default: the pods must keep passing Pod
        # Security "restricted" whatever a later operator defaults to. The rest of the
        # restricted profile (non-root uid 26, no privilege escalation, all capabilities
        # dropped, read-only root) is the operator's fixed default security context.
        "seccompProfile": {"type": "RuntimeDefault"},
        # Every instance on a node of its own: two on one node would fail over to nothing
        # when that node goes. An instance that finds no free node stays Pending (and
        # `pulumi up` waits) rather than doubling up; spread over zones where there are.
        "affinity": {
            "enablePodAntiAffinity": True,
            "topologyKey": "kubernetes.io/hostname",
            "podAntiAffinityType": "required" if settings.instances > 1 else "preferred",
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": instance_selector(name)},
            }
        ],
        # Declared, so a password change in the Secret is applied to the role.
        "managed": {
            "roles": [
                {
                    "name": settings.owner,
                    "ensure": "present",
                    "login": True,
                    "passwordSecret": {"name": app_secret},
                }
            ]
        },
        "bootstrap": _bootstrap(settings, app_secret),
    }
    if storage and backups:
        spec["plugins"] = [
            {
                "name": PLUGIN_NAME,
                "isWALArchiver": True,
                "parameters": {"barmanObjectName": backups.store_name, "serverName": archive},
            }
        ]
        if settings.recovery_source_archive:
            spec["externalClusters"] = [
                {
                    "name": RECOVERY_SOURCE,
                    "plugin": {
                        "name": PLUGIN_NAME,
                        "parameters": {
                            "barmanObjectName": backups.store_name,
                            "serverName": settings.recovery_source_archive,
                        },
                    },
                }
            ]
        annotations = storage.get("service_account_annotations")
        if annotations:
            spec["serviceAccountTemplate"] = {"metadata": {"annotations": dict(annotations)}}
    source = settings.import_from
    if source:
        spec["externalClusters"] = [
            {
                "name": IMPORT_SOURCE,
                "connectionParameters": {
                    "host": source.host,
                    "port": str(source.port),
                    "user": source.user,
                    "dbname": source.database,
                },
                "password": {"name": source.password_secret, "key": source.password_key},
            }
        ]
    return spec


def _bootstrap(settings: CnpgSettings, app_secret: pulumi.Output[str]) -> dict[str, object]:
    application: dict[str, object] = {
        "database": settings.database,
        "owner": settings.owner,
        "secret": {"name": app_secret},
    }
    if settings.import_from:
        application["import"] = {
            "type": "microservice",
            "databases": [settings.import_from.database],
            "source": {"externalCluster": IMPORT_SOURCE},
        }
    if not settings.recovery_source_archive:
        return {"initdb": application}
    recovery: dict[str, object] = {"source": RECOVERY_SOURCE, **application}
    if settings.recovery_target_time:
        recovery["recoveryTarget"] = {"targetTime": settings.recovery_target_time}
    return {"recovery": recovery}
