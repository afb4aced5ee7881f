"""Writes docs/configuration.md, the configuration reference, from the config declarations
in Pulumi.yaml (key, type, default, description): Pulumi.yaml is the source of truth, as
values.yaml is for Bitnami's readme-generator. That tool (npm) reads `## @param` comments
in a Helm values file, not Pulumi's config schema, so this small script does the same job.

    venv/bin/python tools/config_reference.py          # write docs/configuration.md
    venv/bin/python tools/config_reference.py --check  # exit 1 if it is out of date

(`make docs` runs the first.) No stack's values appear: those are the user's files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILE = ROOT / "Pulumi.yaml"
REFERENCE = ROOT / "docs" / "configuration.md"

HEADER = """# Configuration reference

<!-- Generated from Pulumi.yaml by `make docs` (tools/config_reference.py): do not edit. -->

Every key the program reads, with its type and default, in the order Pulumi.yaml declares
them. A stack file (`Pulumi.<stack>.yaml`) sets only what differs from the default:

```sh
pulumi config set --stack dev webapp:replicas 2          # a value
pulumi config set --stack dev --path 'webapp:env.LOG_LEVEL' debug   # a key of an object
pulumi config set --stack dev --config-file .pulumi-local/Pulumi.dev.yaml \\
  --secret --path 'webapp:secretEnv.API_KEY' <value>   # a local stack's secret: its copy
```

Local stacks add `--config-file .pulumi-local/Pulumi.<stack>.yaml`
([operations.md](operations.md#local-stacks-and-the-tracked-stack-files)).
`make check STACK=<stack>` shows what a stack file deploys and every bad value, without the
Pulumi CLI. The program refuses an unknown `webapp:` key, and a bad value stops it with one
sentence naming the key, the value, what is allowed and the command that fixes it.

| Key | Type | Default | Description |
| --- | --- | --- | --- |
"""


def _type(spec: dict[str, Any]) -> str:
    kind = spec.get("type")
    if kind is None:
        # Undeclared in Pulumi.yaml (the CLI declares no list of objects): the default says
        # which structure the program reads.
        return "array of object" if isinstance(spec.get("default"), list) else "object"
    if kind == "array":
        return f"array of {(spec.get('items') or {}).get('type', 'any')}"
    return str(kind)


def _default(value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (list, dict)):
        text = json.dumps(value)
    elif value == "":
        return '`""` (none)'
    else:
        text = str(value)
    return f"`{text}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def render(project: dict[str, Any]) -> str:
    rows = []
    for key, spec in (project.get("config") or {}).items():
        if ":" in key or not isinstance(spec, dict):
            continue  # another package's key, or a plain value: not a declaration
        rows.append(
            f"| `{project['name']}:{key}` | {_type(spec)} | {_default(spec.get('default'))} "
            f"| {_cell(str(spec.get('description', '')))} |"
        )
    return HEADER + "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    options = parser.parse_args(argv)
    text = render(yaml.safe_load(PROJECT_FILE.read_text()))
    if options.check:
        if not REFERENCE.exists() or REFERENCE.read_text() != text:
            print(
                "docs/configuration.md is out of date with Pulumi.yaml: run `make docs`",
                file=sys.stderr,
            )
            return 1
        return 0
    REFERENCE.parent.mkdir(exist_ok=True)
    REFERENCE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
