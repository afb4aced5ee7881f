"""requirements.txt is what the Pulumi CLI installs into the program's virtualenv, and the
engine downloads the resource plugin of every package there that ships one, for every
preview. So it holds the program's packages only: no plugin other than the program's own
providers, and no test tool. requirements-dev.txt adds the test tools for `make test`.

Packages are inspected as installed in this virtualenv (`make test` installs the pins),
following their dependencies, so a plugin pulled in indirectly counts too.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.harness import ROOT

PROGRAM_REQUIREMENTS = ROOT / "requirements.txt"
DEV_REQUIREMENTS = ROOT / "requirements-dev.txt"
# The providers the program itself uses (pulumi_kubernetes, pulumi_random).
PROGRAM_PROVIDERS = {"pulumi-kubernetes": "kubernetes", "pulumi-random": "random"}
# name, optional [extras], ==version
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[A-Za-z0-9,._-]+\])?==([A-Za-z0-9.+!-]+)$")


def _lines(path: Path) -> list[str]:
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def pinned(path: Path) -> dict[str, str]:
    """Name -> version of a requirements file's own pins (includes not followed)."""
    pins = {}
    for line in _lines(path):
        if line.startswith("-r "):
            continue
        match = PIN.match(line)
        assert match, f"{path.name}: {line!r} is not pinned as name==version"
        pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def included(path: Path) -> list[Path]:
    """`path` and every file it includes with -r, recursively."""
    files = [path]
    for line in _lines(path):
        if line.startswith("-r "):
            files += included((path.parent / line[3:].strip()).resolve())
    return files


def installed_closure(names: set[str]) -> set[str]:
    """The named distributions and everything they depend on, as installed."""
    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = canonicalize_name(pending.pop())
        if name in seen:
            continue
        seen.add(name)
        for requirement in metadata.distribution(name).requires or []:
            parsed = Requirement(requirement)
            if parsed.marker and not parsed.marker.evaluate({"extra": ""}):
                continue
            pending.append(parsed.name)
    return seen


def resource_plugins(names: set[str]) -> dict[str, str]:
    """Distribution -> plugin name, for those shipping a resource plugin (the
    `pulumi-plugin.json` with `"resource": true` the engine reads)."""
    plugins = {}
    for name in names:
        for file in metadata.distribution(name).files or []:
            if file.name == "pulumi-plugin.json":
                described = json.loads(file.read_text())
                if described.get("resource"):
                    plugins[name] = described["name"]
    return plugins


def test_program_requirements_are_plain_pins() -> None:
    lines = _lines(PROGRAM_REQUIREMENTS)
    # An include or option would bring in whatever another file lists.
    assert all(PIN.match(line) for line in lines), lines
    assert pinned(PROGRAM_REQUIREMENTS)


def test_the_checked_packages_are_the_pinned_ones() -> None:
    for name, version in pinned(PROGRAM_REQUIREMENTS).items():
        assert metadata.version(name) == version, f"{name} {metadata.version(name)} != {version}"


def test_only_the_program_providers_ship_resource_plugins() -> None:
    closure = installed_closure(set(pinned(PROGRAM_REQUIREMENTS)))
    assert resource_plugins(closure) == PROGRAM_PROVIDERS


def test_no_test_only_package_is_a_program_requirement() -> None:
    program = installed_closure(set(pinned(PROGRAM_REQUIREMENTS)))
    test_only = set()
    for path in included(DEV_REQUIREMENTS):
        if path != PROGRAM_REQUIREMENTS.resolve():
            test_only |= set(pinned(path))
    test_only -= set(pinned(PROGRAM_REQUIREMENTS))
    # The test tools, the policy pack's and the Deployments program's packages.
    assert {"pytest", "pulumi-pulumiservice", "pulumi-policy", "ruff"} <= test_only
    assert not program & test_only, sorted(program & test_only)


def test_make_test_installs_the_program_requirements_too() -> None:
    assert PROGRAM_REQUIREMENTS.resolve() in included(DEV_REQUIREMENTS)


@pytest.mark.parametrize("path", ["deployment/requirements.txt", "requirements-dev.txt"])
def test_the_plugin_check_sees_a_test_only_provider(path: str) -> None:
    # pulumi-pulumiservice ships a resource plugin: the check must notice it where it is.
    names = set()
    for file in included(ROOT / path):
        names |= set(pinned(file))
    assert resource_plugins(installed_closure(names)).get("pulumi-pulumiservice") == (
        "pulumiservice"
    )
