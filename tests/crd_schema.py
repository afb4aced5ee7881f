"""Strict validation of custom resources against their real CRDs, the way the API server
would admit them, but failing where it would silently drop a field.

The API server prunes fields its structural schema does not know; a misspelled field
then vanishes and the operator never sees it. Here every object schema without
`x-kubernetes-preserve-unknown-fields: true` rejects unknown fields. OpenAPI v3
extensions are translated to JSON Schema (draft 4, whose boolean exclusiveMinimum the
CRDs use): `x-kubernetes-int-or-string`, `nullable`, `x-kubernetes-embedded-resource`,
`x-kubernetes-list-type: set`. `metadata` at the top is ObjectMeta, which CRDs leave
open; it is checked against the fields a client may set.

CEL rules (`x-kubernetes-validations`) cannot be run here: the few the vendored CRDs
carry are written out below, and an object that reaches a rule not written out fails,
so a CRD update cannot pass a rule unchecked. Transition rules (`oldSelf`) only apply
to updates and are skipped.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CRDS = Path(__file__).resolve().parent / "crds"

_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
OBJECT_META = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "generateName": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": _LABELS,
        "annotations": _LABELS,
        "finalizers": {"type": "array", "items": {"type": "string"}},
    },
}

Rule = Callable[[Any], bool]
# The CEL rules of the vendored CRDs, by their text.
CEL_RULES: dict[str, Rule] = {
    "!(has(self.imageCatalogRef) && has(self.imageName))": lambda s: (
        not ("imageCatalogRef" in s and "imageName" in s)
    ),
    "!has(self.builtinLocale) || self.localeProvider == 'builtin'": lambda s: (
        "builtinLocale" not in s or s.get("localeProvider") == "builtin"
    ),
    "!has(self.icuLocale) || self.localeProvider == 'icu'": lambda s: (
        "icuLocale" not in s or s.get("localeProvider") == "icu"
    ),
    "!has(self.icuRules) || self.localeProvider == 'icu'": lambda s: (
        "icuRules" not in s or s.get("localeProvider") == "icu"
    ),
    "self.kind == 'ImageCatalog' || self.kind == 'ClusterImageCatalog'": lambda s: (
        s.get("kind") in ("ImageCatalog", "ClusterImageCatalog")
    ),
    "self.apiGroup == 'postgresql.cnpg.io'": lambda s: s.get("apiGroup") == "postgresql.cnpg.io",
    "self > 0": lambda s: s > 0,
    (
        "self.dataDurability!='preferred' || ((!has(self.standbyNamesPre) || "
        "self.standbyNamesPre.size()==0) && (!has(self.standbyNamesPost) || "
        "self.standbyNamesPost.size()==0))"
    ): lambda s: (
        s.get("dataDurability") != "preferred"
        or (not s.get("standbyNamesPre") and not s.get("standbyNamesPost"))
    ),
    "!has(self.serverName)": lambda s: "serverName" not in s,
    "!self.exists(a, a.startsWith('--log-level'))": lambda s: (
        not any(a.startswith("--log-level") for a in s)
    ),
}


def _is_transition_rule(rule: str) -> bool:
    return "oldSelf" in rule


def strict_schema(node: Any) -> Any:
    """The JSON Schema for one OpenAPI v3 node of a CRD."""
    if not isinstance(node, dict):
        return node
    schema: dict[str, Any] = {}
    for key in (
        "type", "enum", "pattern", "required", "minimum", "maximum", "exclusiveMinimum",
        "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems", "uniqueItems",
        "minProperties", "maxProperties", "multipleOf",
    ):  # fmt: skip
        if key in node:
            schema[key] = copy.deepcopy(node[key])
    for key in ("anyOf", "allOf", "oneOf"):
        if key in node:
            schema[key] = [strict_schema(item) for item in node[key]]
    if "not" in node:
        schema["not"] = strict_schema(node["not"])
    if "items" in node:
        schema["items"] = strict_schema(node["items"])
    if node.get("x-kubernetes-list-type") == "set":
        schema["uniqueItems"] = True
    preserve = bool(node.get("x-kubernetes-preserve-unknown-fields"))
    properties = {key: strict_schema(value) for key, value in node.get("properties", {}).items()}
    if node.get("x-kubernetes-embedded-resource"):
        properties.setdefault("apiVersion", {"type": "string"})
        properties.setdefault("kind", {"type": "string"})
        properties.setdefault("metadata", OBJECT_META)
    if properties:
        schema["properties"] = properties
    if "additionalProperties" in node:
        schema["additionalProperties"] = strict_schema(node["additionalProperties"])
    elif node.get("type") == "object" or properties:
        schema["additionalProperties"] = preserve
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in schema:
        schema.pop("type", None)
        schema["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    return schema


@dataclass
class CustomResourceSchema:
    api_version: str
    kind: str
    openapi: dict[str, Any]
    validator: jsonschema.Draft4Validator = field(init=False)

    def __post_init__(self) -> None:
        schema = strict_schema(self.openapi)
        schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind"})
        schema["properties"]["apiVersion"] = {"enum": [self.api_version]}
        schema["properties"]["kind"] = {"enum": [self.kind]}
        schema["properties"]["metadata"] = {**OBJECT_META, "required": ["name"]}
        jsonschema.Draft4Validator.check_schema(schema)
        self.validator = jsonschema.Draft4Validator(schema)

    def errors(self, manifest: dict[str, Any]) -> list[str]:
        found = [
            f"{'.'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
            for error in self.validator.iter_errors(manifest)
        ]
        return found + list(self._rule_errors(self.openapi, manifest, ""))

    def _rule_errors(self, node: dict[str, Any], value: Any, path: str) -> Iterator[str]:
        for validation in node.get("x-kubernetes-validations", []):
            rule = validation["rule"]
            if _is_transition_rule(rule):
                continue
            check = CEL_RULES.get(rule)
            if check is None:
                yield f"{path or '<root>'}: CEL rule not checked here: {rule}"
            elif not check(value):
                yield f"{path or '<root>'}: {validation.get('message', rule)}"
        if isinstance(value, dict):
            for key, item in value.items():
                child = node.get("properties", {}).get(key) or node.get("additionalProperties")
                if isinstance(child, dict):
                    yield from self._rule_errors(child, item, f"{path}.{key}" if path else key)
        elif isinstance(value, list) and isinstance(node.get("items"), dict):
            for index, item in enumerate(value):
                yield from self._rule_errors(node["items"], item, f"{path}[{index}]")


# libyaml's parser: the Cluster CRD alone is 460 KB, seconds for the pure-Python one.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_crd(path: Path, version: str | None = None) -> CustomResourceSchema:
    """The schema of `version` (the storage version when None) of the CRD in `path`."""
    return _schema(path, yaml.load(path.read_text(), Loader=YAML_LOADER), version)


def _schema(path: Path, crd: Any, version: str | None) -> CustomResourceSchema:
    if crd.get("kind") != "CustomResourceDefinition":
        raise ValueError(f"{path} is not a CustomResourceDefinition")
    spec = crd["spec"]
    versions = spec["versions"]
    chosen = [v for v in versions if (v["name"] == version if version else v.get("storage"))]
    if len(chosen) != 1:
        raise ValueError(f"{path}: no single version {version or '(storage)'}")
    return CustomResourceSchema(
        api_version=f"{spec['group']}/{chosen[0]['name']}",
        kind=spec["names"]["kind"],
        openapi=chosen[0]["schema"]["openAPIV3Schema"],
    )


# The CRDs of the CloudNativePG engine's objects; the other prometheus-operator kinds are
# checked by tests/crd_kinds.py.
ENGINE_CRDS = (
    "cloudnative-pg-1.30.0/*.yaml",
    "plugin-barman-cloud-0.14.0/*.yaml",
    "prometheus-operator-0.93.0/monitoring.coreos.com_podmonitors.yaml",
)


@functools.cache
def load_crds(directory: Path = CRDS) -> dict[tuple[str, str], CustomResourceSchema]:
    """Every served version of every CRD of the engine's objects, by (apiVersion, kind).
    Built once per test process (the schemas are only read): each takes a second."""
    schemas = {}
    paths = sorted({path for pattern in ENGINE_CRDS for path in directory.glob(pattern)})
    for path in paths:
        crd = yaml.load(path.read_text(), Loader=YAML_LOADER)
        if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
            continue
        for version in crd["spec"]["versions"]:
            if version.get("served", True):
                schema = _schema(path, crd, version["name"])
                schemas[(schema.api_version, schema.kind)] = schema
    return schemas
