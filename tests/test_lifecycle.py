"""What the engine does with the program over a stack's life, beyond one update: a
password rotation, a refused `pulumi destroy` of a protected stack. The decisions a mock
run cannot make (replacements, the order of deletions) come from tests/engine_model.py,
which follows the engine's and the provider's sources; tests/e2e checks the same
outcomes against the real CLI and an API server."""

from __future__ import annotations

import json

import pytest

from stack_settings import ConfigError
from tests.conftest import program_run, statefulset_program_run
from tests.engine_model import deletes_first, destroy, replaces
from tests.harness import Mocks, ProgramRun, RecordingMonitor, Registration, run_main

SECRET = "kubernetes:core/v1:Secret"
CLUSTER_TYPE = "kubernetes:postgresql.cnpg.io/v1:Cluster"
WEB = "webapp:index:WebService"
VARIANTS = ("dev", "prod", "prod-statefulset")
ACCESS_KEYS = {
    "webapp:backupS3AccessKeyId": "AKIAEXAMPLEKEYID0001",
    "webapp:backupS3SecretAccessKey": "wJalrXUtnFEMIexampleSecretAccessKey0001",
}
# prod's backups with access keys in the stack file instead of a Secret of the user's.
WITH_KEYS = {"webapp:backupS3CredentialsSecret": ""}


def _variant(variant: str) -> ProgramRun:
    return program_run(variant) if variant in ("dev", "prod") else statefulset_program_run(variant)


def _rotated(variant: str) -> ProgramRun:
    stack = variant.removesuffix("-statefulset")
    overrides = {"webapp:dbEngine": "statefulset"} if variant.endswith("-statefulset") else {}
    return run_main(
        stack, overrides, monitor=RecordingMonitor(Mocks(password_generation="rotated"))
    )


def _changes(old: ProgramRun, new: ProgramRun) -> list[tuple[str, bool, bool]]:
    """(URN, replaced, deleted first) of every object whose inputs differ."""
    before = old.by_urn()
    return [
        (
            record.urn,
            replaces(before[record.urn], record),
            deletes_first(before[record.urn], record),
        )
        for record in new.registrations
        if record.urn in before and record.custom and before[record.urn].inputs != record.inputs
    ]


def _name(record: object) -> str:
    return record.manifest()["metadata"]["name"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_password_rotation_deletes_no_object_before_its_replacement(variant: str) -> None:
    """`pulumi up --replace <a RandomPassword's URN>` (docs/operations.md): every Secret
    that carries a password is replaced, the provider treating Secrets as immutable; with
    a fixed name the old one would be deleted first and its readers find it missing."""
    old, new = _variant(variant), _rotated(variant)
    changes = _changes(old, new)
    assert changes, "the rotation changes nothing"
    assert [urn for urn, _, first in changes if first] == []
    carriers = {
        record.urn
        for record in old.of_type(SECRET)
        if record.inputs != new.by_urn()[record.urn].inputs
    }
    assert carriers, "no Secret carries a password"
    for urn in carriers:
        # Names follow the data: the new Secret is created beside the old one.
        assert _name(old.by_urn()[urn]) != _name(new.by_urn()[urn]), urn


def test_the_cluster_follows_its_rotated_secret_in_place() -> None:
    old, new = program_run("prod"), _rotated("prod")
    secret = new.one(SECRET, "webapp-db-app-secret")
    cluster = new.one(CLUSTER_TYPE, "webapp-db-cluster")
    managed = cluster.manifest()["spec"]["managed"]["roles"][0]["passwordSecret"]
    assert managed == {"name": _name(secret)}
    assert _name(secret) != _name(old.one(SECRET, "webapp-db-app-secret"))
    before = old.one(CLUSTER_TYPE, "webapp-db-cluster")
    assert not replaces(before, cluster), "the Cluster is updated, not replaced"


def test_new_object_storage_keys_delete_no_secret_first() -> None:
    old = run_main("prod", WITH_KEYS, secret_overrides=ACCESS_KEYS)
    new_keys = {key: value.replace("0001", "0002") for key, value in ACCESS_KEYS.items()}
    new = run_main("prod", WITH_KEYS, secret_overrides=new_keys)
    changes = _changes(old, new)
    assert any(
        urn.endswith("::webapp-db-objectstore-s3") for urn, replaced, _ in changes if replaced
    )
    assert [urn for urn, _, first in changes if first] == []


@pytest.mark.parametrize("variant", ["prod", "prod-statefulset"])
def test_a_refused_destroy_deletes_nothing_of_the_database(variant: str) -> None:
    """The engine deletes in reverse dependency order and goes on past a refused deletion,
    keeping only what the refused object depends on."""
    run_ = _variant(variant)
    by_urn = run_.by_urn()
    outcome = destroy(run_)
    assert [by_urn[urn].name for urn in outcome.refused] == ["webapp-db-deletion-guard"]
    # Only the app goes: it is not the database, and nothing of the database needs it.
    web = run_.one(WEB, "webapp").urn
    for urn in outcome.deleted:
        record = by_urn[urn]
        assert urn == web or record.parent == web, record.name
    kept = {by_urn[urn].name for urn in outcome.kept}
    guards = {
        "webapp-namespace",
        "webapp-quota",
        "webapp-limits",
        "webapp-default-deny",
        "webapp-allow-dns",
        "webapp-dashboard",
    }
    assert guards <= kept
    database = run_.one("webapp:index:PostgresDatabase", "webapp-db").urn
    assert {r.name for r in run_.registrations if r.parent == database} <= kept


def test_every_object_of_the_database_is_kept_by_name(prod_run: ProgramRun) -> None:
    """What the issue saw go: the database's and the namespace's network policies, the
    scheduled backup, the pod monitor, the alert rules and the quota."""
    kept = destroy(prod_run).kept
    kinds = {prod_run.by_urn()[urn].type.rsplit(":", 1)[-1] for urn in kept}
    for kind in (
        "NetworkPolicy",
        "ScheduledBackup",
        "ObjectStore",
        "PodMonitor",
        "PrometheusRule",
        "ResourceQuota",
        "LimitRange",
        "Secret",
        "Cluster",
        "Namespace",
    ):
        assert kind in kinds, kind


def test_dev_destroys_everything(dev_run: ProgramRun) -> None:
    outcome = destroy(dev_run)
    assert outcome.refused == [] and outcome.kept == []
    (guard,) = [r for r in dev_run.registrations if r.name.endswith("deletion-guard")]
    assert not guard.protect


@pytest.mark.parametrize("variant", ["prod", "prod-statefulset"])
def test_the_unprotect_path_deletes_the_rest(variant: str) -> None:
    """docs/operations.md, Teardown: `pulumi state unprotect --all`, then `pulumi destroy`
    deletes every object through Pulumi; the retained ones stay in the cluster."""
    run_ = _variant(variant)
    for record in run_.registrations:
        assert record.protect <= record.retain_on_delete or record.name.endswith(
            "deletion-guard"
        ), record.name
    unprotected = ProgramRun(
        stack=run_.stack,
        config=run_.config,
        registrations=[
            type(record)(**{**record.__dict__, "protect": False}) for record in run_.registrations
        ],
        component_outputs=run_.component_outputs,
        outputs=run_.outputs,
        logs=run_.logs,
        config_keys_read=run_.config_keys_read,
    )
    outcome = destroy(unprotected)
    assert outcome.refused == [] and outcome.kept == []


# --- storage size ------------------------------------------------------------------------


def _after(stack: str, previous: dict[str, str], overrides: dict[str, str]) -> ProgramRun:
    return run_main(stack, overrides, monitor=RecordingMonitor(Mocks(stack_outputs=previous)))


@pytest.mark.parametrize(
    ("stack", "engine"),
    [("dev", "statefulset"), ("prod", "cloudnative-pg"), ("prod", "statefulset")],
)
def test_the_volume_size_is_exported_as_the_cluster_has_it(stack: str, engine: str) -> None:
    run_ = run_main(stack, {"webapp:dbEngine": engine, "webapp:storageSize": "7Gi"})
    assert run_.outputs["databaseStorageSize"].value == "7Gi"


@pytest.mark.parametrize(("stack", "engine"), [("dev", "statefulset"), ("prod", "cloudnative-pg")])
def test_a_smaller_volume_is_refused_before_anything_changes(stack: str, engine: str) -> None:
    """Kubernetes refuses a smaller claim (and CloudNativePG a smaller Cluster) only when
    `up` applies it; the program refuses it from the last update's size, so `pulumi
    preview` already stops, with or without a cluster."""
    with pytest.raises(ConfigError) as raised:
        _after(
            stack,
            {"databaseStorageSize": "20Gi", "databaseEngine": engine},
            {"webapp:dbEngine": engine, "webapp:storageSize": "10240Mi"},
        )
    assert str(raised.value) == (
        "webapp:storageSize is '10240Mi', but the database volume is 20Gi and a volume can "
        "grow but never shrink, so the change is not applied; fix it with: pulumi config set "
        f"--stack {stack} webapp:storageSize 20Gi (for a smaller volume, move the data: "
        "docs/operations.md, Storage size)"
    )


@pytest.mark.parametrize(
    ("previous", "wanted"),
    [
        ({}, "5Gi"),  # a first update
        ({"databaseStorageSize": "20Gi"}, "20480Mi"),  # the same size, written otherwise
        ({"databaseStorageSize": "20Gi"}, "30Gi"),  # growth is applied in place
        ({"databaseStorageSize": "not a size"}, "5Gi"),
    ],
)
def test_the_same_or_a_larger_volume_passes(previous: dict[str, str], wanted: str) -> None:
    run_ = _after("prod", previous, {"webapp:storageSize": wanted})
    assert run_.outputs["databaseStorageSize"].value == wanted


# --- taking retained data back under a stack --------------------------------------------

FORCE = "pulumi.com/patchForce"


def _annotations(record: object) -> dict[str, str]:
    return record.manifest().get("metadata", {}).get("annotations") or {}  # type: ignore[attr-defined]


def _content(run_: ProgramRun, record: Registration) -> str:
    """The object without its annotations, auto-names written as logical names (a mock
    derives them from the whole object, annotations included)."""
    manifest = {**record.manifest()}
    manifest["metadata"] = {k: v for k, v in manifest["metadata"].items() if k != "annotations"}
    text = json.dumps(manifest, sort_keys=True)
    for other in run_.kubernetes():
        if not (other.inputs.get("metadata") or {}).get("name"):
            text = text.replace(other.manifest()["metadata"]["name"], f"<{other.name}>")
    return text


@pytest.mark.parametrize("variant", ["prod", "prod-statefulset"])
def test_adopting_forces_every_object_and_changes_nothing_else(variant: str) -> None:
    """A new stack over objects that exist (the retained namespace and database after a
    teardown, or every object when the state was lost) applies them under a new field
    manager: the provider fails on each field the old one set otherwise (a new password)
    unless the object is annotated pulumi.com/patchForce (await.go `patchForce`)."""
    stack = variant.removesuffix("-statefulset")
    engine = {"webapp:dbEngine": "statefulset"} if variant.endswith("-statefulset") else {}
    usual = _variant(variant)
    adopting = run_main(stack, {**engine, "webapp:adoptExisting": "true"})
    assert sorted(r.urn for r in adopting.registrations) == sorted(
        r.urn for r in usual.registrations
    )
    before = usual.by_urn()
    for record in adopting.kubernetes():
        assert _annotations(record) == {**_annotations(before[record.urn]), FORCE: "true"}
        assert _content(adopting, record) == _content(usual, before[record.urn]), record.name
    assert any("webapp:adoptExisting is on" in line for line in adopting.logs)
    assert not any(FORCE in _annotations(record) for record in usual.kubernetes())
    assert not any("adoptExisting" in line for line in usual.logs)


def test_a_bad_adopt_value_stops_the_program_with_one_sentence() -> None:
    with pytest.raises(ConfigError) as raised:
        run_main("dev", {"webapp:adoptExisting": "yes"})
    assert str(raised.value) == (
        "webapp:adoptExisting is 'yes', but it must be true or false; fix it with: pulumi "
        "config set --stack dev webapp:adoptExisting true"
    )


@pytest.mark.parametrize("variant", ["prod", "prod-statefulset"])
def test_turning_protection_off_is_an_update_the_engine_accepts(variant: str) -> None:
    """docs/engines.md (point-in-time recovery, the move to cloudnative-pg) and
    docs/operations.md (the storage class) turn webapp:protectData off with `pulumi up`.
    The engine fails an update that drops an object its state records as protected (a
    delete step checks the old state's flag), so every protected object stays in the
    program with its flag off."""
    protected = _variant(variant)
    overrides = {"webapp:protectData": "false"}
    if variant.endswith("-statefulset"):
        overrides["webapp:dbEngine"] = "statefulset"
    unprotected = run_main("prod", overrides)
    kept = {record.urn for record in unprotected.registrations}
    assert [r.name for r in protected.registrations if r.protect and r.urn not in kept] == []
    assert [r.name for r in unprotected.registrations if r.protect] == []
    assert any(record.protect for record in protected.registrations)
    # Only the flags change: nothing protected is replaced on the way (the guard's data is
    # the same either way; a ConfigMap whose data changes is replaced).
    after = unprotected.by_urn()
    replaced = [r.name for r in protected.registrations if r.protect and replaces(r, after[r.urn])]
    assert replaced == []


def test_the_guard_keeps_the_text_protected_stacks_have_deployed() -> None:
    """The guard's data as prod stacks have deployed it since the guard came (905447f): a
    new text would replace it, which the engine refuses while it is protected, and every
    protected stack's next update would stop there."""
    deployed = (
        "The Pulumi stack protects this database: pulumi destroy stops at this object and "
        "keeps the database and everything guarding it. To delete on purpose: "
        "docs/operations.md, Teardown."
    )
    for variant in ("prod", "prod-statefulset", "dev"):
        (guard,) = [r for r in _variant(variant).registrations if r.name.endswith("-guard")]
        assert guard.inputs["data"] == {"why": deployed}, variant
