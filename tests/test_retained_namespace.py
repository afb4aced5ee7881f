"""A stack that has never completed an update, over a namespace another stack's objects are
in (prod's teardown retains the namespace, its Cluster and Secrets; or the state was lost):
its server-side applies would fail on every field the earlier stack's field manager set
otherwise. The program reads the earlier manager off the namespace's own apply (the
provider answers with the live object's managedFields, in a preview from a dry run) and
stops with one sentence naming webapp:adoptExisting, before anything in the namespace is
declared. tests/e2e/test_engine_defects.py runs the same against the real engine."""

from __future__ import annotations

from typing import Any

import pytest

from stack_settings import ConfigError
from stack_settings.retained import namespace_urn
from tests.harness import Mocks, RecordingMonitor, run_main

OWN = "pulumi-kubernetes-a1b2c3d4"
EARLIER = "pulumi-kubernetes-9f8e7d6c"


class LiveNamespace(Mocks):
    """The provider's answer for the Namespace: the live object's field managers and the
    field manager this stack's apply used (kept in its state)."""

    def __init__(self, managers: list[str], stack_outputs: dict[str, Any] | None = None) -> None:
        super().__init__(stack_outputs=stack_outputs)
        self.managers = managers

    def new_resource(self, args: Any) -> tuple[str, dict]:
        id_, state = super().new_resource(args)
        if args.typ == "kubernetes:core/v1:Namespace":
            state["metadata"]["managedFields"] = [
                {"manager": manager, "operation": "Apply" if "pulumi" in manager else "Update"}
                for manager in self.managers
            ]
            state["__fieldManager"] = OWN
        return id_, state


def _run(stack: str, mocks: LiveNamespace, overrides: dict[str, str] | None = None):  # noqa: ANN202
    return run_main(stack, overrides or {}, monitor=RecordingMonitor(mocks))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_new_stack_over_another_stacks_namespace_stops_with_one_sentence(stack: str) -> None:
    monitor = RecordingMonitor(LiveNamespace([EARLIER, OWN, "kube-controller-manager"]))
    with pytest.raises(ConfigError) as raised:
        run_main(stack, {}, monitor=monitor)
    namespace = {"dev": "webapp-dev", "prod": "webapp-prod"}[stack]
    assert str(raised.value) == (
        f"webapp:namespace is '{namespace}', but that namespace holds the objects of another "
        f"stack (field manager {EARLIER}: a teardown that kept the database, or a stack whose "
        "state was lost), and this stack has never completed an update, so applying its "
        "objects would fail on their fields; to take them over for one update, fix it with: "
        f"pulumi config set --stack {stack} webapp:adoptExisting true (docs/operations.md, "
        "Retained data)"
    )
    # Only the namespace and its guards were declared (the earlier stack's were deleted by
    # its teardown, or equal these): nothing of the database's or the app's.
    objects = [r for r in monitor.registrations if r.type.startswith("kubernetes:")]
    assert any(r.type == "kubernetes:core/v1:Namespace" for r in objects)
    assert [r.urn for r in objects if "webapp:index:AppNamespace$" not in r.urn] == []


@pytest.mark.parametrize(
    ("managers", "outputs", "overrides"),
    [
        # A namespace of its own, or created beforehand with kubectl (for a Secret the stack
        # file names, such as webapp:backupS3CredentialsSecret's).
        ([OWN], None, {}),
        (["kubectl-create", OWN], None, {}),
        # A stack that has completed an update keeps its namespace whatever shares it.
        ([EARLIER, OWN], {"namespace": "webapp-prod", "databaseStorageSize": "20Gi"}, {}),
        # The documented way to take the objects over.
        ([EARLIER, OWN], None, {"webapp:adoptExisting": "true"}),
    ],
    ids=["own", "pre-created", "deployed", "adopting"],
)
def test_the_stack_goes_on_where_nothing_would_conflict(
    managers: list[str], outputs: dict[str, str] | None, overrides: dict[str, str]
) -> None:
    run_ = _run("prod", LiveNamespace(managers, outputs), overrides)
    assert run_.outputs["namespace"].value == "webapp-prod"
    assert any(r.type == "kubernetes:postgresql.cnpg.io/v1:Cluster" for r in run_.registrations)


def test_the_namespace_is_found_under_the_urn_the_engine_gives_it() -> None:
    """The engine leaves the root Stack out of a qualified type (Pulumi's mocks keep it)."""
    engine = "urn:pulumi:prod::webapp::webapp:index:AppNamespace::webapp"
    mocks = "urn:pulumi:prod::webapp::pulumi:pulumi:Stack$webapp:index:AppNamespace::webapp"
    expected = (
        "urn:pulumi:prod::webapp::webapp:index:AppNamespace$kubernetes:core/v1:Namespace"
        "::webapp-namespace"
    )
    assert namespace_urn(engine) == namespace_urn(mocks) == expected
