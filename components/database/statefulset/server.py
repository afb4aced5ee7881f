"""The database server of a PostgresDatabase: passwords, its Secret and configuration, the
volume claims, the StatefulSet with the server and exporter containers (and the init
container of its logs, server_logs.py), and the Services. The NetworkPolicy that
admits its clients is in network.py."""

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from ..._shared.metadata import SKIP_AWAIT, object_meta
from ..._shared.pods import empty_dir_volume, hardened_pod_spec
from ..._shared.probes import exec_probes
from ..._shared.resources import resource_requirements
from ..._shared.secrets import secret_data
from ..._shared.security import container_security_context
from ..args import Metrics
from ..parts import (
    CONFIG_MOUNT,
    DATA_MOUNT,
    EXPORTER_PASSWORD_KEY,
    EXPORTER_PORT,
    PASSWORD_KEY,
    PGDATA,
    POSTGRES_PORT,
    ROLE_PASSWORD_KEYS,
    SECRETS_MOUNT,
    SOCKET_DIR,
    SUPERUSER_PASSWORD_KEY,
    TERMINATION_GRACE_SECONDS,
    DatabaseParts,
)
from .metrics import exporter_container
from .owner import data_owner_check
from .roles import PG_HBA_CONF, SYNC_ROLES_SCRIPT, scratch_database
from .server_logs import log_mount, log_volume, prepare_container, server_args


def passwords(db: DatabaseParts) -> dict[str, random.RandomPassword]:
    """One generated password per role. The app's keeps the name it always had, so an
    existing stack keeps its password."""
    names = {
        PASSWORD_KEY: f"{db.name}-password",
        SUPERUSER_PASSWORD_KEY: f"{db.name}-superuser-password",
        EXPORTER_PASSWORD_KEY: f"{db.name}-exporter-password",
    }
    return {
        # Alphanumeric only: the password goes into URLs unescaped.
        key: random.RandomPassword(resource_name, length=32, special=False, opts=db.opts())
        for key, resource_name in names.items()
    }


def credentials_secret(
    db: DatabaseParts, generated: Mapping[str, random.RandomPassword]
) -> k8s.core.v1.Secret:
    return k8s.core.v1.Secret(
        f"{db.name}-credentials",
        # Auto-named: a new password gives a new Secret name, which rolls the pod, whose
        # start-up hook then applies the new password.
        metadata=object_meta(db.labels, db.namespace),
        type="Opaque",
        data=secret_data({key: password.result for key, password in generated.items()}),
        opts=db.opts(),
    )


def server_config(db: DatabaseParts) -> k8s.core.v1.ConfigMap:
    # Auto-named, like the Secret: a change rolls the server.
    return k8s.core.v1.ConfigMap(
        f"{db.name}-config",
        metadata=object_meta(db.labels, db.namespace),
        data={"pg_hba.conf": PG_HBA_CONF},
        opts=db.opts(),
    )


def claim(
    db: DatabaseParts, claim_name: str, size: pulumi.Input[str], labels: Mapping[str, str]
) -> k8s.core.v1.PersistentVolumeClaim:
    """A claim of its own rather than a volumeClaimTemplate, which cannot change: a new
    size is applied in place (when the class allows expansion). A new storage class would
    replace the claim and delete its data, so the class is ignored once the claim exists,
    unless the change is explicitly allowed."""
    return k8s.core.v1.PersistentVolumeClaim(
        claim_name,
        # Not awaited: with a WaitForFirstConsumer storage class the claim binds only once
        # a pod that uses it exists, and that pod's readiness is awaited anyway.
        metadata=object_meta(labels, db.namespace, claim_name, annotations={SKIP_AWAIT: "true"}),
        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteOnce"],
            storage_class_name=db.storage_class,
            resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": size}),
        ),
        opts=db.opts(
            protect=db.protect,
            retain_on_delete=db.protect,
            ignore_changes=None if db.allow_storage_class_change else ["spec.storageClassName"],
        ),
    )


def services(db: DatabaseParts) -> None:
    """A headless Service for the StatefulSet's pod, and the client Service."""
    ports = [
        k8s.core.v1.ServicePortArgs(
            name="postgres", port=POSTGRES_PORT, target_port="postgres", protocol="TCP"
        )
    ]
    for suffix, metadata_name, cluster_ip in (
        ("headless", f"{db.name}-headless", "None"),
        ("service", db.name, None),
    ):
        k8s.core.v1.Service(
            f"{db.name}-{suffix}",
            metadata=object_meta(db.labels, db.namespace, metadata_name),
            spec=k8s.core.v1.ServiceSpecArgs(
                type=None if cluster_ip else "ClusterIP",
                cluster_ip=cluster_ip,
                selector=dict(db.selector),
                ports=ports,
            ),
            opts=db.opts(),
        )


def _server_container(db: DatabaseParts) -> k8s.core.v1.ContainerArgs:
    ready = ["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(POSTGRES_PORT)]
    probes = exec_probes([*ready, "-U", db.user, "-d", db.database])
    secret_file = f"{SECRETS_MOUNT}/{{}}".format
    env = {
        # Used by the image only when it creates the cluster: the superuser's password,
        # and the app's database.
        "POSTGRES_PASSWORD_FILE": secret_file(SUPERUSER_PASSWORD_KEY),
        "POSTGRES_DB": db.database,
        "PGDATA": PGDATA,
        "PGPORT": str(POSTGRES_PORT),
        # Read by the start-up hook that keeps the roles in line.
        "SOCKET_DIR": SOCKET_DIR,
        "APP_USER": db.user,
        "SCRATCH_DATABASE": pulumi.Output.from_input(db.database).apply(scratch_database),
        "APP_PASSWORD_FILE": secret_file(PASSWORD_KEY),
        "SUPERUSER_PASSWORD_FILE": secret_file(SUPERUSER_PASSWORD_KEY),
        "EXPORTER_PASSWORD_FILE": secret_file(EXPORTER_PASSWORD_KEY),
    }
    mounts = {
        "data": DATA_MOUNT,
        "run": SOCKET_DIR,
        "tmp": "/tmp",
        "shm": "/dev/shm",
    }
    return k8s.core.v1.ContainerArgs(
        name="postgres",
        image=db.image,
        # The image's entrypoint runs with these arguments; our own client authentication
        # rules replace the ones initdb wrote into PGDATA.
        args=[
            "postgres",
            *("-c", f"hba_file={CONFIG_MOUNT}/pg_hba.conf"),
            *server_args(db.logs),
        ],
        ports=[k8s.core.v1.ContainerPortArgs(name="postgres", container_port=POSTGRES_PORT)],
        env=[k8s.core.v1.EnvVarArgs(name=key, value=value) for key, value in env.items()],
        volume_mounts=[
            *(k8s.core.v1.VolumeMountArgs(name=n, mount_path=path) for n, path in mounts.items()),
            log_mount(),
            k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_MOUNT, read_only=True),
            k8s.core.v1.VolumeMountArgs(
                name="credentials", mount_path=SECRETS_MOUNT, read_only=True
            ),
        ],
        resources=resource_requirements(db.resources),
        security_context=container_security_context(),
        startup_probe=probes.startup,
        readiness_probe=probes.readiness,
        liveness_probe=probes.liveness,
        lifecycle=k8s.core.v1.LifecycleArgs(
            post_start=k8s.core.v1.LifecycleHandlerArgs(
                exec_=k8s.core.v1.ExecActionArgs(command=["/bin/sh", "-c", SYNC_ROLES_SCRIPT])
            )
        ),
    )


def _secret_volume(
    volume: str, secret_name: pulumi.Input[str], keys: Sequence[str], path: str | None = None
) -> k8s.core.v1.VolumeArgs:
    """Only the listed keys; `path` renames a single key."""
    return k8s.core.v1.VolumeArgs(
        name=volume,
        secret=k8s.core.v1.SecretVolumeSourceArgs(
            secret_name=secret_name,
            default_mode=0o440,
            items=[k8s.core.v1.KeyToPathArgs(key=key, path=path or key) for key in keys],
        ),
    )


def server_pod_spec(
    db: DatabaseParts,
    credentials_name: pulumi.Input[str],
    config_name: pulumi.Input[str],
    claim_name: pulumi.Input[str],
    metrics: Metrics | None,
) -> k8s.core.v1.PodSpecArgs:
    """The server's pod, as the StatefulSet declares it and the namespace's quota is sized
    from (PostgresDatabase.pods): every container and init container of it is here."""
    volumes = [
        k8s.core.v1.VolumeArgs(
            name="data",
            persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                claim_name=claim_name
            ),
        ),
        empty_dir_volume("run", "16Mi"),
        empty_dir_volume("tmp", "256Mi"),
        # Postgres' parallel queries use /dev/shm; the runtime's default is 64 MB.
        empty_dir_volume("shm", "256Mi", in_memory=True),
        k8s.core.v1.VolumeArgs(
            name="config",
            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=config_name),
        ),
        _secret_volume("credentials", credentials_name, ROLE_PASSWORD_KEYS),
        log_volume(),
    ]
    containers = [_server_container(db)]
    if metrics is not None:
        containers.append(exporter_container(db, metrics))
        volumes.append(
            _secret_volume(
                "exporter-credentials", credentials_name, [EXPORTER_PASSWORD_KEY], PASSWORD_KEY
            )
        )
    return hardened_pod_spec(
        user_id=db.user_id,
        init_containers=[data_owner_check(db), prepare_container(db.image)],
        containers=containers,
        volumes=volumes,
        termination_grace_period_seconds=TERMINATION_GRACE_SECONDS,
    )


def statefulset(
    db: DatabaseParts,
    credentials: k8s.core.v1.Secret,
    config: k8s.core.v1.ConfigMap,
    data_claim: k8s.core.v1.PersistentVolumeClaim,
    metrics: Metrics | None,
    service_monitor: bool,
) -> None:
    # For annotation-based scraping; with a ServiceMonitor they would make a Prometheus
    # that reads both scrape the exporter twice.
    scrape = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(EXPORTER_PORT),
        "prometheus.io/path": "/metrics",
    }
    scraped = metrics is not None and not service_monitor
    k8s.apps.v1.StatefulSet(
        f"{db.name}-statefulset",
        metadata=object_meta(db.labels, db.namespace, db.name),
        spec=k8s.apps.v1.StatefulSetSpecArgs(
            # One server: this component does not replicate; more pods would each need
            # their own volume and a replication setup.
            replicas=1,
            service_name=f"{db.name}-headless",
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(db.selector)),
            update_strategy=k8s.apps.v1.StatefulSetUpdateStrategyArgs(type="RollingUpdate"),
            # With OrderedReady a pod that never gets ready (a bad image) blocks the
            # rollout of its own fix until someone deletes it by hand; with one replica,
            # Parallel gives up nothing.
            pod_management_policy="Parallel",
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    labels=dict(db.labels), annotations=scrape if scraped else None
                ),
                spec=server_pod_spec(
                    db,
                    credentials.metadata.name,
                    config.metadata.name,
                    data_claim.metadata.name,
                    metrics,
                ),
            ),
        ),
        opts=db.opts(),
    )
