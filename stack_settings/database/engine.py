"""Which database engine runs PostgreSQL, and the CloudNativePG engine's own settings (the
API server's addresses in api_server.py; the guards of a deployed stack's engine in
engine_guards.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

import pulumi

from components import CloudNativePg, ContainerResources
from components._shared.quantity import parse_quantity
from components.database.engine import ENGINES

from ..reader import PROJECT, Reader, fails, present
from ..values import (
    IMAGE_ALLOWED,
    dns_label,
    one_of,
    pinned_image,
    suggest_choice,
    suggest_dns_label,
    suggest_image,
    whole_number,
)
from .api_server import read_api_server_cidrs

SWITCH_CONFIRMATION = "statefulset-to-cloudnative-pg"
_ARCHIVE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_TARGET_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
MAJOR_UPGRADE = re.compile(r"^(\d{1,3})-to-(\d{1,3})$")
_ARCHIVE_ALLOWED = (
    "it must be empty or a folder name of lowercase letters, digits and '-' (at most 63)"
)


@dataclass(frozen=True)
class EngineSettings:
    name: str
    # The cloudnative-pg engine's component input; None with the statefulset engine.
    cloudnative_pg: CloudNativePg | None
    # The user confirmed moving this stack's data from the statefulset engine.
    switch_confirmed: bool
    # The cloudnative-pg archive's folder in the bucket, and webapp:cnpgMajorUpgrade.
    archive: str = ""
    major_upgrade: str = ""

    @property
    def instances(self) -> int:
        return int(str(self.cloudnative_pg.get("instances", 1))) if self.cloudnative_pg else 1

    @property
    def checked_archive(self) -> pulumi.Output[str]:
        """The archive once the operand image is known: after the major-upgrade check, the
        archive the next update compares with is recorded only when the check passed."""
        image = self.cloudnative_pg.get("image", "") if self.cloudnative_pg else ""
        return pulumi.Output.from_input(image).apply(lambda _: self.archive)


def _suggest_target_time(raw: str) -> str:
    moment = re.sub(r"^(\S+) (\S+)$", r"\1T\2", raw.strip())
    if not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?", moment):
        return "<YYYY-MM-DD>T<hh:mm:ss>Z"
    return moment if re.search(r"(Z|[+-]\d\d:\d\d)$", moment) else f"{moment}Z"


def _target_time(raw: str) -> str:
    if raw and not _TARGET_TIME.match(raw):
        raise ValueError(raw)
    return raw


def read_engine(
    reader: Reader, database: str, bucket: str | None, memory: tuple[str, str] | None
) -> EngineSettings | None:
    """`database` names the archive by default; `bucket` is webapp:backupBucket (None when
    it did not parse); `memory` the db memory request and limit, when they parsed."""
    engine = reader.read(
        "dbEngine",
        one_of(ENGINES),
        f"it must be one of {', '.join(ENGINES)}",
        suggest_choice(ENGINES),
    )
    instances = reader.read(
        "dbInstances", whole_number(1, 9), "it must be a whole number of instances from 1 to 9"
    )
    image = reader.read("cnpgImage", pinned_image, IMAGE_ALLOWED, suggest_image)
    operator = reader.read(
        "cnpgOperatorNamespace",
        dns_label(63),
        "it must be the namespace of the CloudNativePG operator, a DNS label",
        suggest_dns_label,
    )
    api_server = read_api_server_cidrs(reader)
    retention = reader.read(
        "backupRetentionDays",
        whole_number(1, 3650),
        "it must be a whole number of days from 1 to 3650",
    )
    archive_key = "dbArchiveName"
    archive = reader.read(
        archive_key,
        lambda raw: raw if raw == "" or _ARCHIVE.match(raw) else fails(raw),
        _ARCHIVE_ALLOWED,
        suggest_dns_label,
    )
    source = reader.read(
        "recoverySourceArchive",
        lambda raw: raw if raw == "" or _ARCHIVE.match(raw) else fails(raw),
        _ARCHIVE_ALLOWED,
        suggest_dns_label,
    )
    target = reader.read(
        "recoveryTargetTime",
        _target_time,
        "it must be empty or an RFC 3339 time with a zone, such as 2026-11-25T14:30:00Z",
        _suggest_target_time,
    )
    switch = reader.read(
        "dbEngineSwitch",
        lambda raw: raw if raw in ("", SWITCH_CONFIRMATION) else fails(raw),
        f"it must be empty or {SWITCH_CONFIRMATION}, which confirms moving the data of a stack "
        "deployed with the statefulset engine (docs/engines.md: Moving a stack to cloudnative-pg)",
        lambda raw: SWITCH_CONFIRMATION,
    )
    major_upgrade = reader.read(
        "cnpgMajorUpgrade",
        lambda raw: raw if raw == "" or MAJOR_UPGRADE.match(raw) else fails(raw),
        "it must be empty or <old major>-to-<new major> such as 17-to-18, which confirms that "
        "a major upgrade keeps the archive because the data moves another way, or such as "
        "18-to-17, the way back from an upgrade that failed (docs/operations.md, Major "
        "upgrades)",
        lambda raw: "17-to-18",
    )
    values = (engine, instances, image, operator, retention, archive, source, target, switch)
    values += (major_upgrade, api_server)
    if engine != "cloudnative-pg":
        if None in values:
            return None
        return EngineSettings(name=present(engine), cloudnative_pg=None, switch_confirmed=False)
    # Each check across keys runs once its own keys are valid, whatever else is wrong, so
    # one run reports every problem.
    valid = None not in values
    if source and bucket == "":
        reader.fail(
            "recoverySourceArchive",
            source,
            f"a recovery reads the archive from {PROJECT}:backupBucket, which is empty",
            fix=reader.fix_command("backupBucket", "s3://<bucket>/<prefix>"),
        )
        valid = False
    if target and source == "":
        fix = reader.fix_command("recoverySourceArchive", database)
        if archive == "":
            # The archive read is this Cluster's own, and a recovery writes a new one: both
            # keys in one fix, or the next run refuses the archive's name.
            fix += f" && {reader.fix_command(archive_key, _new_archive(database, target))}"
        reader.fail(
            "recoveryTargetTime",
            target,
            f"a recovery needs the archive to read, {PROJECT}:recoverySourceArchive, which is "
            "empty",
            fix=fix,
        )
        valid = False
    if source and archive is not None and (archive or database) == source:
        reader.fail(
            archive_key,
            archive,
            f"a recovery writes a new archive, and {PROJECT}:recoverySourceArchive is "
            f"'{source}' (the archive it reads)",
            _new_archive(source, target),
        )
        valid = False
    if memory is not None:
        request, limit = (parse_quantity(value)[0] for value in memory)
        if request * 4 < limit:
            reader.fail(
                "dbMemoryRequest",
                memory[0],
                "with cloudnative-pg it must be at least a quarter of webapp:dbMemoryLimit "
                f"('{memory[1]}'): shared_buffers takes that much and CloudNativePG refuses "
                "a smaller request",
                _quarter(limit),
            )
            valid = False
    if not valid:
        return None
    settings = CloudNativePg(
        instances=present(instances),
        image=present(image),
        operator_namespace=present(operator),
        retention_days=present(retention),
    )
    if api_server:
        settings["api_server_cidrs"] = list(api_server)
    for field, value in (
        ("archive_name", archive),
        ("recovery_source_archive", source),
        ("recovery_target_time", target),
    ):
        if value:
            settings[field] = value  # type: ignore[literal-required]
    return EngineSettings(
        name="cloudnative-pg",
        cloudnative_pg=settings,
        switch_confirmed=bool(switch),
        archive=present(archive) or database,
        major_upgrade=present(major_upgrade),
    )


def _new_archive(source: str, target: str | None) -> str:
    """A name for the archive a recovery from `source` writes: the source's, dated."""
    return f"{source}-{(target or 'recovered')[:10].lower()}".replace(":", "-")


def _quarter(limit: Decimal) -> str:
    mebibytes = int((limit / 4 / 2**20).to_integral_value(rounding="ROUND_CEILING"))
    return f"{mebibytes}Mi"


def guaranteed(
    reader: Reader, resources: ContainerResources, burstable_reason: str
) -> ContainerResources | None:
    """CloudNativePG's advice for a database: Guaranteed QoS (every request equal to its
    limit), the last class the kubelet evicts under memory pressure and never throttled
    below its request. A request the stack leaves at its default follows the limit; one set
    below its limit needs the stack to say why, in webapp:dbBurstableReason."""
    guaranteed = dict(resources)
    valid = True
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
            valid = False
    return ContainerResources(**guaranteed) if valid else None  # type: ignore[typeddict-item]
