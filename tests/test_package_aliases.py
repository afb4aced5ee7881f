"""The component type tokens changed (`webapp:components:*` to the package's
`webapp:index:*`), and with them the URN of every resource below a component. The aliases
let a deployed stack adopt its resources under the new URNs instead of replacing them
(which would delete the data, or fail on the protected volumes in prod).

The proof runs the engine's alias matching (pkg/resource/deploy/step_generator.go,
generateAliases and collapseAliasToUrn) over the registrations of today's program, against
every URN of the dev and prod stacks as main deployed them (tests/fixtures/main_stacks.json):
each old URN must be claimed by exactly one new resource.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.harness import PROJECT, ROOT, ProgramRun, Registration
from tests.test_main_parity import (
    CNPG_ENGINE_OBJECTS,
    DELETION_GUARD_OBJECT,
    STATEFULSET_ENGINE_OBJECTS,
    _object_key,
)

OLD_STACKS = json.loads((ROOT / "tests" / "fixtures" / "main_stacks.json").read_text())
ROOT_STACK = "pulumi:pulumi:Stack"
GONE_IN_PROD = frozenset(STATEFULSET_ENGINE_OBJECTS)
NEW_IN_PROD = frozenset((*CNPG_ENGINE_OBJECTS, DELETION_GUARD_OBJECT))


def _urn(stack: str, qualified_type: str, name: str) -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{qualified_type}::{name}"


def _qualified_type(urn: str) -> str:
    return urn.split("::")[2]


def _name(urn: str) -> str:
    return urn.split("::", 3)[3]


def _collapse(
    stack: str, record: Registration, parent: str, alias: dict[str, Any], adopted: dict[str, str]
) -> str:
    """collapseAliasToUrn: a spec's empty fields default to the resource's own."""
    if "urn" in alias:
        return alias["urn"]
    spec = alias["spec"]
    name = spec.get("name") or record.name
    type_ = spec.get("type") or record.type
    parent_urn = spec.get("parentUrn") or parent
    if spec.get("parentUrn"):
        parent_urn = adopted.get(parent_urn, parent_urn)
    if spec.get("noParent") or not parent_urn:
        return _urn(stack, type_, name)
    return _urn(stack, f"{_qualified_type(parent_urn)}${type_}", name)


def _inherited(stack: str, child_type: str, child_name: str, parent_name: str, alias: str) -> str:
    """inheritedChildAlias: the child under its parent's old URN (a name derived from the
    parent's takes the parent's old name)."""
    name = child_name
    if child_name.startswith(parent_name):
        name = _name(alias) + child_name[len(parent_name) :]
    return _urn(stack, f"{_qualified_type(alias)}${child_type}", name)


def adopt(run: ProgramRun, old_urns: set[str]) -> dict[str, str]:
    """Old URN -> new URN of the resource that adopts it, as the engine decides in
    registration order; fails on a resource that two new ones claim."""
    by_urn = run.by_urn()
    engine_urn = {record.urn: run.engine_urn(record) for record in run.registrations}
    adopted: dict[str, str] = {}  # new URN -> the old URN it adopted
    claimed: dict[str, str] = {}  # old URN -> new URN
    for record in run.registrations:
        urn = engine_urn[record.urn]
        parent = engine_urn.get(record.parent, "") if record.parent in by_urn else ""
        aliases = [_collapse(run.stack, record, parent, a, adopted) for a in record.aliases]
        if parent in adopted:
            parent_old = adopted[parent]
            aliases.append(
                _inherited(run.stack, record.type, record.name, _name(parent), parent_old)
            )
            for alias in list(aliases[: len(record.aliases)]):
                aliases.append(
                    _inherited(
                        run.stack,
                        _qualified_type(alias).rsplit("$", 1)[-1],
                        _name(alias),
                        _name(parent),
                        parent_old,
                    )
                )
        for candidate in [urn, *aliases]:
            if candidate in old_urns:
                assert candidate not in claimed, f"{candidate} claimed twice"
                claimed[candidate] = urn
                if candidate != urn:
                    adopted[urn] = candidate
                break
    return claimed


# With a ClusterIssuer: the ingress controller's way to cert-manager's solver pods (issue 17).
ADDED_SINCE = {
    "kubernetes:networking.k8s.io/v1:NetworkPolicy::webapp-acme-solver-netpol",
    # Every database has its guard since an unprotected one keeps it, unprotected.
    DELETION_GUARD_OBJECT,
}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_deployed_urn_is_adopted_by_an_alias(
    stack: str, request: pytest.FixtureRequest
) -> None:
    run: ProgramRun = request.getfixturevalue(f"{stack}_run")
    old_urns = set(OLD_STACKS[stack]["urns"])
    # Prod moved to the cloudnative-pg engine: the statefulset engine's objects are
    # deleted on purpose (the data migration, README), and the CNPG engine's are new.
    # Every other deployed URN must still be adopted.
    gone = {urn for urn in old_urns if stack == "prod" and _object_key(urn) in GONE_IN_PROD}
    new = {
        run.engine_urn(r)
        for r in run.registrations
        if stack == "prod" and f"{r.type}::{r.name}" in NEW_IN_PROD
    }
    assert len(gone) == (len(GONE_IN_PROD) if stack == "prod" else 0)
    assert len(new) == (len(NEW_IN_PROD) if stack == "prod" else 0)
    old_urns -= gone
    claimed = adopt(run, old_urns)
    assert sorted(old_urns - set(claimed)) == []
    # The old URNs were the legacy tokens; every resource of a component was renamed.
    legacy = {urn for urn in old_urns if "webapp:components:" in urn}
    assert len(legacy) == len(old_urns) - 1  # all but the provider, which has no parent
    # Objects added since those stacks were deployed, created new wherever they apply.
    added = {run.engine_urn(r) for r in run.registrations if f"{r.type}::{r.name}" in ADDED_SINCE}
    assert {claimed[urn] for urn in legacy} == {
        run.engine_urn(r) for r in run.registrations if not r.type.startswith("pulumi:providers:")
    } - new - added


def test_without_the_aliases_the_stack_would_be_replaced(dev_run: ProgramRun) -> None:
    """The check can fail: with the aliases taken away, nothing below a component is
    adopted."""
    old_urns = set(OLD_STACKS["dev"]["urns"])
    stripped = ProgramRun(
        **{
            **dev_run.__dict__,
            "registrations": [
                Registration(**{**record.__dict__, "aliases": []})
                for record in dev_run.registrations
            ],
        }
    )
    claimed = adopt(stripped, old_urns)
    assert set(claimed) == {urn for urn in old_urns if "pulumi:providers:" in urn}


def test_components_alias_their_former_tokens(stack_run: ProgramRun) -> None:
    for record in stack_run.registrations:
        if record.custom:
            continue  # the provider's own aliases (older API versions of a kind)
        kind = record.type.rsplit(":", 1)[-1]
        assert record.type == f"webapp:index:{kind}"
        # Only the type differs: the name and the parent are the resource's own.
        ((spec,),) = [[alias["spec"] for alias in record.aliases]]
        assert spec.get("type") == f"webapp:components:{kind}"
        assert not spec.get("name") and not spec.get("parentUrn") and not spec.get("noParent")
