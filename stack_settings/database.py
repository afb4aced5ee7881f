"""The database's settings: image, names, volume, backups with their off-cluster copies,
metrics; and the check that keeps a storage class change from replacing a volume."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pulumi

from components import Backups, ContainerResources, Metrics, ObjectStorage
from components._shared.quantity import parse_quantity, suggest_byte_quantity
from components.database.statefulset.roles import RESERVED_ROLES, UPGRADE_ROLE

from .app import read_resources
from .engine import EngineSettings, read_engine
from .history import last_update
from .reader import INVALID, PROJECT, ConfigError, Feature, Reader, fails, present
from .values import (
    BOOLEAN_ALLOWED,
    BYTES_ALLOWED,
    DNS_SUBDOMAIN,
    IDENTIFIER_ALLOWED,
    IMAGE_ALLOWED,
    OPTIONAL_NAME_ALLOWED,
    boolean,
    dns_label,
    optional_name,
    pg_identifier,
    pinned_image,
    quantity,
    suggest_boolean,
    suggest_dns_label,
    suggest_dns_subdomain,
    suggest_image,
    suggest_pg_identifier,
    whole_number,
)

_DUMP_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.dump$")
_BUCKET_URL = re.compile(
    r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?P<prefix>(/[A-Za-z0-9!_.*'()-]+)*)/?$"
)
_ENDPOINT = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?/?$")
_REGION = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_ANNOTATION_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
# minute, hour, day of month, month, day of week: the ranges Kubernetes' cron parser takes.
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_CRON_NAMES = ((), (), (), _MONTHS, ("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
_CRON_ITEM = re.compile(r"^(?P<base>\*|\?|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/(?P<step>\d+))?$")


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


def _cron_schedule(raw: str) -> str:
    if raw in _CRON_MACROS:
        return raw
    fields = raw.split()
    if len(fields) != 5 or raw != " ".join(fields):
        raise ValueError(raw)
    for field_text, (low, high), names in zip(fields, _CRON_RANGES, _CRON_NAMES, strict=True):
        for item in field_text.lower().split(","):
            match = _CRON_ITEM.match(item)
            if match is None or match.group("step") == "0":
                raise ValueError(raw)
            base = match.group("base")
            if base in ("*", "?"):
                continue
            for bound in base.split("-"):
                value = (
                    names.index(bound) + (1 if names is _MONTHS else 0)
                    if (bound in names)
                    else (int(bound) if bound.isdigit() else None)
                )
                if value is None or not low <= value <= high:
                    raise ValueError(raw)
    return raw


def _bucket_url(raw: str) -> str:
    if raw and not _BUCKET_URL.match(raw):
        raise ValueError(raw)
    return raw.rstrip("/")


# AWS' own https forms of a bucket: virtual-hosted (bucket.s3.region.amazonaws.com/prefix)
# and path-style (s3.region.amazonaws.com/bucket/prefix).
_VIRTUAL_HOSTED = re.compile(r"^(?P<bucket>[^/]+)\.s3[.-][^/]*amazonaws\.com(?P<path>/.*)?$")
_PATH_STYLE = re.compile(r"^s3[.-][^/]*amazonaws\.com/(?P<bucket>[^/]+)(?P<path>/.*)?$")
BUCKET_PLACEHOLDER = "s3://<bucket>/<prefix>"
OPT_OUT_KEY = "acceptNoOffClusterBackups"


def _unownable(bucket_url: str) -> bool:
    """A bucket name S3 reserves (its `sthree-` prefix), such as an old placeholder."""
    return bucket_url.removeprefix("s3://").startswith("sthree-")


def _suggest_bucket_url(raw: str) -> str:
    """Never empty: an empty bucket turns off-cluster copies off."""
    location = re.sub(r"^[A-Za-z0-9]+://", "", raw.strip())
    aws = _VIRTUAL_HOSTED.match(location) or _PATH_STYLE.match(location)
    if aws:
        bucket, prefix = aws.group("bucket"), (aws.group("path") or "")
    else:
        bucket, _, prefix = location.strip("/").partition("/")
    bucket = re.sub(r"[^a-z0-9.-]+", "-", bucket.lower()).strip("-.")
    parts = [re.sub(r"[^A-Za-z0-9!_.*'()-]+", "-", part) for part in prefix.split("/") if part]
    candidate = f"s3://{bucket}" + "".join(f"/{part}" for part in parts)
    return candidate if len(bucket) >= 3 and _BUCKET_URL.match(candidate) else BUCKET_PLACEHOLDER


def _endpoint(raw: str) -> str:
    if raw and not _ENDPOINT.match(raw):
        raise ValueError(raw)
    return raw.rstrip("/")


def _suggest_identity_annotation(raw: str) -> str:
    key, _, value = re.sub(r"\s*[:=]\s*", "=", raw.strip(), count=1).partition("=")
    return f"{key}={value or '<value>'}" if _ANNOTATION_KEY.match(key) else "<key>=<value>"


def _suggest_endpoint(raw: str) -> str:
    candidate = raw.strip()
    if "://" not in candidate:
        candidate = f"https://{candidate}"
    scheme, _, rest = candidate.partition("://")
    return f"{scheme.lower()}://{rest.split('/', 1)[0]}"


def _identity_annotation(raw: str) -> dict[str, str]:
    if not raw:
        return {}
    key, separator, value = raw.partition("=")
    if not separator or not value or not _ANNOTATION_KEY.match(key) or len(key) > 316:
        raise ValueError(raw)
    return {key: value}


def _suggest_restore_from(raw: str) -> str:
    name = raw.strip()
    for suffix in (".sha256", ".partial"):
        name = name.removesuffix(suffix)
    if not name.endswith(".dump"):
        name += ".dump"
    if name.startswith("s3://") and _DUMP_FILE.match(name.rsplit("/", 1)[-1]):
        return name
    # A path that is not an s3:// URL names no dump in the volume: no restore.
    return name if "/" not in name and _DUMP_FILE.match(name) else ""


def _restore_from(raw: str) -> str:
    if raw == "" or _DUMP_FILE.match(raw):
        return raw
    if raw.startswith("s3://") and _DUMP_FILE.match(raw.rsplit("/", 1)[-1]):
        return raw
    raise ValueError(raw)


_ACCESS_KEYS = ("backupS3AccessKeyId", "backupS3SecretAccessKey")


def _read_access(reader: Reader, bucket: str | None) -> dict[str, Any] | None:
    """Exactly one way to the bucket: access keys as secret config, an existing Secret,
    or workload identity; as the ObjectStorage fields that say which. Secret values are
    never shown in a message."""
    has_key = {key: bool(reader.raw(key)) for key in _ACCESS_KEYS}
    valid = True
    for key in _ACCESS_KEYS:
        if has_key[key] and not reader.is_secret(key):
            reader.errors.append(
                f"{PROJECT}:{key} is set in plaintext (its value is now in the stack file: "
                "rotate the key), but it must be set as a secret, so it is encrypted there; fix "
                f"it with: pulumi config set --secret --stack {reader.stack} {PROJECT}:{key} "
                "<new value>"
            )
            valid = False
    if has_key[_ACCESS_KEYS[0]] != has_key[_ACCESS_KEYS[1]]:
        missing = _ACCESS_KEYS[1] if has_key[_ACCESS_KEYS[0]] else _ACCESS_KEYS[0]
        reader.fail(
            missing,
            None,
            f"access keys come in pairs: {PROJECT}:{_ACCESS_KEYS[0]} and "
            f"{PROJECT}:{_ACCESS_KEYS[1]} are set together",
            fix=f"pulumi config set --secret --stack {reader.stack} {PROJECT}:{missing} <value>",
        )
        valid = False
    existing_secret = reader.read(
        "backupS3CredentialsSecret", optional_name, OPTIONAL_NAME_ALLOWED, suggest_dns_subdomain
    )
    identity = reader.read(
        "backupS3IdentityAnnotation",
        _identity_annotation,
        "it must be empty or one ServiceAccount annotation as key=value, such as "
        "eks.amazonaws.com/role-arn=arn:aws:iam::111122223333:role/webapp-backups",
        _suggest_identity_annotation,
    )
    if existing_secret is None or identity is None or not valid or bucket is None:
        # A bucket that did not parse is reported already; comparing it here would only
        # add a wrong second sentence.
        return None
    modes = [
        f"{PROJECT}:{key}"
        for key, on in (
            ("backupS3AccessKeyId", has_key[_ACCESS_KEYS[0]]),
            ("backupS3CredentialsSecret", bool(existing_secret)),
            ("backupS3IdentityAnnotation", bool(identity)),
        )
        if on
    ]
    if modes and not bucket:
        key = modes[0].split(":", 1)[1]
        reader.fail(
            key,
            "set" if key == "backupS3AccessKeyId" else reader.raw(key),
            f"object storage credentials are used only with {PROJECT}:backupBucket, which is empty",
            fix=reader.remove_command(key),
        )
        return None
    if bucket and len(modes) != 1:
        allowed = (
            "off-cluster copies need exactly one way to the bucket: secret access keys "
            f"({PROJECT}:backupS3AccessKeyId and {PROJECT}:backupS3SecretAccessKey), an "
            f"existing Secret ({PROJECT}:backupS3CredentialsSecret) or workload identity "
            f"({PROJECT}:backupS3IdentityAnnotation)"
        )
        if modes:
            allowed += f"; {' and '.join(modes)} are {'both' if len(modes) == 2 else 'all'} set"
        reader.fail(
            "backupBucket",
            bucket,
            allowed,
            fix=(
                f"pulumi config rm --stack {reader.stack} {modes[1]}"
                if modes
                else reader.fix_command("backupS3CredentialsSecret", "webapp-backup-s3")
            ),
        )
        return None
    access: dict[str, Any] = {}
    if has_key[_ACCESS_KEYS[0]]:
        config = pulumi.Config(PROJECT)
        access["access_key_id"] = present(config.get_secret(_ACCESS_KEYS[0]))
        access["secret_access_key"] = present(config.get_secret(_ACCESS_KEYS[1]))
    if existing_secret:
        access["credentials_secret"] = existing_secret
    if identity:
        access["service_account_annotations"] = identity
    return access


def _read_object_storage(reader: Reader) -> Feature[ObjectStorage]:
    bucket = reader.read(
        "backupBucket",
        _bucket_url,
        "it must be empty (no off-cluster copies) or an S3 URL such as "
        "s3://my-backups/webapp/prod (bucket name in lowercase)",
        _suggest_bucket_url,
    )
    endpoint = reader.read(
        "backupS3Endpoint",
        _endpoint,
        "it must be empty (AWS S3) or the URL of an S3-compatible API without a path, such "
        "as https://minio.example.com:9000",
        _suggest_endpoint,
    )
    region = reader.read(
        "backupS3Region",
        lambda raw: raw if _REGION.match(raw) else fails(raw),
        "it must be a region name such as us-east-1 (or auto, for Cloudflare R2)",
        lambda raw: re.sub(r"[^a-z0-9]+", "-", raw.strip().lower()).strip("-") or None,
    )
    image = reader.read("backupS3Image", pinned_image, IMAGE_ALLOWED, suggest_image)
    access = _read_access(reader, bucket)
    if None in (bucket, endpoint, region, image, access):
        return INVALID
    if endpoint and not bucket:
        reader.fail(
            "backupS3Endpoint",
            endpoint,
            f"an endpoint is used only with {PROJECT}:backupBucket, which is empty",
            fix=reader.remove_command("backupS3Endpoint"),
        )
        return INVALID
    if not bucket:
        return Feature(None)
    if _unownable(present(bucket)):
        reader.fail(
            "backupBucket",
            bucket,
            "S3 reserves the 'sthree-' prefix, so no one can own that bucket and every "
            "backup sent there would fail; it must be the S3 URL of a bucket you own",
            BUCKET_PLACEHOLDER,
        )
        return INVALID
    storage = ObjectStorage(
        bucket_url=present(bucket), image=present(image), region=present(region)
    )
    if endpoint:
        storage["endpoint"] = endpoint
    storage.update(present(access))  # type: ignore[typeddict-item]
    return Feature(storage)


def _read_backups(reader: Reader) -> Feature[Backups]:
    enabled = reader.read("backupEnabled", boolean, BOOLEAN_ALLOWED, suggest_boolean)
    schedule = reader.read(
        "backupSchedule",
        _cron_schedule,
        "it must be a cron schedule of five fields (minute hour day month weekday, such as "
        "'0 3 * * *') or a macro such as @daily",
    )
    keep = reader.read(
        "backupRetain",
        whole_number(1, 365),
        "it must be the number of dumps to keep, a whole number from 1 to 365",
    )
    storage = reader.read(
        "backupStorageSize", quantity("storage"), BYTES_ALLOWED, suggest_byte_quantity
    )
    restore_from = reader.read(
        "restoreFrom",
        _restore_from,
        "it must be empty (no restore), the file name of a dump in the backup volume such "
        "as app-20261125T030000Z.dump, or the s3:// URL of a dump in webapp:backupBucket",
        _suggest_restore_from,
    )
    object_storage = _read_object_storage(reader)
    if None in (enabled, schedule, keep, storage, restore_from) or not object_storage.valid:
        return INVALID
    if (restore_from or object_storage.value) and not enabled:
        key = "restoreFrom" if restore_from else "backupBucket"
        reader.fail(
            key,
            reader.raw(key),
            f"restores and off-cluster copies use the backup volume, which exists only while "
            f"{PROJECT}:backupEnabled is true",
            fix=reader.fix_command("backupEnabled", "true"),
        )
        return INVALID
    if present(restore_from).startswith("s3://"):
        bucket = object_storage.value["bucket_url"] if object_storage.value else ""
        if not bucket or not present(restore_from).startswith(f"{bucket}/"):
            reader.fail(
                "restoreFrom",
                restore_from,
                f"a dump from object storage must be in {PROJECT}:backupBucket "
                f"('{bucket}'), whose credentials the restore uses (to restore another "
                "stack's dump, copy it into this stack's prefix first: see "
                "docs/backups-and-restore.md, 'Restore a backup')",
                f"{bucket}/{present(restore_from).rsplit('/', 1)[-1]}" if bucket else "",
            )
            return INVALID
    if not enabled:
        return Feature(None)
    backups = Backups(
        schedule=present(schedule),
        keep=present(keep),
        storage_size=str(reader.raw("backupStorageSize")),
    )
    if object_storage.value:
        backups["object_storage"] = object_storage.value
    if restore_from:
        backups["restore_from"] = restore_from
    return Feature(backups)


def _read_metrics(reader: Reader) -> Feature[Metrics]:
    enabled = reader.read("metricsEnabled", boolean, BOOLEAN_ALLOWED, suggest_boolean)
    service_monitor = reader.read("serviceMonitor", boolean, BOOLEAN_ALLOWED, suggest_boolean)
    namespace = reader.read(
        "metricsNamespace",
        dns_label(63),
        "it must be the namespace Prometheus scrapes from, a DNS label",
        suggest_dns_label,
    )
    image = reader.read("exporterImage", pinned_image, IMAGE_ALLOWED, suggest_image)
    if None in (enabled, service_monitor, namespace, image):
        return INVALID
    if service_monitor and not enabled:
        reader.fail(
            "serviceMonitor",
            "true",
            f"a ServiceMonitor scrapes the exporter, which runs only while "
            f"{PROJECT}:metricsEnabled is true",
            "false",
        )
        return INVALID
    if not enabled:
        return Feature(None)
    return Feature(
        Metrics(
            exporter_image=present(image),
            scraper_namespace=present(namespace),
            service_monitor=bool(service_monitor),
        )
    )


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


def read_database(reader: Reader, cluster_name: str = "app-db") -> DatabaseSettings | None:
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
        resources = _guaranteed(reader, resources, present(burstable))
    user_id = reader.read(
        "dbUserId",
        whole_number(1, 2**31 - 1),
        "it must be a non-root user id, a whole number from 1 to 2147483647 (10000 or more "
        "for a new database; the uid that owns an existing database's data)",
    )
    backups = _read_backups(reader)
    metrics = _read_metrics(reader)
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
    if None in (
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
    ):
        return None
    if not backups.valid or not metrics.valid:
        return None
    if not _backups_leave_the_cluster(reader, present(engine).name, bucket, present(opt_out)):
        return None
    if (
        present(engine).name == "cloudnative-pg"
        and backups.value
        and backups.value.get("restore_from")
    ):
        reader.fail(
            "restoreFrom",
            reader.raw("restoreFrom"),
            "dumps are restored by the statefulset engine; with cloudnative-pg, recover from "
            f"the archive with {PROJECT}:recoverySourceArchive (docs/engines.md: Point-in-time "
            "recovery)",
            fix=reader.remove_command("restoreFrom"),
        )
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


def _guaranteed(
    reader: Reader, resources: ContainerResources, burstable_reason: str
) -> ContainerResources | None:
    """CloudNativePG's advice for a database: Guaranteed QoS (every request equal to its
    limit), the last class the kubelet evicts under memory pressure and never throttled
    below its request. A request the stack leaves at its default follows the limit; one set
    below its limit needs the stack to say why, in webapp:dbBurstableReason."""
    guaranteed = dict(resources)
    for resource in ("cpu", "memory"):
        request_key = f"db{resource.capitalize()}Request"
        limit_key = f"db{resource.capitalize()}Limit"
        request, limit = f"{resource}_request", f"{resource}_limit"
        if not reader.changed(request_key):
            guaranteed[request] = resources[limit]  # type: ignore[literal-required]
            continue
        same = (
            parse_quantity(str(resources[request]))[0]
            == parse_quantity(  # type: ignore[literal-required]
                str(resources[limit])  # type: ignore[literal-required]
            )[0]
        )
        if not same and not burstable_reason:
            reader.fail(
                request_key,
                reader.raw(request_key),
                f"with cloudnative-pg it must equal {PROJECT}:{limit_key} "
                f"('{reader.raw(limit_key)}'), so the database runs with Guaranteed QoS as "
                "CloudNativePG advises (a Burstable instance is evicted first under memory "
                f"pressure), unless {PROJECT}:dbBurstableReason says why it may not",
                str(reader.raw(limit_key)),
            )
            return None
    return ContainerResources(**guaranteed)  # type: ignore[typeddict-item]


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
        fix = reader.fix_command("backupBucket", BUCKET_PLACEHOLDER)
        pulumi.log.warn(
            f"{PROJECT}:{OPT_OUT_KEY} is true and {PROJECT}:backupBucket is empty, so {what}; "
            f"send them off the cluster with: {fix} && {reader.remove_command(OPT_OUT_KEY)}"
        )
        return True
    if engine == "cloudnative-pg" and not bucket:
        reader.fail(
            "backupBucket",
            reader.raw("backupBucket"),
            "the cloudnative-pg engine keeps its WAL archive and base backups only in a "
            "bucket, so without one a lost cluster loses its data: it must be the S3 URL of a "
            f"bucket you own, with {PROJECT}:backupEnabled true (or {PROJECT}:{OPT_OUT_KEY} "
            "true to run without off-cluster backups)",
            BUCKET_PLACEHOLDER,
        )
        return False
    return True


def refuse_storage_class_change(
    stack: str, database: DatabaseSettings, actual: pulumi.Output[str]
) -> pulumi.Output[str]:
    """The data volume's storage class as the cluster has it, failing the update when the
    stack asks for another one: the component never replaces an existing volume for a new
    class (that would delete its data) unless the change is allowed explicitly."""
    wanted = database.storage_class

    def check(current: str) -> str:
        if wanted and current and current != wanted and not database.allow_storage_class_change:
            raise ConfigError(
                f"{PROJECT}:storageClass is '{wanted}', but the database volume exists with "
                f"storage class '{current}', and a new class would replace the volume and "
                "delete its data, so the change is not applied; fix it with: pulumi config "
                f"set --stack {stack} {PROJECT}:storageClass {current} (to move the data to "
                f"a new volume instead, back up, set {PROJECT}:allowStorageClassChange to "
                "true for one update, and restore: docs/operations.md, Changing the storage class)"
            )
        return current

    return actual.apply(check)


def refuse_storage_shrink(
    stack: str, database: DatabaseSettings, actual: pulumi.Output[str]
) -> pulumi.Output[str]:
    """The data volume's size as the cluster accepted it, failing the program when the
    stack asks for less than its last update left: Kubernetes never shrinks a volume
    claim (nor CloudNativePG a Cluster's storage), so the change could only fail at `up`,
    after other changes of the update. The last size comes from the stack's own outputs,
    so `pulumi preview` refuses it, with or without a cluster."""
    wanted = database.storage_size

    def smaller(previous: object) -> bool:
        try:
            return parse_quantity(wanted)[0] < parse_quantity(str(previous))[0]
        except ValueError:  # not a size this program exported: nothing to compare
            return False

    def check(previous: object) -> object:
        if previous and smaller(previous):
            raise ConfigError(
                f"{PROJECT}:storageSize is '{wanted}', but the database volume is "
                f"{previous} and a volume can grow but never shrink, so the change is not "
                f"applied; fix it with: pulumi config set --stack {stack} "
                f"{PROJECT}:storageSize {previous} (for a smaller volume, move the data: "
                "docs/operations.md, Storage size)"
            )
        return previous

    # Checked apart from `actual`, which a preview may not know yet.
    checked = last_update(stack).get_output("databaseStorageSize").apply(check)
    return pulumi.Output.all(checked, actual).apply(lambda values: values[1])
