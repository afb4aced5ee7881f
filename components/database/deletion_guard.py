"""The deletion guard of a protected component: one protected object that depends on
every other object of the component.

On `pulumi destroy` the engine deletes an object only after everything that depends on
it, and it goes on past a refused (protected) deletion, keeping only what the refused
object depends on (pulumi's step_executor.go and deployment_executor.go). A protected
Cluster or volume alone would therefore let the engine delete the server, its network
policies, backups and alerts first and leave the data running unguarded. The guard is
deleted first and refused, so a refused destroy deletes nothing of the component.

An unprotected component keeps its guard, unprotected: a protected object that leaves
the program fails the update that drops it (the engine checks the protection recorded in
the state before it deletes), so turning protection off must change the flag of an object
that stays."""

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from .._shared.metadata import object_meta

# The text protected stacks have deployed since the guard came, whether or not the
# database is protected: a ConfigMap whose data changes is replaced, and the engine
# refuses to replace an object protected before and after (tests/test_lifecycle.py).
WHY = (
    "The Pulumi stack protects this database: pulumi destroy stops at this object and "
    "keeps the database and everything guarding it. To delete on purpose: "
    "docs/operations.md, Teardown."
)


def deletion_guard(
    component: pulumi.ComponentResource,
    name: str,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    protect: bool,
) -> k8s.core.v1.ConfigMap:
    """Declares `<name>-deletion-guard` as the last child of `component`."""
    # Every child declared so far; `depends_on` expands a local component the same way.
    others = list(component._childResources)
    return k8s.core.v1.ConfigMap(
        f"{name}-deletion-guard",
        metadata=object_meta(labels, namespace, f"{name}-deletion-guard"),
        data={"why": WHY},
        opts=pulumi.ResourceOptions(parent=component, protect=protect, depends_on=others),
    )
