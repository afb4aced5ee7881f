"""The database's own keys (image, names, volume, resources, user id) read together with
its backups, metrics and engine into one DatabaseSettings, and the checks across them:
the app's role, cloudnative-pg's restore path, backups that leave the cluster."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pulumi

from components import Backups, ContainerResources, Metrics
from components._shared.quantity import suggest_byte_quantity
from components.database.statefulset.roles import RESERVED_ROLES, UPGRADE_ROLE

from ..reader import PROJECT, Feature, Reader, fails, present
from ..resources import read_resources
from ..values import (
    BOOLEAN_ALLOWED,
    BYTES_ALLOWED,
    DNS_SUBDOMAIN,
    IDENTIFIER_ALLOWED,
    IMAGE_ALLOWED,
    boolean,
    pg_identifier,
    pinned_image,
    quantity,
    suggest_boolean,
    suggest_dns_subdomain,
    suggest_image,
    suggest_pg_identifier,
    whole_number,
)
from .engine import ENGINES, EngineSettings, guaranteed, read_engine
from .object_storage import BUCKET_PLACEHOLDER, CREDENTIAL_KEYS, CREDENTIALS_SECRET_EXAMPLE

OPT_OUT_KEY = "acceptNoOffClusterBackups"


@dataclass(frozen=True)
class DatabaseSettings:
    image: str
    name: str
    user: str
    storage_size: str
    # None: the cluster's default class.
    storage_class: str | None
    allow_storage_class_change: bool
    resources: ContainerResources
    backups: Backups | None
    metrics: Metrics | None
    user_id: int
    engine: EngineSettings

    def with_engine(self, engine: EngineSettings) -> DatabaseSettings:
        """These settings with the engine a guard handed back."""
        return replace(self, engine=engine)

    @property
    def takes_backups(self) -> bool:
        """Whether the database has backups to watch: the statefulset engine's dumps, or
        cloudnative-pg's WAL archive and base backups, which exist only in a bucket."""
        if self.backups is None:
            return False
        return self.engine.name != "cloudnative-pg" or "object_storage" in self.backups

    def inputs(self) -> dict[str, Any]:
        """The PostgresDatabase inputs that come from the stack's config alone, as the
        program hands them over (the namespace, the app, its clients and the monitoring
        come from elsewhere); the namespace's quota is sized from the pods they make."""
        inputs: dict[str, Any] = {
            "image": self.image,
            "user_id": self.user_id,
            "database": self.name,
            "user": self.user,
            "storage_size": self.storage_size,
            "allow_storage_class_change": self.allow_storage_class_change,
            "resources": self.resources,
            "engine": self.engine.name,
        }
        if self.engine.cloudnative_pg:
            inputs["cloudnative_pg"] = self.engine.cloudnative_pg
        if self.storage_class:
            inputs["storage_class"] = self.storage_class
        if self.backups:
            inputs["backups"] = self.backups
        if self.metrics:
            inputs["metrics"] = self.metrics
        return inputs


# Names PostgreSQL refuses for a role, and the roles the database keeps for itself.
_NOT_APP_ROLES = (
    *RESERVED_ROLES,
    UPGRADE_ROLE,
    "public",
    "none",
    "current_user",
    "session_user",
    "current_role",
)


def _app_role(raw: str) -> str:
    if raw in _NOT_APP_ROLES:
        raise ValueError(raw)
    return pg_identifier(raw)


def read_database(
    reader: Reader,
    backups: Feature[Backups],
    metrics: Feature[Metrics],
    cluster_name: str = "app-db",
) -> DatabaseSettings | None:
    """`backups` and `metrics` are read before (read_backups, read_metrics): the
    monitoring's checks need them too, also where another database key is bad."""
    image = reader.read("dbImage", pinned_image, IMAGE_ALLOWED, suggest_image)
    name = reader.read("dbName", pg_identifier, IDENTIFIER_ALLOWED, suggest_pg_identifier)
    user = reader.read(
        "dbUser",
        _app_role,
        f"{IDENTIFIER_ALLOWED}, and not {', '.join(_NOT_APP_ROLES)} (roles PostgreSQL or "
        "the database keep for themselves)",
        lambda raw: (
            f"{name}_app"
            if (name := suggest_pg_identifier(raw) or "app") in _NOT_APP_ROLES
            else name
        ),
    )
    storage = reader.read("storageSize", quantity("storage"), BYTES_ALLOWED, suggest_byte_quantity)
    storage_class = reader.read(
        "storageClass",
        lambda raw: (
            raw if raw == "" or (len(raw) <= 253 and DNS_SUBDOMAIN.match(raw)) else fails(raw)
        ),
        "it must be empty (the cluster's default storage class) or the name of a storage "
        "class (lowercase letters, digits, '-' and '.')",
        suggest_dns_subdomain,
    )
    allow_change = reader.read("allowStorageClassChange", boolean, BOOLEAN_ALLOWED, suggest_boolean)
    resources = read_resources(reader, "db")
    burstable = reader.read("dbBurstableReason", lambda raw: raw.strip(), "it must be text")
    if resources and reader.raw("dbEngine") == "cloudnative-pg":
        resources = guaranteed(reader, resources, present(burstable))
    user_id = reader.read(
        "dbUserId",
        whole_number(1, 2**31 - 1),
        "it must be a non-root user id, a whole number from 1 to 2147483647 (10000 or more "
        "for a new database; the uid that owns an existing database's data)",
    )
    memory = (
        (str(resources["memory_request"]), str(resources["memory_limit"])) if resources else None
    )
    bucket = (
        str((backups.value.get("object_storage") or {}).get("bucket_url", ""))
        if backups.valid and backups.value
        else (None if not backups.valid else "")
    )
    opt_out = reader.read(OPT_OUT_KEY, boolean, BOOLEAN_ALLOWED, suggest_boolean)
    # The Cluster's archive is named after the Cluster (`<appName>-db`) by default.
    engine = read_engine(reader, cluster_name, bucket, memory)
    # The checks below need the engine's name only, which is known when dbEngine is valid
    # even where another of the engine's keys is not: each runs once its own keys are
    # valid, whatever else is wrong, so one run reports every problem.
    engine_name = reader.raw("dbEngine") if reader.raw("dbEngine") in ENGINES else None
    valid = None not in (
        opt_out,
        image,
        name,
        user,
        storage,
        storage_class,
        allow_change,
        resources,
        user_id,
        engine,
    )
    valid = valid and backups.valid and metrics.valid
    if engine_name is not None and bucket is not None and opt_out is not None:
        valid &= _backups_leave_the_cluster(reader, engine_name, bucket, opt_out)
    if engine_name == "cloudnative-pg" and reader.raw("restoreFrom"):
        reader.fail(
            "restoreFrom",
            reader.raw("restoreFrom"),
            "dumps are restored by the statefulset engine; with cloudnative-pg, recover from "
            f"the archive with {PROJECT}:recoverySourceArchive (docs/engines.md: Point-in-time "
            "recovery)",
            fix=reader.remove_command("restoreFrom"),
        )
        valid = False
    protected = (reader.raw("protectData") or reader.example("protectData")) == "true"
    if engine_name == "statefulset" and allow_change and protected:
        # A protected claim is kept in the cluster when it is replaced (retainOnDelete), and
        # the new claim, of the same name, cannot give the kept one another class: the
        # update would stop half-way, the StatefulSet on the old volume.
        reader.fail(
            "allowStorageClassChange",
            reader.raw("allowStorageClassChange"),
            f"{PROJECT}:protectData is true, which keeps the old volumes when they are "
            "replaced, so new ones of the same names could not be made; turn it off first, "
            "in an update of its own (docs/operations.md, Changing the storage class)",
            fix=reader.fix_command("protectData", "false"),
        )
        valid = False
    if not valid:
        return None
    return DatabaseSettings(
        image=present(image),
        name=present(name),
        user=present(user),
        storage_size=str(reader.raw("storageSize")),
        storage_class=present(storage_class) or None,
        allow_storage_class_change=bool(allow_change),
        resources=present(resources),
        backups=backups.value,
        metrics=metrics.value,
        user_id=present(user_id),
        engine=present(engine),
    )


def _backups_leave_the_cluster(reader: Reader, engine: str, bucket: str, opt_out: bool) -> bool:
    """Fail closed: cloudnative-pg keeps its WAL archive and base backups only in the
    bucket, so without one a lost cluster loses its data and nothing says so (its Ready
    condition follows the instances, not archiving). Running without is a stack's explicit
    choice, repeated on every preview; the statefulset engine's dumps stay on the cluster's
    backup volume without a bucket, as before."""
    if opt_out and bucket:
        reader.fail(
            OPT_OUT_KEY,
            "true",
            f"{PROJECT}:backupBucket is set ('{bucket}'), so the backups do leave the cluster",
            fix=reader.remove_command(OPT_OUT_KEY),
        )
        return False
    if opt_out:
        what = (
            "the cloudnative-pg database has no WAL archive and no base backups at all: a "
            "lost cluster or volume loses its data, and no point-in-time recovery is possible"
            if engine == "cloudnative-pg"
            else "the database's dumps stay on the backup volume in the cluster: a lost "
            "cluster loses them with the data"
        )
        pulumi.log.warn(
            f"{PROJECT}:{OPT_OUT_KEY} is true and {PROJECT}:backupBucket is empty, so {what}; "
            f"send them off the cluster with: {_off_cluster_fix(reader)} && "
            f"{reader.remove_command(OPT_OUT_KEY)}"
        )
        return True
    if engine == "cloudnative-pg" and not bucket:
        reader.fail(
            "backupBucket",
            reader.raw("backupBucket"),
            "the cloudnative-pg engine keeps its WAL archive and base backups only in a "
            "bucket, so without one a lost cluster loses its data: it must be the S3 URL of a "
            f"bucket you own, with one way to reach it and {PROJECT}:backupEnabled true (or "
            f"{PROJECT}:{OPT_OUT_KEY} true to run without off-cluster backups)",
            fix=_off_cluster_fix(reader),
        )
        return False
    return True


def _off_cluster_fix(reader: Reader) -> str:
    """Every command that sends the backups off the cluster, so that no fix leads to the
    next refusal: the bucket, a way to it where none is set, backups on."""
    commands = [reader.fix_command("backupBucket", BUCKET_PLACEHOLDER)]
    if not any(reader.raw(key) for key in CREDENTIAL_KEYS):
        commands.append(reader.fix_command("backupS3CredentialsSecret", CREDENTIALS_SECRET_EXAMPLE))
    if reader.raw("backupEnabled") == "false":
        commands.append(reader.fix_command("backupEnabled", "true"))
    return " && ".join(commands)
