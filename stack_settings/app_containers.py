"""The extra containers of the app's pod (webapp:sidecars), every field checked."""

from __future__ import annotations

import json
from typing import Any

from components import ContainerResources
from components.web.args import Sidecar
from components.web.parts import COMPONENT, ENV_NAME

from .app_env import env_text
from .reader import PROJECT, Reader
from .values import (
    BYTES_ALLOWED,
    CPU_ALLOWED,
    DNS_LABEL,
    IMAGE_ALLOWED,
    pinned_image,
    quantity,
)

_SIDECAR_FIELDS = ("name", "image", "resources", "command", "args", "ports", "env")
_SIDECAR_RESOURCES = {
    "cpuRequest": ("cpu_request", "container-cpu", CPU_ALLOWED),
    "cpuLimit": ("cpu_limit", "container-cpu", CPU_ALLOWED),
    "memoryRequest": ("memory_request", "memory", BYTES_ALLOWED),
    "memoryLimit": ("memory_limit", "memory", BYTES_ALLOWED),
}


def _container_item(
    reader: Reader, list_key: str, index: int, item: Any, app_port: int
) -> Sidecar | None:
    """Item `index` of the container list `list_key` (sidecars), every field checked; the
    first problem is reported, as one sentence that names the item's path."""

    item_path = f"{PROJECT}:{list_key}[{index}]"

    def set_(path: str, value: str) -> str:
        return f"pulumi config set --stack {reader.stack} --path '{item_path}{path}' {value}"

    def rm_(path: str) -> str:
        # A list or an object is set item by item with --path: a whole one given as a value
        # would be stored as text.
        return f"pulumi config rm --stack {reader.stack} --path '{item_path}{path}'"

    def fail(path: str, value: Any, allowed: str, fix: str) -> None:
        shown = value if isinstance(value, str) else json.dumps(value)
        reader.errors.append(f"{item_path}{path} is '{shown}', but {allowed}; fix it with: {fix}")

    if not isinstance(item, dict):
        fail(
            "",
            item,
            "it must be an object with name, image and resources",
            f"{rm_('')} && {set_('.name', 'log-shipper')}",
        )
        return None
    unknown = sorted(set(item) - set(_SIDECAR_FIELDS))
    if unknown:
        fail(
            f".{unknown[0]}",
            item[unknown[0]],
            f"a container has only {', '.join(_SIDECAR_FIELDS)}",
            rm_(f".{unknown[0]}"),
        )
        return None
    name = item.get("name")
    if (
        not isinstance(name, str)
        or not DNS_LABEL.match(name)
        or len(name) > 63
        or name == COMPONENT
    ):
        fail(
            ".name",
            name,
            f"it must be a DNS label other than {COMPONENT} (the app's container)",
            set_(".name", "log-shipper"),
        )
        return None
    try:
        image = pinned_image(str(item.get("image", "")))
    except ValueError:
        fail(
            ".image",
            item.get("image", ""),
            IMAGE_ALLOWED,
            set_(".image", "fluent/fluent-bit:3.1.9"),
        )
        return None
    resources = item.get("resources")
    if not isinstance(resources, dict) or set(resources) != set(_SIDECAR_RESOURCES):
        given = resources if isinstance(resources, dict) else {}
        extra = sorted(set(given) - set(_SIDECAR_RESOURCES))
        missing = [key for key in _SIDECAR_RESOURCES if key not in given or extra]
        sets = [set_(f".resources.{key}", "100m" if "cpu" in key else "64Mi") for key in missing]
        removal = [rm_(".resources")] if extra or not isinstance(resources, dict) else []
        fix = " && ".join(removal + sets)
        fail(".resources", resources, f"it must set {', '.join(_SIDECAR_RESOURCES)}", fix)
        return None
    amounts = {}
    for key, (_, kind, allowed) in _SIDECAR_RESOURCES.items():
        try:
            amounts[key] = quantity(kind)(str(resources[key]))
        except ValueError:
            example = "100m" if "cpu" in key else "64Mi"
            fail(f".resources.{key}", resources[key], allowed, set_(f".resources.{key}", example))
            return None
    for resource in ("cpu", "memory"):
        if amounts[f"{resource}Request"] > amounts[f"{resource}Limit"]:
            key = f"{resource}Request"
            fail(
                f".resources.{key}",
                resources[key],
                f"a request must not exceed its limit ('{resources[resource + 'Limit']}')",
                set_(f".resources.{key}", str(resources[resource + "Limit"])),
            )
            return None
    sidecar = Sidecar(
        name=name,
        image=image,
        resources=ContainerResources(
            **{field: str(resources[key]) for key, (field, _, _) in _SIDECAR_RESOURCES.items()}
        ),  # type: ignore[typeddict-item]
    )
    for key in ("command", "args"):
        value = item.get(key, [])
        if not isinstance(value, list) or not all(isinstance(text, str) for text in value):
            fail(
                f".{key}",
                value,
                "it must be a list of strings",
                f"{rm_(f'.{key}')} && {set_(f'.{key}[0]', '<text>')}",
            )
            return None
        if value:
            sidecar[key] = value  # type: ignore[literal-required]
    ports = item.get("ports", [])
    if not isinstance(ports, list) or not all(
        isinstance(port, int) and 1024 <= port <= 65535 and port != app_port for port in ports
    ):
        fail(
            ".ports",
            ports,
            f"it must be a list of ports from 1024 to 65535 other than the app's {app_port}",
            f"{rm_('.ports')} && {set_('.ports[0]', '9090')}",
        )
        return None
    if ports:
        sidecar["ports"] = ports
    env = item.get("env", {})
    if not isinstance(env, dict) or not all(ENV_NAME.match(key) for key in env):
        fail(
            ".env",
            env,
            "it must be an object of variable names (letters, digits and '_') and values",
            f"{rm_('.env')} && {set_('.env.NAME', '<value>')}",
        )
        return None
    if env:
        sidecar["env"] = {key: env_text(value) or "" for key, value in env.items()}
    return sidecar


def read_containers(reader: Reader, key: str, app_port: int | None) -> list[Sidecar] | None:
    """A list of extra containers of the app's pod (`key`: sidecars), each checked."""
    example = (
        f"pulumi config set --stack {reader.stack} --path '{PROJECT}:{key}[0].name' log-shipper"
    )
    items = reader.read_json(key, list, "it must be a list of container objects", example)
    if items is None or app_port is None:
        return None
    sidecars = [
        _container_item(reader, key, index, item, app_port) for index, item in enumerate(items)
    ]
    if None in sidecars:
        return None
    names = [sidecar["name"] for sidecar in sidecars]  # type: ignore[index]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        index = len(names) - 1 - names[::-1].index(twice[0])
        reader.errors.append(
            f"{PROJECT}:{key}[{index}].name is '{twice[0]}', but each container needs a name "
            f"of its own; fix it with: pulumi config set --stack {reader.stack} --path "
            f"'{PROJECT}:{key}[{index}].name' {twice[0]}-2"
        )
        return None
    return sidecars  # type: ignore[return-value]
