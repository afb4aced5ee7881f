"""The real Pulumi engine over the real program: the Automation API runs the project's
`__main__.py` as an inline program (the SDK serves the language runtime itself, so no
`pulumi-language-python` is needed) in a COPY of the project, so the tracked stack files
are never rewritten (a passphrase stack writes its salt into its stack file). What the
tests assert comes from the engine's own events (each step's op, URN and replace keys)
and from the API server.
"""

from __future__ import annotations

import os
import re
import runpy
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from tests.e2e.control_plane import Kubectl

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "webapp"
# Not part of the program; everything else in the project is copied.
NOT_COPIED = {
    ".git", "venv", "tests", "rendered", ".pulumi-state", ".pulumi-local", "docs",
    "examples", "tools", ".github", ".ci", "__pycache__", ".pytest_cache", ".ruff_cache",
}  # fmt: skip
PASSPHRASE = "webapp-e2e"
# Steps that change something in the cluster.
CHANGING = {"create", "update", "delete", "replace", "create-replacement", "delete-replaced"}
REMOVING = {"delete", "delete-replaced", "replace"}


def copy_project(target: Path, source: Path = ROOT) -> Path:
    target.mkdir(parents=True)
    for entry in source.iterdir():
        if entry.name in NOT_COPIED:
            continue
        if entry.is_dir():
            shutil.copytree(
                entry, target / entry.name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(entry, target / entry.name)
    return target


def engine_env(
    bin_dir: Path | None, state: Path, kubeconfig: Path, home: Path | None
) -> dict[str, str]:
    """The environment of every CLI run: a file backend in a temp dir, a passphrase, no
    plugin downloads, no update check; the toolchain first on PATH (plugins are found
    there) unless the user's own CLI is used."""
    env = {
        "PULUMI_BACKEND_URL": f"file://{state}",
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "KUBECONFIG": str(kubeconfig),
    }
    if bin_dir is not None:
        env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
        env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
    if home is not None:
        env["PULUMI_HOME"] = str(home)
    return env


@dataclass
class Step:
    op: str
    urn: str
    type: str
    keys: list[str]
    diffs: list[str]
    old_inputs: dict[str, Any]
    new_inputs: dict[str, Any]

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    @property
    def fixed_name(self) -> bool:
        """An object the program names itself: deleting it deletes what others refer to
        by that name. The provider marks the ones it names."""
        inputs = self.new_inputs or self.old_inputs
        metadata = inputs.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        return self.type.startswith("kubernetes:") and (
            annotations.get("pulumi.com/autonamed") != "true"
        )


@dataclass
class Run:
    """One engine operation: its steps (from the engine's events), its summary, its
    wall time and what the CLI printed."""

    steps: list[Step]
    seconds: float
    changes: dict[str, int]
    output: str
    diagnostics: list[str] = field(default_factory=list)
    policy_violations: list[str] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def step_ops(self) -> set[str]:
        """The ops of every step."""
        return {s.op for s in self.steps}

    def ops(self) -> dict[str, str]:
        """URN -> op of every step but `same`."""
        return {s.urn: s.op for s in self.steps if s.op != "same"}

    def changed(self) -> list[Step]:
        return [s for s in self.steps if s.op in CHANGING]

    def changed_names(self) -> set[str]:
        return {s.name for s in self.changed()}

    def by_op(self, op: str) -> list[Step]:
        return [s for s in self.steps if s.op == op]

    def describe(self) -> str:
        return "\n".join(
            f"  {s.op:20} {s.type} {s.name}" + (f" (keys: {', '.join(s.keys)})" if s.keys else "")
            for s in self.steps
            if s.op != "same"
        )


class _Recorder:
    def __init__(self) -> None:
        self.steps: dict[tuple[str, str], Step] = {}
        self.order: list[tuple[str, str]] = []
        self.diagnostics: list[str] = []
        self.policy: list[str] = []
        self.output: list[str] = []

    def on_event(self, event: auto.EngineEvent) -> None:
        pre = event.resource_pre_event
        if pre is not None:
            m = pre.metadata
            if m.type == "pulumi:pulumi:Stack" and m.op == "same":
                return
            op = m.op.value if hasattr(m.op, "value") else str(m.op)
            key = (m.urn, op)
            if key not in self.steps:
                self.order.append(key)
            self.steps[key] = Step(
                op=op,
                urn=m.urn,
                type=m.type,
                keys=list(m.keys or []),
                diffs=list(m.diffs or []),
                old_inputs=dict((m.old.inputs if m.old else None) or {}),
                new_inputs=dict((m.new.inputs if m.new else None) or {}),
            )
        diagnostic = event.diagnostic_event
        if diagnostic is not None and diagnostic.severity in ("error", "warning"):
            self.diagnostics.append(f"{diagnostic.severity}: {diagnostic.message.strip()}")
        policy = event.policy_event
        if policy is not None:
            self.policy.append(
                f"{policy.enforcement_level} {policy.policy_name}: {policy.message.strip()}"
            )

    def on_output(self, line: str) -> None:
        self.output.append(line)

    def run(self, seconds: float, changes: dict[str, int] | None, outputs: Any = None) -> Run:
        return Run(
            steps=[self.steps[key] for key in self.order],
            seconds=seconds,
            changes=dict(changes or {}),
            output="\n".join(self.output),
            diagnostics=self.diagnostics,
            policy_violations=self.policy,
            outputs={k: v.value for k, v in (outputs or {}).items()},
        )


class EngineError(AssertionError):
    """A CLI run that failed: its exit status and everything it printed."""

    def __init__(self, error: auto.CommandError, recorder: _Recorder) -> None:
        text = str(error)
        found = re.search(r"code: (-?\d+)", text)
        self.exit_code = int(found.group(1)) if found else None
        self.text = text
        self.run = recorder.run(0.0, None)
        super().__init__(f"the engine failed (exit {self.exit_code}):\n{text[-6000:]}")


def _program_modules(project: Path) -> set[str]:
    names = {p.stem for p in project.glob("*.py") if p.stem != "__main__"}
    names |= {p.parent.name for p in project.glob("*/__init__.py")}
    return names


def inline_program(project: Path):  # noqa: ANN201
    """Runs the copy's `__main__.py` as the CLI would: its directory first on sys.path and
    as the working directory, its own modules imported afresh each run (module state of a
    previous run must not leak into the next)."""
    modules = _program_modules(project)

    def program() -> None:
        for name in list(sys.modules):
            if name.split(".")[0] in modules:
                del sys.modules[name]
        sys.path.insert(0, str(project))
        cwd = os.getcwd()
        os.chdir(project)
        try:
            runpy.run_path(str(project / "__main__.py"), run_name="__main__")
        finally:
            os.chdir(cwd)
            sys.path.remove(str(project))

    return program


@dataclass
class Toolchain:
    """Where the CLI and its plugins come from and where state goes."""

    env: dict[str, str]
    policy_pack: Path
    work: Path

    def pulumi_command(self) -> auto.PulumiCommand:
        path = shutil.which("pulumi", path=self.env.get("PATH", os.environ["PATH"]))
        assert path, "no pulumi CLI on PATH"
        # PulumiCommand takes the directory above bin/.
        return auto.PulumiCommand(str(Path(path).parent.parent))


class Deployment:
    """A stack of the Python program in its own copy of the project."""

    def __init__(
        self,
        toolchain: Toolchain,
        stack: str,
        config: dict[str, str],
        secrets: Iterable[str] = (),
        directory: Path | None = None,
    ) -> None:
        self.toolchain = toolchain
        self.name = stack
        self.project = copy_project(directory or (toolchain.work / f"project-{stack}"))
        self.stack = auto.create_or_select_stack(
            stack_name=stack,
            project_name=PROJECT,
            program=inline_program(self.project),
            opts=auto.LocalWorkspaceOptions(
                work_dir=str(self.project),
                env_vars=toolchain.env,
                pulumi_command=toolchain.pulumi_command(),
            ),
        )
        self.set_config(config, secrets)

    def set_config(self, config: dict[str, str], secrets: Iterable[str] = ()) -> None:
        secret_keys = set(secrets)
        self.stack.set_all_config(
            {k: auto.ConfigValue(v, secret=k in secret_keys) for k, v in config.items()},
            path=False,
        )

    def remove_config(self, keys: Sequence[str]) -> None:
        self.stack.remove_all_config(list(keys))

    def config_file(self) -> Path:
        return self.project / f"Pulumi.{self.name}.yaml"

    def _call(self, verb: str, **kwargs: Any) -> Run:
        recorder = _Recorder()
        start = time.monotonic()
        try:
            result = getattr(self.stack, verb)(
                on_event=recorder.on_event, on_output=recorder.on_output, color="never", **kwargs
            )
        except auto.CommandError as error:
            raise EngineError(error, recorder) from None
        seconds = time.monotonic() - start
        summary = getattr(result, "summary", None)
        changes = getattr(result, "change_summary", None) or (
            summary.resource_changes if summary else None
        )
        return recorder.run(seconds, changes, getattr(result, "outputs", None))

    def preview(self, policy: bool = False, **kwargs: Any) -> Run:
        if policy:
            kwargs["policy_packs"] = [str(self.toolchain.policy_pack)]
        return self._call("preview", diff=True, **kwargs)

    def up(self, **kwargs: Any) -> Run:
        return self._call("up", **kwargs)

    def destroy(self, **kwargs: Any) -> Run:
        return self._call("destroy", **kwargs)

    def outputs(self) -> dict[str, Any]:
        return {k: v.value for k, v in self.stack.outputs().items()}

    def remove(self) -> None:
        self.stack.workspace.remove_stack(self.name, force=True)

    def clear_away(self, kubectl: Kubectl, namespace: str) -> None:
        """Ends the stack whatever its guards (test cleanup, not a user's path): the stack
        forgotten and its namespace deleted, which deletes everything in it (the program
        puts nothing outside its namespace: test_dev.py's destroy proves it). Not waited
        for: no scenario uses the namespace again, and released volumes are recycled."""
        self.remove()
        kubectl.run("delete", "namespace", namespace, "--ignore-not-found", "--wait=false")


def write_policy_pack_launcher(directory: Path) -> Path:
    """`--policy-pack` also takes an executable: the pack's own `__main__.py` under this
    interpreter (it has pulumi-policy), started in policy/ as the CLI would start it."""
    script = directory / "webapp-policy-pack"
    script.write_text(
        f'#!/bin/sh\ncd {ROOT / "policy"} && exec {sys.executable} -u __main__.py "$@"\n'
    )
    script.chmod(0o755)
    return script
