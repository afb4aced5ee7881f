"""The guards of a deployed stack's engine: no switch from the statefulset engine without
its confirmation (the old server and its volume go), and no major upgrade whose new
server would archive into the old one's archive."""

from __future__ import annotations

import re
from dataclasses import replace

import pulumi

from ..history import last_update
from ..reader import PROJECT, ConfigError
from .engine import MAJOR_UPGRADE, SWITCH_CONFIRMATION, EngineSettings

# The major version in an operand image's tag: postgresql:17.6-minimal-bookworm, :18@sha256:...
_IMAGE_MAJOR = re.compile(r":(\d+)(?:\.\d+)*(?:-[^@/]*)?(?:@sha256:[0-9a-f]{64})?$")


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
        confirmed = engine.major_upgrade == f"{before}-to-{wanted}"
        # The last update's image is the one it asked for: an upgrade that failed after
        # `up` returned left the data on the old major, and going back is the way out.
        if wanted < before and not confirmed:
            raise ConfigError(
                f"{PROJECT}:cnpgImage is '{image}', but the database runs PostgreSQL {before} "
                "and CloudNativePG cannot downgrade a major version, so the change is not "
                f"applied; fix it with: pulumi config set --stack {stack} {PROJECT}:cnpgImage "
                f"{image_before} (or, if the upgrade to {before} failed and the data is still "
                f"PostgreSQL {wanted}: pulumi config set --stack {stack} "
                f"{PROJECT}:cnpgMajorUpgrade {before}-to-{wanted})"
            )
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
    upgrade = MAJOR_UPGRADE.match(confirmation)
    if upgrade is None or int(upgrade.group(2)) != before or wanted != before:
        return
    pulumi.log.warn(
        f"{PROJECT}:cnpgMajorUpgrade is still '{confirmation}', but the database runs "
        f"PostgreSQL {before} already, so the upgrade it confirmed is done and the key "
        f"confirms nothing now; remove it with: pulumi config rm --stack {stack} "
        f"{PROJECT}:cnpgMajorUpgrade"
    )
