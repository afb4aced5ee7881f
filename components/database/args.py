"""The inputs of a PostgresDatabase, and of each engine: what a program (in any language)
hands the component. Inputs marked "plain" (or "Must be a plain value") decide which
objects exist and must be known when the component is built."""

from typing import NotRequired, TypedDict

import pulumi

from .._shared.resources import ContainerResources
from ..observability.monitoring import Monitoring


class ObjectStorage(TypedDict):
    """Off-cluster copies of the dumps in an S3-compatible bucket. Access comes from
    exactly one of: accessKeyId with secretAccessKey (put into a Secret of ours),
    credentialsSecret (an existing Secret with the keys AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY), or serviceAccountAnnotations (workload identity)."""

    bucket_url: pulumi.Input[str]
    """S3 URL every dump is copied to, s3://bucket/prefix."""
    image: pulumi.Input[str]
    """Image of the AWS CLI that copies dumps to and from the bucket, pinned."""
    region: pulumi.Input[str]
    """Region of the bucket, such as eu-west-1 (auto for Cloudflare R2)."""
    endpoint: NotRequired[pulumi.Input[str]]
    """URL of an S3-compatible API (MinIO, R2, GCS interoperability) without a path; AWS S3
    if unset. Must be a plain value: the backup pods' NetworkPolicy opens its port."""
    access_key_id: NotRequired[pulumi.Input[str]]
    """Access key id for the bucket (a secret), together with secretAccessKey."""
    secret_access_key: NotRequired[pulumi.Input[str]]
    """Secret access key for the bucket (a secret), together with accessKeyId."""
    credentials_secret: NotRequired[pulumi.Input[str]]
    """Existing Secret in the namespace with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."""
    service_account_annotations: NotRequired[pulumi.Input[dict[str, str]]]
    """Annotations of the backup pods' ServiceAccount through which the cluster grants
    access to the bucket (workload identity), such as eks.amazonaws.com/role-arn."""


class Backups(TypedDict):
    """Scheduled dumps to a volume of their own, optionally copied to object storage."""

    schedule: pulumi.Input[str]
    """Cron schedule of the dumps, such as 0 3 * * * (cluster time zone, usually UTC)."""
    keep: pulumi.Input[int]
    """Number of most recent dumps to keep, on the volume and in the bucket."""
    storage_size: pulumi.Input[str]
    """Size of the backup volume, room for `keep` dumps, such as 2Gi."""
    object_storage: NotRequired[pulumi.Input[ObjectStorage]]
    """A bucket every dump is copied to, off the cluster."""
    restore_from: NotRequired[pulumi.Input[str]]
    """A dump to restore once with a Job: a file name in the backup volume, or an s3:// URL
    in the bucket. Must be a plain value: the Job is named after it."""


class Metrics(TypedDict):
    """A Prometheus postgres exporter next to the database."""

    exporter_image: pulumi.Input[str]
    """Image of the postgres exporter, pinned."""
    scraper_namespace: pulumi.Input[str]
    """Namespace of the Prometheus that scrapes the exporter, admitted by NetworkPolicy."""
    service_monitor: NotRequired[pulumi.Input[bool]]
    """Create a ServiceMonitor for the exporter (needs the Prometheus operator's CRDs).
    Must be a plain value."""


# Statements that run at least this long are logged, unless the input says otherwise; both
# engines' servers follow it.
DEFAULT_SLOW_STATEMENT_MS = 500


class ServerLogs(TypedDict):
    """What the database server logs, as JSON lines on its container's stdout, besides
    connections, disconnections and lock waits."""

    slow_statement_ms: NotRequired[pulumi.Input[int]]
    """Statements that run at least this many milliseconds are logged with their duration
    (without bind parameters); -1 for none, 0 for every statement, 500 if unset."""


class CloudNativePg(TypedDict):
    """The database as a CloudNativePG Cluster (the operator and its Barman Cloud plugin
    must be installed in the cluster): replicas, automatic failover, continuous WAL
    archiving to the backups' bucket and point-in-time recovery."""

    instances: NotRequired[pulumi.Input[int]]
    """PostgreSQL instances, a primary and streaming replicas; 3 if unset. Must be a plain
    value."""
    image: NotRequired[pulumi.Input[str]]
    """CloudNativePG operand image, pinned; ghcr.io/cloudnative-pg/postgresql 17 if unset."""
    operator_namespace: NotRequired[pulumi.Input[str]]
    """Namespace of the CloudNativePG operator, admitted to the instances' status port;
    cnpg-system if unset."""
    retention_days: NotRequired[pulumi.Input[int]]
    """Days of WAL and base backups kept in the bucket; 30 if unset. Must be a plain value."""
    archive_name: NotRequired[pulumi.Input[str]]
    """Folder of this cluster's archive in the bucket; the database's name if unset. A
    recovery must write a new one. Must be a plain value."""
    recovery_source_archive: NotRequired[pulumi.Input[str]]
    """Archive in the bucket to create the cluster from when it is created; none if unset.
    Must be a plain value."""
    recovery_target_time: NotRequired[pulumi.Input[str]]
    """RFC 3339 time with a zone to stop that recovery at; the end of the archive if unset.
    Must be a plain value."""
    api_server_cidrs: NotRequired[pulumi.Input[list[str]]]
    """Addresses of the Kubernetes API server as the pods' traffic reaches it (the
    `kubernetes` Service's endpoints, such as 10.0.0.10/32), the only ones the instances
    may reach on 443 and 6443; any address on those ports if unset. Must be a plain
    value."""


class PostgresDatabaseArgs(TypedDict):
    namespace: pulumi.Input[str]
    """Namespace to create the database in."""
    app: pulumi.Input[str]
    """Name of the application, in the labels of every object. Must be a plain value."""
    image: pulumi.Input[str]
    """Official PostgreSQL image, pinned, such as postgres:17.6-bookworm."""
    database: pulumi.Input[str]
    """Database created on first start, owned by `user` (fixed once created)."""
    user: pulumi.Input[str]
    """The app's role, owner of its database and no superuser (fixed once created)."""
    storage_size: pulumi.Input[str]
    """Size of the data volume, such as 10Gi; it can grow in place, never shrink."""
    resources: pulumi.Input[ContainerResources]
    """CPU and memory of the database server container."""
    client_selector: pulumi.Input[dict[str, str]]
    """Labels of the pods allowed to connect (a WebService's pods carry
    app.kubernetes.io/name=<app>, app.kubernetes.io/instance=<its name> and
    app.kubernetes.io/component=web); NetworkPolicy refuses every other pod."""
    storage_class: NotRequired[pulumi.Input[str]]
    """Storage class of the volumes; the cluster's default if unset or empty. Fixed once a
    volume exists: a change is ignored unless allowStorageClassChange is set."""
    allow_storage_class_change: NotRequired[pulumi.Input[bool]]
    """Let a storageClass change replace the volumes, which deletes their data (refused
    while protect is set). Must be a plain value."""
    cluster_domain: NotRequired[pulumi.Input[str]]
    """DNS domain of the cluster, in the host output; cluster.local if unset."""
    backups: NotRequired[pulumi.Input[Backups]]
    """Scheduled dumps, off-cluster copies and restores; none if unset."""
    metrics: NotRequired[pulumi.Input[Metrics]]
    """A Prometheus postgres exporter next to the server; none if unset."""
    protect: NotRequired[pulumi.Input[bool]]
    """Protect the volumes from deletion and replacement, and keep them in the cluster if
    they are deleted through Pulumi. Must be a plain value."""
    user_id: NotRequired[pulumi.Input[int]]
    """Non-root user id the server and its jobs run as; 10999 if unset. It must own the
    data: a database created as another uid (999, the image's own, before 10999 was the
    default) keeps that uid. Must be a plain value."""
    monitoring: NotRequired[pulumi.Input[Monitoring]]
    """Labels for the Prometheus operator on the ServiceMonitor, and the database's alert
    rules (which need metrics); neither if unset."""
    logs: NotRequired[pulumi.Input[ServerLogs]]
    """What the server logs as JSON lines on its container's stdout, besides connections,
    disconnections and lock waits; statements of 500 ms and more if unset."""
    engine: NotRequired[pulumi.Input[str]]
    """How PostgreSQL runs: statefulset (one pod of the official image, the default) or
    cloudnative-pg (a CloudNativePG Cluster; see cloudnativePg). Must be a plain value."""
    cloudnative_pg: NotRequired[pulumi.Input[CloudNativePg]]
    """Settings of the cloudnative-pg engine; with it, backups give the schedule of the base
    backups and the bucket of the WAL archive, and metrics a PodMonitor."""
