"""What this stack's last update left: its own outputs, read through a stack reference to
itself (none on a first update). Guards compare them with what the stack asks for now,
so a change the cluster cannot make stops the program already at `pulumi preview`, with
or without a cluster (the outputs come from the backend)."""

from __future__ import annotations

import pulumi
from pulumi.runtime.settings import get_root_resource

# One reference per program run: two under the same name would collide.
_REFERENCES: dict[tuple[int, str], pulumi.StackReference] = {}


def last_update(stack: str) -> pulumi.StackReference:
    key = (id(get_root_resource()), stack)
    if key not in _REFERENCES:
        _REFERENCES[key] = pulumi.StackReference(
            f"{pulumi.get_organization()}/{pulumi.get_project()}/{stack}",
            opts=pulumi.ResourceOptions(),
        )
    return _REFERENCES[key]
