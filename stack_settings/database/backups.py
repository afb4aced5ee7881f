"""The backups' keys: on or off, the schedule, how many dumps to keep, the backup volume,
a restore from a dump, and the object storage the copies go to."""

from __future__ import annotations

import re

from components import Backups
from components._shared.quantity import suggest_byte_quantity

from ..reader import INVALID, PROJECT, Feature, Reader, present
from ..values import (
    BOOLEAN_ALLOWED,
    BYTES_ALLOWED,
    boolean,
    quantity,
    suggest_boolean,
    whole_number,
)
from .object_storage import read_object_storage

_DUMP_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.dump$")
_CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
# minute, hour, day of month, month, day of week: the ranges Kubernetes' cron parser takes.
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_CRON_NAMES = ((), (), (), _MONTHS, ("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
_CRON_ITEM = re.compile(r"^(?P<base>\*|\?|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/(?P<step>\d+))?$")


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


# What the backup writes beside a dump (its checksum, its record, the file being written):
# a name ending so is taken for the dump it belongs to (the checksum and the records are
# written only once the dump is complete). If no such dump is on the volume, the restore
# Job says so and names the dumps that are.
_BESIDE_A_DUMP = (".partial", ".sha256", ".verified", ".unverified")


def _suggest_restore_from(raw: str) -> str:
    name = raw.strip()
    while name.endswith(_BESIDE_A_DUMP):
        name = name.rsplit(".", 1)[0]
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


def read_backups(reader: Reader) -> Feature[Backups]:
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
    # cloudnative-pg restores no dump: the database's settings refuse any restoreFrom on
    # it (with the fix that removes it), so here it is neither parsed nor checked.
    cloudnative_pg = reader.raw("dbEngine") == "cloudnative-pg"
    restore_from = (
        ""
        if cloudnative_pg
        else reader.read(
            "restoreFrom",
            _restore_from,
            "it must be empty (no restore), the file name of a dump in the backup volume "
            "such as app-20261125T030000Z.dump, or the s3:// URL of a dump in "
            "webapp:backupBucket",
            _suggest_restore_from,
        )
    )
    object_storage = read_object_storage(reader)
    # Each check across keys runs once its own keys are valid, whatever else is wrong, so
    # one run reports every problem.
    valid = None not in (enabled, schedule, keep, storage, restore_from) and object_storage.valid
    if enabled is False and cloudnative_pg and object_storage.value:
        reader.fail(
            "backupEnabled",
            "false",
            "it turns off the cloudnative-pg engine's WAL archive and base backups, which "
            f"go to {PROJECT}:backupBucket (set: "
            f"'{object_storage.value['bucket_url']}')",
            "true",
        )
        valid = False
    elif enabled is False and (restore_from or object_storage.value):
        key = "restoreFrom" if restore_from else "backupBucket"
        reader.fail(
            key,
            reader.raw(key),
            f"restores and off-cluster copies use the backup volume, which exists only while "
            f"{PROJECT}:backupEnabled is true",
            fix=reader.fix_command("backupEnabled", "true"),
        )
        valid = False
    if restore_from and restore_from.startswith("s3://") and object_storage.valid:
        bucket = object_storage.value["bucket_url"] if object_storage.value else ""
        if not bucket or not restore_from.startswith(f"{bucket}/"):
            reader.fail(
                "restoreFrom",
                restore_from,
                f"a dump from object storage must be in {PROJECT}:backupBucket "
                f"('{bucket}'), whose credentials the restore uses (to restore another "
                "stack's dump, copy it into this stack's prefix first: see "
                "docs/backups-and-restore.md, 'Restore a backup')",
                f"{bucket}/{restore_from.rsplit('/', 1)[-1]}" if bucket else "",
            )
            valid = False
    if not valid:
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
