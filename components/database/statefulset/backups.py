"""Backups of a PostgresDatabase: a volume of their own, a CronJob that dumps (and copies
the dumps off the cluster), a restore Job on request, and the NetworkPolicy of their pods."""

import pulumi
import pulumi_kubernetes as k8s

from ..._shared.metadata import SKIP_AWAIT, object_meta, selector_labels, standard_labels
from ..._shared.network import dns_egress_rule, pod_peer, tcp_port
from ..._shared.package import InvalidInput, known, whole
from ..._shared.pods import PodDemand
from ..args import Backups, ObjectStorage
from ..object_storage import storage_egress, storage_identity, storage_secret
from ..parts import (
    PASSWORD_KEY,
    POSTGRES_PORT,
    DatabaseParts,
)
from .jobs import (
    RESTORE_FROM_ANNOTATION,
    JobPods,
    backup_job_spec,
    restore_job_name,
    restore_job_spec,
)
from .server import claim


def _job_pods(
    db: DatabaseParts,
    storage: ObjectStorage | None,
    credentials_name: pulumi.Input[str],
    backup_claim: pulumi.Input[str],
    storage_secret: pulumi.Input[str] | None,
    service_account: pulumi.Input[str] | None,
) -> JobPods:
    return JobPods(
        image=db.image,
        # The short name resolves within the namespace, and is known before the Service
        # is ready.
        host=db.name,
        port=POSTGRES_PORT,
        database=db.database,
        app_user=db.user,
        credentials_secret=credentials_name,
        app_password_key=PASSWORD_KEY,
        user_id=db.user_id,
        backup_claim=backup_claim,
        object_storage=storage,
        storage_secret=storage_secret,
        service_account=service_account,
    )


def backup_pods(db: DatabaseParts, settings: Backups) -> list[PodDemand]:
    """The job pods the backups run at the most at once, with the specs their CronJob and
    restore Job declare, known before they are created so that a namespace's quota can
    hold them: a backup (one at a time: concurrencyPolicy Forbid) and, while one is
    requested, a restore. Names of other objects in the specs are left empty."""
    where = "PostgresDatabase input 'backups"
    labels = standard_labels(db.app, db.name, "backup")
    storage = known(settings.get("object_storage"), f"{where}.objectStorage'")
    pods = _job_pods(db, storage, "", "", "" if storage else None, None)
    keep = whole(settings["keep"], f"{where}.keep'")
    demands = [PodDemand(1, backup_job_spec(pods, labels, keep).template.spec, "a backup")]
    restore_from = known(settings.get("restore_from"), f"{where}.restoreFrom'")
    if restore_from:
        restore = restore_job_spec(pods, labels, restore_from).template.spec
        demands.append(PodDemand(1, restore, "a restore"))
    return demands


def backups(
    db: DatabaseParts, settings: Backups, credentials: k8s.core.v1.Secret
) -> pulumi.Output[str] | None:
    """Creates the backup objects; returns the restore Job's name while one is requested."""
    where = "PostgresDatabase input 'backups"
    labels = standard_labels(db.app, db.name, "backup")
    storage = known(settings.get("object_storage"), f"{where}.objectStorage'")
    pods = _job_pods(
        db,
        storage,
        credentials.metadata.name,
        claim(db, f"{db.name}-backups", settings["storage_size"], labels).metadata.name,
        storage_secret(db.name, db.namespace, storage, labels, db.parent) if storage else None,
        storage_identity(db.name, db.namespace, storage, labels, db.parent) if storage else None,
    )
    k8s.batch.v1.CronJob(
        f"{db.name}-backup",
        metadata=object_meta(labels, db.namespace, f"{db.name}-backup"),
        spec=k8s.batch.v1.CronJobSpecArgs(
            schedule=settings["schedule"],
            # One dump at a time: the backup volume is ReadWriteOnce.
            concurrency_policy="Forbid",
            starting_deadline_seconds=3600,
            successful_jobs_history_limit=3,
            failed_jobs_history_limit=3,
            job_template=k8s.batch.v1.JobTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=dict(labels)),
                spec=backup_job_spec(pods, labels, whole(settings["keep"], f"{where}.keep'")),
            ),
        ),
        opts=db.opts(),
    )
    _network_policy(db, storage, labels)
    restore_from = known(settings.get("restore_from"), f"{where}.restoreFrom'")
    if not restore_from:
        return None
    if restore_from.startswith("s3://") and not storage:
        raise InvalidInput(f"{where}.restoreFrom' is an s3:// URL, but there is no objectStorage")
    return _restore(db, restore_from, pods, labels)


def _restore(
    db: DatabaseParts, restore_from: str, pods: JobPods, labels: dict[str, str]
) -> pulumi.Output[str]:
    """The Job's name comes from the requested dump alone, and changes to its spec are
    ignored: a new image or a rotated password (a new Secret name) must not replace the
    Job, since a new Job would restore the old dump over the live data again. `pulumi up`
    does not wait for the Job: a restore may take hours, longer than a CI job or Pulumi's
    wait, and an update cut off mid-wait would leave the stack locked; `kubectl wait`
    follows it instead. The finished Job stays (no TTL): were it to vanish, a refresh would
    drop it from the state and the next update recreate it."""
    job = k8s.batch.v1.Job(
        f"{db.name}-restore",
        metadata=object_meta(
            labels,
            db.namespace,
            restore_job_name(db.name, restore_from),
            annotations={SKIP_AWAIT: "true", RESTORE_FROM_ANNOTATION: restore_from},
        ),
        spec=restore_job_spec(pods, labels, restore_from),
        opts=db.opts(ignore_changes=["spec"]),
    )
    return job.metadata.name


def _network_policy(
    db: DatabaseParts, storage: ObjectStorage | None, labels: dict[str, str]
) -> None:
    """The job pods may reach the database and DNS, and the bucket if there is one."""
    egress = [
        k8s.networking.v1.NetworkPolicyEgressRuleArgs(
            to=[pod_peer(dict(db.selector))], ports=[tcp_port(POSTGRES_PORT)]
        ),
        dns_egress_rule(),
    ]
    if storage:
        egress += storage_egress(storage)
    k8s.networking.v1.NetworkPolicy(
        f"{db.name}-backup-netpol",
        metadata=object_meta(labels, db.namespace, f"{db.name}-backup"),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(
                match_labels=selector_labels(db.app, db.name, "backup")
            ),
            policy_types=["Ingress", "Egress"],
            egress=egress,
        ),
        opts=db.opts(),
    )
