"""The config the Pulumi CLI would hand the program for a stack: the stack file's values
over Pulumi.yaml's declared defaults, `secure:` values as placeholders (only the stack's
key decrypts them), and the CLI's own type check of those values. Without Pulumi's SDK,
so `make check` (tools/check_stack.py) reports a type error before importing the program.
"""

from __future__ import annotations

import difflib
import json
import pickle
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "webapp"

# What a stack file may hold at its top level (the CLI's workspace.ProjectStack); any other
# key is ignored by the CLI, so a misspelt `config:` would silently drop the whole config.
STACK_FILE_KEYS = ("config", "environment", "secretsprovider", "encryptedkey", "encryptionsalt")


class StackFileError(ValueError):
    """A stack file the CLI would refuse or misread; the message is one sentence."""


class CliYamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML as the CLI's parser (Go's yaml.v3) reads it: only true/false are booleans
    (`on`, `yes`, `off` stay text, as YAML 1.2 says), and a key given twice is an error,
    not the last one winning. libyaml's parser when PyYAML has it: many times faster."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


CliYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in CliYamlLoader.yaml_implicit_resolvers.items()
}
CliYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_PARSED: dict[tuple[Path, int, int], bytes] = {}


def load_yaml(text: str, name: str) -> Any:
    """The document in `text`; a syntax error is one sentence naming `name` and the line."""
    try:
        return yaml.load(text, Loader=CliYamlLoader)
    except yaml.YAMLError as error:
        # The scanner's context is where the broken key starts; its problem mark is where
        # it gave up, often the next line.
        mark = getattr(error, "context_mark", None) or getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        fix = (
            "keep one of them"
            if "given twice" in problem
            else "fix that line: a key and its value are separated by ': ', and indentation "
            "is spaces, never tabs"
        )
        raise StackFileError(f"{name}{where} is not valid YAML ({problem}); {fix}") from None


def _yaml_file(path: Path) -> Any:
    """The parsed file, parsed again only once it changes: the tests read Pulumi.yaml and
    the stack files for every run and at collection. A copy, so no caller changes another's
    (kept pickled: unpickling is several times faster than a deep copy)."""
    status = path.stat()
    key = (path, status.st_mtime_ns, status.st_size)
    if key not in _PARSED:
        _PARSED[key] = pickle.dumps(load_yaml(path.read_text(), path.name))
    return pickle.loads(_PARSED[key])


def stack_file(stack: str, directory: Path = ROOT) -> dict[str, Any]:
    name = f"Pulumi.{stack}.yaml"
    document = _yaml_file(directory / name) or {}
    if not isinstance(document, dict):
        raise StackFileError(f"{name} is not a YAML mapping; its first line should be config:")
    for key in document:
        if key not in STACK_FILE_KEYS:
            close = difflib.get_close_matches(str(key), STACK_FILE_KEYS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise StackFileError(
                f"{name} has the top-level key {key!r}, which the CLI ignores (allowed: "
                f"{', '.join(STACK_FILE_KEYS)}); {hint}rename it in {name}"
            )
    config = document.get("config")
    if isinstance(config, dict):
        document["config"] = namespaced(config, name)
    return document


def namespaced(config: dict[Any, Any], name: str) -> dict[str, Any]:
    """The keys as the CLI reads them (workspace.stackConfigNamespacedWithProject): one
    without a namespace is the project's, so `replicas: 2` sets webapp:replicas."""
    keys: dict[str, Any] = {}
    written: dict[str, str] = {}
    for key, value in config.items():
        full_key = str(key) if ":" in str(key) else f"{PROJECT}:{key}"
        if full_key in keys:
            raise StackFileError(
                f"{name} sets {full_key} twice, as {written[full_key]} and {key} (the CLI "
                f"reads a key without a namespace as {PROJECT}:<key>, and either value could "
                f"win); keep one of them in {name}"
            )
        keys[full_key] = value
        written[full_key] = str(key)
    return keys


def stack_names(directory: Path) -> list[str]:
    """The stacks whose files are in `directory`, as the CLI names them."""
    return sorted(
        path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        for path in directory.glob("Pulumi.*.yaml")
    )


def project_file() -> dict[str, Any]:
    return _yaml_file(ROOT / "Pulumi.yaml")


def cli_accepts(spec: dict[str, Any], value: Any, from_stack_file: bool = True) -> bool:
    """The CLI's type check (workspace.ValidateConfigValue). Stack file scalars reach it
    as text; defaults from Pulumi.yaml keep their YAML type."""
    if "type" not in spec:
        return True  # an untyped key's values are the program's to check
    if from_stack_file and not isinstance(value, (list, dict)):
        value = value if isinstance(value, str) else yaml_text(value)
    kind = spec["type"]
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        if isinstance(value, bool):
            return False
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return True
        return isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value) is not None
    if kind == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    # A list keeps its items' YAML types (the CLI reads it as JSON): 8080 is a number there.
    return isinstance(value, list) and all(
        cli_accepts(spec["items"], item, from_stack_file=False) for item in value
    )


def yaml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _config_text(value: Any) -> str:
    """Config reaches the program as text, as the CLI hands it over."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def leaf_paths(value: Any, path: str = "") -> list[tuple[str, bool]]:
    """Each value in `value` and whether it is encrypted (`secure:`), by where it is: ""
    for the value itself, `.NAME` or `[i]` for one inside it."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        return [(path, True)]
    if isinstance(value, dict):
        return [leaf for k, item in value.items() for leaf in leaf_paths(item, f"{path}.{k}")]
    if isinstance(value, list):
        return [leaf for i, item in enumerate(value) for leaf in leaf_paths(item, f"{path}[{i}]")]
    return [(path, False)]


def with_placeholders(value: Any) -> tuple[Any, bool]:
    """A stack file value with every `secure:` value (top-level or nested, as `--secret
    --path` writes them) replaced by a placeholder, and whether it held one: the CLI marks
    the whole key secret then."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        return "secret-placeholder", True
    if isinstance(value, dict):
        items = {key: with_placeholders(item) for key, item in value.items()}
        return {key: plain for key, (plain, _) in items.items()}, any(
            secure for _, secure in items.values()
        )
    if isinstance(value, list):
        items_list = [with_placeholders(item) for item in value]
        return [plain for plain, _ in items_list], any(secure for _, secure in items_list)
    return value, False


def cli_config(
    stack: str,
    overrides: dict[str, str] | None = None,
    secret_overrides: dict[str, str] | None = None,
    directory: Path = ROOT,
) -> tuple[dict, list]:
    """The config the CLI would hand the program for `stack`: the stack file's values (in
    `directory`) over the defaults declared in Pulumi.yaml. Encrypted values cannot be
    decrypted here: they get a placeholder and are passed as secret keys."""
    config: dict[str, str] = {}
    for key, spec in (project_file().get("config") or {}).items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        if isinstance(spec, dict) and "default" in spec:
            config[full_key] = _config_text(spec["default"])
        elif not isinstance(spec, dict):
            config[full_key] = _config_text(spec)
    secret_keys = []
    for key, value in (stack_file(stack, directory).get("config") or {}).items():
        plain, secure = with_placeholders(value)
        config[key] = _config_text(plain)
        if secure:
            secret_keys.append(key)
    config.update(overrides or {})
    # As `pulumi config set --secret` would leave them: the value, listed as secret.
    config.update(secret_overrides or {})
    secret_keys += [key for key in secret_overrides or {} if key not in secret_keys]
    return config, secret_keys
