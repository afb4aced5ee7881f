"""components/ is laid out as the architecture: a package per component, the database's
two engines behind one seam, observability and _shared below them, and no import circle.

A circle between modules shows up as an ImportError from a partially initialised module,
but only for the import order that happens to reach it first; these tests read the
imports from the source, so every order is covered."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPONENTS = ROOT / "components"
# The stack's settings follow the same shape, and are held to the same: no circle.
SETTINGS = ROOT / "stack_settings"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for root in (COMPONENTS, SETTINGS)
        for path in root.rglob("*.py")
        if "venv" not in path.relative_to(root).parts
    }


MODULES = _modules()


def _package_of(module: str) -> str:
    path = MODULES[module]
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _resolve(module: str, node: ast.ImportFrom) -> list[str]:
    """The modules of components/ and stack_settings/ that `node` in `module` makes Python
    run."""
    if node.level:
        base = _package_of(module).split(".")
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not target.startswith(("components", "stack_settings")):
        return []
    found = []
    if target in MODULES:
        found.append(target)
    for alias in node.names:
        if f"{target}.{alias.name}" in MODULES:
            found.append(f"{target}.{alias.name}")
    return found


def _imports(module: str) -> set[str]:
    """Every module of components/ that importing `module` runs directly: the modules it
    names, and the __init__ of every package it enters that is not one of its own."""
    tree = ast.parse(MODULES[module].read_text())
    own = _package_of(module)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names if alias.name in MODULES]
        elif isinstance(node, ast.ImportFrom):
            targets = _resolve(module, node)
        else:
            continue
        for target in targets:
            found.add(target)
            parts = target.split(".")
            for depth in range(1, len(parts)):
                package = ".".join(parts[:depth])
                if package in MODULES and not (own == package or own.startswith(package + ".")):
                    found.add(package)
    found.discard(module)
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def test_there_is_no_import_circle() -> None:
    try:
        tuple(graphlib.TopologicalSorter(GRAPH).static_order())
    except graphlib.CycleError as error:
        pytest.fail("import circle: " + " -> ".join(error.args[1]))


def test_the_tree_shows_three_components_two_engines_observability_and_shared() -> None:
    packages = {
        path.parent.relative_to(COMPONENTS).as_posix()
        for path in COMPONENTS.rglob("__init__.py")
        if "venv" not in path.relative_to(COMPONENTS).parts
    }
    assert packages == {
        ".",
        "_shared",
        "observability",
        "namespace",
        "web",
        "database",
        "database/statefulset",
        "database/statefulset/scripts",
        "database/cloudnative_pg",
    }
    # Every module is in one of them: nothing left in the flat folder.
    assert sorted(p.name for p in COMPONENTS.glob("*.py")) == ["__init__.py", "__main__.py"]


# Which packages each package may import from: the components and engines build on
# observability and _shared, never the other way round, and no component reaches into
# another.
ALLOWED = {
    "components._shared": {"components._shared"},
    "components.observability": {"components._shared", "components.observability"},
    "components.namespace": {
        "components._shared",
        "components.observability",
        "components.namespace",
    },
    "components.web": {"components._shared", "components.observability", "components.web"},
    "components.database": {
        "components._shared",
        "components.observability",
        "components.database",
    },
}


def _area(module: str) -> str | None:
    for area in ALLOWED:
        if module == area or module.startswith(area + "."):
            return area
    return None


@pytest.mark.parametrize("area", sorted(ALLOWED))
def test_layers_import_only_what_is_below_them(area: str) -> None:
    wrong = {
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if _area(module) == area
        for target in targets
        if _area(target) not in ALLOWED[area]
    }
    assert not wrong, sorted(wrong)


def test_the_component_reaches_each_engine_only_through_the_seam() -> None:
    """PostgresDatabase picks an engine and calls the two functions of the seam
    (database/engine.py: Engine); what an engine builds stays inside its package."""
    engines = ("components.database.statefulset", "components.database.cloudnative_pg")
    reached = {
        target
        for target in GRAPH["components.database.component"]
        # A module's package is imported with it.
        if target.startswith(engines) and target not in engines
    }
    assert reached == {f"{engine}.engine" for engine in engines}


def test_engines_do_not_import_the_component() -> None:
    """The engines sit behind the seam (database/engine.py): PostgresDatabase chooses one,
    an engine never reaches back into the component."""
    wrong = {
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module.startswith(
            ("components.database.statefulset", "components.database.cloudnative_pg")
        )
        for target in targets
        if target == "components.database.component"
    }
    assert not wrong, sorted(wrong)


@pytest.mark.parametrize(
    ("engine", "other"),
    [("statefulset", "cloudnative_pg"), ("cloudnative_pg", "statefulset")],
)
def test_an_engine_does_not_import_the_other(engine: str, other: str) -> None:
    wrong = {
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module.startswith(f"components.database.{engine}")
        for target in targets
        if target.startswith(f"components.database.{other}")
    }
    assert not wrong, sorted(wrong)


def test_the_graph_counts_the_init_of_every_package_a_module_enters() -> None:
    """A circle can run through a package's __init__ (the move's first cut had one:
    database/parts -> statefulset/__init__ -> backups -> database/parts): entering a
    package is an edge to its __init__, entering one's own package is not."""
    cluster = GRAPH["components.database.cloudnative_pg.cluster"]
    assert "components._shared.metadata" in cluster
    assert "components._shared" in cluster
    assert "components.database" not in cluster
    assert "components.database.cloudnative_pg" not in cluster


def test_the_settings_have_one_reader_per_component_and_the_engine_beside_the_database() -> None:
    readers = sorted(
        path.relative_to(SETTINGS).as_posix()
        for path in SETTINGS.rglob("*.py")
        if path.name != "__init__.py"
    )
    # app: WebService, namespace: AppNamespace, database/: PostgresDatabase and its
    # engines; the rest read the cluster, the observability layer and shared values.
    assert {"app.py", "namespace.py", "observability.py"} <= set(readers)
    assert "database/engine.py" in readers
    assert "database.py" not in readers and "engine.py" not in readers


def test_the_components_never_import_the_settings() -> None:
    """The components never read config: nothing under components/ imports stack_settings."""
    wrong = {
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module.startswith("components")
        for target in targets
        if target.startswith("stack_settings")
    }
    assert not wrong, sorted(wrong)
