"""examples/yaml: the stack as a Pulumi YAML program that uses the component package.

Checked two ways without the CLI: everything the program uses exists in the schema the
package serves, and the program, run through the package's provider the way the engine
would construct its components (numbers as doubles, objects as dicts with the schema's
names, other resources' outputs as outputs), declares the same objects as the Python
program's dev stack.
"""

from __future__ import annotations

import re
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from components import COMPONENTS, PACKAGE, VERSION, PackageProvider
from tests.harness import ROOT, ProgramRun, run
from tests.snapshots import snapshot
from tests.test_package import inferred_schema

EXAMPLE = ROOT / "examples" / "yaml" / "Pulumi.yaml"
REFERENCE = re.compile(r"^\$\{([A-Za-z][\w-]*)(?:\.([A-Za-z]\w*))?\}$")
PROVIDER = "pulumi:providers:kubernetes"


def _program() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())


def _references(value: Any) -> list[tuple[str, str | None]]:
    if isinstance(value, str):
        match = REFERENCE.match(value)
        assert match or "${" not in value, f"unsupported interpolation {value!r}"
        return [match.groups()] if match else []  # type: ignore[list-item]
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in _references(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in _references(item)]
    return []


def _check_object(value: Any, spec: dict[str, Any], schema: dict[str, Any], where: str) -> None:
    """Literal values against the schema: known properties, required ones present, types."""
    if isinstance(value, str) and REFERENCE.match(value):
        return
    if "$ref" in spec:
        type_ = schema["types"][spec["$ref"].removeprefix("#/types/")]
        assert isinstance(value, dict), f"{where} must be an object"
        unknown = set(value) - set(type_["properties"])
        assert not unknown, f"{where}: {sorted(unknown)} not in {spec['$ref']}"
        missing = set(type_.get("required", [])) - set(value)
        assert not missing, f"{where}: {sorted(missing)} required"
        for name, item in value.items():
            _check_object(item, type_["properties"][name], schema, f"{where}.{name}")
        return
    expected = {
        "string": str,
        "integer": int,
        "boolean": bool,
        "number": (int, float),
        "object": dict,
        "array": list,
    }[spec["type"]]
    assert isinstance(value, expected), f"{where} must be {spec['type']}, not {value!r}"
    if spec["type"] == "object" and "additionalProperties" in spec:
        for name, item in value.items():
            _check_object(item, spec["additionalProperties"], schema, f"{where}.{name}")


def test_the_example_uses_the_package_as_pulumi_package_add_records_it() -> None:
    program = _program()
    assert program["runtime"] == "yaml"
    source = (EXAMPLE.parent / program["packages"][PACKAGE]).resolve()
    assert source == (ROOT / "components").resolve()
    assert (source / "PulumiPlugin.yaml").is_file()


def test_every_type_property_and_output_the_example_uses_is_in_the_schema() -> None:
    schema = inferred_schema()
    program = _program()
    resources = program["resources"]
    used = {resource["type"] for resource in resources.values()}
    assert used - {PROVIDER} == set(schema["resources"])
    for key, resource in resources.items():
        if resource["type"] == PROVIDER:
            continue
        spec = schema["resources"][resource["type"]]
        properties = resource.get("properties") or {}
        unknown = set(properties) - set(spec["inputProperties"])
        assert not unknown, f"{key}: {sorted(unknown)} are no inputs of {resource['type']}"
        missing = set(spec.get("requiredInputs", [])) - set(properties)
        assert not missing, f"{key}: required inputs {sorted(missing)} missing"
        for name, value in properties.items():
            _check_object(value, spec["inputProperties"][name], schema, f"{key}.{name}")
    outputs = [ref for value in program.get("outputs", {}).values() for ref in _references(value)]
    everything = [ref for resource in resources.values() for ref in _references(resource)]
    for name, attribute in outputs + everything:
        if name in program.get("config", {}):
            assert attribute is None, name
            continue
        target = resources[name]["type"]
        if attribute is not None and target != PROVIDER:
            assert attribute in schema["resources"][target]["properties"], f"{name}.{attribute}"


def _wire(value: Any, scope: dict[str, Any]) -> Any:
    """A property as the engine hands it to the provider's construct."""
    if isinstance(value, str):
        match = REFERENCE.match(value)
        if not match:
            return value
        name, attribute = match.groups()
        target = scope[name]
        return _wire(target, {}) if attribute is None else target[attribute]
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)  # numbers cross the wire as doubles
    if isinstance(value, dict):
        return {key: _wire(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [_wire(item, scope) for item in value]
    return value


def run_example(stack: str) -> ProgramRun:
    program = _program()

    def construct_all() -> None:
        provider = PackageProvider(COMPONENTS, PACKAGE, version=VERSION)
        scope: dict[str, Any] = {
            key: spec["default"] for key, spec in (program.get("config") or {}).items()
        }
        for key, resource in program["resources"].items():
            name = resource.get("name", key)
            if resource["type"] == PROVIDER:
                scope[key] = k8s.Provider(name)
                continue
            options = resource.get("options") or {}
            opts = pulumi.ResourceOptions(
                providers=[_wire(ref, scope) for ref in options.get("providers", [])]
            )
            properties = _wire(resource.get("properties") or {}, scope)
            result = provider.construct(name, resource["type"], properties, opts)
            scope[key] = result.state

    return run(stack, construct_all)


@pytest.fixture(scope="module")
def example_run() -> ProgramRun:
    return run_example("dev")


def test_the_example_declares_the_same_objects_as_the_dev_stack(
    example_run: ProgramRun, dev_run: ProgramRun
) -> None:
    expected = snapshot(dev_run)["resources"]
    actual = snapshot(example_run)["resources"]
    provider = f"{PROVIDER}::kubernetes"
    assert {key for key in actual if key != provider} == {
        key for key in expected if key != provider
    }
    for key, resource in expected.items():
        if key != provider:
            assert actual[key] == resource, key


def test_the_example_keeps_the_password_secret_across_the_language_boundary(
    example_run: ProgramRun,
) -> None:
    (secret,) = [
        r
        for r in example_run.of_type("kubernetes:core/v1:Secret")
        if r.name == "webapp-credentials"
    ]
    assert {"data.DATABASE_PASSWORD", "data.DATABASE_URL"} <= secret.secret_paths | {
        f"data.{key}" for key in secret.inputs["data"] if "data" in secret.secret_paths
    }
