"""Dumps everything the program registers under the tests' mocks, per stack, as JSON.

A layout change (moving modules, splitting files) must not change what the engine
receives: run this before and after and compare the files (`cmp` or `diff`). Every
registered resource is written with its type, name, URN, parent, options, inputs and the
state the provider would receive, sorted by URN, with the stack's outputs and the
components' registered outputs.

    venv/bin/python tools/render_dump.py OUT_DIR [VARIANT ...]

Variants: dev, prod (the fixture stacks of tests/fixtures/stacks, which the test harness
runs: the tracked files with what a deploy needs besides, such as prod's bucket) and
prod-statefulset (prod's settings with webapp:dbEngine statefulset); all three by default.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness import ProgramRun, run_main  # noqa: E402

VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "dev": ("dev", {}),
    "prod": ("prod", {}),
    "prod-statefulset": ("prod", {"webapp:dbEngine": "statefulset"}),
}


def dump(run: ProgramRun) -> dict[str, Any]:
    resources = []
    for record in sorted(run.registrations, key=lambda r: r.urn):
        item = asdict(record)
        item["secret_paths"] = sorted(record.secret_paths)
        # The SDK gathers dependencies in a set: their order is not part of what is sent.
        item["dependencies"] = sorted(record.dependencies)
        item["engine_urn"] = run.engine_urn(record)
        resources.append(item)
    return {
        "resources": resources,
        "outputs": {
            name: {"value": out.value, "secret": out.secret}
            for name, out in sorted(run.outputs.items())
        },
        "component_outputs": {
            urn: {"outputs": outputs, "secret_paths": sorted(paths)}
            for urn, (outputs, paths) in sorted(run.component_outputs.items())
        },
    }


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    out_dir = Path(argv[0])
    out_dir.mkdir(parents=True, exist_ok=True)
    unknown = [variant for variant in argv[1:] if variant not in VARIANTS]
    if unknown:
        print(f"unknown variant {unknown[0]!r}; variants: {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    for variant in argv[1:] or list(VARIANTS):
        stack, overrides = VARIANTS[variant]
        data = dump(run_main(stack, dict(overrides)))
        path = out_dir / f"{variant}.json"
        path.write_text(json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")
        print(f"{path}: {len(data['resources'])} resources")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
