"""The strict CRD validator itself: it must reject what the API server would silently
prune, and accept what the API server accepts."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from tests.crd_schema import (
    CEL_RULES,
    CRDS,
    YAML_LOADER,
    CustomResourceSchema,
    load_crd,
    load_crds,
)

CLUSTER_CRD = CRDS / "cloudnative-pg-1.30.0" / "postgresql.cnpg.io_clusters.yaml"
STORE_CRD = CRDS / "plugin-barman-cloud-0.14.0" / "barmancloud.cnpg.io_objectstores.yaml"

CLUSTER = {
    "apiVersion": "postgresql.cnpg.io/v1",
    "kind": "Cluster",
    "metadata": {"name": "db", "namespace": "ns", "labels": {"a": "b"}},
    "spec": {
        "instances": 3,
        "imageName": "ghcr.io/cloudnative-pg/postgresql:17.6-minimal-bookworm",
        "storage": {"size": "1Gi"},
        "resources": {"limits": {"cpu": 2, "memory": "1Gi"}, "requests": {"cpu": "500m"}},
    },
}


def with_spec(**changes: object) -> dict:
    manifest = copy.deepcopy(CLUSTER)
    manifest["spec"].update(changes)
    return manifest


@pytest.fixture(scope="module")
def cluster_schema() -> CustomResourceSchema:
    return load_crd(CLUSTER_CRD)


def test_a_valid_cluster_passes(cluster_schema: CustomResourceSchema) -> None:
    assert cluster_schema.errors(CLUSTER) == []


@pytest.mark.parametrize(
    "broken",
    [
        with_spec(instance=3),
        with_spec(storage={"size": "1Gi", "sise": "2Gi"}),
        with_spec(plugins=[{"name": "x", "isWalArchiver": True}]),
        with_spec(bootstrap={"initdb": {"database": "app", "secret": {"name": "s", "key": "k"}}}),
        {**CLUSTER, "metadata": {"name": "db", "label": {"a": "b"}}},
        {**CLUSTER, "extra": True},
    ],
    ids=["top", "nested", "in-list", "deep", "metadata", "root"],
)
def test_unknown_fields_fail_everywhere(cluster_schema: CustomResourceSchema, broken: dict) -> None:
    assert cluster_schema.errors(broken)


@pytest.mark.parametrize(
    "broken",
    [
        with_spec(instances="3"),
        with_spec(logLevel="verbose"),
        with_spec(resources={"limits": {"cpu": True}}),
        with_spec(resources={"limits": {"memory": "lots"}}),
        {**CLUSTER, "apiVersion": "postgresql.cnpg.io/v2"},
        {key: value for key, value in CLUSTER.items() if key != "metadata"},
    ],
    ids=["type", "enum", "int-or-string-type", "quantity-pattern", "version", "no-metadata"],
)
def test_wrong_values_fail(cluster_schema: CustomResourceSchema, broken: dict) -> None:
    assert cluster_schema.errors(broken)


def test_cel_rules_are_checked(cluster_schema: CustomResourceSchema) -> None:
    both = with_spec(imageCatalogRef={"apiGroup": "postgresql.cnpg.io", "kind": "ImageCatalog",
                                      "name": "c", "major": 17})  # fmt: skip
    assert any("mutually exclusive" in e for e in cluster_schema.errors(both))
    store = load_crd(STORE_CRD)
    manifest = {
        "apiVersion": "barmancloud.cnpg.io/v1",
        "kind": "ObjectStore",
        "metadata": {"name": "s"},
        "spec": {"configuration": {"destinationPath": "s3://b/p", "serverName": "x"}},
    }
    assert any("serverName" in e for e in store.errors(manifest))
    del manifest["spec"]["configuration"]["serverName"]
    assert store.errors(manifest) == []


def test_every_cel_rule_of_the_vendored_crds_is_written_out() -> None:
    """A new rule in an updated CRD is noticed here, not skipped in silence."""
    rules = set()

    def collect(node: object) -> None:
        if isinstance(node, dict):
            rules.update(v["rule"] for v in node.get("x-kubernetes-validations", []))
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    for path in CRDS.rglob("*.yaml"):
        collect(yaml.load(path.read_text(), Loader=YAML_LOADER))
    assert {rule for rule in rules if "oldSelf" not in rule} <= set(CEL_RULES)


def _crd(tmp_path: Path, schema: dict) -> Path:
    path = tmp_path / "crd.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "spec": {
                    "group": "example.com",
                    "names": {"kind": "Thing"},
                    "versions": [
                        {"name": "v1", "served": True, "storage": True,
                         "schema": {"openAPIV3Schema": schema}},
                    ],
                },
            }
        )
    )  # fmt: skip
    return path


def test_preserved_fields_and_unknown_rules(tmp_path: Path) -> None:
    schema = load_crd(
        _crd(
            tmp_path,
            {
                "type": "object",
                "properties": {
                    "spec": {
                        "type": "object",
                        "properties": {
                            "free": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                            "closed": {"type": "object", "properties": {"a": {"type": "string"}}},
                            "ruled": {
                                "type": "integer",
                                "x-kubernetes-validations": [{"rule": "self % 2 == 0"}],
                            },
                            "port": {"x-kubernetes-int-or-string": True},
                        },
                    }
                },
            },
        )
    )
    thing = {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}}
    assert schema.errors({**thing, "spec": {"free": {"anything": [1, {"x": 2}]}}}) == []
    assert schema.errors({**thing, "spec": {"closed": {"b": "x"}}})
    assert schema.errors({**thing, "spec": {"port": 80}}) == []
    assert schema.errors({**thing, "spec": {"port": "http"}}) == []
    assert schema.errors({**thing, "spec": {"port": [80]}})
    (error,) = schema.errors({**thing, "spec": {"ruled": 2}})
    assert "CEL rule not checked here" in error


def test_all_vendored_crds_load() -> None:
    kinds = {kind for _, kind in load_crds()}
    assert kinds == {"Cluster", "ScheduledBackup", "ObjectStore", "PodMonitor"}
