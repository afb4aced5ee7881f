"""The guard of a deployed stack's namespace. A new webapp:namespace replaces the
Namespace, and the provider replaces a named object delete-first: the old namespace goes
with every volume in it, and the objects are then created in the new one over whatever
another stack keeps there. So a deployed stack's namespace changes only when
webapp:namespaceMovedFrom names the namespace it leaves. The name the components get is
this check's output, so a refused move never registers the Namespace, not even under
`pulumi up --skip-preview`."""

from __future__ import annotations

import pulumi

from .history import last_update
from .namespace import NamespaceSettings
from .reader import PROJECT, ConfigError


def refuse_namespace_move(stack: str, namespace: NamespaceSettings) -> pulumi.Output[str]:
    """The namespace's name, failing the program when a deployed stack would move to
    another namespace unconfirmed."""
    wanted, moved_from = namespace.name, namespace.moved_from
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
        raise ConfigError(
            f"{PROJECT}:namespace is '{wanted}', but this stack's objects are in '{before}', "
            f"and a new namespace replaces them: '{before}' is deleted first, with the "
            f"database's volumes, and the objects are created in '{wanted}' over any that another "
            f"stack keeps there; fix it with: pulumi config set --stack {stack} "
            f"{PROJECT}:namespace {before} (or, to move on purpose once the data is backed up "
            f"and '{wanted}' is no other stack's: pulumi config set --stack {stack} "
            f"{PROJECT}:namespaceMovedFrom {before})"
        )

    return pulumi.Output.all(own.deployed(), own.get_output("namespace")).apply(check)
