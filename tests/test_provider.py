"""All Kubernetes objects go through one explicit provider built from config."""

from __future__ import annotations

import pytest

from tests.harness import ProgramRun, Registration, run_main

PROVIDER_TYPE = "pulumi:providers:kubernetes"


def _provider(run: ProgramRun) -> Registration:
    (provider,) = run.of_type(PROVIDER_TYPE)
    return provider


def test_every_kubernetes_object_uses_the_explicit_provider(stack_run: ProgramRun) -> None:
    provider = _provider(stack_run)
    objects = stack_run.kubernetes()
    assert objects
    for record in objects:
        # A provider reference is `<provider urn>::<provider id>`; empty means the default.
        assert record.provider.rsplit("::", 1)[0] == provider.urn, record.name


def test_a_create_applies_over_an_object_that_exists(stack_run: ProgramRun) -> None:
    # A namespace made beforehand, or one a teardown kept, would fail the first `up` with
    # AlreadyExists under the provider's plain create (4.29 on) before the program could
    # take it as it is or say whose it is (tests/test_retained_namespace.py).
    # Provider inputs reach the engine as strings.
    assert _provider(stack_run).inputs.get("upsertExistingObjects") == "true"


def test_stacks_apply_to_the_current_context_by_default(stack_run: ProgramRun) -> None:
    inputs = _provider(stack_run).inputs
    assert not inputs.get("renderYamlToDirectory")
    assert not inputs.get("context")


@pytest.fixture(scope="module")
def rendered() -> ProgramRun:
    # A stack that names a context, rendered the way `make render` does: the context must
    # not reach a render provider.
    return run_main(
        "dev", {"webapp:renderYamlTo": "rendered/dev", "webapp:kubeContext": "kind-webapp"}
    )


def test_render_mode_writes_manifests_through_the_same_provider(rendered: ProgramRun) -> None:
    provider = _provider(rendered)
    assert provider.inputs["renderYamlToDirectory"] == "rendered/dev"
    for record in rendered.kubernetes():
        assert record.provider.rsplit("::", 1)[0] == provider.urn, record.name


def test_render_mode_leaves_the_context_out(rendered: ProgramRun) -> None:
    # The provider refuses `context` with `renderYamlToDirectory` when it is configured,
    # which mocks skip: a stack with webapp:kubeContext could not be rendered at all.
    inputs = _provider(rendered).inputs
    assert "context" not in inputs, inputs


def test_a_context_is_used_when_applying() -> None:
    applied = run_main("dev", {"webapp:kubeContext": "kind-webapp"})
    inputs = _provider(applied).inputs
    assert inputs["context"] == "kind-webapp"
    assert "renderYamlToDirectory" not in inputs


def test_render_directory_is_kept_out_of_git() -> None:
    from tests.harness import ROOT

    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "rendered/" in ignored
