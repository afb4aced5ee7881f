"""The refusal of a stack that has never completed an update, in a namespace that holds the
objects of another stack: a teardown that kept the database (prod's namespace, Cluster and
Secrets are retained), or a stack whose state was lost.

Such a stack creates each object by a server-side apply under a field manager of its own,
and every field the earlier stack's manager set to another value (a newly generated
password, the name of a newly auto-named Secret) fails `up` with the API server's field
conflict, some objects in. The namespace shows it first: creating it is an apply that
succeeds over the existing one (or, in a preview, a dry run of that apply) and answers with
its managedFields, where the earlier stack's manager is still listed. So the program stops
there, at `pulumi preview` already, before anything in the namespace is declared, with the
documented way to take the objects over (webapp:adoptExisting). A stack that has completed
an update, or that adopts, is not checked; nor is one that renders manifests."""

from __future__ import annotations

from typing import Any

import pulumi

from components import AppNamespace

from .cluster import ClusterSettings
from .history import last_update
from .reader import PROJECT, ConfigError

GET_RESOURCE = "pulumi:pulumi:getResource"
# The provider's field managers: `pulumi-kubernetes-<random>` per object under server-side
# apply (kept in the object's state), `pulumi-kubernetes` under client-side apply.
PROVIDER_MANAGER = "pulumi-kubernetes"
OWN_MANAGER_KEY = "__fieldManager"
NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"


def namespace_urn(component_urn: str) -> str:
    """The URN of the AppNamespace's Namespace, `<component name>-namespace`, its child."""
    prefix, project, qualified_type, name = component_urn.split("::", 3)
    # The engine leaves the root Stack out of a qualified type; Pulumi's mocks keep it.
    qualified_type = qualified_type.removeprefix("pulumi:pulumi:Stack$")
    return f"{prefix}::{project}::{qualified_type}${NAMESPACE_TYPE}::{name}-namespace"


def other_stacks_managers(state: dict[str, Any]) -> list[str]:
    """The provider's field managers on the namespace but this stack's own."""
    metadata = state.get("metadata") or {}
    own = state.get(OWN_MANAGER_KEY)
    return sorted(
        {
            str(entry.get("manager"))
            for entry in metadata.get("managedFields") or []
            if str(entry.get("manager", "")).startswith(PROVIDER_MANAGER)
            and entry.get("manager") != own
        }
    )


def refuse_other_stacks_objects(
    stack: str, cluster: ClusterSettings, namespace: AppNamespace
) -> pulumi.Output[str]:
    """The namespace's name for the objects in it, failing the program when this stack has
    never completed an update and the namespace is another stack's."""
    if cluster.adopt_existing or cluster.render_yaml_to is not None:
        return namespace.namespace_name
    deployed = last_update(stack).deployed()

    def read(values: list[Any]) -> pulumi.Output[dict[str, Any]] | dict[str, Any]:
        already, _name, component_urn = values
        if already:
            return {}
        return pulumi.runtime.invoke_output(GET_RESOURCE, {"urn": namespace_urn(component_urn)})

    def check(values: list[Any]) -> str:
        name, found = values
        others = other_stacks_managers((found or {}).get("state") or {})
        if others:
            raise ConfigError(
                f"{PROJECT}:namespace is '{name}', but that namespace holds the objects of "
                f"another stack (field manager {', '.join(others)}: a teardown that kept the "
                "database, or a stack whose state was lost), and this stack has never "
                "completed an update, so applying its objects would fail on their fields; "
                f"to take them over for one update, fix it with: pulumi config set --stack "
                f"{stack} {PROJECT}:adoptExisting true (docs/operations.md, Retained data)"
            )
        return name

    # The namespace's name resolves once its Namespace has been applied (or, in a preview,
    # dry-run), so the engine holds that object's answer by then.
    found = pulumi.Output.all(deployed, namespace.namespace_name, namespace.urn).apply(read)
    # Field managers are no secret: the name handed on must not become one.
    return pulumi.Output.all(namespace.namespace_name, pulumi.Output.unsecret(found)).apply(check)
