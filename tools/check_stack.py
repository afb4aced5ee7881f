"""`make check STACK=<stack> [RENDER=<dir>]`: what a stack file would deploy, and every
config error with its fix, without the Pulumi CLI and without a cluster.

It reads Pulumi.<stack>.yaml as the CLI would (the declared types checked first, as the CLI
does before the program runs; `secure:` values as placeholders, since only the stack's
key decrypts them), runs the program under the project's mock engine
(tools/mock_engine.py) and prints a summary. With --render, it writes every Kubernetes
object to <dir> as YAML, Secret values redacted. `make preview` stays the real check: it
also asks the cluster, the state and the providers, which this cannot.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.local_stack_config import SECRETS_PROVIDER_KEYS
from tools.stack_config import (
    PROJECT,
    ROOT,
    StackFileError,
    cli_accepts,
    leaf_paths,
    project_file,
    stack_file,
    with_placeholders,
    yaml_text,
)

if TYPE_CHECKING:
    from tools.mock_engine import ProgramRun

REDACTED = "<redacted: set at deploy time>"
# Where the Makefile keeps a local stack's copy of its stack file.
LOCAL_DIRECTORY = ".pulumi-local"


def type_errors(stack: str, directory: Path) -> list[str]:
    """What the CLI refuses before the program runs: a value of the wrong declared type. The
    CLI checks decrypted values; an encrypted one is text, as its placeholder is."""
    declared = project_file().get("config") or {}
    errors = []
    for full_key, value in (stack_file(stack, directory).get("config") or {}).items():
        namespace, _, key = full_key.partition(":")
        spec = declared.get(key)
        if namespace != PROJECT or not isinstance(spec, dict):
            continue
        if isinstance(value, dict) and set(value) == {"secure"}:
            continue  # checked by the CLI once decrypted, which only the stack's key can
        plain, _ = with_placeholders(value)
        if not cli_accepts(spec, plain):
            errors.append(
                f"Stack '{stack}' with configuration key '{full_key}' must be of type "
                f"'{_type_name(spec)}', but it is {_shown(value)} (the CLI stops here); fix "
                f"it with: {_type_fix(stack, full_key, spec, value)}"
            )
    return errors


def _type_name(spec: dict[str, Any]) -> str:
    """As the CLI names it (workspace.InferFullTypeName)."""
    if "items" in spec:
        return f"array<{_type_name(spec['items'])}>"
    return str(spec["type"])


# YAML 1.1's other booleans, which the CLI reads as text (tools/stack_config.CliYamlLoader).
_MEANT_TRUE = {"yes", "y", "on"}
_MEANT_FALSE = {"no", "n", "off"}


def _type_fix(stack: str, full_key: str, spec: dict[str, Any], value: Any) -> str:
    """The command that sets what the value was most likely meant to be."""
    set_key = f"pulumi config set --stack {stack} {full_key}"
    if spec["type"] == "boolean":
        word = str(value).lower()
        meant = "true" if word in _MEANT_TRUE else "false" if word in _MEANT_FALSE else None
        return f"{set_key} {meant or '<true or false>'}"
    if spec["type"] == "array":
        placeholder = f"<{_type_name(spec['items'])}>"
        if isinstance(value, list):
            return " && ".join(
                f"pulumi config set --stack {stack}{_item_flags(full_key, item)} --path "
                f"'{full_key}[{index}]' -- {_item_text(item, placeholder)}"
                for index, item in enumerate(value)
                if not cli_accepts(spec["items"], item, from_stack_file=False)
            )
        # A single value where a list belongs becomes the list's first item.
        return (
            f"pulumi config rm --stack {stack} {full_key} && pulumi config set --stack {stack}"
            f"{_item_flags(full_key, value)} --path '{full_key}[0]' -- "
            f"{_item_text(value, placeholder)}"
        )
    return f"{set_key} {_example(spec)}"


def local_copy(tracked: Path, local: Path) -> tuple[list[str], dict[str, Any], str | None]:
    """The keys a local stack of the Makefile sets besides the tracked file's (which CI
    deploys), the config `make preview` deploys with them, or why `make preview` would
    stop bringing the copy up to date."""
    if not local.exists():
        return [], {}, None
    from tools.local_stack_config import LocalConfigError, build

    try:
        copy = build(tracked, local, {})
    except LocalConfigError as error:
        return [], {}, str(error)
    config = copy.document["config"]
    return sorted(set(config) - set(copy.copied)), {"config": config}, None


def local_errors(stack: str, document: dict[str, Any]) -> list[str]:
    """The local copy's config checked as the tracked file is: its secrets provider's state
    left out (it belongs there), secure values as placeholders."""
    from stack_settings.reader import ConfigError
    from tools.mock_engine import run_main

    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document))
        errors = type_errors(stack, Path(scratch))
        if errors:
            return errors
        try:
            run_main(stack, stacks_dir=Path(scratch))
        except ConfigError as error:
            return str(error).splitlines() + plaintext_secret_errors(stack, Path(scratch))
        return plaintext_secret_errors(stack, Path(scratch))


def provider_state_errors(stack: str, directory: Path) -> list[str]:
    """A secrets provider's state in the tracked file: a `pulumi config set --secret` run
    on a local stack without its copy's --config-file writes a salt there, and the Pulumi
    Cloud stack that CI deploys from the file would then ask for a passphrase."""
    document = stack_file(stack, directory)
    found = [key for key in SECRETS_PROVIDER_KEYS if key in document]
    if not found:
        return []
    return [
        f"Pulumi.{stack}.yaml holds {', '.join(found)}, which a local stack's `pulumi config "
        "set --secret` wrote there without --config-file, so the Pulumi Cloud stack that CI "
        "deploys from this file would ask for a passphrase; fix it with: remove those lines "
        "and the values set with them from the file, and set the values again with "
        f"--config-file {LOCAL_DIRECTORY}/Pulumi.{stack}.yaml"
    ]


def plaintext_secret_errors(stack: str, directory: Path) -> list[str]:
    """A secret key's values in plaintext beside encrypted ones: the CLI hands the program
    the whole key as secret then, so only the stack file shows which are not."""
    from stack_settings.reader import SECRET_KEYS

    config = stack_file(stack, directory).get("config") or {}
    errors = []
    for key in SECRET_KEYS:
        leaves = leaf_paths(config.get(f"{PROJECT}:{key}", {}))
        plain = [path for path, secure in leaves if not secure]
        if not plain or len(plain) == len(leaves):
            continue  # none, or all: the program tells a key set in plaintext itself
        steps = [
            f"pulumi config rm --stack {stack} --path '{PROJECT}:{key}{path}' && pulumi config "
            f"set --secret --stack {stack} --path '{PROJECT}:{key}{path}' <value>"
            for path in plain
        ]
        errors.append(
            f"{PROJECT}:{key} is 'set in plaintext ({', '.join(p.lstrip('.') for p in plain)})'"
            " beside encrypted values, but its values must be set as secrets, so they are "
            f"encrypted in the stack file; fix it with: {' && '.join(steps)} (on a local stack "
            f"of make, add --config-file {LOCAL_DIRECTORY}/Pulumi.{stack}.yaml to the set)"
        )
    return errors


def _shown(value: Any) -> str:
    """Text quoted, as the program's own messages show a value; a number, a boolean, a
    list or an object as JSON."""
    if isinstance(value, str):
        return f"'{value}'"
    return json.dumps(value)


# What the CLI's `--path` turns into a boolean or a number (config.coerce): true, false, and
# whole numbers, but for text that starts with a 0 and has more after it.
_COERCED = re.compile(r"^(?:true|false|0|[1-9]\d*|[+-]\d+)$")


def _item_text(item: Any, placeholder: str) -> str:
    if item is None or isinstance(item, (dict, list)) or item == "":
        return placeholder
    return shlex.quote(yaml_text(item))


def _item_flags(full_key: str, item: Any) -> str:
    """--type string where `--path` would store the text as a number or a boolean; else
    the --plaintext a secret-looking key's value may need (the CLI allows not both)."""
    from stack_settings.reader import plaintext_flag

    text = "" if item is None or isinstance(item, (dict, list)) else yaml_text(item)
    if _COERCED.match(text):
        return " --type string"
    return plaintext_flag(full_key)


def _example(spec: dict[str, Any]) -> str:
    default = spec.get("default")
    if isinstance(default, bool):
        return "true" if default else "false"
    return str(default) if default not in (None, "") else f"<{spec['type']}>"


def _manifests(run: ProgramRun) -> list[dict[str, Any]]:
    return [record.manifest() for record in run.kubernetes()]


def _of_kind(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    # By name: the mock engine registers resources in the order their inputs resolve,
    # which varies from run to run.
    return sorted(
        (m for m in manifests if m.get("kind") == kind),
        key=lambda m: m.get("metadata", {}).get("name", ""),
    )


def summary(run: ProgramRun) -> list[str]:
    """A few lines: objects by kind, replicas, volumes, quota, exposure, backups."""
    manifests = _manifests(run)
    kinds = Counter(m["kind"] for m in manifests)
    lines = [
        f"objects:   {len(manifests)} Kubernetes objects: "
        + ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    ]
    (deployment,) = _of_kind(manifests, "Deployment")
    app = f"app:       {deployment['spec']['replicas']} replica(s)"
    for autoscaler in _of_kind(manifests, "HorizontalPodAutoscaler"):
        spec = autoscaler["spec"]
        app = f"app:       autoscaled, {spec['minReplicas']} to {spec['maxReplicas']} replicas"
    container, *sidecars = deployment["spec"]["template"]["spec"]["containers"]
    beside = ", ".join(f"{sidecar['name']} ({sidecar['image']})" for sidecar in sidecars)
    lines.append(f"{app} of {container['image']}" + (f", with sidecars {beside}" if beside else ""))
    extra = _extra_env(manifests, container)
    if extra:
        lines.append(f"app env:   {extra}")
    volumes = [
        f"{claim['metadata']['name']} {claim['spec']['resources']['requests']['storage']}"
        for claim in _of_kind(manifests, "PersistentVolumeClaim")
    ]
    clusters = _of_kind(manifests, "Cluster")
    if clusters:
        spec = clusters[0]["spec"]
        database = (
            f"database:  cloudnative-pg, {spec['instances']} instance(s) of "
            f"{spec['storage']['size']} each"
        )
    else:
        (statefulset,) = _of_kind(manifests, "StatefulSet")
        database = f"database:  statefulset, {statefulset['spec'].get('replicas', 1)} pod"
    lines.append(database + (f"; volumes: {', '.join(volumes)}" if volumes else ""))
    for quota in _of_kind(manifests, "ResourceQuota"):
        hard = quota["spec"]["hard"]
        lines.append("quota:     " + ", ".join(f"{key} {value}" for key, value in hard.items()))
    lines.append("exposure:  " + _exposure(manifests))
    lines.append("backups:   " + _backups(manifests))
    return lines


def _extra_env(manifests: list[dict[str, Any]], container: dict[str, Any]) -> str:
    """The app's own variables (webapp:env, webapp:secretEnv) beside the database's."""
    sources = {
        kind: source[kind]["name"] for source in container.get("envFrom") or [] for kind in source
    }
    parts = []
    for kind, ref, what in (
        ("ConfigMap", "configMapRef", "env"),
        ("Secret", "secretRef", "secret env"),
    ):
        for manifest in _of_kind(manifests, kind):
            if manifest["metadata"]["name"] == sources.get(ref):
                names = sorted(
                    k for k in manifest.get("data") or {} if not k.startswith("DATABASE_")
                )
                if names:
                    parts.append(f"{what} {', '.join(names)}")
    return "; ".join(parts)


def _exposure(manifests: list[dict[str, Any]]) -> str:
    (deployment,) = _of_kind(manifests, "Deployment")
    pods = deployment["spec"]["template"]["metadata"]["labels"]
    parts = []
    for service in _of_kind(manifests, "Service"):
        spec = service["spec"]
        selector = spec.get("selector") or {}
        if selector and selector.items() <= pods.items():
            ports = ", ".join(str(port["port"]) for port in spec["ports"])
            kind = spec.get("type", "ClusterIP")
            parts.append(f"Service {service['metadata']['name']} {kind} on port {ports}")
    ingresses = _of_kind(manifests, "Ingress")
    for ingress in ingresses:
        hosts = [rule["host"] for rule in ingress["spec"].get("rules") or []]
        tls = "https" if ingress["spec"].get("tls") else "plain http"
        parts.append(f"Ingress {', '.join(hosts)} ({tls})")
    if not ingresses:
        parts.append("no Ingress")
    return "; ".join(parts)


def _backups(manifests: list[dict[str, Any]]) -> str:
    parts = []
    for store in _of_kind(manifests, "ObjectStore"):
        spec = store["spec"]
        parts.append(
            f"WAL archive and base backups to {spec['configuration']['destinationPath']}"
            f" (kept {spec.get('retentionPolicy', 'forever')})"
        )
    for backup in _of_kind(manifests, "ScheduledBackup"):
        parts.append(f"base backup on '{backup['spec']['schedule']}'")
    for cronjob in _of_kind(manifests, "CronJob"):
        pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        steps = [*(pod.get("initContainers") or []), *pod["containers"]]
        names = [step["name"] for step in steps]
        if "dump" not in names:
            continue
        env = {e["name"]: e.get("value") for step in steps for e in step.get("env") or []}
        where = (
            f"copied to {env.get('BUCKET_URL') or 'the bucket'}"
            if "upload" in names
            else "on the cluster only (no off-cluster copy)"
        )
        parts.append(
            f"dumps on '{cronjob['spec']['schedule']}', keeping {env.get('KEEP', '?')}, {where}"
        )
    return "; ".join(parts) if parts else "none"


def _redacted(manifest: dict[str, Any]) -> dict[str, Any]:
    first = ("apiVersion", "kind", "metadata")
    copy = {key: manifest[key] for key in first if key in manifest}
    copy |= {key: value for key, value in manifest.items() if key not in first}
    if manifest.get("kind") != "Secret":
        return copy
    for field in ("data", "stringData"):
        if copy.get(field):
            copy[field] = {key: REDACTED for key in copy[field]}
    return copy


def render(run: ProgramRun, directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    written = 0
    for manifest in _manifests(run):
        metadata = manifest["metadata"]
        name = f"{manifest['kind'].lower()}-{metadata['name']}.yaml"
        header = (
            f"# {manifest['apiVersion']} {manifest['kind']} of stack {run.stack}, rendered by "
            "`make check` under mocks"
        )
        if manifest["kind"] == "Secret":
            header += " (values redacted)"
        (directory / name).write_text(
            header + "\n" + yaml.safe_dump(_redacted(manifest), sort_keys=False)
        )
        written += 1
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0].replace("\n", " "),
        epilog="make check STACK=dev [RENDER=dir] runs this with the project's venv.",
    )
    parser.add_argument("stack", help="the stack whose Pulumi.<stack>.yaml is read, e.g. dev")
    parser.add_argument("--render", type=Path, help="write the manifests to this directory")
    parser.add_argument("--stacks-dir", type=Path, default=ROOT, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    started = time.monotonic()
    stack, directory = options.stack, options.stacks_dir
    path = directory / f"Pulumi.{stack}.yaml"
    if not path.exists():
        print(
            f"error: there is no stack file Pulumi.{stack}.yaml; name a stack that has one "
            f"(make check STACK=dev), or start one from dev's with: cp Pulumi.dev.yaml "
            f"Pulumi.{stack}.yaml (then set a webapp:namespace of its own in it; `make "
            f"preview STACK={stack}` creates the stack)",
            file=sys.stderr,
        )
        return 2
    try:
        errors = provider_state_errors(stack, directory) + type_errors(stack, directory)
    except StackFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    run = None
    if not errors:
        # Imported only now: the program and Pulumi's SDK take most of this tool's second,
        # and a missing file or a value of the wrong type is reported without them.
        from stack_settings.reader import ConfigError
        from tools.mock_engine import run_main

        try:
            run = run_main(stack, stacks_dir=directory)
        except ConfigError as error:
            errors = str(error).splitlines()
        errors += plaintext_secret_errors(stack, directory)
    if errors:
        print(f"{path.name}: {len(errors)} config error(s); the stack would not deploy:")
        for error in errors:
            print(f"  {error}")
        return 1
    assert run is not None
    print(f"{path.name} would deploy (checked under mocks, no CLI, no cluster):")
    for line in summary(run):
        print(f"  {line}")
    for message in run.logs:
        print(f"  warning:   {message}")
    additions, local_document, stopped = local_copy(path, directory / LOCAL_DIRECTORY / path.name)
    if stopped:
        print(
            f"  local:     `make preview STACK={stack}` would stop bringing "
            f"{LOCAL_DIRECTORY}/{path.name} up to date: {stopped}"
        )
        return 1
    if additions:
        added = f"{LOCAL_DIRECTORY}/{path.name} adds {', '.join(additions)}"
        wrong = local_errors(stack, local_document)
        if wrong:
            print(
                f"  local:     {added}, with which `make preview STACK={stack}` would not "
                f"deploy: {len(wrong)} config error(s) (set their fixes with --config-file "
                f"{LOCAL_DIRECTORY}/{path.name}):"
            )
            for error in wrong:
                print(f"  {error}")
            return 1
        print(f"  local:     {added}, checked too: `make preview STACK={stack}` deploys them")
    if options.render:
        count = render(run, options.render)
        print(f"  rendered:  {count} manifests in {options.render}/ (Secret values redacted)")
    print(
        f"No config errors ({time.monotonic() - started:.1f} s). `make preview STACK={stack}` "
        "asks the cluster and the state too."
    )
    return 0


def _closing_thread_loops(event_loop: asyncio.AbstractEventLoop) -> list[asyncio.AbstractEventLoop]:
    """The SDK's calls into the mock engine run in the loop's default executor, and each of
    its threads makes an event loop of its own. Made here instead, they can be closed: left
    to the collector, a loop was at times collected after its own sockets and printed a
    traceback to stderr."""
    made: list[asyncio.AbstractEventLoop] = []

    def thread_loop() -> None:
        made.append(asyncio.new_event_loop())
        asyncio.set_event_loop(made[-1])

    event_loop.set_default_executor(ThreadPoolExecutor(initializer=thread_loop))
    return made


if __name__ == "__main__":
    # The program's event loop, closed before the interpreter exits, with its threads'.
    event_loop = asyncio.new_event_loop()
    asyncio.set_event_loop(event_loop)
    thread_loops = _closing_thread_loops(event_loop)
    try:
        code = main()
    except BrokenPipeError:
        # `make check | head`: the reader has what it wanted.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    finally:
        event_loop.run_until_complete(event_loop.shutdown_default_executor())
        for loop in thread_loops:
            loop.close()
        event_loop.close()
    sys.exit(code)
