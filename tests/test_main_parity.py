"""The dev and prod stacks render the same objects as main does without the component
package (tests/fixtures/main_stacks.json, main with the monitoring work merged), except
for the differences listed here, each with the reason. A difference not listed, or a
listed one that is gone, fails the test. The monitoring objects (alert rules, dashboard,
JSON server logs, monitoring labels) are in the snapshot, so the package's port of them
must render exactly as main's.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.harness import ROOT, ProgramRun
from tests.snapshots import snapshot

MAIN = json.loads((ROOT / "tests" / "fixtures" / "main_stacks.json").read_text())
ABSENT = "<absent>"
DEPLOYMENT = "resources.kubernetes:apps/v1:Deployment::webapp-deployment"
QUOTA = "resources.kubernetes:core/v1:ResourceQuota::webapp-quota.state.spec.hard"
LIMITS = "resources.kubernetes:core/v1:LimitRange::webapp-limits.state.spec.limits[0]"
CLAIM = "resources.kubernetes:core/v1:PersistentVolumeClaim::webapp-db-{}.ignore_changes"

# Rollouts start a share of the replicas at once (25%), not one pod at a time.
SURGE = {f"{DEPLOYMENT}.state.spec.strategy.rollingUpdate.maxSurge": (1, "25%")}
# A new storage class never replaces an existing volume (and deletes its data) unless
# webapp:allowStorageClassChange says so.
CLAIMS = {CLAIM.format(claim): ([], ["spec.storageClassName"]) for claim in ("data", "backups")}
# New outputs: how to reach the app, and the data volume's storage class (which also
# refuses a storage class change on a stack with data).
OUTPUTS = {
    "outputs.portForward": (ABSENT, "kubectl -n webapp-{stack} port-forward svc/webapp 8080:80"),
    "outputs.databaseStorageClass": (ABSENT, ""),
}

# Containers run as uids of 10000 or more (no clash with the node's users); the database
# pod first checks that its uid owns the data (a stack created as 999 sets webapp:dbUserId).
UIDS = {
    f"resources.kubernetes:{kind}::{name}.state.{template}.spec.securityContext.{field}": (
        old,
        new,
    )
    for kind, name, template, old, new in (
        ("apps/v1:Deployment", "webapp-deployment", "spec.template", 101, 10101),
        ("apps/v1:StatefulSet", "webapp-db-statefulset", "spec.template", 999, 10999),
        ("batch/v1:CronJob", "webapp-db-backup", "spec.jobTemplate.spec.template", 999, 10999),
    )
    for field in ("runAsUser", "runAsGroup", "fsGroup")
}
INIT = (
    "resources.kubernetes:apps/v1:StatefulSet::webapp-db-statefulset"
    ".state.spec.template.spec.initContainers"
)


EXPECTED: dict[str, dict[str, tuple[Any, Any]]] = {
    "dev": {
        **SURGE,
        **UIDS,
        **CLAIMS,
        **OUTPUTS,
        # The quota follows the workload: 2 app pods (1 and a rollout's surge), the
        # database with its exporter and a backup, plus 25%, where it was fixed at 4 CPUs,
        # 4Gi and 20 pods; the volumes are 2Gi, plus 25%.
        **{f"{QUOTA}.{kind}.cpu": ("4", "3400m") for kind in ("requests", "limits")},
        **{f"{QUOTA}.{kind}.memory": ("4Gi", "2176Mi") for kind in ("requests", "limits")},
        f"{QUOTA}.requests.storage": ("20Gi", "3Gi"),
        f"{QUOTA}.pods": ("20", "5"),
    },
    "prod": {
        **SURGE,
        **UIDS,
        **CLAIMS,
        **OUTPUTS,
        "outputs.loadBalancerAddress": (ABSENT, ""),
        # The LimitRange gives containers without resources the app's own, where it gave
        # them fixed defaults (dev's app has the same as those defaults).
        f"{LIMITS}.default.cpu": ("500m", "1"),
        f"{LIMITS}.default.memory": ("256Mi", "512Mi"),
        f"{LIMITS}.defaultRequest.cpu": ("100m", "250m"),
        f"{LIMITS}.defaultRequest.memory": ("128Mi", "256Mi"),
        # prod's explicit quotaCpu is a cap: with the larger surge, 13 app pods, the
        # database, a backup and a restore need 16.2 CPUs, more than the 16 it had.
        **{f"{QUOTA}.{kind}.cpu": ("16", "20") for kind in ("requests", "limits")},
    },
}


def differences(old: Any, new: Any, path: str = "") -> dict[str, tuple[Any, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        found: dict[str, tuple[Any, Any]] = {}
        for key in sorted(set(old) | set(new)):
            found |= differences(
                old.get(key, ABSENT), new.get(key, ABSENT), f"{path}.{key}" if path else key
            )
        return found
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        found = {}
        for index, (old_item, new_item) in enumerate(zip(old, new, strict=True)):
            found |= differences(old_item, new_item, f"{path}[{index}]")
        return found
    return {} if old == new else {path: (old, new)}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_stacks_render_as_main_did_but_for_the_listed_changes(
    stack: str, request: pytest.FixtureRequest
) -> None:
    run: ProgramRun = request.getfixturevalue(f"{stack}_run")
    current = snapshot(run)
    before = MAIN[stack]
    found = differences(
        {"resources": before["resources"], "outputs": before["outputs"]},
        {"resources": current["resources"], "outputs": current["outputs"]},
    )
    expected = {
        path: tuple(
            value.format(stack=stack) if isinstance(value, str) else value for value in change
        )
        for path, change in EXPECTED[stack].items()
    }
    # Output values are recorded with their secrecy.
    expected = {
        path: tuple(
            {"value": value, "secret": False}
            if path.startswith("outputs.") and value != ABSENT
            else value
            for value in change
        )
        for path, change in expected.items()
    }
    # The init containers grew by the data owner check, ahead of main's log preparation.
    old_init, new_init = found.pop(INIT)
    assert [c["name"] for c in new_init] == ["check-data-owner"] + [c["name"] for c in old_init]
    assert new_init[1:] == old_init
    assert found == expected


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_only_the_component_tokens_changed_in_the_urns(
    stack: str, request: pytest.FixtureRequest
) -> None:
    run: ProgramRun = request.getfixturevalue(f"{stack}_run")
    renamed = {urn.replace("webapp:components:", "webapp:index:") for urn in MAIN[stack]["urns"]}
    assert set(snapshot(run)["urns"]) == renamed
