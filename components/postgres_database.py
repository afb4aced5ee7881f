"""PostgresDatabase: a single PostgreSQL server with persistent storage and a generated
password."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from .common import (
    EXPORTER_RESOURCES,
    SKIP_AWAIT,
    ContainerResources,
    component_type,
    container_security_context,
    dns_egress_rule,
    empty_dir_volume,
    exec_probes,
    hardened_pod_spec,
    http_probes,
    namespace_peer,
    object_meta,
    secret_data,
    selector_labels,
    standard_labels,
)
from .postgres_jobs import DatabaseClient, backup_job_spec, restore_job_spec

POSTGRES_PORT = 5432
EXPORTER_PORT = 9187
# The uid of the `postgres` user in the official Debian-based image.
POSTGRES_USER_ID = 999
DATA_MOUNT = "/var/lib/postgresql/data"
# initdb refuses a mount point that holds `lost+found`, so PGDATA is one level down. Set
# explicitly, it also holds for images from 18 on, whose default PGDATA moved.
PGDATA = f"{DATA_MOUNT}/pgdata"
SECRETS_MOUNT = "/run/secrets/postgres"
PASSWORD_KEY = "password"
# Postgres stops on SIGINT with a fast shutdown and a checkpoint; on a busy or slow disk
# that takes longer than Kubernetes' default 30 s, after which it would be killed and
# have to run crash recovery on the next start.
TERMINATION_GRACE_SECONDS = 120

# The Secret is the source of truth for the password, but the image applies
# POSTGRES_PASSWORD_FILE only when it first creates the cluster. On every start, once
# the real server listens on TCP (initdb's temporary server does not), set the role's
# password from the mounted file over the local socket, which the image trusts. The
# password goes through psql's stdin and a backquote, never a command line, and the
# statement is kept out of the server log even if it fails. It connects to the
# `postgres` database, which always exists. A failed hook would make the kubelet kill
# the server, so the hook reports problems and lets the server run: a server that
# keeps its old password beats one that does not run.
SYNC_PASSWORD_SCRIPT = """\
set -u
tries=0
until pg_isready -q -h 127.0.0.1 -p "$PGPORT"; do
  tries=$((tries + 1))
  if [ "$tries" -ge 300 ]; then
    echo "password sync skipped: the server did not accept connections in 10 minutes" >&2
    exit 0
  fi
  sleep 2
done
psql -v ON_ERROR_STOP=1 -q -h /var/run/postgresql -U "$POSTGRES_USER" -d postgres <<'SQL' \
  || echo "password sync failed: the role keeps its previous password" >&2
SET log_statement = 'none';
SET log_min_error_statement = 'panic';
\\set new_password `cat "$POSTGRES_PASSWORD_FILE"`
ALTER ROLE CURRENT_USER WITH PASSWORD :'new_password';
SQL
exit 0
"""


def connection_url(user: str, password: str, host: str, port: int, database: str) -> str:
    return (
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
        f"@{host}:{port}/{quote(database, safe='')}"
    )


@dataclass(frozen=True)
class DatabaseConnection:
    """What a client needs to reach a PostgresDatabase."""

    host: pulumi.Input[str]
    port: pulumi.Input[int]
    name: pulumi.Input[str]
    user: pulumi.Input[str]
    password: pulumi.Input[str]
    url: pulumi.Input[str]
    # Labels of the database pods, for the client's egress policy.
    selector: Mapping[str, str]


@dataclass(frozen=True)
class Backups:
    schedule: str
    keep: int
    storage_size: str
    # A dump in the backup volume to restore with a Job; None for no restore.
    restore_from: str | None = None


@dataclass(frozen=True)
class Metrics:
    exporter_image: str
    # Namespace of the Prometheus that scrapes the exporter.
    scraper_namespace: str
    service_monitor: bool = False


@dataclass(frozen=True)
class PostgresDatabaseArgs:
    namespace: pulumi.Input[str]
    app: str
    image: str
    database: str
    user: str
    storage_size: str
    resources: ContainerResources
    # Labels of the pods allowed to connect; everything else is refused by NetworkPolicy.
    client_selector: Mapping[str, str]
    storage_class: str | None = None
    cluster_domain: str = "cluster.local"
    backups: Backups | None = None
    metrics: Metrics | None = None
    # Protect the volumes from `pulumi destroy` and replacement, and keep them in the
    # cluster if they are ever deleted through Pulumi.
    protect: bool = False


class PostgresDatabase(pulumi.ComponentResource):
    """A StatefulSet of one PostgreSQL pod on its own volume claim, a generated password in
    a Secret, a headless and a client Service, and a NetworkPolicy that admits only the
    app's pods; optionally a metrics exporter sidecar with its Service and ServiceMonitor,
    and scheduled dumps to a volume of their own with a restore Job.

    The volume claim is a resource of its own rather than a volumeClaimTemplate: a
    template cannot change, so a new `storageSize` would replace the StatefulSet, while
    a standalone claim is resized in place (when its storage class allows expansion)."""

    host: pulumi.Output[str]
    port: pulumi.Output[int]
    database: pulumi.Output[str]
    user: pulumi.Output[str]
    secret_name: pulumi.Output[str]
    password: pulumi.Output[str]
    url: pulumi.Output[str]
    selector: dict[str, str]
    connection: DatabaseConnection

    def __init__(
        self, name: str, args: PostgresDatabaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(component_type("PostgresDatabase"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = standard_labels(args.app, name, "database")
        self.selector = selector_labels(args.app, name, "database")
        headless_name = f"{name}-headless"

        password = random.RandomPassword(
            f"{name}-password",
            length=32,
            # Alphanumeric only: the password goes into URLs and shell-free SQL unescaped.
            special=False,
            opts=child,
        )
        credentials = k8s.core.v1.Secret(
            f"{name}-credentials",
            # Auto-named: a new password gives a new Secret name, which rolls the pod,
            # whose start-up hook then applies the new password.
            metadata=object_meta(labels, args.namespace),
            type="Opaque",
            data=secret_data({PASSWORD_KEY: password.result}),
            opts=child,
        )
        data_claim = self._claim(f"{name}-data", args.storage_size, args, labels)
        service_ports = [
            k8s.core.v1.ServicePortArgs(
                name="postgres", port=POSTGRES_PORT, target_port="postgres", protocol="TCP"
            )
        ]
        k8s.core.v1.Service(
            f"{name}-headless",
            metadata=object_meta(labels, args.namespace, headless_name),
            spec=k8s.core.v1.ServiceSpecArgs(
                cluster_ip="None", selector=self.selector, ports=service_ports
            ),
            opts=child,
        )
        k8s.core.v1.Service(
            f"{name}-service",
            metadata=object_meta(labels, args.namespace, name),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP", selector=self.selector, ports=service_ports
            ),
            opts=child,
        )

        probes = exec_probes(
            [
                "pg_isready",
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                str(POSTGRES_PORT),
                "-U",
                args.user,
                "-d",
                args.database,
            ]
        )
        container = k8s.core.v1.ContainerArgs(
            name="postgres",
            image=args.image,
            ports=[k8s.core.v1.ContainerPortArgs(name="postgres", container_port=POSTGRES_PORT)],
            env=[
                k8s.core.v1.EnvVarArgs(name="POSTGRES_USER", value=args.user),
                k8s.core.v1.EnvVarArgs(name="POSTGRES_DB", value=args.database),
                k8s.core.v1.EnvVarArgs(
                    name="POSTGRES_PASSWORD_FILE", value=f"{SECRETS_MOUNT}/{PASSWORD_KEY}"
                ),
                k8s.core.v1.EnvVarArgs(name="PGDATA", value=PGDATA),
                k8s.core.v1.EnvVarArgs(name="PGPORT", value=str(POSTGRES_PORT)),
            ],
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="data", mount_path=DATA_MOUNT),
                k8s.core.v1.VolumeMountArgs(name="run", mount_path="/var/run/postgresql"),
                k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
                k8s.core.v1.VolumeMountArgs(name="shm", mount_path="/dev/shm"),
                k8s.core.v1.VolumeMountArgs(
                    name="credentials", mount_path=SECRETS_MOUNT, read_only=True
                ),
            ],
            resources=args.resources.to_k8s(),
            security_context=container_security_context(),
            startup_probe=probes.startup,
            readiness_probe=probes.readiness,
            liveness_probe=probes.liveness,
            lifecycle=k8s.core.v1.LifecycleArgs(
                post_start=k8s.core.v1.LifecycleHandlerArgs(
                    exec_=k8s.core.v1.ExecActionArgs(
                        command=["/bin/sh", "-c", SYNC_PASSWORD_SCRIPT]
                    )
                )
            ),
        )
        volumes = [
            k8s.core.v1.VolumeArgs(
                name="data",
                persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                    claim_name=data_claim.metadata.name
                ),
            ),
            empty_dir_volume("run", "16Mi"),
            empty_dir_volume("tmp", "256Mi"),
            # Postgres' parallel queries use /dev/shm; the runtime's default is 64 MB.
            empty_dir_volume("shm", "256Mi", in_memory=True),
            k8s.core.v1.VolumeArgs(
                name="credentials",
                secret=k8s.core.v1.SecretVolumeSourceArgs(
                    secret_name=credentials.metadata.name,
                    default_mode=0o440,
                    items=[k8s.core.v1.KeyToPathArgs(key=PASSWORD_KEY, path=PASSWORD_KEY)],
                ),
            ),
        ]
        k8s.apps.v1.StatefulSet(
            f"{name}-statefulset",
            metadata=object_meta(labels, args.namespace, name),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                # One server: this component does not replicate; more pods would each
                # need their own volume and a replication setup.
                replicas=1,
                service_name=headless_name,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self.selector),
                update_strategy=k8s.apps.v1.StatefulSetUpdateStrategyArgs(type="RollingUpdate"),
                # With OrderedReady a pod that never gets ready (a bad image) blocks the
                # rollout of its own fix until someone deletes it by hand; with one
                # replica, Parallel gives up nothing.
                pod_management_policy="Parallel",
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=labels,
                        annotations={
                            "prometheus.io/scrape": "true",
                            "prometheus.io/port": str(EXPORTER_PORT),
                            "prometheus.io/path": "/metrics",
                        }
                        if args.metrics
                        else None,
                    ),
                    spec=hardened_pod_spec(
                        user_id=POSTGRES_USER_ID,
                        containers=[container]
                        + ([self._exporter(args, args.metrics)] if args.metrics else []),
                        volumes=volumes,
                        termination_grace_period_seconds=TERMINATION_GRACE_SECONDS,
                    ),
                ),
            ),
            opts=child,
        )
        job_labels = standard_labels(args.app, name, "backup")
        job_selector = selector_labels(args.app, name, "backup")
        admitted = [(args.client_selector, POSTGRES_PORT)]
        if args.backups:
            admitted.append((job_selector, POSTGRES_PORT))
        self._network_policy(name, args, labels, admitted)
        if args.metrics:
            self._metrics_service(name, args, args.metrics)
        if args.backups:
            client = DatabaseClient(
                image=args.image,
                # The short name resolves within the namespace, and is known before the
                # Service is ready.
                host=name,
                port=POSTGRES_PORT,
                database=args.database,
                user=args.user,
                password_secret=credentials.metadata.name,
                password_key=PASSWORD_KEY,
                user_id=POSTGRES_USER_ID,
                backup_claim=self._claim(
                    f"{name}-backups", args.backups.storage_size, args, job_labels
                ).metadata.name,
            )
            self._backups(name, args, args.backups, client, job_labels, job_selector)

        # Built from names, not from the Services' outputs: those resolve only once the
        # database is ready, and the app must not wait for that to start rolling out.
        self.host = pulumi.Output.concat(name, ".", args.namespace, ".svc.", args.cluster_domain)
        self.port = pulumi.Output.from_input(POSTGRES_PORT)
        self.database = pulumi.Output.from_input(args.database)
        self.user = pulumi.Output.from_input(args.user)
        self.secret_name = credentials.metadata.name
        self.password = pulumi.Output.secret(password.result)
        self.url = pulumi.Output.secret(
            pulumi.Output.all(self.user, self.password, self.host, self.port, self.database).apply(
                lambda parts: connection_url(*parts)
            )
        )
        self.connection = DatabaseConnection(
            host=self.host,
            port=self.port,
            name=self.database,
            user=self.user,
            password=self.password,
            url=self.url,
            selector=self.selector,
        )
        self.register_outputs(
            {
                "host": self.host,
                "port": self.port,
                "database": self.database,
                "user": self.user,
                "secret_name": self.secret_name,
                "password": self.password,
                "url": self.url,
            }
        )

    def _claim(
        self,
        claim_name: str,
        size: str,
        args: PostgresDatabaseArgs,
        labels: Mapping[str, str],
    ) -> k8s.core.v1.PersistentVolumeClaim:
        return k8s.core.v1.PersistentVolumeClaim(
            claim_name,
            # Not awaited: with a WaitForFirstConsumer storage class the claim binds only
            # once a pod that uses it exists, and that pod's readiness is awaited anyway.
            metadata=object_meta(
                labels, args.namespace, claim_name, annotations={SKIP_AWAIT: "true"}
            ),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteOnce"],
                storage_class_name=args.storage_class,
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": size}),
            ),
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protect, retain_on_delete=args.protect
            ),
        )

    def _exporter(self, args: PostgresDatabaseArgs, metrics: Metrics) -> k8s.core.v1.ContainerArgs:
        """Reads the server's statistics over the pod's loopback, so it needs no
        NetworkPolicy opening of its own toward the database."""
        probes = http_probes("metrics", "/", "/")
        return k8s.core.v1.ContainerArgs(
            name="exporter",
            image=metrics.exporter_image,
            ports=[k8s.core.v1.ContainerPortArgs(name="metrics", container_port=EXPORTER_PORT)],
            env=[
                k8s.core.v1.EnvVarArgs(
                    name="DATA_SOURCE_URI",
                    value=f"127.0.0.1:{POSTGRES_PORT}/{args.database}?sslmode=disable",
                ),
                k8s.core.v1.EnvVarArgs(name="DATA_SOURCE_USER", value=args.user),
                k8s.core.v1.EnvVarArgs(
                    name="DATA_SOURCE_PASS_FILE", value=f"{SECRETS_MOUNT}/{PASSWORD_KEY}"
                ),
            ],
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(
                    name="credentials", mount_path=SECRETS_MOUNT, read_only=True
                )
            ],
            resources=EXPORTER_RESOURCES.to_k8s(),
            security_context=container_security_context(),
            startup_probe=probes.startup,
            readiness_probe=probes.readiness,
            liveness_probe=probes.liveness,
        )

    def _metrics_service(self, name: str, args: PostgresDatabaseArgs, metrics: Metrics) -> None:
        labels = standard_labels(args.app, name, "database-metrics")
        service = k8s.core.v1.Service(
            f"{name}-metrics",
            metadata=object_meta(labels, args.namespace, f"{name}-metrics"),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=self.selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="metrics", port=EXPORTER_PORT, target_port="metrics", protocol="TCP"
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        if metrics.service_monitor:
            k8s.apiextensions.CustomResource(
                f"{name}-servicemonitor",
                api_version="monitoring.coreos.com/v1",
                kind="ServiceMonitor",
                metadata=object_meta(labels, args.namespace, f"{name}-metrics"),
                spec={
                    "selector": {
                        "matchLabels": selector_labels(args.app, name, "database-metrics")
                    },
                    "namespaceSelector": {"matchNames": [args.namespace]},
                    "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s"}],
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[service]),
            )

    def _network_policy(
        self,
        name: str,
        args: PostgresDatabaseArgs,
        labels: Mapping[str, str],
        admitted: list[tuple[Mapping[str, str], int]],
    ) -> None:
        rules = [
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[
                    k8s.networking.v1.NetworkPolicyPeerArgs(
                        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector))
                    )
                ],
                ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=port)],
            )
            for selector, port in admitted
        ]
        if args.metrics:
            rules.append(
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[namespace_peer(args.metrics.scraper_namespace)],
                    ports=[
                        k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=EXPORTER_PORT)
                    ],
                )
            )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol",
            metadata=object_meta(labels, args.namespace, name),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self.selector),
                policy_types=["Ingress"],
                ingress=rules,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _backups(
        self,
        name: str,
        args: PostgresDatabaseArgs,
        backups: Backups,
        client: DatabaseClient,
        job_labels: Mapping[str, str],
        job_selector: Mapping[str, str],
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        k8s.batch.v1.CronJob(
            f"{name}-backup",
            metadata=object_meta(job_labels, args.namespace, f"{name}-backup"),
            spec=k8s.batch.v1.CronJobSpecArgs(
                schedule=backups.schedule,
                # One dump at a time: the backup volume is ReadWriteOnce.
                concurrency_policy="Forbid",
                starting_deadline_seconds=3600,
                successful_jobs_history_limit=3,
                failed_jobs_history_limit=3,
                job_template=k8s.batch.v1.JobTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=dict(job_labels)),
                    spec=backup_job_spec(client, job_labels, backups.keep),
                ),
            ),
            opts=child,
        )
        if backups.restore_from:
            # Auto-named: another dump file is another Job, created before the old one
            # is deleted. `pulumi up` waits for the restore to finish, and fails with it.
            k8s.batch.v1.Job(
                f"{name}-restore",
                metadata=object_meta(job_labels, args.namespace),
                spec=restore_job_spec(client, job_labels, backups.restore_from),
                opts=child,
            )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-backup-netpol",
            metadata=object_meta(job_labels, args.namespace, f"{name}-backup"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(job_selector)),
                policy_types=["Ingress", "Egress"],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels=self.selector
                                )
                            )
                        ],
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(
                                protocol="TCP", port=POSTGRES_PORT
                            )
                        ],
                    ),
                    dns_egress_rule(),
                ],
            ),
            opts=child,
        )
