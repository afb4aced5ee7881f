"""Off-cluster copies of the database's dumps in an S3-compatible bucket: the settings, and
the objects through which the backup pods get access to the bucket."""

from collections.abc import Mapping
from typing import NotRequired, TypedDict
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s

from .._shared.common import object_meta, secret_data
from .._shared.package import InvalidInput, known

# Keys of a Secret holding object storage credentials, ours or one the user made.
ACCESS_KEY_ID = "AWS_ACCESS_KEY_ID"
SECRET_ACCESS_KEY = "AWS_SECRET_ACCESS_KEY"
# Workload identity with the AWS CLI: IAM roles for service accounts needs only STS on 443
# (open anyway); EKS Pod Identity's agent answers on this link-local address. The node's
# instance metadata service stays closed: it would hand out the node role's credentials.
IDENTITY_ENDPOINTS = (("169.254.170.23/32", 80),)


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


WHERE = "PostgresDatabase input 'backups.objectStorage"


def storage_port(storage: ObjectStorage) -> int:
    """The TCP port the backup pods must reach."""
    endpoint = known(storage.get("endpoint"), f"{WHERE}.endpoint'")
    if not endpoint:
        return 443
    parts = urlsplit(endpoint)
    return parts.port or (80 if parts.scheme == "http" else 443)


def access_mode(storage: ObjectStorage) -> str:
    """How the pods reach the bucket: "keys", "secret" or "identity". Only whether each
    input is given counts here: the keys themselves may be secret outputs."""

    def given(field: str) -> bool:
        return storage.get(field) not in (None, "", {})

    modes = [
        mode
        for mode, fields in (
            ("keys", ("access_key_id", "secret_access_key")),
            ("secret", ("credentials_secret",)),
            ("identity", ("service_account_annotations",)),
        )
        if any(given(field) for field in fields)
    ]
    if len(modes) != 1 or (modes == ["keys"] and not given("secret_access_key")):
        raise InvalidInput(
            f"{WHERE}' needs exactly one way to the bucket: accessKeyId with "
            "secretAccessKey, credentialsSecret, or serviceAccountAnnotations"
        )
    return modes[0]


def storage_secret(
    name: str,
    namespace: pulumi.Input[str],
    storage: ObjectStorage,
    labels: Mapping[str, str],
    parent: pulumi.Resource,
) -> pulumi.Input[str] | None:
    """The Secret the job pods read object storage credentials from: ours, made from the
    access keys, or the user's own; none with workload identity."""
    mode = access_mode(storage)
    if mode == "secret":
        return storage["credentials_secret"]
    if mode == "identity":
        return None
    secret = k8s.core.v1.Secret(
        f"{name}-backup-s3",
        # Auto-named: new credentials roll nothing by themselves, but the next job reads
        # the new Secret.
        metadata=object_meta(labels, namespace),
        type="Opaque",
        data=secret_data(
            {
                ACCESS_KEY_ID: storage["access_key_id"],
                SECRET_ACCESS_KEY: storage["secret_access_key"],
            }
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return secret.metadata.name


def storage_identity(
    name: str,
    namespace: pulumi.Input[str],
    storage: ObjectStorage,
    labels: Mapping[str, str],
    parent: pulumi.Resource,
) -> pulumi.Input[str] | None:
    """A ServiceAccount carrying the annotations through which the cluster grants the job
    pods access to the bucket (IAM roles for service accounts, GKE workload identity)."""
    annotations = known(
        storage.get("service_account_annotations"), f"{WHERE}.serviceAccountAnnotations'"
    )
    if not annotations:
        return None
    account = k8s.core.v1.ServiceAccount(
        f"{name}-backup-sa",
        metadata=object_meta(labels, namespace, f"{name}-backup", annotations=annotations),
        automount_service_account_token=False,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return account.metadata.name


def storage_egress(storage: ObjectStorage) -> list[k8s.networking.v1.NetworkPolicyEgressRuleArgs]:
    """Object storage lives at addresses no policy can name in advance: any address, on
    the bucket's port only; with workload identity, also the cluster's token endpoints."""

    def rule(cidrs: tuple[str, ...], port: int) -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
        return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
            to=[
                k8s.networking.v1.NetworkPolicyPeerArgs(
                    ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr)
                )
                for cidr in cidrs
            ],
            ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=port)],
        )

    rules = [rule(("0.0.0.0/0", "::/0"), storage_port(storage))]
    if access_mode(storage) == "identity":
        rules += [rule((cidr,), port) for cidr, port in IDENTITY_ENDPOINTS]
    return rules
