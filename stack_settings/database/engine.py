"""Which database engine runs PostgreSQL, and the CloudNativePG engine's own settings; and
the guard that keeps a stack with data from switching engines by accident."""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass, replace
from decimal import Decimal

import pulumi

from components import CloudNativePg, ContainerResources
from components._shared.quantity import parse_quantity
from components.database.engine import ENGINES

from ..history import last_update
from ..reader import PROJECT, BadValueError, ConfigError, Reader, fails, present
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

SWITCH_CONFIRMATION = "statefulset-to-cloudnative-pg"
_ARCHIVE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_TARGET_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
_MAJOR_UPGRADE = re.compile(r"^(\d{1,3})-to-(\d{1,3})$")
# The major version in an operand image's tag: postgresql:17.6-minimal-bookworm, :18@sha256:...
_IMAGE_MAJOR = re.compile(r":(\d+)(?:\.\d+)*(?:-[^@/]*)?(?:@sha256:[0-9a-f]{64})?$")
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
    api_server = _read_api_server_cidrs(reader)
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
        lambda raw: raw if raw == "" or _MAJOR_UPGRADE.match(raw) else fails(raw),
        "it must be empty or <old major>-to-<new major> such as 17-to-18, which confirms that "
        "a major upgrade keeps the archive because the data moves another way "
        "(docs/operations.md, Major upgrades)",
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


def _host_route(part: str) -> str:
    """An address written with a network's prefix (10.0.0.10/24) as the address alone."""
    address = ipaddress.ip_interface(part).ip
    return f"{address}/{address.max_prefixlen}"


def _cidr_list(raw: str) -> tuple[str, ...]:
    """Comma-separated CIDRs; a bare address is a /32 (or /128). An address with host
    bits set under its prefix is refused, not widened to its network: the API server's
    address with its subnet's mask would open the API ports to the whole subnet."""
    cidrs = []
    parts = [piece.strip() for piece in raw.split(",")]
    for part in (part for part in parts if part):
        try:
            cidrs.append(str(ipaddress.ip_network(part)))
        except ValueError:
            network = ipaddress.ip_network(part, strict=False)  # not a CIDR at all: raises
            fixed = ",".join(_host_route(p) if p == part else p for p in parts if p)
            raise BadValueError(
                f"{part} has host bits set, so it is no network: it must be the address "
                f"alone as {_host_route(part)}, or its network as {network}, and the value "
                "comma-separated CIDRs such as 10.0.0.10/32,10.0.0.11/32",
                fixed,
            ) from None
    return tuple(cidrs)


def _any_address(cidrs: tuple[str, ...]) -> bool:
    return any(ipaddress.ip_network(cidr).prefixlen == 0 for cidr in cidrs)


# An address as `kubectl get endpoints` lists it, with the port: 10.0.0.10:6443, [fd00::1]:6443.
_WITH_PORT = re.compile(r"^(?:(\d{1,3}(?:\.\d{1,3}){3})|\[([0-9A-Fa-f:.]+)\]):\d{1,5}$")


def _suggest_cidr_list(raw: str) -> str | None:
    """The same addresses written as the key takes them (commas, no ports), when every
    part is an address once its separator or port is fixed."""
    fixed = []
    for part in (part for part in re.split(r"[,;\s]+", raw) if part):
        with_port = _WITH_PORT.match(part)
        address = (with_port.group(1) or with_port.group(2)) if with_port else part
        try:
            fixed.append(str(ipaddress.ip_network(address)))
        except ValueError:
            try:
                fixed.append(_host_route(address))
            except ValueError:
                return None
    return ",".join(fixed) or None


def _read_api_server_cidrs(reader: Reader) -> tuple[str, ...] | None:
    """webapp:apiServerCidrs. A bad value's fix is never the empty value, which opens the
    API ports to any address: it is the same addresses written right, or the command that
    reads the API server's addresses from the cluster (the `kubernetes` Service's
    endpoints, which is what the instances' traffic reaches after translation)."""
    key = "apiServerCidrs"
    raw = reader.raw(key) or ""
    context = reader.raw("kubeContext") or ""
    kubectl = "kubectl" + (f" --context {shlex.quote(context)}" if context else "")
    from_cluster = (
        f'pulumi config set --stack {reader.stack} {PROJECT}:{key} "$({kubectl} get '
        "endpointslice -n default -l kubernetes.io/service-name=kubernetes -o "
        "jsonpath='{range .items[*].endpoints[*]}{.addresses[0]},{end}')\""
    )
    try:
        cidrs = _cidr_list(raw)
    except BadValueError as problem:
        reader.fail(key, raw, str(problem.allowed), problem.suggestion)
        return None
    except ValueError:
        pass
    else:
        if not _any_address(cidrs):
            return cidrs
        # Refused, not warned of: the listed addresses are also admitted to the instances'
        # status port, so any address is wider than the empty value, which already gives
        # any address on the API ports (and only those).
        reader.fail(
            key,
            raw,
            "that is any address: the database pods could reach every host on the API "
            "ports 443 and 6443, and every host their status port 8000; it must be the API "
            "server's addresses (empty is any address on the API ports only)",
            fix=from_cluster,
        )
        return None
    allowed = (
        "it must be the API server's addresses as comma-separated CIDRs such as "
        "10.0.0.10/32,10.0.0.11/32 (a bare address is a /32), or empty for any address on "
        "the API ports (docs/networking.md: API server egress)"
    )
    suggestion = _suggest_cidr_list(raw)
    if suggestion:
        reader.fail(key, raw, allowed, suggestion)
        return None
    reader.fail(key, raw, allowed, fix=from_cluster)
    return None


def _quarter(limit: Decimal) -> str:
    mebibytes = int((limit / 4 / 2**20).to_integral_value(rounding="ROUND_CEILING"))
    return f"{mebibytes}Mi"


def refuse_engine_switch(stack: str, engine: EngineSettings) -> pulumi.Output[str]:
    """The engine, failing the update when a stack whose last update ran the statefulset
    engine asks for cloudnative-pg without the confirmation: the old server and its volume
    would be deleted at the end of the update. The last update's engine is read from the
    stack's own outputs; the check fails the program before any deletion happens (deletions
    come after the program completes), and the new Cluster, which has names of its own,
    does no harm beside the old server."""
    if engine.name != "cloudnative-pg" or engine.switch_confirmed:
        return pulumi.Output.from_input(engine.name)
    own = last_update(stack)

    def check(previous: object) -> str:
        if previous == "statefulset":
            raise ConfigError(
                f"{PROJECT}:dbEngine is 'cloudnative-pg', but this stack's database runs on "
                "the statefulset engine, and switching would delete that server and its "
                "volume: move the data first (docs/engines.md: Moving a stack to cloudnative-pg), "
                "then "
                f"confirm; fix it with: pulumi config set --stack {stack} "
                f"{PROJECT}:dbEngineSwitch {SWITCH_CONFIRMATION}"
            )
        return engine.name

    return own.get_output("databaseEngine").apply(check)


def image_major(image: str) -> int | None:
    """PostgreSQL's major version from a CloudNativePG operand image's tag; None for an image
    pinned by digest alone, whose version no name says."""
    match = _IMAGE_MAJOR.search(image)
    return int(match.group(1)) if match else None


def refuse_major_upgrade_into_the_same_archive(
    stack: str, engine: EngineSettings
) -> EngineSettings:
    """The engine with its operand image handed through a check that fails the program when
    the image changes PostgreSQL's major version and the archive keeps its name:
    CloudNativePG then upgrades the data in place (offline, with pg_upgrade), and its
    documentation says to give the archive a new serverName with it, or WAL and backups of
    two versions mix in one folder and a recovery from it fails. A downgrade, which
    CloudNativePG refuses, is refused here already. The last update's engine, image and
    archive come from the stack's own outputs, which are known only as outputs; so the
    Cluster's imageName is this check's output, and a refused change never registers the
    Cluster (a check beside it would come too late under `pulumi up --skip-preview`, where
    the Cluster can reach the operator with the new image before the program fails)."""
    if engine.cloudnative_pg is None:
        return engine
    image = str(engine.cloudnative_pg["image"])
    wanted, archive = image_major(image), engine.archive
    own = last_update(stack)

    def check(previous: list[object]) -> str:
        engine_before, image_before, archive_before = (str(v or "") for v in previous)
        before = image_major(image_before)
        if engine_before != "cloudnative-pg" or before is None or wanted is None:
            return image
        _warn_of_a_done_confirmation(stack, engine.major_upgrade, before, wanted)
        if wanted < before:
            raise ConfigError(
                f"{PROJECT}:cnpgImage is '{image}', but the database runs PostgreSQL {before} "
                "and CloudNativePG cannot downgrade a major version, so the change is not "
                f"applied; fix it with: pulumi config set --stack {stack} {PROJECT}:cnpgImage "
                f"{image_before}"
            )
        confirmed = engine.major_upgrade == f"{before}-to-{wanted}"
        if wanted > before and archive == archive_before and not confirmed:
            raise ConfigError(
                f"{PROJECT}:cnpgImage is '{image}', but the database runs PostgreSQL {before}, "
                f"and an upgrade in place to {wanted} must write a new archive (WAL of both "
                f"versions must not mix in '{archive}'), so the change is not applied; fix it "
                f"with: pulumi config set --stack {stack} {PROJECT}:dbArchiveName "
                f"{archive_before}-pg{wanted} (docs/operations.md, Major upgrades)"
            )
        return image

    checked = pulumi.Output.all(
        own.get_output("databaseEngine"),
        own.get_output("databaseImage"),
        own.get_output("databaseArchive"),
    ).apply(check)
    return replace(engine, cloudnative_pg={**engine.cloudnative_pg, "image": checked})


def _warn_of_a_done_confirmation(stack: str, confirmation: str, before: int, wanted: int) -> None:
    """webapp:cnpgMajorUpgrade names one upgrade; once the database runs its new version
    and the image keeps it there, the key confirms nothing, and left set it reads as if
    an upgrade were still under way. Said on every preview until it goes; no resource
    changes with it."""
    upgrade = _MAJOR_UPGRADE.match(confirmation)
    if upgrade is None or int(upgrade.group(2)) != before or wanted != before:
        return
    pulumi.log.warn(
        f"{PROJECT}:cnpgMajorUpgrade is still '{confirmation}', but the database runs "
        f"PostgreSQL {before} already, so the upgrade it confirmed is done and the key "
        f"confirms nothing now; remove it with: pulumi config rm --stack {stack} "
        f"{PROJECT}:cnpgMajorUpgrade"
    )


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
