"""PostgresDatabase: a single PostgreSQL server with persistent storage, least-privilege
roles with generated passwords, and backups that can leave the cluster."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from .alert_rules import DatabaseWatch, rule_group, statefulset_database_alerts
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
from .cron import longest_gap_seconds
from .monitoring import Monitoring, prometheus_rule
from .postgres_jobs import (
    ACCESS_KEY_ID,
    IDENTITY_ENDPOINTS,
    RESTORE_FROM_ANNOTATION,
    SECRET_ACCESS_KEY,
    Backups,
    JobPods,
    ObjectStorage,
    backup_job_spec,
    restore_job_name,
    restore_job_spec,
)
from .postgres_logging import ServerLogs, log_mount, log_volume, prepare_container
from .postgres_scripts import EXPORTER_ROLE, PG_HBA_CONF, SYNC_ROLES_SCRIPT

POSTGRES_PORT = 5432
EXPORTER_PORT = 9187
# The uid of the `postgres` user in the official Debian-based image.
POSTGRES_USER_ID = 999
DATA_MOUNT = "/var/lib/postgresql/data"
# initdb refuses a mount point that holds `lost+found`, so PGDATA is one level down. Set
# explicitly, it also holds for images from 18 on, whose default PGDATA moved.
PGDATA = f"{DATA_MOUNT}/pgdata"
SOCKET_DIR = "/var/run/postgresql"
CONFIG_MOUNT = "/etc/postgresql/webapp"
SECRETS_MOUNT = "/run/secrets/postgres"
EXPORTER_SECRETS_MOUNT = "/run/secrets/exporter"
# Keys of the database's Secret: one password per role.
PASSWORD_KEY = "password"
SUPERUSER_PASSWORD_KEY = "superuser-password"
EXPORTER_PASSWORD_KEY = "exporter-password"
ROLE_PASSWORD_KEYS = (PASSWORD_KEY, SUPERUSER_PASSWORD_KEY, EXPORTER_PASSWORD_KEY)
# Postgres stops on SIGINT with a fast shutdown and a checkpoint; on a busy or slow disk
# that takes longer than Kubernetes' default 30 s, after which it would be killed and
# have to run crash recovery on the next start.
TERMINATION_GRACE_SECONDS = 120


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
    # Monitoring and logs (components/monitoring.py, postgres_logging.py): labels for the
    # Prometheus operator, alert rules, and what the server logs to stdout.
    monitoring: Monitoring | None = None
    logs: ServerLogs = field(default_factory=ServerLogs)


class PostgresDatabase(pulumi.ComponentResource):
    """A StatefulSet of one PostgreSQL pod on its own volume claim, generated passwords in
    a Secret, a headless and a client Service, and a NetworkPolicy that admits only the
    app's pods; optionally a metrics exporter sidecar with its Service and ServiceMonitor,
    and scheduled dumps to a volume of their own (and to object storage) with a restore
    Job.

    Roles: a superuser that nothing routine uses and no TCP client can log in as; the
    app's role, which owns its database and nothing beyond it; an exporter role with
    `pg_monitor` only; a backup role that can read everything and write nothing. Every TCP
    connection needs a password (scram-sha-256).

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
    # The restore Job's name while a restore is requested.
    restore_job: pulumi.Output[str] | None
    selector: dict[str, str]
    connection: DatabaseConnection

    def __init__(
        self, name: str, args: PostgresDatabaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(component_type("PostgresDatabase"), name, None, opts)
        self._name, self._args = name, args
        self._child = pulumi.ResourceOptions(parent=self)
        self._labels = standard_labels(args.app, name, "database")
        self.selector = selector_labels(args.app, name, "database")

        passwords = self._passwords()
        credentials = self._credentials_secret(passwords)
        server_config = self._server_config()
        data_claim = self._claim(f"{name}-data", args.storage_size, self._labels)
        self._services()
        self._statefulset(credentials, server_config, data_claim)
        self._network_policy()
        if args.metrics:
            self._metrics_service(args.metrics)
        self.restore_job = None
        if args.backups:
            self._backups(args.backups, credentials)
        if args.monitoring and args.monitoring.alerts:
            self._alert_rules(args.monitoring)

        # Built from names, not from the Services' outputs: those resolve only once the
        # database is ready, and the app must not wait for that to start rolling out.
        self.host = pulumi.Output.concat(name, ".", args.namespace, ".svc.", args.cluster_domain)
        self.port = pulumi.Output.from_input(POSTGRES_PORT)
        self.database = pulumi.Output.from_input(args.database)
        self.user = pulumi.Output.from_input(args.user)
        self.secret_name = credentials.metadata.name
        self.password = pulumi.Output.secret(passwords[PASSWORD_KEY].result)
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
                **({"restore_job": self.restore_job} if self.restore_job else {}),
            }
        )

    def _passwords(self) -> dict[str, random.RandomPassword]:
        """One generated password per role. The app's keeps the name it always had, so an
        existing stack keeps its password."""
        names = {
            PASSWORD_KEY: f"{self._name}-password",
            SUPERUSER_PASSWORD_KEY: f"{self._name}-superuser-password",
            EXPORTER_PASSWORD_KEY: f"{self._name}-exporter-password",
        }
        return {
            key: random.RandomPassword(
                resource_name,
                length=32,
                # Alphanumeric only: the password goes into URLs unescaped.
                special=False,
                opts=self._child,
            )
            for key, resource_name in names.items()
        }

    def _credentials_secret(
        self, passwords: Mapping[str, random.RandomPassword]
    ) -> k8s.core.v1.Secret:
        return k8s.core.v1.Secret(
            f"{self._name}-credentials",
            # Auto-named: a new password gives a new Secret name, which rolls the pod,
            # whose start-up hook then applies the new password.
            metadata=object_meta(self._labels, self._args.namespace),
            type="Opaque",
            data=secret_data({key: password.result for key, password in passwords.items()}),
            opts=self._child,
        )

    def _server_config(self) -> k8s.core.v1.ConfigMap:
        # Auto-named, like the Secret: a change rolls the server.
        return k8s.core.v1.ConfigMap(
            f"{self._name}-config",
            metadata=object_meta(self._labels, self._args.namespace),
            data={"pg_hba.conf": PG_HBA_CONF},
            opts=self._child,
        )

    def _services(self) -> None:
        ports = [
            k8s.core.v1.ServicePortArgs(
                name="postgres", port=POSTGRES_PORT, target_port="postgres", protocol="TCP"
            )
        ]
        for suffix, metadata_name, cluster_ip in (
            ("headless", f"{self._name}-headless", "None"),
            ("service", self._name, None),
        ):
            k8s.core.v1.Service(
                f"{self._name}-{suffix}",
                metadata=object_meta(self._labels, self._args.namespace, metadata_name),
                spec=k8s.core.v1.ServiceSpecArgs(
                    type=None if cluster_ip else "ClusterIP",
                    cluster_ip=cluster_ip,
                    selector=self.selector,
                    ports=ports,
                ),
                opts=self._child,
            )

    def _server_container(self) -> k8s.core.v1.ContainerArgs:
        args = self._args
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
        secret_file = f"{SECRETS_MOUNT}/{{}}".format
        return k8s.core.v1.ContainerArgs(
            name="postgres",
            image=args.image,
            # The image's entrypoint runs with these arguments; our own client
            # authentication rules replace the ones initdb wrote into PGDATA.
            args=[
                "postgres",
                *("-c", f"hba_file={CONFIG_MOUNT}/pg_hba.conf"),
                *args.logs.server_args(),
            ],
            ports=[k8s.core.v1.ContainerPortArgs(name="postgres", container_port=POSTGRES_PORT)],
            env=[
                k8s.core.v1.EnvVarArgs(name=key, value=value)
                for key, value in {
                    # Used by the image only when it creates the cluster: the superuser's
                    # password, and the app's database.
                    "POSTGRES_PASSWORD_FILE": secret_file(SUPERUSER_PASSWORD_KEY),
                    "POSTGRES_DB": args.database,
                    "PGDATA": PGDATA,
                    "PGPORT": str(POSTGRES_PORT),
                    # Read by the start-up hook that keeps the roles in line.
                    "SOCKET_DIR": SOCKET_DIR,
                    "APP_USER": args.user,
                    "APP_PASSWORD_FILE": secret_file(PASSWORD_KEY),
                    "SUPERUSER_PASSWORD_FILE": secret_file(SUPERUSER_PASSWORD_KEY),
                    "EXPORTER_PASSWORD_FILE": secret_file(EXPORTER_PASSWORD_KEY),
                }.items()
            ],
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="data", mount_path=DATA_MOUNT),
                k8s.core.v1.VolumeMountArgs(name="run", mount_path=SOCKET_DIR),
                k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
                k8s.core.v1.VolumeMountArgs(name="shm", mount_path="/dev/shm"),
                log_mount(),
                k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_MOUNT, read_only=True),
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
                    exec_=k8s.core.v1.ExecActionArgs(command=["/bin/sh", "-c", SYNC_ROLES_SCRIPT])
                )
            ),
        )

    def _statefulset(
        self,
        credentials: k8s.core.v1.Secret,
        server_config: k8s.core.v1.ConfigMap,
        data_claim: k8s.core.v1.PersistentVolumeClaim,
    ) -> None:
        args = self._args
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
                name="config",
                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=server_config.metadata.name),
            ),
            self._secret_volume("credentials", credentials, ROLE_PASSWORD_KEYS),
            log_volume(),
        ]
        containers = [self._server_container()]
        if args.metrics:
            containers.append(self._exporter(args.metrics))
            volumes.append(
                self._secret_volume(
                    "exporter-credentials", credentials, [EXPORTER_PASSWORD_KEY], PASSWORD_KEY
                )
            )
        k8s.apps.v1.StatefulSet(
            f"{self._name}-statefulset",
            metadata=object_meta(self._labels, args.namespace, self._name),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                # One server: this component does not replicate; more pods would each
                # need their own volume and a replication setup.
                replicas=1,
                service_name=f"{self._name}-headless",
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self.selector),
                update_strategy=k8s.apps.v1.StatefulSetUpdateStrategyArgs(type="RollingUpdate"),
                # With OrderedReady a pod that never gets ready (a bad image) blocks the
                # rollout of its own fix until someone deletes it by hand; with one
                # replica, Parallel gives up nothing.
                pod_management_policy="Parallel",
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=self._labels,
                        # For annotation-based scraping; with a ServiceMonitor they would
                        # make a Prometheus that reads both scrape the exporter twice.
                        annotations={
                            "prometheus.io/scrape": "true",
                            "prometheus.io/port": str(EXPORTER_PORT),
                            "prometheus.io/path": "/metrics",
                        }
                        if args.metrics and not args.metrics.service_monitor
                        else None,
                    ),
                    spec=hardened_pod_spec(
                        user_id=POSTGRES_USER_ID,
                        init_containers=[prepare_container(args.image)],
                        containers=containers,
                        volumes=volumes,
                        termination_grace_period_seconds=TERMINATION_GRACE_SECONDS,
                    ),
                ),
            ),
            opts=self._child,
        )

    @staticmethod
    def _secret_volume(
        volume: str,
        secret: k8s.core.v1.Secret,
        keys: list[str] | tuple[str, ...],
        path: str | None = None,
    ) -> k8s.core.v1.VolumeArgs:
        """Only the listed keys; `path` renames a single key."""
        return k8s.core.v1.VolumeArgs(
            name=volume,
            secret=k8s.core.v1.SecretVolumeSourceArgs(
                secret_name=secret.metadata.name,
                default_mode=0o440,
                items=[k8s.core.v1.KeyToPathArgs(key=key, path=path or key) for key in keys],
            ),
        )

    def _claim(
        self, claim_name: str, size: str, labels: Mapping[str, str]
    ) -> k8s.core.v1.PersistentVolumeClaim:
        args = self._args
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

    def _exporter(self, metrics: Metrics) -> k8s.core.v1.ContainerArgs:
        """Reads the server's statistics over the pod's loopback as the exporter role
        (`pg_monitor` only), so it needs no NetworkPolicy opening toward the database."""
        probes = http_probes("metrics", "/", "/")
        return k8s.core.v1.ContainerArgs(
            name="exporter",
            image=metrics.exporter_image,
            ports=[k8s.core.v1.ContainerPortArgs(name="metrics", container_port=EXPORTER_PORT)],
            env=[
                k8s.core.v1.EnvVarArgs(
                    name="DATA_SOURCE_URI",
                    value=f"127.0.0.1:{POSTGRES_PORT}/{self._args.database}?sslmode=disable",
                ),
                k8s.core.v1.EnvVarArgs(name="DATA_SOURCE_USER", value=EXPORTER_ROLE),
                k8s.core.v1.EnvVarArgs(
                    name="DATA_SOURCE_PASS_FILE", value=f"{EXPORTER_SECRETS_MOUNT}/{PASSWORD_KEY}"
                ),
            ],
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(
                    name="exporter-credentials", mount_path=EXPORTER_SECRETS_MOUNT, read_only=True
                )
            ],
            resources=EXPORTER_RESOURCES.to_k8s(),
            security_context=container_security_context(),
            startup_probe=probes.startup,
            readiness_probe=probes.readiness,
            liveness_probe=probes.liveness,
        )

    def _metrics_service(self, metrics: Metrics) -> None:
        name, args = self._name, self._args
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
            opts=self._child,
        )
        if metrics.service_monitor:
            operator_labels = args.monitoring.labels if args.monitoring else {}
            k8s.apiextensions.CustomResource(
                f"{name}-servicemonitor",
                api_version="monitoring.coreos.com/v1",
                kind="ServiceMonitor",
                metadata=object_meta(
                    {**operator_labels, **labels}, args.namespace, f"{name}-metrics"
                ),
                spec={
                    "selector": {
                        "matchLabels": selector_labels(args.app, name, "database-metrics")
                    },
                    "namespaceSelector": {"matchNames": [args.namespace]},
                    "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s"}],
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[service]),
            )

    def _alert_rules(self, monitoring: Monitoring) -> None:
        """This database's alerts, in a PrometheusRule of its own."""
        name, args = self._name, self._args
        backups = args.backups

        def groups(namespace: str) -> list[dict]:
            watch = DatabaseWatch(
                namespace=namespace,
                statefulset=name,
                container="postgres",
                data_claim=f"{name}-data",
                backup_claim=f"{name}-backups" if backups else None,
                backup_cronjob=f"{name}-backup" if backups else None,
                backup_schedule=backups.schedule if backups else None,
                backup_period_seconds=longest_gap_seconds(backups.schedule) if backups else None,
                uploads=bool(backups and backups.object_storage),
            )
            return [rule_group(f"{name}-database", statefulset_database_alerts(watch), monitoring)]

        prometheus_rule(
            f"{name}-alerts",
            args.namespace,
            {**monitoring.labels, **self._labels},
            pulumi.Output.from_input(args.namespace).apply(groups),
            self._child,
        )

    def _network_policy(self) -> None:
        args = self._args
        admitted = [args.client_selector]
        if args.backups:
            admitted.append(selector_labels(args.app, self._name, "backup"))
        rules = [
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[
                    k8s.networking.v1.NetworkPolicyPeerArgs(
                        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector))
                    )
                ],
                ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=POSTGRES_PORT)],
            )
            for selector in admitted
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
            f"{self._name}-netpol",
            metadata=object_meta(self._labels, args.namespace, self._name),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self.selector),
                policy_types=["Ingress"],
                ingress=rules,
            ),
            opts=self._child,
        )

    def _backups(self, backups: Backups, credentials: k8s.core.v1.Secret) -> None:
        name, args = self._name, self._args
        job_labels = standard_labels(args.app, name, "backup")
        job_selector = selector_labels(args.app, name, "backup")
        storage = backups.object_storage
        pods = JobPods(
            image=args.image,
            # The short name resolves within the namespace, and is known before the
            # Service is ready.
            host=name,
            port=POSTGRES_PORT,
            database=args.database,
            app_user=args.user,
            credentials_secret=credentials.metadata.name,
            app_password_key=PASSWORD_KEY,
            user_id=POSTGRES_USER_ID,
            backup_claim=self._claim(
                f"{name}-backups", backups.storage_size, job_labels
            ).metadata.name,
            object_storage=storage,
            storage_secret=self._storage_secret(storage, job_labels) if storage else None,
            service_account=self._storage_identity(storage, job_labels) if storage else None,
        )
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
                    spec=backup_job_spec(pods, job_labels, backups.keep),
                ),
            ),
            opts=self._child,
        )
        if backups.restore_from:
            self._restore(backups.restore_from, pods, job_labels)
        self._backup_network_policy(storage, job_labels, job_selector)

    def _restore(self, restore_from: str, pods: JobPods, labels: Mapping[str, str]) -> None:
        """The Job's name comes from the requested dump alone, and changes to its spec are
        ignored: a new image or a rotated password (a new Secret name) must not replace
        the Job, since a new Job would restore the old dump over the live data again.
        `pulumi up` does not wait for the Job: a restore may take hours, longer than a CI
        job or Pulumi's wait, and an update cut off mid-wait would leave the stack locked;
        `kubectl wait` follows it instead. The finished Job stays (no TTL): were it to
        vanish, a refresh would drop it from the state and the next update recreate it."""
        job_name = restore_job_name(self._name, restore_from)
        job = k8s.batch.v1.Job(
            f"{self._name}-restore",
            metadata=object_meta(
                labels,
                self._args.namespace,
                job_name,
                annotations={SKIP_AWAIT: "true", RESTORE_FROM_ANNOTATION: restore_from},
            ),
            spec=restore_job_spec(pods, labels, restore_from),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["spec"]),
        )
        self.restore_job = job.metadata.name

    def _storage_secret(
        self, storage: ObjectStorage, labels: Mapping[str, str]
    ) -> pulumi.Input[str] | None:
        """The Secret the job pods read object storage credentials from: ours, made from
        secret config, or the user's own; none with workload identity."""
        if storage.credentials_secret:
            return storage.credentials_secret
        if storage.access_key_id is None or storage.secret_access_key is None:
            return None
        secret = k8s.core.v1.Secret(
            f"{self._name}-backup-s3",
            # Auto-named: new credentials roll nothing by themselves, but the next job
            # reads the new Secret.
            metadata=object_meta(labels, self._args.namespace),
            type="Opaque",
            data=secret_data(
                {
                    ACCESS_KEY_ID: storage.access_key_id,
                    SECRET_ACCESS_KEY: storage.secret_access_key,
                }
            ),
            opts=self._child,
        )
        return secret.metadata.name

    def _storage_identity(
        self, storage: ObjectStorage, labels: Mapping[str, str]
    ) -> pulumi.Input[str] | None:
        """A ServiceAccount carrying the annotation through which the cluster grants the
        job pods access to the bucket (IAM roles for service accounts, GKE workload
        identity)."""
        if storage.identity_annotation is None:
            return None
        key, value = storage.identity_annotation
        account = k8s.core.v1.ServiceAccount(
            f"{self._name}-backup-sa",
            metadata=object_meta(
                labels, self._args.namespace, f"{self._name}-backup", annotations={key: value}
            ),
            automount_service_account_token=False,
            opts=self._child,
        )
        return account.metadata.name

    def _backup_network_policy(
        self,
        storage: ObjectStorage | None,
        labels: Mapping[str, str],
        selector: Mapping[str, str],
    ) -> None:
        egress = [
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=[
                    k8s.networking.v1.NetworkPolicyPeerArgs(
                        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self.selector)
                    )
                ],
                ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=POSTGRES_PORT)],
            ),
            dns_egress_rule(),
        ]
        if storage:
            # Object storage lives at addresses no policy can name in advance: any address,
            # on the bucket's port only.
            egress.append(
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr)
                        )
                        for cidr in ("0.0.0.0/0", "::/0")
                    ],
                    ports=[
                        k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=storage.port)
                    ],
                )
            )
        if storage and storage.identity_annotation:
            egress.extend(
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr)
                        )
                    ],
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=port)],
                )
                for cidr, port in IDENTITY_ENDPOINTS
            )
        k8s.networking.v1.NetworkPolicy(
            f"{self._name}-backup-netpol",
            metadata=object_meta(labels, self._args.namespace, f"{self._name}-backup"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector)),
                policy_types=["Ingress", "Egress"],
                egress=egress,
            ),
            opts=self._child,
        )
