"""Runs the program under Pulumi's mocks and records what the engine would receive: the
project's mock engine, for `make check` (tools/check_stack.py) and the tests
(tests/harness.py points it at the tests' fixture stacks).

The mock monitor records every registration request as plain data (type, name, parent,
dependencies, options, inputs with their secret paths), to read after the program has
settled, the way the engine and the Kubernetes provider would see it. The config is what
the CLI would hand the program (tools/stack_config.py): the stack file's values over
Pulumi.yaml's defaults, `secure:` values as placeholders (they cannot be decrypted without
the stack's key).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import runpy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import resource as runtime_resource
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.settings import SETTINGS, get_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from tools.stack_config import (
    PROJECT,
    ROOT,
    _config_text,
    cli_accepts,
    cli_config,
    project_file,
    stack_file,
    stack_names,
)

# What the tests import from here (they had it here before tools/stack_config.py).
__all__ = [
    "PROJECT",
    "ROOT",
    "_config_text",
    "cli_accepts",
    "cli_config",
    "project_file",
    "stack_file",
    "stack_names",
]

SECRET_SIG_KEY = rpc._special_sig_key
SECRET_SIG = rpc._special_secret_sig


def fake_password(name: str, generation: str = "") -> str:
    """Alphanumeric like the real one, and unique enough to be searched for anywhere;
    another `generation` stands for a rotated password."""
    return "MockPw" + hashlib.sha256((name + generation).encode()).hexdigest()[:26]


def unwrap_secrets(value: Any, path: str = "") -> tuple[Any, set[str]]:
    """Strips the wire format's secret markers; returns the plain value and the paths
    (dotted, list items as [i]) that were marked secret."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG_KEY) == SECRET_SIG:
            plain, inner = unwrap_secrets(value.get("value"), path)
            return plain, {path} | inner
        plain_dict, paths = {}, set()
        for key, item in value.items():
            plain_dict[key], found = unwrap_secrets(item, f"{path}.{key}" if path else key)
            paths |= found
        return plain_dict, paths
    if isinstance(value, list):
        plain_list, paths = [], set()
        for index, item in enumerate(value):
            plain, found = unwrap_secrets(item, f"{path}[{index}]")
            plain_list.append(plain)
            paths |= found
        return plain_list, paths
    # Numbers cross the wire as doubles; the provider sends whole ones as JSON integers.
    if isinstance(value, float) and value.is_integer():
        return int(value), set()
    return value, set()


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    secret_paths: set[str]
    dependencies: list[str]
    provider: str
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    ignore_changes: list[str]
    custom_timeouts: dict[str, str] = field(default_factory=dict)
    # As sent: {"urn": ...} or {"spec": {"name", "type", "parentUrn", "noParent", ...}}.
    aliases: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def is_kubernetes(self) -> bool:
        return self.custom and self.type.startswith("kubernetes:")

    def manifest(self) -> dict[str, Any]:
        """The object as the provider sends it to the API server (auto-name included)."""
        return self.state


class Mocks(pulumi.runtime.Mocks):
    def __init__(
        self, password_generation: str = "", stack_outputs: dict[str, Any] | None = None
    ) -> None:
        """`stack_outputs` are what the program reads of its own stack: the outputs of the last
        update (none: a stack that was never deployed)."""
        super().__init__()
        self.password_generation = password_generation
        self.stack_outputs = stack_outputs or {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        state, _ = unwrap_secrets(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = fake_password(args.name, self.password_generation)
        if args.typ.startswith("kubernetes:") and "metadata" in state:
            metadata = state["metadata"]
            # The provider auto-names objects without a name: `<logical name>-<random>`.
            if not metadata.get("name"):
                suffix = hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()
                metadata["name"] = f"{args.name}-{suffix[:8]}"
            namespace = metadata.get("namespace")
            return (f"{namespace}/{metadata['name']}" if namespace else metadata["name"]), state
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        if args.token == "pulumi:pulumi:readStackOutputs":
            # What the engine's function answers: the stack's outputs and which are secret.
            return {
                "name": args.args["name"],
                "outputs": dict(self.stack_outputs),
                "secretOutputNames": [],
            }, []
        return {}, []


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.component_outputs: dict[str, tuple[dict[str, Any], set[str]]] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        inputs, secret_paths = unwrap_secrets(rpc.deserialize_properties(request.object))
        record = Registration(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent,
            custom=bool(request.custom),
            inputs=inputs,
            secret_paths=secret_paths,
            dependencies=list(request.dependencies),
            provider=request.provider,
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            delete_before_replace=bool(request.deleteBeforeReplace),
            ignore_changes=list(request.ignoreChanges),
            custom_timeouts={
                phase: getattr(request.customTimeouts, phase)
                for phase in ("create", "update", "delete")
                if getattr(request.customTimeouts, phase)
            },
            aliases=[json_format.MessageToDict(alias) for alias in request.aliases],
        )
        record.state = self.resources[response.urn].state if record.custom else {}
        self.registrations.append(record)
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
        outputs, secret_paths = unwrap_secrets(rpc.deserialize_properties(request.outputs))
        self.component_outputs[request.urn] = (outputs, secret_paths)
        return super().RegisterResourceOutputs(request)


class _LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@dataclass
class StackOutput:
    value: Any
    secret: bool


@dataclass
class ProgramRun:
    stack: str
    config: dict[str, str]
    registrations: list[Registration]
    component_outputs: dict[str, tuple[dict[str, Any], set[str]]]
    outputs: dict[str, StackOutput]
    logs: list[str]
    config_keys_read: set[str]

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def one(self, type_: str, name: str) -> Registration:
        matches = [r for r in self.registrations if r.type == type_ and r.name == name]
        assert len(matches) == 1, f"expected one {type_} named {name}, got {len(matches)}"
        return matches[0]

    def kubernetes(self) -> list[Registration]:
        return [r for r in self.registrations if r.is_kubernetes]

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.registrations}

    def engine_urn(self, record: Registration) -> str:
        """The URN the engine gives `record`. Mocks qualify a type with the Stack's type and
        only the parent's own type; the engine leaves the root Stack out and qualifies a
        type with its whole chain of ancestors' types."""
        by_urn = self.by_urn()
        types = [record.type]
        parent = by_urn.get(record.parent)
        while parent is not None:
            types.insert(0, parent.type)
            parent = by_urn.get(parent.parent)
        return f"urn:pulumi:{self.stack}::{PROJECT}::{'$'.join(types)}::{record.name}"

    def transitive_dependencies(self, record: Registration) -> set[str]:
        """Everything the engine waits for before it creates `record`: its dependencies
        and, through components, those of its ancestors."""
        by_urn = self.by_urn()
        seen: set[str] = set()
        pending = list(record.dependencies) + ([record.parent] if record.parent else [])
        while pending:
            urn = pending.pop()
            if urn in seen or urn not in by_urn:
                continue
            seen.add(urn)
            dependency = by_urn[urn]
            pending.extend(dependency.dependencies)
            if dependency.parent:
                pending.append(dependency.parent)
        return seen


def _no_stack_trace() -> source_pb2.StackTrace:
    return source_pb2.StackTrace()


def _end_the_failed_run() -> None:
    """The SDK stops at a failed program's first error and keeps the rest of its output
    tasks in the runtime's settings, where the next run awaits them (a resource that waited
    on the failed output then fails that run with the earlier run's error). A real
    program's process ends there: so do they."""
    loop = _ensure_event_loop()
    with SETTINGS.lock:
        left = list(SETTINGS.outputs)
        SETTINGS.outputs.clear()
    for task in left:
        task.cancel()
    if left and not loop.is_running():
        loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))


def run(
    stack: str,
    program: Callable[[], Any],
    config: dict[str, str] | None = None,
    secret_keys: list[str] | None = None,
    monitor: RecordingMonitor | None = None,
    project: str = PROJECT,
) -> ProgramRun:
    """Runs `program` under mocks; pass `monitor` to see what was registered even when the
    program fails. `project` names another program's project (its config namespace)."""
    mocks = monitor.mocks if monitor else Mocks()
    monitor = monitor or RecordingMonitor(mocks)
    logger = logging.getLogger(f"pulumi-mock-{stack}")
    capture = _LogCapture()
    logger.addHandler(capture)
    # set_mocks keeps the root Stack of an earlier run, and with it that run's exports:
    # every run gets a Stack of its own.
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(
        mocks, project=project, stack=stack, preview=False, logger=logger, monitor=monitor
    )
    pulumi.runtime.set_all_config(config or {}, secret_keys or [])
    keys_read: set[str] = set()
    real_get = pulumi.Config._get

    def recording_get(self: pulumi.Config, key: str, *args: Any, **kwargs: Any) -> Any:
        keys_read.add(self.full_key(key))
        return real_get(self, key, *args, **kwargs)

    pulumi.Config._get = recording_get  # type: ignore[method-assign]
    # For each resource the SDK reads the whole Python stack, source lines and all, for
    # the source position the engine shows in its messages. The mock monitor records
    # none, and under pytest the stack is some sixty frames deep: a sixth of a run.
    real_stack_trace = runtime_resource._get_stack_trace
    runtime_resource._get_stack_trace = _no_stack_trace
    try:
        _sync_await(run_pulumi_func(program))
        outputs = {}
        for name, value in get_root_resource().outputs.items():
            output = pulumi.Output.from_input(value)
            outputs[name] = StackOutput(
                _sync_await(output.future()), bool(_sync_await(output.is_secret()))
            )
    except BaseException:
        _end_the_failed_run()
        raise
    finally:
        pulumi.Config._get = real_get  # type: ignore[method-assign]
        runtime_resource._get_stack_trace = real_stack_trace
        logger.removeHandler(capture)
    return ProgramRun(
        stack=stack,
        config=dict(config or {}),
        registrations=monitor.registrations,
        component_outputs=monitor.component_outputs,
        outputs=outputs,
        logs=capture.messages,
        config_keys_read=keys_read,
    )


def run_main(
    stack: str,
    overrides: dict[str, str] | None = None,
    monitor: RecordingMonitor | None = None,
    secret_overrides: dict[str, str] | None = None,
    stacks_dir: Path = ROOT,
) -> ProgramRun:
    """Runs the real `__main__.py` with the config the CLI would give it for `stack` (its
    Pulumi.<stack>.yaml in `stacks_dir`); `secret_overrides` are set as `pulumi config set
    --secret` would."""
    config, secret_keys = cli_config(stack, overrides, secret_overrides, stacks_dir)
    return run_main_on(stack, config, secret_keys, monitor)


def run_main_on(
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    monitor: RecordingMonitor | None = None,
) -> ProgramRun:
    """Runs the real `__main__.py` with `config` as the CLI hands it over (see cli_config)."""
    return run(
        stack,
        lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"),
        config,
        secret_keys,
        monitor,
    )


def pod_templates(run_: ProgramRun) -> Iterator[tuple[Registration, dict[str, Any]]]:
    """Every pod template the program declares, with the workload that owns it."""
    for record in run_.kubernetes():
        spec = record.manifest().get("spec") or {}
        kind = record.manifest().get("kind")
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
            yield record, spec["template"]
        elif kind == "CronJob":
            yield record, spec["jobTemplate"]["spec"]["template"]
        elif kind == "Pod":
            yield record, {"metadata": record.manifest().get("metadata"), "spec": spec}
