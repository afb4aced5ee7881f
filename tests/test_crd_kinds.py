"""The custom resource check itself (tests/crd_kinds.py): it must refuse what the API
server refuses, or the schema test of every stack proves nothing."""

from __future__ import annotations

import copy
import hashlib
import re
from pathlib import Path

import pytest
import yaml

from tests.crd_kinds import CRD_DIRECTORY, load_kinds, vendored_crd_files
from tests.harness import ProgramRun
from tests.test_kubernetes_schema import CUSTOM_RESOURCE_KINDS, NEWEST_SUPPORTED, schema_failures

SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"


def test_vendored_crds_are_the_upstream_files_with_their_license() -> None:
    readme = (CRD_DIRECTORY / "README.md").read_text()
    rows = re.findall(
        r"^\| ([\w.-]+) \| [^|]+ \| v[\d.]+ \| [^|]*/([\w.]+\.yaml) \|[^|]+\| ([0-9a-f]{64}) \|$",
        readme,
        re.M,
    )
    listed = {f"{folder}/{name}": digest for folder, name, digest in rows}
    files = {str(path.relative_to(CRD_DIRECTORY)): path for path in vendored_crd_files()}
    assert set(listed) == set(files)
    for relative, path in files.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == listed[relative], relative
        assert (path.parent / "LICENSE").read_text().lstrip().startswith("Apache License")


def test_the_program_uses_no_crd_rule_the_check_cannot_evaluate() -> None:
    for kind in CUSTOM_RESOURCE_KINDS.values():
        assert kind.unchecked_rules() == [], kind.kind


def _failures(manifest: dict) -> list[str]:
    """What the stacks' schema test reports for `manifest`."""
    return schema_failures(manifest, NEWEST_SUPPORTED)


def _manifest(run: ProgramRun, type_: str) -> dict:
    return copy.deepcopy(run.of_type(type_)[0].manifest())


def test_rendered_monitoring_objects_pass(prod_statefulset_run: ProgramRun) -> None:
    for type_ in (SERVICE_MONITOR, PROMETHEUS_RULE):
        assert _failures(_manifest(prod_statefulset_run, type_)) == []


def _rule(manifest: dict) -> dict:
    return manifest["spec"]["groups"][0]["rules"][0]


BROKEN = [
    ("endpoint", SERVICE_MONITOR, lambda m: m["spec"].update(endpoint=[]), "'endpoint' was"),
    ("portt", SERVICE_MONITOR, lambda m: m["spec"]["endpoints"][0].update(portt="x"), "'portt'"),
    (
        "interval",
        SERVICE_MONITOR,
        lambda m: m["spec"]["endpoints"][0].update(interval="30 s"),
        "match",
    ),
    ("metadata.label", SERVICE_MONITOR, lambda m: m["metadata"].update(label={}), "label"),
    (
        "apiVersion",
        SERVICE_MONITOR,
        lambda m: m.update(apiVersion="monitoring.coreos.com/v2"),
        "no schema",
    ),
    ("expression", PROMETHEUS_RULE, lambda m: _rule(m).update(expression="1"), "'expression' was"),
    (
        "label type",
        PROMETHEUS_RULE,
        lambda m: _rule(m).update(labels={"a": 1}),
        "not of type 'string'",
    ),
    ("for", PROMETHEUS_RULE, lambda m: _rule(m).update({"for": "5 minutes"}), "match"),
    ("group name", PROMETHEUS_RULE, lambda m: m["spec"]["groups"][0].update(name=""), "non-empty"),
    (
        "same group twice",
        PROMETHEUS_RULE,
        lambda m: m["spec"]["groups"].append(m["spec"]["groups"][0]),
        "duplicate item",
    ),
    (
        "strategy",
        PROMETHEUS_RULE,
        lambda m: m["spec"]["groups"][0].update(partial_response_strategy="x"),
        "match",
    ),
]


@pytest.mark.parametrize(
    ("type_", "break_it", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in BROKEN],
)
def test_a_misplaced_or_mistyped_field_is_refused(
    prod_statefulset_run: ProgramRun, type_: str, break_it: object, expected: str
) -> None:
    manifest = _manifest(prod_statefulset_run, type_)
    break_it(manifest)  # type: ignore[operator]
    failures = _failures(manifest)
    assert any(expected in failure for failure in failures), failures


def test_int_or_string_and_case_insensitive_patterns_follow_the_crd(
    prod_statefulset_run: ProgramRun,
) -> None:
    manifest = _manifest(prod_statefulset_run, PROMETHEUS_RULE)
    group = manifest["spec"]["groups"][0]
    group["rules"][0]["expr"] = 1
    group["partial_response_strategy"] = "Warn"
    assert _failures(manifest) == []


def test_unknown_fields_pass_only_where_the_crd_preserves_them(tmp_path: Path) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "open": {
                                            "type": "object",
                                            "x-kubernetes-preserve-unknown-fields": True,
                                        },
                                        "closed": {"type": "object"},
                                    },
                                },
                            },
                        }
                    },
                }
            ],
        },
    }
    path = tmp_path / "widgets.yaml"
    path.write_text(yaml.safe_dump(crd))
    (widget,) = load_kinds([path]).values()

    def failures(spec: dict) -> list[str]:
        manifest = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
        return widget.validate({**manifest, "spec": spec}, NEWEST_SUPPORTED)

    assert failures({"open": {"anything": {"goes": 1}}}) == []
    assert failures({"closed": {"anything": 1}})
    assert failures({"other": 1})
