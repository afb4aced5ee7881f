"""The guard of a deployed stack's namespace. A new webapp:namespace replaces the
Namespace and every object in it: the new ones are created first, over whatever another
stack keeps in that namespace, and at the end of the update the old namespace is deleted
with every volume in it. So a deployed stack's namespace changes only when
webapp:namespaceMovedFrom names the namespace it leaves. The name the components get is
this check's output, so a refused move never registers the Namespace, not even under
`pulumi up --skip-preview`."""

from __future__ import annotations

import dataclasses

import pulumi

from .app import AppSettings
from .cluster import ClusterSettings
from .history import last_update
from .namespace import NamespaceSettings
from .reader import PROJECT, ConfigError


def refuse_namespace_move(
    stack: str, namespace: NamespaceSettings, cluster: ClusterSettings
) -> pulumi.Output[str] | str:
    """The namespace's name, failing the program when a deployed stack would move to
    another namespace unconfirmed. Rendering manifests moves nothing."""
    wanted, moved_from, protect = namespace.name, namespace.moved_from, namespace.protect
    if cluster.render_yaml_to is not None:
        return wanted
    own = last_update(stack)

    def check(values: list[object]) -> str:
        deployed, before = bool(values[0]), str(values[1] or "")
        # A stack whose last update exported no namespace predates this guard.
        if not deployed or before in ("", wanted):
            if moved_from and before == wanted:
                pulumi.log.warn(
                    f"{PROJECT}:namespaceMovedFrom is still '{moved_from}', but the stack's "
                    f"objects are in '{wanted}' already, so the key confirms nothing now; "
                    f"remove it with: pulumi config rm --stack {stack} "
                    f"{PROJECT}:namespaceMovedFrom"
                )
            return wanted
        if moved_from == before:
            return wanted
        on_purpose = (
            f"{PROJECT}:protectData false in an update of its own first, then " if protect else ""
        )
        raise ConfigError(
            f"{PROJECT}:namespace is '{wanted}', but this stack's objects are in '{before}', "
            f"and a new namespace replaces them: they are created in '{wanted}' over any "
            f"that another stack keeps there, and '{before}' is deleted with the database's "
            f"volumes; fix it with: pulumi config set --stack {stack} {PROJECT}:namespace "
            f"{before} (or, to move on purpose once the data is backed up and '{wanted}' is "
            f"no other stack's, {on_purpose}pulumi config set --stack {stack} "
            f"{PROJECT}:namespaceMovedFrom {before}: docs/operations.md, Moving to another "
            "namespace)"
        )

    return pulumi.Output.all(own.deployed(), own.get_output("namespace")).apply(check)


def hold_the_ingress_during_a_move(
    stack: str, namespace: NamespaceSettings, app: AppSettings
) -> AppSettings:
    """While webapp:namespaceMovedFrom is set the stack declares no Ingress. ingress-nginx's
    admission webhook refuses an Ingress for a host and path that another Ingress, in any
    namespace, serves: the new namespace's Ingress would be refused while the old one
    stands, at `up` and, when the new namespace exists already, at `preview` (its server-side
    dry run). The move deletes the old Ingress; the next update, once the key is removed,
    creates the new one, after the data is restored."""
    if not namespace.moved_from or app.ingress is None:
        return app
    pulumi.log.warn(
        f"{PROJECT}:namespaceMovedFrom is set, so the stack declares no Ingress for "
        f"'{app.ingress['host']}' in this update (ingress-nginx refuses a second Ingress for "
        f"a host while '{namespace.moved_from}' keeps its own); once the move is done and the "
        f"data restored, create it in '{namespace.name}' with: pulumi config rm --stack "
        f"{stack} {PROJECT}:namespaceMovedFrom && pulumi up --stack {stack}"
    )
    return dataclasses.replace(app, ingress=None)
