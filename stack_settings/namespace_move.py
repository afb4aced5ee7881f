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
    stack: str,
    namespace: NamespaceSettings,
    cluster: ClusterSettings,
    held_ingress_host: str | None = None,
) -> pulumi.Output[str] | str:
    """The namespace's name, failing the program when a deployed stack would move to
    another namespace unconfirmed. Rendering manifests moves nothing. While the key is
    set, what it does is said once: the move and the Ingress it holds back, or that it
    confirms nothing (and holds the Ingress back) and how to remove it."""
    wanted, moved_from, protect = namespace.name, namespace.moved_from, namespace.protect
    if cluster.render_yaml_to is not None:
        return wanted
    own = last_update(stack)
    key = f"{PROJECT}:namespaceMovedFrom"
    remove = f"pulumi config rm --stack {stack} {key}"
    up = f"make up STACK={stack}"

    def check(values: list[object]) -> str:
        deployed, before = bool(values[0]), str(values[1] or "")
        # A stack whose last update exported no namespace predates this guard.
        if not deployed or before in ("", wanted):
            if moved_from and (before == wanted or held_ingress_host):
                where = (
                    f"the stack's objects are in '{wanted}' already"
                    if before == wanted
                    else "the stack is not deployed yet"
                    if not deployed
                    else "the stack's last update recorded no namespace to move from"
                )
                held = (
                    f", and the stack declares no Ingress for '{held_ingress_host}' while it "
                    "is set"
                    if held_ingress_host
                    else ""
                )
                again = f", then run up again ({up}) for it" if held_ingress_host else ""
                pulumi.log.warn(
                    f"{key} is still '{moved_from}', but {where}, "
                    f"so the key confirms nothing now{held}; remove it with: {remove}{again}"
                )
            return wanted
        if moved_from == before:
            if held_ingress_host:
                pulumi.log.warn(
                    f"{key} moves the stack from '{before}' to '{wanted}', so it declares no "
                    f"Ingress for '{held_ingress_host}' in this update: ingress-nginx refuses "
                    f"a second Ingress for a host while the one in '{before}' stands, which "
                    "the move deletes; once the data is restored, create it in "
                    f"'{wanted}' with: {remove}, then run up again ({up})"
                )
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
    namespace: NamespaceSettings, app: AppSettings, cluster: ClusterSettings
) -> AppSettings:
    """While webapp:namespaceMovedFrom names another namespace the stack declares no
    Ingress. ingress-nginx's admission webhook refuses an Ingress for a host and path that
    another Ingress, in any namespace, serves: the new namespace's would be refused while
    the old one stands, at `up` and, when the new namespace exists already, at `preview`
    (its server-side dry run). The move deletes the old Ingress; the next update, once the
    key is removed, creates the new one, after the data is restored. refuse_namespace_move
    says so. Rendering manifests moves nothing, and renders the Ingress."""
    moving = namespace.moved_from and namespace.moved_from != namespace.name
    if not moving or app.ingress is None or cluster.render_yaml_to is not None:
        return app
    return dataclasses.replace(app, ingress=None, held_ingress_host=app.ingress["host"])
