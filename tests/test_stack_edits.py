"""The everyday edits a user commits to the tracked stack files keep the suite green: the
five edits of the README (replicas, an env var and a secret env var, a larger volume, an
Ingress host, the cloudnative-pg engine), `replicas: 4` alone, and a prod edit, applied to
copies of the stack files, and every stack-file test (marker `stack_files`) run on them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness import ROOT, ProgramRun, run_main

# As `pulumi config set --secret --path 'webapp:secretEnv.API_KEY' ...` writes it.
ENCRYPTED = {"secure": "v1:c2FsdA==:ZW5jcnlwdGVkIGJ5IHRoZSBDTEk="}
FIVE_EDITS: dict[str, Any] = {
    "webapp:replicas": 4,
    "webapp:env": {"FEATURE_X": "on"},
    "webapp:secretEnv": {"API_KEY": ENCRYPTED},
    "webapp:storageSize": "5Gi",
    "webapp:ingressHost": "dev.example.com",
    "webapp:dbEngine": "cloudnative-pg",
    "webapp:backupBucket": "s3://acme-webapp-backups/dev",
    "webapp:backupS3CredentialsSecret": "webapp-backup-s3",
    # And a sidecar, as docs/operations.md adds one.
    "webapp:sidecars": [
        {
            "name": "log-shipper",
            "image": "fluent/fluent-bit:3.1.9",
            "resources": {
                "cpuRequest": "50m",
                "cpuLimit": "200m",
                "memoryRequest": "64Mi",
                "memoryLimit": "128Mi",
            },
        }
    ],
}
PROD_EDIT: dict[str, Any] = {
    "webapp:maxReplicas": 8,
    "webapp:backupBucket": "s3://acme-webapp-backups/prod",
    "webapp:backupS3CredentialsSecret": "webapp-backup-s3",
}


def edit_stack_file(source: Path, target: Path, changes: dict[str, Any]) -> None:
    document = yaml.safe_load(source.read_text()) or {}
    document.setdefault("config", {}).update(changes)
    target.write_text(yaml.safe_dump(document, sort_keys=False))


@pytest.fixture(scope="module")
def edited(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Copies of the tracked stack files with the edits: dev with all five, a stack with
    `replicas: 4` alone, prod with its edit."""
    directory = tmp_path_factory.mktemp("stacks")
    edit_stack_file(ROOT / "Pulumi.dev.yaml", directory / "Pulumi.dev.yaml", FIVE_EDITS)
    edit_stack_file(
        ROOT / "Pulumi.dev.yaml", directory / "Pulumi.replicas.yaml", {"webapp:replicas": 4}
    )
    edit_stack_file(ROOT / "Pulumi.prod.yaml", directory / "Pulumi.prod.yaml", PROD_EDIT)
    return directory


def _one(run: ProgramRun, kind: str) -> dict[str, Any]:
    (record,) = [r for r in run.kubernetes() if r.manifest()["kind"] == kind]
    return record.manifest()


def test_the_edits_take_effect(edited: Path) -> None:
    """The edits render what they say (so the run below proves something)."""
    dev = run_main("dev", stacks_dir=edited)
    assert _one(dev, "Deployment")["spec"]["replicas"] == 4
    assert _one(dev, "Cluster")["spec"]["storage"]["size"] == "5Gi"
    assert [rule["host"] for rule in _one(dev, "Ingress")["spec"]["rules"]] == ["dev.example.com"]
    config_maps = [r.manifest() for r in dev.of_type("kubernetes:core/v1:ConfigMap")]
    assert any((c.get("data") or {}).get("FEATURE_X") == "on" for c in config_maps)
    secrets = [r for r in dev.of_type("kubernetes:core/v1:Secret")]
    assert any(
        "API_KEY" in str(r.manifest().get("data") or r.manifest().get("stringData"))
        for r in secrets
    )
    replicas = run_main("replicas", stacks_dir=edited)
    assert _one(replicas, "Deployment")["spec"]["replicas"] == 4
    prod = run_main("prod", stacks_dir=edited)
    autoscaler = _one(prod, "HorizontalPodAutoscaler")
    assert autoscaler["spec"]["maxReplicas"] == 8


def stack_file_test_modules(session: pytest.Session) -> list[str]:
    """The test files holding stack-file tests, when this session collected the whole
    suite and so knows them all (xdist's workers each collect it whole): the run below
    then imports only those. Otherwise none, and the run collects the whole suite."""
    collected = {item.path for item in session.items}
    if not set((ROOT / "tests").glob("test_*.py")) <= collected:
        return []
    return sorted(
        {
            str(item.path.relative_to(ROOT))
            for item in session.items
            if item.get_closest_marker("stack_files") or "stack_run" in item.fixturenames
        }
    )


def test_every_stack_file_test_passes_on_the_edited_files(
    edited: Path, request: pytest.FixtureRequest
) -> None:
    modules = stack_file_test_modules(request.session)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-m",
            "stack_files",
            "-v",
            "-p",
            "no:cacheprovider",
            *modules,
        ],
        cwd=ROOT,
        env={**os.environ, "WEBAPP_STACKS_DIR": str(edited)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    for stack in ("dev", "replicas", "prod"):
        # Each stack's own tests ran, and the invariant tests on each stack that renders.
        assert f"[{stack}]" in output, output[-3000:]
        assert f"user-{stack}" in output, output[-3000:]
    passed = re.search(r"(\d+) passed", output)
    assert passed and int(passed[1]) > 100, output[-2000:]
