"""The component package from another language: examples/yaml through the real CLI and
`pulumi-language-yaml`, on the same control plane: preview, up, a no-op up, destroy.

Without the Python language host the CLI cannot start a `runtime: python` plugin by path,
but it runs an executable named `pulumi-resource-<package>` from PATH: a two-line script
that serves the package's components (`python <copy>/components`). The example's
`packages:` entry (the path form) is dropped from its copy for that reason only; the
resources, their type tokens and properties are the example's own.

Other languages: the Node.js and Go language hosts are not served by the Go module proxy
here (tools/e2e, docs/testing.md), so YAML is the one other language this suite runs.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator

import pytest
import yaml
from pulumi import automation as auto

from tests.e2e import checks
from tests.e2e.control_plane import ControlPlane
from tests.e2e.engine import ROOT, Toolchain, _Recorder, copy_project

EXAMPLE = ROOT / "examples" / "yaml" / "Pulumi.yaml"
NAMESPACE = "webapp-yaml"


@pytest.fixture(scope="module")
def example(toolchain: Toolchain, cluster: ControlPlane) -> Iterator[auto.Stack]:
    work = toolchain.work / "yaml-example"
    package = copy_project(work / "package")
    program = work / "program"
    program.mkdir()
    document = yaml.safe_load(EXAMPLE.read_text())
    document.pop("packages", None)
    (program / "Pulumi.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    plugins = work / "bin"
    plugins.mkdir()
    launcher = plugins / "pulumi-resource-webapp"
    launcher.write_text(f'#!/bin/sh\nexec {sys.executable} {package / "components"} "$@"\n')
    launcher.chmod(0o755)
    path = toolchain.env.get("PATH", os.environ["PATH"])
    env = {**toolchain.env, "PATH": f"{plugins}{os.pathsep}{path}"}
    stack = auto.create_or_select_stack(
        "example",
        work_dir=str(program),
        opts=auto.LocalWorkspaceOptions(
            work_dir=str(program), env_vars=env, pulumi_command=toolchain.pulumi_command()
        ),
    )
    stack.set_config("webapp-yaml:namespace", auto.ConfigValue(NAMESPACE))
    try:
        yield stack
    finally:
        if stack.outputs():
            stack.destroy(color="never")
        stack.workspace.remove_stack("example", force=True)
        shutil.rmtree(work, ignore_errors=True)


def _run(stack: auto.Stack, verb: str, **kwargs) -> tuple[_Recorder, object]:  # noqa: ANN003
    recorder = _Recorder()
    result = getattr(stack, verb)(
        on_event=recorder.on_event, on_output=recorder.on_output, color="never", **kwargs
    )
    return recorder, result


def test_preview_plans_the_components(example: auto.Stack) -> None:
    recorder, _ = _run(example, "preview")
    run = recorder.run(0, None)
    types = {s.type for s in run.steps}
    assert {"webapp:index:AppNamespace", "webapp:index:PostgresDatabase",
            "webapp:index:WebService"} <= types, run.describe()  # fmt: skip
    assert run.step_ops() == {"create"}, run.describe()


def test_up_deploys_and_becomes_ready(example: auto.Stack, cluster: ControlPlane) -> None:
    recorder, result = _run(example, "up")
    run = recorder.run(0, None)
    assert run.step_ops() == {"create"}, run.describe()
    assert any(s.type == "kubernetes:apps/v1:StatefulSet" for s in run.steps)
    assert result.outputs["databasePassword"].secret
    checks.assert_ready(cluster, NAMESPACE)


def test_up_again_changes_nothing(example: auto.Stack) -> None:
    recorder, _ = _run(example, "up", expect_no_changes=True)
    checks.assert_no_changes(recorder.run(0, None), "a second up of the YAML example")


def test_destroy_leaves_nothing(example: auto.Stack, cluster: ControlPlane) -> None:
    recorder, _ = _run(example, "destroy")
    run = recorder.run(0, None)
    assert run.step_ops() == {"delete"}, run.describe()
    assert checks.remaining(cluster.kubectl, NAMESPACE) == []
