"""A stack's rendering as plain data: every URN, every resource as the engine and the
provider would receive it, and the stack outputs. Compared against a committed snapshot
of main (tests/fixtures/main_stacks.json) to show what a change does to existing stacks.

Regenerate the snapshot only from the code it stands for (see tests/fixtures/README.md):

    venv/bin/python -m tests.snapshots > tests/fixtures/main_stacks.json
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from tests.harness import ProgramRun, run_main

STACKS = ("dev", "prod")
AUTO_NAME = "<auto>"


def _auto_names(run: ProgramRun) -> dict[str, str]:
    """Generated name -> stable stand-in, for objects the provider names itself: their
    suffix is random in a real run (a hash of the content under mocks), so a snapshot
    holds the stand-in, and a content change shows up in the object itself."""
    names = {}
    for record in run.kubernetes():
        metadata = record.manifest().get("metadata") or {}
        if not (record.inputs.get("metadata") or {}).get("name") and metadata.get("name"):
            names[metadata["name"]] = f"{record.name}-{AUTO_NAME}"
    return names


def _replace_names(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: _replace_names(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_names(item, names) for item in value]
    if isinstance(value, str) and names:
        pattern = re.compile("|".join(re.escape(name) for name in sorted(names, key=len)[::-1]))
        return pattern.sub(lambda match: names[match.group(0)], value)
    return value


def snapshot(run: ProgramRun) -> dict[str, Any]:
    names = _auto_names(run)
    resources = {}
    for record in run.registrations:
        if not record.custom:
            continue
        resources[f"{record.type}::{record.name}"] = {
            "state": _replace_names(record.state, names),
            "secret_paths": sorted(record.secret_paths),
            "protect": record.protect,
            "retain_on_delete": record.retain_on_delete,
            "ignore_changes": sorted(record.ignore_changes),
            "custom_timeouts": record.custom_timeouts,
        }
    return {
        "urns": sorted(run.engine_urn(record) for record in run.registrations),
        "resources": resources,
        "outputs": {
            name: {"value": _replace_names(output.value, names), "secret": output.secret}
            for name, output in sorted(run.outputs.items())
        },
    }


def main() -> None:
    stacks = {stack: snapshot(run_main(stack)) for stack in STACKS}
    json.dump(stacks, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
