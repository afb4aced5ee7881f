"""A container's CPU and memory, requests and limits, read from four keys with a common
prefix (webapp:appCpuRequest, ..., webapp:dbMemoryLimit)."""

from __future__ import annotations

from components import ContainerResources
from components._shared.quantity import suggest_byte_quantity

from .reader import PROJECT, Reader
from .values import (
    BYTES_ALLOWED,
    CPU_ALLOWED,
    quantity,
)


def read_resources(reader: Reader, prefix: str) -> ContainerResources | None:
    keys = {
        "cpu_request": f"{prefix}CpuRequest",
        "cpu_limit": f"{prefix}CpuLimit",
        "memory_request": f"{prefix}MemoryRequest",
        "memory_limit": f"{prefix}MemoryLimit",
    }
    amounts = {
        name: reader.read(
            key,
            quantity("container-cpu" if name.startswith("cpu") else "memory"),
            CPU_ALLOWED if name.startswith("cpu") else BYTES_ALLOWED,
            None if name.startswith("cpu") else suggest_byte_quantity,
        )
        for name, key in keys.items()
    }
    for resource in ("cpu", "memory"):
        request, limit = amounts[f"{resource}_request"], amounts[f"{resource}_limit"]
        if request is not None and limit is not None and request > limit:
            request_key, limit_key = keys[f"{resource}_request"], keys[f"{resource}_limit"]
            reader.fail(
                request_key,
                reader.raw(request_key),
                f"a request must not exceed its limit {PROJECT}:{limit_key} "
                f"('{reader.raw(limit_key)}')",
                reader.raw(limit_key),
            )
            amounts[f"{resource}_request"] = None
    if any(amount is None for amount in amounts.values()):
        return None
    # Quantities are kept as written: Kubernetes takes the text, the checks took numbers.
    return ContainerResources(**{name: str(reader.raw(key)) for name, key in keys.items()})
