"""Every Kubernetes object of every stack, checked as the API server would: against the
OpenAPI schema of the oldest and newest Kubernetes versions we support, strictly, so a
misspelled or misplaced field fails here instead of in `pulumi up`."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest

from tests.conftest import program_run, statefulset_program_run
from tests.crd_kinds import load_kinds, vendored_crd_files
from tests.crd_schema import load_crds
from tests.harness import ProgramRun

# Keep in step with the README ("Supported Kubernetes versions").
OLDEST_SUPPORTED = "1.31"
NEWEST_SUPPORTED = "1.37"

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
# Kinds whose names the API server checks as DNS labels rather than subdomains.
LABEL_NAMED_KINDS = {"Namespace", "Service", "StatefulSet", "Deployment"}


# Custom resources (the Prometheus operator's) against their upstream CRDs, vendored in
# tests/crds/: the API server validates them against the CRD's schema, not the OpenAPI.
CUSTOM_RESOURCE_KINDS = load_kinds(vendored_crd_files())
# The engine's CRDs, checked with their CEL rules written out (tests/crd_schema.py):
# CloudNativePG's Cluster and ScheduledBackup, the Barman Cloud plugin's ObjectStore,
# and the PodMonitor.
VENDORED_CRDS = load_crds()


def schema_failures(manifest: dict, version: str) -> list[str]:
    vendored = VENDORED_CRDS.get((manifest["apiVersion"], manifest["kind"]))
    if vendored is not None:
        return vendored.errors(manifest)
    custom = CUSTOM_RESOURCE_KINDS.get((manifest["apiVersion"], manifest["kind"]))
    if custom is not None:
        return custom.validate(manifest, version)
    try:
        kubernetes_validate.validate(manifest, f"{version}.0", strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{'.'.join(map(str, error.path))}: {error.message}"]
    except (FileNotFoundError, kubernetes_validate.SchemaNotFoundError):
        return [f"no schema for {manifest['apiVersion']} {manifest['kind']} in {version}"]
    return []


def _variant(name: str) -> ProgramRun:
    return statefulset_program_run(name) if name.endswith("-statefulset") else program_run(name)


@pytest.mark.parametrize("variant", ["dev", "prod", "prod-statefulset"])
@pytest.mark.parametrize("version", [OLDEST_SUPPORTED, NEWEST_SUPPORTED])
def test_objects_match_the_strict_schema(variant: str, version: str) -> None:
    """Prod with the statefulset engine too: its ServiceMonitor and exporter."""
    stack_run = _variant(variant)
    objects = stack_run.kubernetes()
    assert objects, "the program declared no Kubernetes objects"
    failures = [
        f"{record.type} {record.name}: {failure}"
        for record in objects
        for failure in schema_failures(record.manifest(), version)
    ]
    assert failures == []


def test_custom_resource_schema_rejects_an_unknown_field() -> None:
    run = statefulset_program_run("prod-statefulset")
    (monitor,) = run.of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
    manifest = monitor.manifest()
    assert schema_failures(manifest, NEWEST_SUPPORTED) == []
    broken = {**manifest, "spec": {**manifest["spec"], "endpoint": []}}
    assert schema_failures(broken, NEWEST_SUPPORTED)


CNPG_KINDS = {
    "kubernetes:postgresql.cnpg.io/v1:Cluster",
    "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup",
    "kubernetes:barmancloud.cnpg.io/v1:ObjectStore",
    "kubernetes:monitoring.coreos.com/v1:PodMonitor",
}


def test_prod_custom_resources_are_checked_against_their_crds(prod_run: ProgramRun) -> None:
    """Each CNPG and monitoring object of prod is validated by its vendored CRD (not
    skipped), and a misplaced field in any of them fails."""
    records = [r for r in prod_run.kubernetes() if r.type in CNPG_KINDS]
    assert {r.type for r in records} == CNPG_KINDS
    for record in records:
        manifest = record.manifest()
        key = (manifest["apiVersion"], manifest["kind"])
        assert key in VENDORED_CRDS, key
        assert schema_failures(manifest, NEWEST_SUPPORTED) == [], record.name
        broken = {**manifest, "spec": {**manifest["spec"], "instancez": 3}}
        assert schema_failures(broken, NEWEST_SUPPORTED), record.name


def test_strict_schema_rejects_an_unknown_field(dev_run: ProgramRun) -> None:
    """The check above can fail: a misplaced field is caught."""
    deployment = dev_run.one("kubernetes:apps/v1:Deployment", "webapp-deployment").manifest()
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, f"{NEWEST_SUPPORTED}.0", strict=True)


def test_names_and_labels_are_valid(stack_run: ProgramRun) -> None:
    """Name and label syntax is not in the OpenAPI schema; the API server checks it."""
    for record in stack_run.kubernetes():
        manifest = record.manifest()
        metadata = manifest["metadata"]
        name = metadata["name"]
        pattern = DNS_LABEL if manifest["kind"] in LABEL_NAMED_KINDS else DNS_SUBDOMAIN
        limit = 63 if manifest["kind"] in LABEL_NAMED_KINDS else 253
        assert pattern.match(name) and len(name) <= limit, f"{manifest['kind']} name {name!r}"
        if manifest["kind"] == "StatefulSet":
            # Pods get a `controller-revision-hash` label of `<name>-<10 chars>`.
            assert len(name) <= 52, name
        labels = dict(metadata.get("labels") or {})
        template = (manifest.get("spec") or {}).get("template") or {}
        labels |= (template.get("metadata") or {}).get("labels") or {}
        for key, value in labels.items():
            prefix, _, short = key.rpartition("/")
            assert LABEL_NAME.match(short) and len(short) <= 63, key
            assert not prefix or (DNS_SUBDOMAIN.match(prefix) and len(prefix) <= 253), key
            assert LABEL_VALUE.match(value) and len(value) <= 63, f"{key}={value!r}"


def test_workload_selectors_match_their_pod_templates(stack_run: ProgramRun) -> None:
    """The API server rejects a workload whose selector does not match its template."""
    for record in stack_run.kubernetes():
        manifest = record.manifest()
        if manifest["kind"] not in ("Deployment", "StatefulSet"):
            continue
        selector = manifest["spec"]["selector"]["matchLabels"]
        labels = manifest["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), record.name


def test_service_selectors_match_pods(stack_run: ProgramRun) -> None:
    """A Service whose selector matches no pod never gets endpoints, and `pulumi up`
    waits on it until it times out."""
    pod_labels = [
        manifest["spec"]["template"]["metadata"]["labels"]
        for manifest in (r.manifest() for r in stack_run.kubernetes())
        if manifest["kind"] in ("Deployment", "StatefulSet")
    ]
    for record in stack_run.of_type("kubernetes:core/v1:Service"):
        selector = record.manifest()["spec"]["selector"]
        assert any(selector.items() <= labels.items() for labels in pod_labels), record.name
