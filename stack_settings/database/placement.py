"""The reminder that the CloudNativePG instances each need a node of their own. With more
than one instance their anti-affinity is required (components/database/cloudnative_pg/
spec.py): an instance that finds no node without another instance, and with its requests
free, stays Pending, and `pulumi up` waits for it until its timeout. The program reads no
cluster at preview, so it cannot count the nodes; it says what the update needs when the
instances it asks for grow (a new Cluster, or more instances than the last update left),
not on every preview, where a warning that never changes would be read as noise."""

from __future__ import annotations

import pulumi

from components import PostgresDatabase
from components._shared.pods import pod_amount
from components._shared.quantity import format_bytes, format_cpu

from ..history import last_update
from ..reader import PROJECT
from .settings import DatabaseSettings

# What a PostgresDatabase needs from the namespace and the app to be built; sizing its
# pods reads none of it.
_SIZING = {"namespace": "", "client_selector": {}}


def _instance_requests(app: str, database: DatabaseSettings) -> tuple[str, str]:
    """An instance pod's CPU and memory requests, every container counted, as the
    component declares the pod the operator builds."""
    (instance, *_) = PostgresDatabase.pods(
        f"{app}-db",
        {**_SIZING, "app": app, **database.inputs()},  # type: ignore[typeddict-item]
    )
    return (
        format_cpu(pod_amount(instance.spec, "requests", "cpu")),
        format_bytes(pod_amount(instance.spec, "requests", "memory")),
    )


def remind_of_nodes(stack: str, app: str, database: DatabaseSettings) -> pulumi.Output[int]:
    """The number of instances, as the next update's reminder compares with; warns when
    more than one instance is asked for and the number grows over the last update's."""
    instances = database.engine.instances
    if database.engine.cloudnative_pg is None or instances < 2:
        return pulumi.Output.from_input(instances)
    cpu, memory = _instance_requests(app, database)
    own = last_update(stack)

    def check(previous: list[object]) -> int:
        engine_before, instances_before = previous
        # A number comes back from the stack's outputs as a float; none before this output
        # existed, or before the stack ran cloudnative-pg: a new Cluster.
        before = (
            int(instances_before)
            if engine_before == "cloudnative-pg" and isinstance(instances_before, (int, float))
            else 0
        )
        if instances > before:
            pulumi.log.warn(
                f"{PROJECT}:dbInstances is {instances}, and each instance runs on a node of "
                "its own (required anti-affinity), so the cluster needs at least "
                f"{instances} schedulable nodes, each with {cpu} CPU and {memory} memory free "
                "to request, or an instance stays Pending and `pulumi up` waits for it until "
                "its timeout; check with: kubectl get nodes, and on fewer nodes set: pulumi "
                f"config set --stack {stack} {PROJECT}:dbInstances <nodes>"
            )
        return instances

    return pulumi.Output.all(
        own.get_output("databaseEngine"), own.get_output("databaseInstances")
    ).apply(check)
