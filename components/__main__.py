"""Entry point of the component package: the Pulumi CLI runs `python <this directory>` (in
its virtualenv `venv`) to serve the components to programs in other languages, inferring
the schema from the components' type annotations and docstrings."""

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from pulumi.provider.experimental import component_provider_host, host

PACKAGE_MODULE = "components"


def _package() -> ModuleType:
    if __package__:  # python -m components
        return importlib.import_module(__package__)
    # Run as a directory, this file is a script outside any package. Load the directory
    # as a package so its modules' relative imports work, whatever the directory is called
    # where the CLI put it, and keep its modules (common, package, ...) from shadowing
    # top-level modules of the same names.
    here = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    spec = importlib.util.spec_from_file_location(
        PACKAGE_MODULE, here / "__init__.py", submodule_search_locations=[str(here)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the component package from {here}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE_MODULE] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    package = _package()
    # component_provider_host serves the SDK's ComponentProvider; ours passes integer
    # inputs that are other resources' outputs through (package.PackageProvider).
    host.ComponentProvider = package.PackageProvider  # type: ignore[misc]
    component_provider_host(package.COMPONENTS, package.PACKAGE, version=package.VERSION)


if __name__ == "__main__":
    main()
