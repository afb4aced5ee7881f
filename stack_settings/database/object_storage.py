"""The off-cluster copies' object storage: the bucket, its endpoint and region, the image
that talks to it, and exactly one way to reach it (access keys, a Secret or workload
identity)."""

from __future__ import annotations

import re
from typing import Any

import pulumi

from components import ObjectStorage

from ..reader import INVALID, PROJECT, BadValueError, Feature, Reader, fails, present
from ..values import (
    IMAGE_ALLOWED,
    OPTIONAL_NAME_ALLOWED,
    optional_name,
    pinned_image,
    suggest_dns_subdomain,
    suggest_image,
)

_BUCKET_URL = re.compile(
    r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?P<prefix>(/[A-Za-z0-9!_.*'()-]+)*)/?$"
)
_ENDPOINT = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?/?$")
_REGION = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_ANNOTATION_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)


def _bucket_url(raw: str) -> str:
    if "<" in raw or ">" in raw:
        # The placeholder of a stack file or message, copied as it is: its fix is the
        # placeholder filled in, not a mangled URL that looks valid.
        raise BadValueError(
            "that is a placeholder: it must be the S3 URL of a bucket you own, with <bucket> "
            "and <prefix> replaced by the bucket's name and a prefix, such as "
            "s3://my-backups/webapp/prod",
            BUCKET_PLACEHOLDER,
        )
    if raw and not _BUCKET_URL.match(raw):
        raise ValueError(raw)
    return raw.rstrip("/")


# AWS' own https forms of a bucket: virtual-hosted (bucket.s3.region.amazonaws.com/prefix)
# and path-style (s3.region.amazonaws.com/bucket/prefix).
_VIRTUAL_HOSTED = re.compile(r"^(?P<bucket>[^/]+)\.s3[.-][^/]*amazonaws\.com(?P<path>/.*)?$")
_PATH_STYLE = re.compile(r"^s3[.-][^/]*amazonaws\.com/(?P<bucket>[^/]+)(?P<path>/.*)?$")
BUCKET_PLACEHOLDER = "s3://<bucket>/<prefix>"
# The Secret name the docs create (docs/backups-and-restore.md, way 2).
CREDENTIALS_SECRET_EXAMPLE = "webapp-backup-s3"
CREDENTIAL_KEYS = ("backupS3AccessKeyId", "backupS3CredentialsSecret", "backupS3IdentityAnnotation")


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
                # Removed first: a local stack's copy takes the tracked file's plaintext
                # value back on its next run while the tracked file still holds it.
                f"it with: {reader.remove_command(key)} && "
                f"{reader.secret_set(f'{PROJECT}:{key}', '<new value>')}"
            )
            valid = False
    if has_key[_ACCESS_KEYS[0]] != has_key[_ACCESS_KEYS[1]]:
        missing = _ACCESS_KEYS[1] if has_key[_ACCESS_KEYS[0]] else _ACCESS_KEYS[0]
        reader.fail(
            missing,
            None,
            f"access keys come in pairs: {PROJECT}:{_ACCESS_KEYS[0]} and "
            f"{PROJECT}:{_ACCESS_KEYS[1]} are set together",
            fix=reader.secret_set(f"{PROJECT}:{missing}"),
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
    if existing_secret is None or identity is None or not valid:
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
    # A bucket that did not parse is reported already, but it still says a bucket is
    # wanted: a missing way to it is told in the same run, or the bucket's fix would only
    # lead to that sentence.
    wanted = bool(bucket) or (bucket is None and bool(reader.raw("backupBucket")))
    # cloudnative-pg refuses an empty bucket unless the stack opts out (the database's
    # settings say so, with the bucket's fix): the way to it stays, it is needed once the
    # bucket is set.
    needs_bucket = reader.raw("dbEngine") == "cloudnative-pg" and (
        reader.raw("acceptNoOffClusterBackups") != "true"
    )
    if modes and bucket == "" and not needs_bucket:
        key = modes[0].split(":", 1)[1]
        reader.fail(
            key,
            "set" if key == "backupS3AccessKeyId" else reader.raw(key),
            f"object storage credentials are used only with {PROJECT}:backupBucket, which is empty",
            fix=reader.remove_command(key),
        )
        return None
    if wanted and len(modes) != 1:
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
            reader.raw("backupBucket"),
            allowed,
            fix=(
                f"pulumi config rm --stack {reader.stack} {modes[1]}"
                if modes
                else reader.fix_command("backupS3CredentialsSecret", CREDENTIALS_SECRET_EXAMPLE)
            ),
        )
        return None
    if bucket is None:
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


def read_object_storage(reader: Reader) -> Feature[ObjectStorage]:
    bucket = reader.read(
        "backupBucket",
        _bucket_url,
        "it must be empty (no off-cluster copies) or an S3 URL such as "
        "s3://my-backups/webapp/prod (a bucket name of 3 to 63 lowercase letters, digits, "
        "dots and hyphens)",
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
    # Each check across keys runs once its own keys are valid, whatever else is wrong, so
    # one run reports every problem.
    valid = None not in (bucket, endpoint, region, image, access)
    if endpoint and bucket == "":
        reader.fail(
            "backupS3Endpoint",
            endpoint,
            f"an endpoint is used only with {PROJECT}:backupBucket, which is empty",
            fix=reader.remove_command("backupS3Endpoint"),
        )
        valid = False
    if bucket and _unownable(bucket):
        reader.fail(
            "backupBucket",
            bucket,
            "S3 reserves the 'sthree-' prefix, so no one can own that bucket and every "
            "backup sent there would fail; it must be the S3 URL of a bucket you own",
            BUCKET_PLACEHOLDER,
        )
        valid = False
    if not valid:
        return INVALID
    if not bucket:
        return Feature(None)
    storage = ObjectStorage(
        bucket_url=present(bucket), image=present(image), region=present(region)
    )
    if endpoint:
        storage["endpoint"] = endpoint
    storage.update(present(access))  # type: ignore[typeddict-item]
    return Feature(storage)
