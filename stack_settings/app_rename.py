"""The guard of a deployed stack's app name. webapp:appName names every object and every
resource of the stack, so a new name declares each one anew and deletes the old ones at
the end of the update: the database's volume with its data among them, and the old
Namespace resource, whose namespace is the one the new objects went into. So a deployed
stack's app name is fixed. The name the namespace's objects get comes through this check,
so a refused rename registers nothing in the namespace, not even under `pulumi up
--skip-preview`."""

from __future__ import annotations

import pulumi

from .cluster import ClusterSettings
from .history import last_update
from .reader import PROJECT, ConfigError


def refuse_app_rename(
    stack: str, app_name: str, cluster: ClusterSettings, namespace: pulumi.Input[str]
) -> pulumi.Input[str]:
    """`namespace`, once the stack's last update is known to have named its objects after
    `app_name` (or there was none); the program fails otherwise. Rendering renames nothing."""
    if cluster.render_yaml_to is not None:
        return namespace
    own = last_update(stack)

    def check(values: list[object]) -> str:
        deployed, before, name = bool(values[0]), str(values[1] or ""), str(values[2])
        # The app's Service is named after the app (the stack's serviceName output).
        if deployed and before not in ("", app_name):
            raise ConfigError(
                f"{PROJECT}:appName is '{app_name}', but this stack's objects are named after "
                f"'{before}', and a new name declares every object anew and deletes the old "
                "ones at the end of the update, the database's volume with its data among "
                f"them; fix it with: pulumi config set --stack {stack} {PROJECT}:appName "
                f"{before} (to rename, back up, destroy the stack and deploy it again with "
                "the new name, then restore: docs/backups-and-restore.md)"
            )
        return name

    return pulumi.Output.all(own.deployed(), own.get_output("serviceName"), namespace).apply(
        check
    )
