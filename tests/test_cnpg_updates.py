"""Updates of the CloudNativePG Cluster (issue 17, points 4 and 7): what `pulumi up` waits
for after an update, against the status CNPG 1.30 really writes, and the guard that keeps
a major upgrade from mixing two versions' WAL in one archive. Every stack here is the
tracked prod file with the settings a test names."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stack_settings import ConfigError
from stack_settings.database.engine_guards import image_major
from tests.harness import Mocks, ProgramRun, RecordingMonitor, run_main

CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
SCHEDULED_BACKUP = "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup"
IMAGE_17 = "ghcr.io/cloudnative-pg/postgresql:17.6-minimal-bookworm"
IMAGE_18 = "ghcr.io/cloudnative-pg/postgresql:18.1-minimal-trixie"
BASE = {
    "webapp:dbEngine": "cloudnative-pg",
    "webapp:backupBucket": "s3://team-backups/prod",
    "webapp:backupS3CredentialsSecret": "webapp-backup-s3",
    "webapp:dbArchiveName": "",
    "webapp:cnpgMajorUpgrade": "",
    "webapp:dbInstances": "3",
}


def _run(overrides: dict[str, str], previous: dict[str, str] | None = None) -> ProgramRun:
    return run_main(
        "prod",
        {**BASE, **overrides},
        monitor=RecordingMonitor(Mocks(stack_outputs=previous or {})),
    )


# --- 4. what `pulumi up` waits for -------------------------------------------------------


def _satisfied(expressions: list[str], cluster: dict[str, Any]) -> bool:
    """pulumi-kubernetes' waitFor (provider/pkg/await/condition: kubectl.go, jsonpath.go):
    every expression must hold on one observed object. A condition, and a jsonpath, is
    skipped as stale only when an observedGeneration (the condition's, else the status')
    is below metadata.generation; a jsonpath value compares as text."""
    generation = cluster["metadata"]["generation"]
    status = cluster.get("status", {})
    for expression in expressions:
        if expression.startswith("condition="):
            wanted = expression.removeprefix("condition=")
            found = [c for c in status.get("conditions", []) if c["type"] == wanted]
            if not found:
                return False
            observed = found[0].get("observedGeneration", status.get("observedGeneration"))
            if observed is not None and observed < generation:
                return False
            if found[0]["status"] != "True":
                return False
        else:
            path, _, value = expression.removeprefix("jsonpath=").partition("=")
            if status.get("observedGeneration", generation) < generation:
                return False
            node: Any = cluster
            for part in path.strip("{}.").split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if node is None or str(node) != value:
                return False
    return True


def _cnpg_status(ready_instances: int, healthy: bool) -> dict[str, Any]:
    """What CNPG 1.30 writes (api/v1/cluster_types.go, pkg/resources/status): no
    observedGeneration anywhere, Ready following the phase."""
    return {
        "phase": "Cluster in healthy state" if healthy else "Upgrading cluster",
        "readyInstances": ready_instances,
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if healthy else "False",
                "reason": "ClusterIsReady" if healthy else "ClusterIsNotReady",
            }
        ],
    }


def _wait_for(run: ProgramRun) -> list[str]:
    annotations = run.one(CLUSTER, "webapp-db-cluster").manifest()["metadata"]["annotations"]
    return json.loads(annotations["pulumi.com/waitFor"])


def test_a_change_of_instances_is_awaited_until_the_operator_has_made_it() -> None:
    wait_for = _wait_for(_run({"webapp:dbInstances": "4"}))
    # Right after the update: the operator has not reacted, Ready is the old True.
    stale = {"metadata": {"generation": 2}, "status": _cnpg_status(3, healthy=True)}
    assert not _satisfied(wait_for, stale)
    joining = {"metadata": {"generation": 2}, "status": _cnpg_status(3, healthy=False)}
    assert not _satisfied(wait_for, joining)
    done = {"metadata": {"generation": 2}, "status": _cnpg_status(4, healthy=True)}
    assert _satisfied(wait_for, done)


def test_a_new_cluster_is_awaited_until_it_is_ready() -> None:
    wait_for = _wait_for(_run({}))
    assert not _satisfied(wait_for, {"metadata": {"generation": 1}, "status": {}})
    creating = {"metadata": {"generation": 1}, "status": _cnpg_status(2, healthy=False)}
    assert not _satisfied(wait_for, creating)
    ready = {"metadata": {"generation": 1}, "status": _cnpg_status(3, healthy=True)}
    assert _satisfied(wait_for, ready)


def test_what_is_not_awaited_is_said_with_the_command_that_waits() -> None:
    """A change of resources leaves nothing in CNPG's status to tell old from new: the
    stale state satisfies the wait, and docs/operations.md says so."""
    wait_for = _wait_for(_run({"webapp:dbCpuLimit": "2", "webapp:dbCpuRequest": "2"}))
    stale = {"metadata": {"generation": 5}, "status": _cnpg_status(3, healthy=True)}
    assert _satisfied(wait_for, stale)
    from tests.harness import ROOT

    operations = (ROOT / "docs" / "operations.md").read_text()
    section = operations.split("## What `pulumi up` waits for", 1)[1].split("\n## ", 1)[0]
    for said in ("instances", "resources", "image", "kubectl cnpg status", "kubectl -n"):
        assert said in section, said


# --- 7. major upgrades write a new archive -----------------------------------------------

PREVIOUS_17 = {
    "databaseEngine": "cloudnative-pg",
    "databaseImage": IMAGE_17,
    "databaseArchive": "webapp-db",
}


def test_the_major_version_is_read_from_the_tag() -> None:
    assert image_major(IMAGE_17) == 17
    assert image_major("registry.local:5000/postgresql:18") == 18
    assert image_major(f"ghcr.io/cloudnative-pg/postgresql:16.4@sha256:{'a' * 64}") == 16
    assert image_major(f"ghcr.io/cloudnative-pg/postgresql@sha256:{'a' * 64}") is None


def test_a_major_upgrade_into_the_same_archive_is_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        _run({"webapp:cnpgImage": IMAGE_18}, PREVIOUS_17)
    assert str(raised.value) == (
        f"webapp:cnpgImage is '{IMAGE_18}', but the database runs PostgreSQL 17, and an "
        "upgrade in place to 18 must write a new archive (WAL of both versions must not mix "
        "in 'webapp-db'), so the change is not applied; fix it with: pulumi config set "
        "--stack prod webapp:dbArchiveName webapp-db-pg18 (docs/operations.md, Major upgrades)"
    )


def test_a_refused_major_upgrade_never_reaches_the_operator() -> None:
    """The refusal must come before the Cluster is registered: under `pulumi up
    --skip-preview` (or the Automation API's up()) a Cluster registered with the new image
    and the old serverName would start the upgrade into the old archive before the program
    fails. With the refusal, nothing registers the Cluster with the new image."""
    monitor = RecordingMonitor(Mocks(stack_outputs=PREVIOUS_17))
    with pytest.raises(ConfigError):
        run_main("prod", {**BASE, "webapp:cnpgImage": IMAGE_18}, monitor=monitor)
    assert not [r for r in monitor.registrations if r.type == CLUSTER]
    # The program got as far as the database: the Cluster was held back, not never reached.
    assert [r for r in monitor.registrations if r.name == "webapp-db-app-secret"]


def test_a_major_upgrade_with_a_new_archive_goes_ahead_there() -> None:
    run = _run(
        {"webapp:cnpgImage": IMAGE_18, "webapp:dbArchiveName": "webapp-db-pg18"}, PREVIOUS_17
    )
    spec = run.one(CLUSTER, "webapp-db-cluster").manifest()["spec"]
    assert spec["imageName"] == IMAGE_18
    (plugin,) = spec["plugins"]
    assert plugin["parameters"]["serverName"] == "webapp-db-pg18"
    # The new archive gets a base backup at once, so it can be recovered from.
    (backup,) = run.of_type(SCHEDULED_BACKUP)
    assert backup.manifest()["spec"]["immediate"] is True
    assert run.outputs["databaseArchive"].value == "webapp-db-pg18"
    assert run.outputs["databaseImage"].value == IMAGE_18


def test_a_confirmed_move_keeps_the_archive() -> None:
    run = _run({"webapp:cnpgImage": IMAGE_18, "webapp:cnpgMajorUpgrade": "17-to-18"}, PREVIOUS_17)
    assert run.outputs["databaseArchive"].value == "webapp-db"
    # A confirmation of another upgrade confirms nothing.
    with pytest.raises(ConfigError):
        _run({"webapp:cnpgImage": IMAGE_18, "webapp:cnpgMajorUpgrade": "16-to-17"}, PREVIOUS_17)


def test_a_minor_update_a_first_update_and_a_move_off_the_statefulset_engine_pass() -> None:
    minor = IMAGE_17.replace("17.6", "17.7")
    assert _run({"webapp:cnpgImage": minor}, PREVIOUS_17).outputs["databaseArchive"].value
    assert _run({"webapp:cnpgImage": IMAGE_18}).outputs["databaseImage"].value == IMAGE_18
    switched = {"databaseEngine": "statefulset", "databaseImage": "postgres:16.4-bookworm"}
    run = _run(
        {"webapp:cnpgImage": IMAGE_18, "webapp:dbEngineSwitch": "statefulset-to-cloudnative-pg"},
        switched,
    )
    assert run.outputs["databaseArchive"].value == "webapp-db"


def test_a_major_downgrade_is_refused_with_the_running_image() -> None:
    previous = {**PREVIOUS_17, "databaseImage": IMAGE_18}
    with pytest.raises(ConfigError) as raised:
        _run({"webapp:cnpgImage": IMAGE_17}, previous)
    assert str(raised.value) == (
        f"webapp:cnpgImage is '{IMAGE_17}', but the database runs PostgreSQL 18 and "
        "CloudNativePG cannot downgrade a major version, so the change is not applied; fix it "
        f"with: pulumi config set --stack prod webapp:cnpgImage {IMAGE_18} (or, if the upgrade "
        "to 18 failed and the data is still PostgreSQL 17: pulumi config set --stack prod "
        "webapp:cnpgMajorUpgrade 18-to-17)"
    )


def test_the_way_back_from_a_failed_upgrade_is_confirmed_and_then_said_to_be_done() -> None:
    # `up` returned with the Cluster on 18 and the operator's pg_upgrade failed after it:
    # the stack's outputs say 18, the data is still 17.
    failed = {**PREVIOUS_17, "databaseImage": IMAGE_18, "databaseArchive": "webapp-db-pg18"}
    back = {"webapp:cnpgImage": IMAGE_17, "webapp:dbArchiveName": "webapp-db"}
    run = _run({**back, "webapp:cnpgMajorUpgrade": "18-to-17"}, failed)
    cluster = run.one(CLUSTER, "webapp-db-cluster").manifest()
    assert cluster["spec"]["imageName"] == IMAGE_17
    assert run.outputs["databaseArchive"].value == "webapp-db"
    # Once back on 17, the confirmation confirms nothing and is said to be left set.
    after = _run({**back, "webapp:cnpgMajorUpgrade": "18-to-17"}, PREVIOUS_17)
    assert [log for log in after.logs if "webapp:cnpgMajorUpgrade" in log] == [
        "webapp:cnpgMajorUpgrade is still '18-to-17', but the database runs PostgreSQL 17 "
        "already, so the upgrade it confirmed is done and the key confirms nothing now; "
        "remove it with: pulumi config rm --stack prod webapp:cnpgMajorUpgrade"
    ]


def test_a_bad_confirmation_is_one_sentence() -> None:
    with pytest.raises(ConfigError) as raised:
        _run({"webapp:cnpgMajorUpgrade": "yes"})
    assert str(raised.value) == (
        "webapp:cnpgMajorUpgrade is 'yes', but it must be empty or <old major>-to-<new major> "
        "such as 17-to-18, which confirms that a major upgrade keeps the archive because the "
        "data moves another way, or such as 18-to-17, the way back from an upgrade that failed "
        "(docs/operations.md, Major upgrades); fix it with: pulumi config set --stack prod "
        "webapp:cnpgMajorUpgrade 17-to-18"
    )


PREVIOUS_18 = {**PREVIOUS_17, "databaseImage": IMAGE_18}
LEFT_SET = (
    "webapp:cnpgMajorUpgrade is still '17-to-18', but the database runs PostgreSQL 18 "
    "already, so the upgrade it confirmed is done and the key confirms nothing now; remove "
    "it with: pulumi config rm --stack prod webapp:cnpgMajorUpgrade"
)


def _left_set(run: ProgramRun) -> list[str]:
    return [log for log in run.logs if "webapp:cnpgMajorUpgrade" in log]


def test_a_confirmation_left_set_after_its_upgrade_is_said_and_changes_nothing() -> None:
    left = _run({"webapp:cnpgImage": IMAGE_18, "webapp:cnpgMajorUpgrade": "17-to-18"}, PREVIOUS_18)
    assert _left_set(left) == [LEFT_SET]
    removed = _run({"webapp:cnpgImage": IMAGE_18}, PREVIOUS_18)
    assert _left_set(removed) == []
    assert {r.urn: r.inputs for r in left.registrations} == {
        r.urn: r.inputs for r in removed.registrations
    }
    assert left.outputs == removed.outputs


def test_a_confirmation_is_not_warned_of_while_it_confirms_its_upgrade() -> None:
    upgrading = _run(
        {"webapp:cnpgImage": IMAGE_18, "webapp:cnpgMajorUpgrade": "17-to-18"}, PREVIOUS_17
    )
    assert _left_set(upgrading) == []
    # Set ahead of the image change, on a first update, or for a version not reached yet.
    assert _left_set(_run({"webapp:cnpgMajorUpgrade": "17-to-18"}, PREVIOUS_17)) == []
    assert _left_set(_run({"webapp:cnpgMajorUpgrade": "17-to-18"})) == []
