"""The checks against the last update that keep a change of the data volume from deleting
its data or failing half-way: a new storage class, a smaller size."""

from __future__ import annotations

import pulumi

from components._shared.quantity import parse_quantity

from ..history import last_update
from ..reader import PROJECT, ConfigError
from .settings import DatabaseSettings


def refuse_storage_class_change(
    stack: str, database: DatabaseSettings, actual: pulumi.Output[str]
) -> pulumi.Output[str]:
    """The data volume's storage class as the cluster has it, failing the update when the
    stack asks for another one: the component never replaces an existing volume for a new
    class (that would delete its data) unless the change is allowed explicitly."""
    wanted = database.storage_class

    def check(current: str) -> str:
        if wanted and current and current != wanted and not database.allow_storage_class_change:
            raise ConfigError(
                f"{PROJECT}:storageClass is '{wanted}', but the database volume exists with "
                f"storage class '{current}', and a new class would replace the volume and "
                "delete its data, so the change is not applied; fix it with: pulumi config "
                f"set --stack {stack} {PROJECT}:storageClass {current} (to move the data to "
                f"a new volume instead, back up, set {PROJECT}:allowStorageClassChange to "
                "true for one update, and restore: docs/operations.md, Changing the storage class)"
            )
        return current

    return actual.apply(check)


def refuse_storage_shrink(
    stack: str, database: DatabaseSettings, actual: pulumi.Output[str]
) -> pulumi.Output[str]:
    """The data volume's size as the cluster accepted it, failing the program when the
    stack asks for less than its last update left: Kubernetes never shrinks a volume
    claim (nor CloudNativePG a Cluster's storage), so the change could only fail at `up`,
    after other changes of the update. The last size comes from the stack's own outputs,
    so `pulumi preview` refuses it, with or without a cluster."""
    wanted = database.storage_size

    def smaller(previous: object) -> bool:
        try:
            return parse_quantity(wanted)[0] < parse_quantity(str(previous))[0]
        except ValueError:  # not a size this program exported: nothing to compare
            return False

    def check(previous: object) -> object:
        if previous and smaller(previous):
            raise ConfigError(
                f"{PROJECT}:storageSize is '{wanted}', but the database volume is "
                f"{previous} and a volume can grow but never shrink, so the change is not "
                f"applied; fix it with: pulumi config set --stack {stack} "
                f"{PROJECT}:storageSize {previous} (for a smaller volume, move the data: "
                "docs/operations.md, Storage size)"
            )
        return previous

    # Checked apart from `actual`, which a preview may not know yet.
    checked = last_update(stack).get_output("databaseStorageSize").apply(check)
    return pulumi.Output.all(checked, actual).apply(lambda values: values[1])
