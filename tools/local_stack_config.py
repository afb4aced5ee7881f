"""Writes the git-ignored stack file a local stack uses, from the tracked Pulumi.<stack>.yaml.

The tracked stack files are shared with the Pulumi Cloud stacks CI deploys. A stack on a
file backend uses the passphrase secrets provider, which writes `encryptionsalt:` into
whatever stack file it uses; in a tracked file that salt would make the cloud stacks ask
for a passphrase too. So `make` gives each local stack a copy in .pulumi-local/ and
passes it to the CLI (`--config-file`, and `--cwd .pulumi-local` for `stack init`, which
has no such flag).

Each run brings the copy up to date:
- every config value of the tracked file is copied (the tracked file wins for its keys),
  but the copy keeps its own value of a key the tracked file holds encrypted (for its
  Pulumi Cloud stack) or only as an empty object or list;
- the copy's secrets-provider state (encryptionsalt, ...) is kept, never the tracked one's;
- keys only the copy has (local additions such as webapp:kubeContext) are kept, unless an
  earlier run copied them from the tracked file, which no longer has them, and the copy
  still holds the value copied (values compared as the CLI reads them, as text);
- `--set key=value` overrides a value (make render sets webapp:renderYamlTo).
The project file is copied beside it, so the CLI finds the project under --cwd.

Usage: local_stack_config.py TRACKED_STACK_FILE LOCAL_STACK_FILE [--fresh] [--set K=V]...
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.stack_config import StackFileError, leaf_paths, load_yaml, namespaced, yaml_text

SECRETS_PROVIDER_KEYS = ("secretsprovider", "encryptedkey", "encryptionsalt")
HEADER = (
    "# Written by make from {tracked}: keys that file sets are overwritten on every run,\n"
    "# but for its encrypted and empty values. Local additions (keys it does not set) and\n"
    "# the secrets provider below are kept.\n"
)


class LocalConfigError(Exception):
    """A problem the user fixes; printed as one line without a traceback."""


def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        document = load_yaml(path.read_text(encoding="utf-8"), path.name) or {}
    except StackFileError as error:
        raise LocalConfigError(str(error)) from None
    if not isinstance(document, dict):
        raise LocalConfigError(f"{path} is not a YAML mapping")
    if isinstance(document.get("config"), dict):
        try:
            document["config"] = namespaced(document["config"], path.name)
        except StackFileError as error:
            raise LocalConfigError(str(error)) from None
    return document


def _copied_keys_file(local: Path) -> Path:
    # What the last run copied, so a key later removed from the tracked file is removed
    # locally too instead of living on as if it were a local addition.
    return local.with_name(local.name + ".copied.json")


@dataclass
class LocalStackFile:
    document: dict[str, Any]
    # Config copied from the tracked file, by key.
    copied: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def _same(first: Any, second: Any) -> bool:
    """Equal as the CLI reads them: it writes a copy's numbers and booleans back as text
    whenever it saves the file (`replicas: 1` becomes `"1"`)."""
    return _as_text(first) == _as_text(second)


def _as_text(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _as_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_text(item) for item in value]
    return yaml_text(value)


def _holds_secrets(value: Any) -> bool:
    return any(secure for _, secure in leaf_paths(value))


def build(
    tracked_path: Path,
    local_path: Path,
    overrides: dict[str, str],
    fresh: bool = False,
) -> LocalStackFile:
    """The local stack file's content for the tracked file and the current local copy."""
    if not tracked_path.exists():
        raise LocalConfigError(f"{tracked_path} does not exist: there is no such stack")
    tracked = _load(tracked_path)
    unsupported = set(tracked) - {"config", *SECRETS_PROVIDER_KEYS}
    if unsupported:
        raise LocalConfigError(
            f"{tracked_path} has {', '.join(sorted(unsupported))}, which a local stack "
            "cannot use; keep such settings out of the tracked stack file"
        )
    local = {} if fresh else _load(local_path)
    copied_file = _copied_keys_file(local_path)
    previously_copied: dict[str, Any] = (
        {} if fresh or not copied_file.exists() else json.loads(copied_file.read_text())
    )

    tracked_config: dict[str, Any] = dict(tracked.get("config") or {})
    local_config: dict[str, Any] = dict(local.get("config") or {})
    config: dict[str, Any] = {}
    warnings: list[str] = []
    stack = tracked_path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    for key, value in local_config.items():
        if key in tracked_config:
            continue
        if key in previously_copied and _same(value, previously_copied[key]):
            continue  # copied earlier, since removed from the tracked file
        # A local value of its own, or one set locally since (a secret moved out of the
        # tracked file into the copy, as the program's fix for a plaintext one says).
        config[key] = value
    copied: dict[str, Any] = {}
    for key, value in tracked_config.items():
        if not leaf_paths(value) and _holds_secrets(local_config.get(key)):
            # An empty object or list says nothing: the copy's encrypted values are the
            # local stack's own secrets (`pulumi config rm --path` leaves `{}` behind).
            config[key] = local_config[key]
            continue
        encrypted = [path for path, secure in leaf_paths(value) if secure]
        if encrypted:
            # Encrypted for the Pulumi Cloud stack: a local stack cannot decrypt it.
            if key in local_config and not (
                key in previously_copied and _same(local_config[key], previously_copied[key])
            ):
                config[key] = local_config[key]  # the copy's own, set with --config-file
                continue
            if encrypted == [""]:
                raise LocalConfigError(
                    f"{tracked_path} holds {key} encrypted for its Pulumi Cloud stack, which a "
                    f"local stack cannot decrypt; set it for the local stack with: pulumi "
                    f"config set --stack {stack} --config-file {local_path} --secret {key} "
                    "<value>"
                )
            # A value inside an object or list, as `pulumi config set --secret --path` writes.
            inner = f"{key}{encrypted[0]}"
            raise LocalConfigError(
                f"{tracked_path} holds {inner} encrypted for its Pulumi Cloud stack, which a "
                f"local stack cannot decrypt; set it for the local stack with: pulumi config "
                f"set --stack {stack} --config-file {local_path} --secret --path '{inner}' "
                "<value>"
            )
        if (
            key in local_config
            and key in previously_copied
            and not _same(local_config[key], previously_copied[key])
            and not _same(local_config[key], value)
        ):
            warnings.append(
                f"{key} was changed in {local_path} and is reset to the value in "
                f"{tracked_path}; change it there, or set keys it does not have locally"
            )
        config[key] = value
        copied[key] = value
    config.update(overrides)

    document: dict[str, Any] = {
        key: local[key] for key in SECRETS_PROVIDER_KEYS if local.get(key) is not None
    }
    document["config"] = config
    return LocalStackFile(document, copied, warnings)


def write(tracked_path: Path, local_path: Path, overrides: dict[str, str], fresh: bool) -> None:
    result = build(tracked_path, local_path, overrides, fresh)
    local_path.parent.mkdir(parents=True, exist_ok=True)
    text = HEADER.format(tracked=tracked_path.name) + yaml.safe_dump(
        result.document, sort_keys=False, default_flow_style=False
    )
    # Replace in one step, so an interrupted run never leaves half a stack file.
    temporary = local_path.with_name(local_path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, local_path)
    _copied_keys_file(local_path).write_text(json.dumps(result.copied, sort_keys=True))
    project = tracked_path.parent / "Pulumi.yaml"
    shutil.copyfile(project, local_path.parent / "Pulumi.yaml")
    for warning in result.warnings:
        print(f"note: {warning}", file=sys.stderr)


def _assignment(text: str) -> tuple[str, str]:
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not key=value")
    return key, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tracked", type=Path, help="the tracked Pulumi.<stack>.yaml")
    parser.add_argument("local", type=Path, help="the git-ignored stack file to write")
    parser.add_argument(
        "--fresh", action="store_true", help="start over: keep nothing of an earlier copy"
    )
    parser.add_argument("--set", type=_assignment, action="append", default=[], metavar="KEY=VALUE")
    arguments = parser.parse_args(argv)
    try:
        write(arguments.tracked, arguments.local, dict(arguments.set), arguments.fresh)
    except LocalConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
