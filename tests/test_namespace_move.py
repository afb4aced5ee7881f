"""A deployed stack's namespace changes only when webapp:namespaceMovedFrom names the one
it leaves (stack_settings/namespace_move.py): a new namespace replaces the old one, which
is deleted at the end of the update with the database's volumes."""

from __future__ import annotations

import pytest

from stack_settings import ConfigError
from tests.harness import Mocks, ProgramRun, RecordingMonitor, run_main

NAMESPACE = "kubernetes:core/v1:Namespace"
DEPLOYED_IN_OLD = {"namespace": "webapp-old", "databaseEngine": "statefulset"}
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
HOST = {"webapp:ingressHost": "app.test.example"}
MOVED = {"namespace": "webapp-dev", "databaseEngine": "statefulset"}
REFUSAL = (
    "webapp:namespace is 'webapp-dev', but this stack's objects are in 'webapp-old', and a "
    "new namespace replaces them: they are created in 'webapp-dev' over any that another "
    "stack keeps there, and 'webapp-old' is deleted with the database's volumes; fix it "
    "with: pulumi config set --stack dev webapp:namespace webapp-old (or, to move on "
    "purpose once the data is backed up and 'webapp-dev' is no other stack's, pulumi config "
    "set --stack dev webapp:namespaceMovedFrom webapp-old: docs/operations.md, Moving to "
    "another namespace)"
)
DURING = (
    "webapp:namespaceMovedFrom moves the stack from 'webapp-old' to 'webapp-dev', so it "
    "declares no Ingress for 'app.test.example' in this update: ingress-nginx refuses a "
    "second Ingress for a host while the one in 'webapp-old' stands, which the move deletes; "
    "once the data is restored, create it in 'webapp-dev' with: pulumi config rm --stack dev "
    "webapp:namespaceMovedFrom, then run up again (make up STACK=dev)"
)


def _run(
    overrides: dict[str, str], outputs: dict[str, str], monitor: RecordingMonitor | None = None
) -> ProgramRun:
    return run_main(
        "dev", overrides, monitor=monitor or RecordingMonitor(Mocks(stack_outputs=outputs))
    )


def _namespace(run: ProgramRun) -> str:
    (namespace,) = run.of_type(NAMESPACE)
    return namespace.manifest()["metadata"]["name"]


def _warnings(run: ProgramRun) -> list[str]:
    return [log for log in run.logs if "namespaceMovedFrom" in log]


def test_an_unconfirmed_move_stops_before_anything_is_declared_in_either_namespace() -> None:
    monitor = RecordingMonitor(Mocks(stack_outputs=DEPLOYED_IN_OLD))
    with pytest.raises(ConfigError) as raised:
        _run({}, DEPLOYED_IN_OLD, monitor)
    assert str(raised.value) == REFUSAL
    assert [r.name for r in monitor.registrations if r.type.startswith("kubernetes:")] == []


def test_a_protected_stack_is_told_to_unprotect_first() -> None:
    with pytest.raises(ConfigError) as raised:
        _run({"webapp:protectData": "true"}, DEPLOYED_IN_OLD)
    assert (
        "no other stack's, webapp:protectData false in an update of its own first, then "
        "pulumi config set --stack dev webapp:namespaceMovedFrom webapp-old:"
    ) in str(raised.value)


def test_each_fix_the_refusal_names_goes_on() -> None:
    back = _run({"webapp:namespace": "webapp-old"}, DEPLOYED_IN_OLD)
    assert _namespace(back) == "webapp-old"
    moved = _run({"webapp:namespaceMovedFrom": "webapp-old"}, DEPLOYED_IN_OLD)
    assert _namespace(moved) == "webapp-dev"
    assert _warnings(moved) == []


@pytest.mark.parametrize(
    "outputs",
    [{}, {"namespace": "webapp-dev"}, {"databaseEngine": "statefulset"}],
    ids=["new-stack", "same-namespace", "deployed-before-the-namespace-output"],
)
def test_a_stack_that_stays_where_it_is_goes_on(outputs: dict[str, str]) -> None:
    assert _namespace(_run({}, outputs)) == "webapp-dev"


def test_rendering_manifests_moves_nothing_and_is_not_refused() -> None:
    rendered = _run({"webapp:renderYamlTo": "rendered/dev"}, DEPLOYED_IN_OLD)
    assert _namespace(rendered) == "webapp-dev"


def test_rendering_a_move_renders_the_ingress_and_says_nothing() -> None:
    rendered = _run(
        {"webapp:renderYamlTo": "rendered/dev", "webapp:namespaceMovedFrom": "webapp-old",
         **HOST},
        DEPLOYED_IN_OLD,
    )  # fmt: skip
    (ingress,) = rendered.of_type(INGRESS)
    assert ingress.manifest()["metadata"]["namespace"] == "webapp-dev"
    assert _warnings(rendered) == []


def test_a_confirmation_left_set_after_its_move_is_said_and_changes_nothing() -> None:
    left = _run({"webapp:namespaceMovedFrom": "webapp-old"}, {"namespace": "webapp-dev"})
    assert _warnings(left) == [
        "webapp:namespaceMovedFrom is still 'webapp-old', but the stack's objects are in "
        "'webapp-dev' already, so the key confirms nothing now; remove it with: pulumi config "
        "rm --stack dev webapp:namespaceMovedFrom"
    ]
    assert _namespace(left) == "webapp-dev"


def test_a_bad_confirmation_is_one_sentence() -> None:
    with pytest.raises(ConfigError) as raised:
        _run({"webapp:namespaceMovedFrom": "Webapp_Old"}, {})
    assert str(raised.value).startswith("webapp:namespaceMovedFrom is 'Webapp_Old', but ")
    assert "; fix it with: pulumi config set --stack dev webapp:namespaceMovedFrom " in str(
        raised.value
    )


def test_a_move_declares_no_ingress_and_says_how_to_get_it_back() -> None:
    """ingress-nginx's admission webhook refuses an Ingress for a host and path that another
    Ingress serves in any namespace: the new namespace's would be refused while the old one
    stands (tests/e2e/test_namespace_move.py shows it through the real engine)."""
    moved = _run({"webapp:namespaceMovedFrom": "webapp-old", **HOST}, DEPLOYED_IN_OLD)
    assert moved.of_type(INGRESS) == []
    assert _warnings(moved) == [DURING]
    assert _namespace(moved) == "webapp-dev"


def test_a_move_without_an_ingress_says_nothing() -> None:
    moved = _run({"webapp:namespaceMovedFrom": "webapp-old"}, DEPLOYED_IN_OLD)
    assert _warnings(moved) == []


def test_a_confirmation_left_set_holds_the_ingress_back_and_says_so_once() -> None:
    left = _run({"webapp:namespaceMovedFrom": "webapp-old", **HOST}, MOVED)
    assert left.of_type(INGRESS) == []
    assert _warnings(left) == [
        "webapp:namespaceMovedFrom is still 'webapp-old', but the stack's objects are in "
        "'webapp-dev' already, so the key confirms nothing now, and the stack declares no "
        "Ingress for 'app.test.example' while it is set; remove it with: pulumi config rm "
        "--stack dev webapp:namespaceMovedFrom, then run up again (make up STACK=dev) for it"
    ]
    new_stack = _run({"webapp:namespaceMovedFrom": "webapp-old", **HOST}, {})
    assert new_stack.of_type(INGRESS) == []
    assert [w.split(", so ")[0] for w in _warnings(new_stack)] == [
        "webapp:namespaceMovedFrom is still 'webapp-old', but the stack is not deployed yet"
    ]


def test_the_key_naming_the_stack_s_own_namespace_holds_nothing_back() -> None:
    """The refusal's first fix, `webapp:namespace` set back to where the objects are,
    leaves the key naming that namespace: there is no move, and the Ingress stays."""
    back = _run({"webapp:namespace": "webapp-old", "webapp:namespaceMovedFrom": "webapp-old",
                 **HOST}, DEPLOYED_IN_OLD)  # fmt: skip
    (ingress,) = back.of_type(INGRESS)
    assert ingress.manifest()["metadata"]["namespace"] == "webapp-old"


def test_once_the_confirmation_is_removed_the_ingress_is_in_the_new_namespace() -> None:
    after = _run(HOST, MOVED)
    (ingress,) = after.of_type(INGRESS)
    assert ingress.manifest()["metadata"]["namespace"] == "webapp-dev"
    assert _warnings(after) == []
