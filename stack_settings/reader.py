"""Reading the stack's config: raw values as the CLI hands them over, one sentence per bad
value, and the checks on the set of keys itself (unknown keys, a wrong-case namespace,
secrecy where it would be lost)."""

from __future__ import annotations

import difflib
import json
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Generic, TypeVar

import pulumi
import yaml

PROJECT = "webapp"
PROJECT_FILE = Path(__file__).resolve().parent.parent / "Pulumi.yaml"
# The only keys whose values are secrets; `--secret` on any other key would be lost in
# plain outputs, labels and ConfigMaps.
SECRET_KEYS = ("backupS3AccessKeyId", "backupS3SecretAccessKey", "secretEnv")
# Keys people set expecting a setting the program deliberately does not have.
NOT_SETTINGS = {
    "dbPassword": "the database passwords are generated (one per role, by pulumi-random) and "
    "kept encrypted in the stack's state, so none is configured; read the app's with: "
    "pulumi stack output --stack {stack} databasePassword --show-secrets",
}

T = TypeVar("T")


class ConfigError(pulumi.RunError):
    """Bad stack configuration; the CLI prints only the message."""


class BadValueError(ValueError):
    """A bad value whose problem is more specific than the key's usual `allowed` text."""

    def __init__(self, allowed: str | None = None, suggestion: str | None = None) -> None:
        super().__init__(allowed)
        self.allowed = allowed
        self.suggestion = suggestion


@dataclass(frozen=True)
class Feature(Generic[T]):
    """A switchable feature's settings: `value` None means off; `valid` False means its
    config had errors (already reported)."""

    value: T | None
    valid: bool = True


INVALID: Feature[Any] = Feature(None, valid=False)


# libyaml's parser where PyYAML has it: Pulumi.yaml is long, and the pure-Python parser
# spends a fifth of a second of every run on it.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def declared_config() -> Mapping[str, Mapping[str, Any]]:
    """The project's own config declarations from Pulumi.yaml, by short key."""
    project = yaml.load(PROJECT_FILE.read_text(), Loader=_YAML_LOADER)
    declared = project.get("config") or {}
    return {key: spec for key, spec in declared.items() if ":" not in key}


def present(value: T | None) -> T:
    if value is None:
        raise AssertionError("a checked setting is missing")
    return value


def fails(raw: str) -> Any:
    raise ValueError(raw)


# The CLI refuses a plain value that looks random under a key whose name says secret
# (looksLikeSecret in pulumi's cmd/pulumi/config), unless told --plaintext: a Secret's
# name such as webapp-backup-s3 is refused without it.
_SECRET_LOOKING_KEY = re.compile(r"passwd|pass|password|pwd|secret|token", re.IGNORECASE)


def plaintext_flag(key: str) -> str:
    """` --plaintext` for a plain value of a key the CLI may take for a secret's."""
    return " --plaintext" if _SECRET_LOOKING_KEY.search(key) else ""


class Reader:
    """Reads raw config strings and collects one sentence per bad value."""

    def __init__(self, config: pulumi.Config, stack: str) -> None:
        self._config = config
        self.stack = stack
        self.errors: list[str] = []

    def fix_command(self, key: str, value: str) -> str:
        return (
            f"pulumi config set{plaintext_flag(key)} --stack {self.stack} {PROJECT}:{key} "
            + shlex.quote(value)
        )

    def secret_set(self, target: str, value: str = "<value>", hint: bool = True) -> str:
        """`target` is a full key, or `--path '<key>.<name>'`. A local stack of the Makefile
        keeps its own secrets in its copy of the stack file: the tracked file's are
        encrypted for the Pulumi Cloud stack that CI deploys."""
        command = f"pulumi config set --secret --stack {self.stack} {target} {value}"
        if not hint:
            return command
        return (
            f"{command} (on a local stack of make, add --config-file "
            f".pulumi-local/Pulumi.{self.stack}.yaml)"
        )

    def remove_command(self, key: str) -> str:
        return f"pulumi config rm --stack {self.stack} {PROJECT}:{key}"

    def example(self, key: str) -> str:
        default = declared_config()[key].get("default")
        if isinstance(default, bool):
            return "true" if default else "false"
        if isinstance(default, (list, dict)):
            return json.dumps(default)
        return str(default)

    def fail(
        self,
        key: str,
        raw: str | None,
        allowed: str,
        fix_value: str | None = None,
        fix: str | None = None,
    ) -> None:
        """`fix` replaces the whole `pulumi config set` command where that is not the fix."""
        shown = "not set" if raw is None else f"'{raw}'"
        if fix is None:
            fix = self.fix_command(key, fix_value if fix_value is not None else self.example(key))
        self.errors.append(f"{PROJECT}:{key} is {shown}, but {allowed}; fix it with: {fix}")

    def is_secret(self, key: str) -> bool:
        return pulumi.runtime.config.is_config_secret(f"{PROJECT}:{key}")

    def raw(self, key: str) -> str | None:
        if key not in declared_config():
            raise KeyError(f"{PROJECT}:{key} is read but not declared in Pulumi.yaml")
        return self._config.get(key)

    def changed(self, key: str) -> bool:
        """Whether the stack sets `key` to something other than its declared default."""
        return self.raw(key) != self.example(key)

    def read(
        self,
        key: str,
        parse: Callable[[str], T],
        allowed: str,
        suggest: Callable[[str], str | None] | None = None,
    ) -> T | None:
        """`parse` raises ValueError on a bad value (a BadValueError to say more precisely what
        is wrong); `suggest` proposes a fixed value."""
        raw = self.raw(key)
        if raw is None:
            self.fail(key, raw, allowed)
            return None
        try:
            return parse(raw)
        except BadValueError as problem:
            suggestion = problem.suggestion
            if suggestion is None and suggest:
                suggestion = suggest(raw)
            self.fail(key, raw, problem.allowed or allowed, suggestion)
        except ValueError:
            self.fail(key, raw, allowed, suggest(raw) if suggest else None)
        return None

    def read_json(self, key: str, kind: type, allowed: str, fix: str) -> Any:
        """An object or list value (set with --path), parsed from the JSON the CLI hands
        over; None after a reported error."""
        raw = self.raw(key) or ""
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if not isinstance(value, kind):
            shown = "[secret]" if self.is_secret(key) else raw
            self.fail(key, shown, allowed, fix=fix)
            return None
        return value


def present_config_keys() -> list[str]:
    """Every config key the engine handed to this program (any namespace)."""
    keys = set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.get_config_env())
    return sorted(keys)


def _raw_value(full_key: str) -> str | None:
    # Read beside pulumi.Config: the key is none of ours, and must not count as read.
    return pulumi.runtime.config.get_config(full_key)


def _set_again(reader: Reader, full_key: str, target: str) -> str:
    """The command that sets `full_key`'s value under `target`. A secret moves as a secret:
    a plain `config set` would write it in clear, and its value is never shown."""
    if pulumi.runtime.config.is_config_secret(full_key):
        return reader.secret_set(target)
    value = shlex.quote(_raw_value(full_key) or "")
    return f"pulumi config set{plaintext_flag(target)} --stack {reader.stack} {target} {value}"


def _meant_project(namespace: str) -> bool:
    """Another case or spelling of the project's namespace (webApp, web-app, webap), not
    another program's or provider's (kubernetes, pulumi)."""
    folded = namespace.lower().replace("-", "").replace("_", "")
    return folded == PROJECT or difflib.SequenceMatcher(None, folded, PROJECT).ratio() >= 0.8


def check_keys(reader: Reader, keys: list[str]) -> None:
    """Keys the program would silently ignore or whose secrecy would be lost."""
    declared = list(declared_config())
    for full_key in keys:
        namespace, _, key = full_key.partition(":")
        if namespace != PROJECT and _meant_project(namespace):
            set_command = _set_again(reader, full_key, f"{PROJECT}:{key}")
            reader.errors.append(
                f"{full_key} is set, but this program reads only keys of the {PROJECT}: "
                f"namespace (all lowercase), so it would be ignored; move it with: pulumi "
                f"config rm --stack {reader.stack} {full_key} && {set_command}"
            )
        if namespace != PROJECT:
            continue
        if key in NOT_SETTINGS:
            reader.errors.append(
                f"{full_key} is set, but it is not a setting of this program: "
                f"{NOT_SETTINGS[key].format(stack=reader.stack)}; remove it with: pulumi "
                f"config rm --stack {reader.stack} {full_key}"
            )
        elif key not in declared and key.partition(".")[0].partition("[")[0] in declared:
            # `config set webapp:env.X v` without --path sets a key named `env.X`.
            set_command = _set_again(reader, full_key, f"--path '{full_key}'")
            reader.errors.append(
                f"{full_key} is set, but it is not a setting of this program: a key of an "
                "object or an item of a list is set with --path, without which the CLI took "
                f"the whole name as a key; move it with: pulumi config rm --stack {reader.stack} "
                f"{full_key} && {set_command}"
            )
        elif key not in declared:
            close = difflib.get_close_matches(key, declared, n=1)
            hint = f"did you mean {PROJECT}:{close[0]}? " if close else ""
            remove = f"pulumi config rm --stack {reader.stack} {full_key}"
            # The likely key gets the value the user meant for it, where it has none of its
            # own and the value can be shown (a secret's would be typed in again).
            taken = bool(close) and reader.changed(close[0])
            fix = (
                f"move it with: {_set_again(reader, full_key, f'{PROJECT}:{close[0]}')} && "
                f"{remove}"
                if close and not taken and not reader.is_secret(key)
                else f"remove it with: {remove}"
            )
            if taken and not reader.is_secret(close[0]):
                fix += f" ({PROJECT}:{close[0]} is set already, to '{reader.raw(close[0])}')"
            reader.errors.append(
                f"{full_key} is set, but it is not a setting of this program ({hint}every "
                f"setting is listed in Pulumi.yaml); {fix}"
            )
        elif key not in SECRET_KEYS and reader.is_secret(key):
            _lost_secrecy(reader, key)


def _lost_secrecy(reader: Reader, key: str) -> None:
    if key == "env":
        reader.fail(
            key,
            "set with a secret value",
            f"values of {PROJECT}:env go into the app's ConfigMap in plaintext; secret "
            f"values belong in {PROJECT}:secretEnv, which goes into its Secret",
            fix=f"pulumi config rm --stack {reader.stack} --path '{PROJECT}:env.<NAME>' && "
            + reader.secret_set(f"--path '{PROJECT}:secretEnv.<NAME>'"),
        )
        return
    reader.fail(
        key,
        "set as a secret",
        "it is not secret: it goes into plain outputs, labels and ConfigMaps, where its "
        "secrecy would be lost",
        fix=f"pulumi config set --stack {reader.stack} {PROJECT}:{key} <value> (without --secret)",
    )
