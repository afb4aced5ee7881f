"""Rules the Pulumi engine and CLI enforce that a mock run does not."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
import yaml

from tests.harness import PROJECT, ROOT, ProgramRun, project_file, stack_file
from tools.mock_engine import cli_accepts

DECLARABLE_TYPES = {"string", "integer", "boolean", "array"}
TYPE_TOKEN = re.compile(r"^[a-zA-Z][\w-]*:[\w/.-]*:[A-Za-z][\w]*$")


def test_component_type_tokens_have_three_parts(stack_run: ProgramRun) -> None:
    # A convention, not an engine rule (the engine accepts one-part tokens), but the form
    # a component package must use (`<package>:index:<Type>`); tokens are pinned here
    # because changing one changes every URN below it (test_package_aliases.py).
    components = [r for r in stack_run.registrations if not r.custom]
    assert {r.type for r in components} == {
        "webapp:index:AppNamespace",
        "webapp:index:PostgresDatabase",
        "webapp:index:WebService",
    }
    for record in components:
        assert TYPE_TOKEN.match(record.type), record.type


def test_every_urn_is_unique(stack_run: ProgramRun) -> None:
    duplicates = [
        urn for urn, n in Counter(r.urn for r in stack_run.registrations).items() if n > 1
    ]
    assert duplicates == []


def test_every_resource_is_a_named_child_of_a_component(stack_run: ProgramRun) -> None:
    components = {r.urn: r for r in stack_run.registrations if not r.custom}
    for record in stack_run.registrations:
        if not record.custom or record.type.startswith("pulumi:providers:"):
            continue  # providers are shared by the whole stack, so they sit at its top
        assert record.parent in components, f"{record.name} is not parented to a component"
        assert record.name.startswith(components[record.parent].name + "-"), record.name


def test_components_register_outputs(stack_run: ProgramRun) -> None:
    for record in stack_run.registrations:
        if not record.custom:
            assert record.urn in stack_run.component_outputs, record.type
            outputs, _ = stack_run.component_outputs[record.urn]
            assert outputs, f"{record.type} registered no outputs"


# --- Pulumi.yaml: what the CLI accepts as config declarations ---------------------------


def _declarations() -> dict[str, Any]:
    return project_file().get("config") or {}


def test_project_declares_types_only_for_its_own_keys() -> None:
    for key, spec in _declarations().items():
        if ":" in key and not key.startswith(f"{PROJECT}:"):
            assert not isinstance(spec, dict) or "type" not in spec, key


# Keys whose values are objects (set with --path). Pulumi.yaml cannot declare an object
# type: a declaration without a type is accepted, and the CLI then checks none of the
# key's values, so the program checks them itself (stack_settings/app.py).
OBJECT_KEYS = {"env", "secretEnv"}
# Lists of objects: an array's items can be declared only as a scalar type.
OBJECT_LIST_KEYS = {"sidecars"}


@pytest.mark.parametrize("key", list(_declarations()))
def test_declared_key_has_a_valid_type_and_default(key: str) -> None:
    spec = _declarations()[key]
    assert isinstance(spec, dict), key
    assert set(spec) <= {"type", "items", "default", "description", "secret"}, key
    if key in OBJECT_KEYS:
        assert "type" not in spec, f"{key}: an object cannot be declared with a type"
        assert isinstance(spec.get("default"), dict), f"{key}: the default must be an object"
    elif key in OBJECT_LIST_KEYS:
        assert "type" not in spec, f"{key}: a list of objects cannot be declared with a type"
        assert isinstance(spec.get("default"), list), f"{key}: the default must be a list"
    else:
        assert spec.get("type") in DECLARABLE_TYPES, f"{key}: type {spec.get('type')!r}"
        if spec["type"] == "array":
            assert "items" in spec, f"{key}: an array needs items"
    assert "default" in spec, f"{key} has no default"
    assert cli_accepts(spec, spec["default"], from_stack_file=False), key
    assert spec.get("description"), f"{key} has no description"


def test_only_object_keys_go_without_a_type() -> None:
    """An untyped key loses the CLI's check: only keys that cannot be typed go without."""
    untyped = {key for key, spec in _declarations().items() if "type" not in spec}
    assert untyped == OBJECT_KEYS | OBJECT_LIST_KEYS


DEPLOYMENT_PROJECT = ROOT / "deployment" / "Pulumi.yaml"
DEPLOYMENT_DECLARATIONS = yaml.safe_load(DEPLOYMENT_PROJECT.read_text()).get("config") or {}


@pytest.mark.parametrize("key", list(DEPLOYMENT_DECLARATIONS))
def test_deployment_program_declarations_pass_the_cli(key: str) -> None:
    # Keys without a default must be set on the stack (organization, kubeconfigs, ...).
    spec = DEPLOYMENT_DECLARATIONS[key]
    assert spec.get("type") in DECLARABLE_TYPES, f"{key}: type {spec.get('type')!r}"
    if spec["type"] == "array":
        assert "items" in spec, f"{key}: an array needs items"
    if "default" in spec:
        assert cli_accepts(spec, spec["default"], from_stack_file=False), key
    assert spec.get("description"), f"{key} has no description"


def test_cli_type_check_rejects_what_the_cli_rejects() -> None:
    integer = {"type": "integer"}
    assert cli_accepts(integer, 3) and cli_accepts(integer, "3")
    assert not cli_accepts(integer, "three") and not cli_accepts(integer, "2.5")
    assert cli_accepts({"type": "boolean"}, "true") and not cli_accepts({"type": "boolean"}, "yes")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_values_are_declared_and_typed(stack: str) -> None:
    declared = _declarations()
    values = stack_file(stack).get("config") or {}
    assert values, f"Pulumi.{stack}.yaml sets nothing"
    for full_key, value in values.items():
        namespace, _, key = full_key.partition(":")
        if namespace != PROJECT:
            continue
        assert key in declared, f"{full_key} in Pulumi.{stack}.yaml is not declared"
        encrypted = isinstance(value, dict) and set(value) == {"secure"}
        if not encrypted:  # an encrypted value cannot be decrypted here to check its type
            assert cli_accepts(declared[key], value), f"{full_key}: {value!r}"


def test_program_reads_exactly_the_declared_keys(dev_run: ProgramRun) -> None:
    declared = {f"{PROJECT}:{key}" for key in _declarations() if ":" not in key}
    assert dev_run.config_keys_read == declared
