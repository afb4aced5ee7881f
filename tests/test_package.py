"""components/ as a Pulumi component package: the schema other languages see, inferred
without the CLI the way `pulumi package add` infers it, and the entry point the CLI runs.

The schema is compared with a reviewed snapshot, so an unintended interface change fails
here. After a deliberate change, regenerate the snapshot with `make schema` (which runs
this module: `venv/bin/python -m tests.test_package --write`) and review its diff: a
changed interface raises the minor number of components/VERSION with it.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pulumi.provider.experimental.component import ComponentProvider

import components
from components import COMPONENTS, PACKAGE, VERSION
from components._shared.package import VERSION_FILE
from tests.harness import ROOT
from tests.test_requirements import pinned

SNAPSHOT = ROOT / "tests" / "fixtures" / "webapp_schema.json"
PACKAGE_DIR = ROOT / "components"
MAX_LINES = 300


def inferred_schema() -> dict[str, Any]:
    return json.loads(ComponentProvider(COMPONENTS, PACKAGE, version=VERSION).schema)


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return inferred_schema()


def test_schema_matches_the_reviewed_snapshot(schema: dict[str, Any]) -> None:
    reviewed = json.loads(SNAPSHOT.read_text())
    assert schema == reviewed, (
        "the package's interface changed; if that was meant, run `make schema` (it raises "
        "components/VERSION) and review the diff of tests/fixtures/webapp_schema.json"
    )


def test_the_package_serves_the_three_components_under_its_own_tokens(
    schema: dict[str, Any],
) -> None:
    assert schema["name"] == PACKAGE == "webapp"
    assert schema["version"] == VERSION
    assert set(schema["resources"]) == {
        "webapp:index:AppNamespace",
        "webapp:index:PostgresDatabase",
        "webapp:index:WebService",
    }
    assert all(resource["isComponent"] for resource in schema["resources"].values())


def _properties(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for token, resource in schema["resources"].items():
        for kind in ("inputProperties", "properties"):
            for name, spec in resource.get(kind, {}).items():
                found.append((f"{token} {kind}.{name}", spec))
    for token, type_ in schema["types"].items():
        for name, spec in type_.get("properties", {}).items():
            found.append((f"{token}.{name}", spec))
    return found


def test_every_input_output_and_type_has_a_description(schema: dict[str, Any]) -> None:
    properties = _properties(schema)
    assert len(properties) > 60
    undescribed = [where for where, spec in properties if not spec.get("description")]
    assert undescribed == []
    for token, described in (*schema["resources"].items(), *schema["types"].items()):
        assert described.get("description"), token


def test_inputs_and_outputs_are_complete(schema: dict[str, Any]) -> None:
    """Every field of every argument type reaches the schema (a string annotation or an
    unsupported type would be dropped or fail), and every declared output too."""
    for component in COMPONENTS:
        resource = schema["resources"][f"webapp:index:{component.__name__}"]
        args_type = inspect.get_annotations(component.__init__)["args"]
        fields = set(inspect.get_annotations(args_type))
        assert {_snake(name) for name in resource["inputProperties"]} == fields
        outputs = {name for name in inspect.get_annotations(component) if not name.startswith("_")}
        assert {_snake(name) for name in resource["properties"]} == outputs


def _snake(name: str) -> str:
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in name)


def test_the_entry_point_serves_the_package_from_a_directory_of_any_name(
    tmp_path: Path,
) -> None:
    """The CLI runs `python <plugin directory> <engine address>`, in a directory that may
    have another name (a git checkout, the plugin cache). Run the same way, with the
    provider's serve loop replaced by printing the schema it would serve."""
    plugin = tmp_path / "resource-webapp-v0"
    shutil.copytree(PACKAGE_DIR, plugin, ignore=shutil.ignore_patterns("__pycache__", "venv"))
    probe = (
        "import json, runpy, sys\n"
        "import pulumi.provider.experimental.host as host\n"
        "host.main = lambda provider, args: print(provider.schema)\n"
        f"sys.argv = [{str(plugin)!r}, '127.0.0.1:0']\n"
        f"runpy.run_path({str(plugin)!r}, run_name='__main__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == inferred_schema()


def test_the_plugin_manifest_names_the_python_runtime_only() -> None:
    import yaml

    manifest = yaml.safe_load((PACKAGE_DIR / "PulumiPlugin.yaml").read_text())
    # Python component packages support the pip toolchain with `venv` only.
    assert manifest == {"runtime": "python"}
    assert (PACKAGE_DIR / "__main__.py").is_file()


def test_the_package_pins_what_the_stack_pins() -> None:
    """The Python stack imports the package directly: one set of versions for both."""
    package = pinned(PACKAGE_DIR / "requirements.txt")
    stack = pinned(ROOT / "requirements.txt")
    assert set(package) == {"pulumi", "pulumi-kubernetes", "pulumi-random"}
    assert {name: stack[name] for name in package} == package


def _package_files() -> list[Path]:
    """Every module of the package, in its subpackages too."""
    return sorted(PACKAGE_DIR.rglob("*.py"))


@pytest.mark.parametrize(
    "path", _package_files(), ids=lambda path: str(path.relative_to(PACKAGE_DIR))
)
def test_package_files_are_short_and_keep_real_annotations(path: Path) -> None:
    text = path.read_text()
    assert len(text.splitlines()) < MAX_LINES, f"{path} has {len(text.splitlines())} lines"
    # The analyzer cannot read string annotations.
    future = [
        alias.name
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.ImportFrom) and node.module == "__future__"
        for alias in node.names
    ]
    assert "annotations" not in future


def test_components_never_read_config() -> None:
    for path in _package_files():
        tree = ast.parse(path.read_text())
        names = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)} | {
            node.id for node in ast.walk(tree) if isinstance(node, ast.Name)
        }
        assert not names & {"Config", "get_stack", "get_project"}, path.name


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda component: component.__name__)
def test_constructors_read_as_a_table_of_contents(component: type) -> None:
    """A constructor names what it creates and leaves each object to a builder."""
    source = inspect.getsource(component.__init__)  # type: ignore[misc]
    body = [line for line in source.splitlines() if line.strip()]
    assert len(body) <= 60, f"{component.__name__}.__init__ has {len(body)} lines"
    tree = ast.parse(inspect.cleandoc("\n" + source) if source.startswith(" ") else source)
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    # No Kubernetes object is built inline: those are `k8s.<group>.<version>.<Kind>(...)`.
    inline = [ast.unparse(call.func) for call in calls if ast.unparse(call.func).startswith("k8s.")]
    assert inline == []


def test_the_package_version_is_semver() -> None:
    parts = VERSION.split(".")
    assert len(parts) == 3 and all(part.isdigit() for part in parts)
    assert components.__version__ == VERSION


def schema_text() -> str:
    return json.dumps(inferred_schema(), indent=1) + "\n"


def _interface(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in schema.items() if key != "version"}


def raised_minor(version: str) -> str:
    major, minor, _ = version.split(".")
    return f"{major}.{int(minor) + 1}.0"


def write_snapshot(path: Path = SNAPSHOT, version_file: Path = VERSION_FILE) -> str:
    """What `make schema` does: the snapshot of the inferred schema, and a minor version
    raised when the interface differs from the snapshot's, unless the version was raised
    by hand since. The text is made before a file is opened, so a failure leaves both as
    they were. Returns the version written."""
    schema = inferred_schema()
    reviewed = json.loads(path.read_text()) if path.exists() else None
    if (
        reviewed
        and reviewed.get("version") == VERSION
        and _interface(reviewed) != _interface(schema)
    ):
        schema["version"] = raised_minor(VERSION)
        version_file.write_text(schema["version"] + "\n")
    path.write_text(json.dumps(schema, indent=1) + "\n")
    return schema["version"]


def test_the_snapshot_is_what_make_schema_writes(tmp_path: Path) -> None:
    written = tmp_path / "webapp_schema.json"
    shutil.copy(SNAPSHOT, written)
    version_file = tmp_path / "VERSION"
    assert write_snapshot(written, version_file) == VERSION
    assert SNAPSHOT.read_text() == written.read_text(), (
        "tests/fixtures/webapp_schema.json is not current: run `make schema` and review its diff"
    )
    assert not version_file.exists(), "an unchanged interface keeps its version"


def test_make_schema_raises_the_version_with_the_interface(tmp_path: Path) -> None:
    """A new input needs no hand-kept version: the snapshot of a changed interface comes
    with the next minor version, once however often `make schema` runs."""
    older = json.loads(SNAPSHOT.read_text())
    del older["resources"]["webapp:index:WebService"]["inputProperties"]["sidecars"]
    written = tmp_path / "webapp_schema.json"
    written.write_text(json.dumps(older))
    version_file = tmp_path / "VERSION"
    major, minor, _ = VERSION.split(".")
    assert write_snapshot(written, version_file) == f"{major}.{int(minor) + 1}.0"
    assert version_file.read_text() == f"{major}.{int(minor) + 1}.0\n"
    assert json.loads(written.read_text())["version"] == f"{major}.{int(minor) + 1}.0"
    # A version raised by hand (a major release) is kept.
    older["version"] = "1.0.0"
    written.write_text(json.dumps(older))
    version_file.unlink()
    assert write_snapshot(written, version_file) == VERSION
    assert not version_file.exists()


def test_make_schema_runs_the_writer() -> None:
    dry_run = subprocess.run(
        ["make", "-n", "schema"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "-m tests.test_package --write" in dry_run.stdout


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        version = write_snapshot()
        print(f"wrote {SNAPSHOT.relative_to(ROOT)} (package version {version})")
    else:
        sys.stdout.write(schema_text())
