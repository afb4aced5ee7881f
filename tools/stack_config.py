"""The config the Pulumi CLI would hand the program for a stack: the stack file's values
over Pulumi.yaml's declared defaults, `secure:` values as placeholders (only the stack's
key decrypts them), and the CLI's own type check of those values. Without Pulumi's SDK,
so `make check` (tools/check_stack.py) reports a type error before importing the program.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "webapp"

# libyaml's parser when PyYAML has it: the same safe constructor, many times faster.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PARSED: dict[tuple[Path, int, int], Any] = {}


def _yaml_file(path: Path) -> Any:
    """The parsed file, parsed again only once it changes: the tests read Pulumi.yaml and
    the stack files for every run and at collection. A copy, so no caller changes another's."""
    status = path.stat()
    key = (path, status.st_mtime_ns, status.st_size)
    if key not in _PARSED:
        _PARSED[key] = yaml.load(path.read_text(), Loader=_YAML_LOADER)
    return copy.deepcopy(_PARSED[key])


def stack_file(stack: str, directory: Path = ROOT) -> dict[str, Any]:
    return _yaml_file(directory / f"Pulumi.{stack}.yaml") or {}


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
        value = value if isinstance(value, str) else _yaml_text(value)
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
    return isinstance(value, list) and all(cli_accepts(spec["items"], item) for item in value)


def _yaml_text(value: Any) -> str:
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


def _decrypted(value: Any) -> tuple[Any, bool]:
    """A stack file value with every `secure:` value (top-level or nested, as `--secret
    --path` writes them) replaced by a placeholder, and whether it held one: the CLI marks
    the whole key secret then."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        return "secret-placeholder", True
    if isinstance(value, dict):
        items = {key: _decrypted(item) for key, item in value.items()}
        return {key: plain for key, (plain, _) in items.items()}, any(
            secure for _, secure in items.values()
        )
    if isinstance(value, list):
        items_list = [_decrypted(item) for item in value]
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
        plain, secure = _decrypted(value)
        config[key] = _config_text(plain)
        if secure:
            secret_keys.append(key)
    config.update(overrides or {})
    # As `pulumi config set --secret` would leave them: the value, listed as secret.
    config.update(secret_overrides or {})
    secret_keys += [key for key in secret_overrides or {} if key not in secret_keys]
    return config, secret_keys
