"""How the suite configures the two stacks: the tracked stack files, copied unchanged with
the project, plus only what a laptop cluster cannot honour, each override with its reason.
Neither stack file's values are pinned here: the scenarios read them."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.e2e.engine import ROOT

# key -> (value, why the tracked value cannot be used on the suite's cluster)
PROD_OVERRIDES: dict[str, tuple[str, str]] = {
    "webapp:backupBucket": (
        "s3://webapp-e2e-archive/prod",
        "the stack file holds a placeholder no one can own (the program warns about it on "
        "every run); the suite names a bucket of its own",
    ),
    "webapp:backupS3Endpoint": (
        "http://127.0.0.1:9",
        "nothing may leave the machine: where an operator does run (WEBAPP_E2E_CONTEXT), "
        "its archiver reaches no real S3 API, only a closed port of its own pod",
    ),
    # Made-up keys: the program creates the archive's credentials Secret from them.
    "webapp:backupS3AccessKeyId": (
        "e2e-not-a-real-key-id",
        "off-cluster copies need a way to the bucket and the stack file leaves it to the "
        "operator; the suite's bucket is never reached, so made-up keys do",
    ),
    "webapp:backupS3SecretAccessKey": (
        "e2e-not-a-real-secret",
        "as webapp:backupS3AccessKeyId (set as a secret, as a user would)",
    ),
}
# Overrides set as secrets (`pulumi config set --secret`).
SECRET_OVERRIDES = frozenset({"webapp:backupS3AccessKeyId", "webapp:backupS3SecretAccessKey"})


def tracked_config(stack: str) -> dict[str, object]:
    path: Path = ROOT / f"Pulumi.{stack}.yaml"
    return yaml.safe_load(path.read_text()).get("config") or {}


def tracked_namespace(stack: str) -> str:
    return str(tracked_config(stack).get("webapp:namespace", "webapp"))


def overrides(stack: str, context: str) -> dict[str, str]:
    """The suite's config on top of the stack file: the cluster's context (as a user sets
    webapp:kubeContext), and prod's overrides."""
    config = {"webapp:kubeContext": context}
    if stack == "prod":
        config.update({key: value for key, (value, _why) in PROD_OVERRIDES.items()})
    return config
