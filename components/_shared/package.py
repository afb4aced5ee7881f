"""How the components meet the engine and other languages: the package's name and
version, type tokens with aliases to the tokens of stacks deployed before the package, and
inputs as they arrive from any language (numbers as floats, objects as dicts, values that
may be other resources' outputs).

No module of this package uses `from __future__ import annotations`: the schema is
inferred from the real annotations of the components and their argument types.
"""

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import pulumi
from pulumi import Inputs
from pulumi.provider.experimental.analyzer import (
    ComponentDefinition,
    PropertyDefinition,
    PropertyType,
)
from pulumi.provider.experimental.component import ComponentProvider

PACKAGE = "webapp"
"""The package name: type tokens are `webapp:index:<Component>`, the form a component
package served to other languages must use."""
VERSION_FILE = Path(__file__).resolve().parent.parent / "VERSION"
VERSION = VERSION_FILE.read_text().strip()
"""The package's version (semver), kept in components/VERSION: `make schema` raises its
minor number when it writes a snapshot of a changed interface (raise the major number by
hand for a breaking change once the package is 1.0)."""
LEGACY_MODULE = "components"
"""Stacks deployed before the package registered `webapp:components:<Component>`."""

T = TypeVar("T")


def component_type(kind: str) -> str:
    return f"{PACKAGE}:index:{kind}"


def component_options(kind: str, opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    """The caller's options plus an alias to the token the component had before it was a
    package: changing a token changes the URN of everything below it, and without the
    alias the engine would replace the whole subtree, data volumes included."""
    legacy = pulumi.Alias(type_=f"{PACKAGE}:{LEGACY_MODULE}:{kind}")
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=[legacy]))


class InvalidInput(pulumi.RunError):
    """An input a component cannot use; shown without a traceback."""


def known(value: T, what: str) -> T:
    """Inputs that decide which objects exist, or their names, must be known when the
    component is built: a literal or config value, not another resource's output."""
    if isinstance(value, pulumi.Output) or inspect.isawaitable(value):
        raise InvalidInput(
            f"{what} decides which objects are created, so it must be a plain value "
            "(a literal or config value), not another resource's output"
        )
    return value


def _whole(value: Any, what: str) -> Any:
    if value is None:
        return None
    # Numbers from other languages cross the wire as doubles.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise InvalidInput(f"{what} must be a whole number, not {value!r}")


def whole(value: pulumi.Input[int] | None, what: str) -> Any:
    """An integer input as an int (or an Output of one), whichever language sent it."""
    if isinstance(value, pulumi.Output):
        return value.apply(lambda resolved: _whole(resolved, what))
    return _whole(known(value, what), what)


def known_whole(value: pulumi.Input[int] | None, what: str) -> int | None:
    """An integer input that decides which objects exist: plain, and an int."""
    return _whole(known(value, what), what)


class PackageProvider(ComponentProvider):
    """The SDK's provider for these components, with integer inputs that are other
    resources' outputs passed through.

    The SDK converts every integer input with int(), which fails for an output (a
    PostgresDatabase's port handed to a WebService by another language's program) before
    the component sees it; the components convert integers themselves (`whole`). So such
    outputs are held back while the SDK maps the inputs, and put back after."""

    def map_inputs(self, inputs: Inputs, component_def: ComponentDefinition) -> Inputs:
        held: dict[tuple[Any, ...], pulumi.Output[Any]] = {}
        safe = self._hold(inputs, component_def.inputs, component_def.inputs_mapping, (), held)
        mapped = super().map_inputs(safe, component_def)
        for path, value in held.items():
            target: Any = mapped
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = value
        return mapped

    def _hold(
        self,
        values: Any,
        properties: Mapping[str, PropertyDefinition],
        mapping: Mapping[str, str],
        path: tuple[Any, ...],
        held: dict[tuple[Any, ...], pulumi.Output[Any]],
    ) -> Any:
        if not isinstance(values, dict):
            return values
        safe = dict(values)
        for name, prop in properties.items():
            value = values.get(name)
            here = (*path, mapping[name])
            if isinstance(value, pulumi.Output) and prop.type == PropertyType.INTEGER:
                held[here] = value
                safe[name] = 0.0  # mapped, then replaced by the held output
                continue
            type_def = self.get_type_definition(prop) if prop.ref else None
            if type_def is not None and not type_def.enum:
                safe[name] = self._hold(
                    value, type_def.properties, type_def.properties_mapping, here, held
                )
            items = self.get_type_definition(prop.items) if prop.items and prop.items.ref else None
            if items is not None and isinstance(value, list):
                safe[name] = [
                    self._hold(item, items.properties, items.properties_mapping, (*here, i), held)
                    for i, item in enumerate(value)
                ]
        return safe
