"""Custom resources checked the way the API server checks them: against the structural
schema of their CustomResourceDefinition (`spec.versions[].schema.openAPIV3Schema`),
with unknown fields rejected.

The API server prunes (or, with strict field validation, refuses) every field a
structural schema does not declare, except below `x-kubernetes-preserve-unknown-fields`;
a mock run accepts anything. So each object schema here gets `additionalProperties:
false` unless it says otherwise. `metadata` is checked as Kubernetes' own ObjectMeta, as
the API server does for every kind. Not checked: CEL rules (`x-kubernetes-validations`)
and the number ranges of `format: int32/int64`; each CRD's rules are listed by
`unchecked_rules()` so a test can see when a vendored CRD starts to rely on them.

Generic: give it any CRD files (tests/crds/<project>-<version>/*.yaml).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

CRD_DIRECTORY = Path(__file__).resolve().parent / "crds"

# Keys of an OpenAPI v3 structural schema that JSON Schema reads the same way.
_PLAIN = (
    "type",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "required",
    "format",
)


def _pattern(pattern: str) -> str:
    """Go's RE2 takes inline flags anywhere; Python only at the start."""
    flags = "".join(re.findall(r"\(\?[a-z]+\)", pattern))
    return flags + re.sub(r"\(\?[a-z]+\)", "", pattern) if flags else pattern


# libyaml's parser where PyYAML has it: the vendored CRDs are large.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema for an OpenAPI v3 structural schema, rejecting undeclared fields."""
    out: dict[str, Any] = {key: schema[key] for key in _PLAIN if key in schema}
    if "pattern" in out:
        out["pattern"] = _pattern(out["pattern"])
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    for combinator in ("anyOf", "allOf", "oneOf"):
        if combinator in schema and not schema.get("x-kubernetes-int-or-string"):
            # Inside a combinator a structural schema may only restate constraints, never
            # declare fields or types of its own; the outer schema says what is allowed.
            out[combinator] = [_constraints(option) for option in schema[combinator]]
    if "not" in schema:
        out["not"] = _constraints(schema["not"])
    if "items" in schema:
        out["items"] = strict_schema(schema["items"])
    if schema.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    if schema.get("type") == "object":
        if "properties" in schema:
            out["properties"] = {
                name: strict_schema(child) for name, child in schema["properties"].items()
            }
        if "additionalProperties" in schema:
            extra = schema["additionalProperties"]
            out["additionalProperties"] = strict_schema(extra) if isinstance(extra, dict) else extra
        elif not schema.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if schema.get("nullable"):
        kinds = out.get("type")
        out["type"] = [kinds, "null"] if isinstance(kinds, str) else kinds
    return out


def _constraints(schema: dict[str, Any]) -> dict[str, Any]:
    """A combinator branch: its constraints, without turning on strictness of its own."""
    out = {key: schema[key] for key in _PLAIN if key in schema}
    if "pattern" in out:
        out["pattern"] = _pattern(out["pattern"])
    if "properties" in schema:
        out["properties"] = {
            name: _constraints(child) for name, child in schema["properties"].items()
        }
    return out


def _list_map_duplicates(schema: dict[str, Any], value: Any, path: str) -> Iterator[str]:
    """`x-kubernetes-list-type: map` lists: the API server refuses two items with the same
    keys (for example two rule groups of the same name)."""
    if isinstance(value, dict):
        for name, child in (schema.get("properties") or {}).items():
            if name in value:
                yield from _list_map_duplicates(child, value[name], f"{path}.{name}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name, child_value in value.items():
                if name not in (schema.get("properties") or {}):
                    yield from _list_map_duplicates(extra, child_value, f"{path}.{name}")
    elif isinstance(value, list) and "items" in schema:
        if schema.get("x-kubernetes-list-type") == "map":
            keys = schema.get("x-kubernetes-list-map-keys") or []
            seen = [
                tuple(item.get(key) for key in keys) for item in value if isinstance(item, dict)
            ]
            duplicates = sorted({key for key in seen if seen.count(key) > 1}, key=str)
            for key in duplicates:
                yield f"{path}: duplicate item with {dict(zip(keys, key, strict=True))}"
        for index, item in enumerate(value):
            yield from _list_map_duplicates(schema["items"], item, f"{path}[{index}]")


@dataclass
class CustomResourceKind:
    api_version: str
    kind: str
    source: Path
    schema: dict[str, Any]
    validator: jsonschema.Draft202012Validator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        body = {key: value for key, value in self.schema.get("properties", {}).items()}
        # ObjectMeta is checked on its own (see validate()), as the API server does.
        body.pop("metadata", None)
        root = strict_schema({**self.schema, "properties": body})
        root["properties"]["metadata"] = {"type": "object"}
        root["properties"]["apiVersion"] = {"const": self.api_version}
        root["properties"]["kind"] = {"const": self.kind}
        root["required"] = sorted({"apiVersion", "kind", "metadata", *root.get("required", [])})
        jsonschema.Draft202012Validator.check_schema(root)
        self.validator = jsonschema.Draft202012Validator(root)

    def validate(self, manifest: dict[str, Any], kubernetes_version: str) -> list[str]:
        failures = [
            f"{'.'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
            for error in self.validator.iter_errors(manifest)
        ]
        failures += list(_list_map_duplicates(self.schema, manifest, ""))
        failures += _object_meta_failures(manifest.get("metadata"), kubernetes_version)
        return failures

    def unchecked_rules(self) -> list[str]:
        """The CEL rules of the schema, which this check does not evaluate."""
        found: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                found.extend(rule["rule"] for rule in node.get("x-kubernetes-validations", []))
                for child in node.values():
                    walk(child)
            elif isinstance(node, list):
                for child in node:
                    walk(child)

        walk(self.schema)
        return found


def _object_meta_failures(metadata: Any, kubernetes_version: str) -> list[str]:
    """ObjectMeta of the given Kubernetes version, strictly: kubernetes-validate checks a
    ConfigMap that carries nothing but this metadata."""
    carrier = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}
    try:
        kubernetes_validate.validate(carrier, f"{kubernetes_version}.0", strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{'.'.join(map(str, error.path))}: {error.message}"]
    return []


def load_kinds(crd_files: Iterable[Path]) -> dict[tuple[str, str], CustomResourceKind]:
    """Every served version of every CRD in the files, by (apiVersion, kind)."""
    kinds: dict[tuple[str, str], CustomResourceKind] = {}
    for path in crd_files:
        for document in yaml.load_all(path.read_text(), Loader=YAML_LOADER):
            if not document or document.get("kind") != "CustomResourceDefinition":
                continue
            spec = document["spec"]
            for version in spec["versions"]:
                if not version.get("served", True):
                    continue
                api_version = f"{spec['group']}/{version['name']}"
                key = (api_version, spec["names"]["kind"])
                if key in kinds:
                    raise ValueError(f"{key} is defined by {kinds[key].source} and {path}")
                kinds[key] = CustomResourceKind(
                    api_version, spec["names"]["kind"], path, version["schema"]["openAPIV3Schema"]
                )
    return kinds


def vendored_crd_files() -> list[Path]:
    """The prometheus-operator CRDs; CloudNativePG's have their own check in
    tests/crd_schema.py, which writes out their CEL rules."""
    return sorted((CRD_DIRECTORY / "prometheus-operator-0.93.0").glob("*.yaml"))
