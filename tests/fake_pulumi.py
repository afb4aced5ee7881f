"""A stand-in for the `pulumi` CLI, for running the Makefile's targets without one.

It records every call, accepts only the flags the real commands have (for the commands
the Makefile uses; cobra rejects unknown flags the same way), keeps a list of stacks in
the file backend of PULUMI_BACKEND_URL, and writes what the real CLI writes on a file
backend with the passphrase secrets provider: `stack init`/`stack select --create` save
the project's Pulumi.<stack>.yaml (under --cwd) with an `encryptionsalt:`; preview, up
and destroy add one to the stack file they use (--config-file, else Pulumi.<stack>.yaml)
when it has none; `stack rm` deletes Pulumi.<stack>.yaml unless --preserve-config. An up
of a stack whose config sets webapp:renderYamlTo writes a manifest there.

Run with this file's path as the `pulumi` on PATH (tests/test_make.py makes a wrapper).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import yaml

GLOBAL_FLAGS = {"--cwd", "-C", "--non-interactive", "--color", "--emoji", "-e", "-v"}
COMMAND_FLAGS: dict[tuple[str, ...], set[str]] = {
    ("install",): {"--no-plugins", "--no-dependencies", "--reinstall"},
    ("stack", "select"): {"--create", "-c", "--stack", "-s", "--secrets-provider"},
    ("stack", "init"): {
        "--stack",
        "-s",
        "--secrets-provider",
        "--copy-config-from",
        "--no-select",
        "--teams",
    },
    ("stack", "rm"): {
        "--yes",
        "-y",
        "--force",
        "-f",
        "--stack",
        "-s",
        "--preserve-config",
        "--remove-backups",
    },
    ("preview",): {"--stack", "-s", "--config-file", "--diff", "--refresh", "-r", "--json"},
    ("up",): {
        "--stack",
        "-s",
        "--config-file",
        "--diff",
        "--yes",
        "-y",
        "--skip-preview",
        "-f",
        "--refresh",
        "-r",
        "--replace",
        "--target",
        "-t",
    },
    ("destroy",): {
        "--stack",
        "-s",
        "--config-file",
        "--diff",
        "--yes",
        "-y",
        "--skip-preview",
        "-f",
        "--remove",
        "--exclude-protected",
    },
}
VALUE_FLAGS = {
    "--cwd",
    "-C",
    "--color",
    "-v",
    "--stack",
    "-s",
    "--secrets-provider",
    "--copy-config-from",
    "--teams",
    "--config-file",
    "--replace",
    "--target",
    "-t",
}


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(255)


def parse(argv: list[str]) -> tuple[tuple[str, ...], list[str], dict[str, str | bool]]:
    positionals: list[str] = []
    flags: dict[str, str | bool] = {}
    index = 0
    while index < len(argv):
        argument = argv[index]
        if argument.startswith("-"):
            name, equals, value = argument.partition("=")
            if name in VALUE_FLAGS and not equals:
                index += 1
                if index == len(argv):
                    fail(f"flag needs an argument: {name}")
                value = argv[index]
            flags[name] = value if (equals or name in VALUE_FLAGS) else True
        else:
            positionals.append(argument)
        index += 1
    length = 2 if positionals[:1] in (["stack"], ["config"]) else 1
    command = tuple(positionals[:length])
    if command not in COMMAND_FLAGS:
        fail(f"unknown command {' '.join(command)!r} (not simulated)")
    for name in flags:
        if name not in GLOBAL_FLAGS | COMMAND_FLAGS[command]:
            fail(f"unknown flag: {name}")
    return command, positionals[length:], flags


def project_dir(start: Path) -> Path:
    for directory in (start, *start.parents):
        if (directory / "Pulumi.yaml").exists():
            return directory
    fail(f"no Pulumi.yaml project file found (searching upwards from {start})")
    raise AssertionError  # unreachable: fail exits


def backend_stacks() -> tuple[Path, list[str]]:
    url = os.environ.get("PULUMI_BACKEND_URL", "")
    if not url.startswith("file://"):
        fail(f"the fake CLI simulates file backends only, not {url!r}")
    state = Path(url.removeprefix("file://")) / ".fake-pulumi-stacks.json"
    return state, json.loads(state.read_text()) if state.exists() else []


def save_stacks(state: Path, stacks: list[str]) -> None:
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps(sorted(stacks)))


def ensure_salt(stack_file: Path) -> None:
    text = stack_file.read_text() if stack_file.exists() else ""
    if any(line.startswith("encryptionsalt:") for line in text.splitlines()):
        return
    if text and not text.endswith("\n"):
        text += "\n"
    stack_file.write_text(text + f"encryptionsalt: v1:{secrets.token_hex(8)}:fake\n")


def stack_name(arguments: list[str], flags: dict[str, Any]) -> str:
    name = flags.get("--stack") or flags.get("-s") or (arguments[0] if arguments else "")
    if not name:
        fail("no stack named (the fake CLI has no current stack)")
    return str(name)


def main(argv: list[str]) -> None:
    log = os.environ.get("FAKE_PULUMI_LOG")
    if log:
        with open(log, "a") as handle:
            handle.write(json.dumps({"argv": argv, "cwd": os.getcwd()}) + "\n")
    command, arguments, flags = parse(argv)
    cwd = Path(str(flags.get("--cwd") or flags.get("-C") or "."))
    if not cwd.is_dir():
        fail(f"--cwd {cwd} is not a directory")
    os.chdir(cwd)
    if command == ("install",):
        return
    project = project_dir(Path.cwd())
    state, stacks = backend_stacks()
    name = stack_name(arguments, flags)
    default_file = project / f"Pulumi.{name}.yaml"
    if command in (("stack", "select"), ("stack", "init")):
        if name in stacks:
            if command == ("stack", "init"):
                fail(f"stack '{name}' already exists")
            return
        if command == ("stack", "select") and not (flags.get("--create") or flags.get("-c")):
            fail(f"no stack named '{name}' found")
        save_stacks(state, [*stacks, name])
        ensure_salt(default_file)
        return
    if name not in stacks:
        fail(f"no stack named '{name}' found")
    if command == ("stack", "rm"):
        save_stacks(state, [s for s in stacks if s != name])
        if not flags.get("--preserve-config"):
            default_file.unlink(missing_ok=True)
        return
    config_file = Path(str(flags["--config-file"])) if "--config-file" in flags else default_file
    ensure_salt(config_file)
    if command == ("up",):
        config = (yaml.safe_load(config_file.read_text()) or {}).get("config") or {}
        target = config.get("webapp:renderYamlTo")
        if target:
            manifests = Path(target) / "1-manifest"
            manifests.mkdir(parents=True, exist_ok=True)
            (manifests / "v1-secret.yaml").write_text("kind: Secret\ndata: {password: cGxhaW4=}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
