"""The dev and prod stacks render the same objects as main does without the component
package (tests/fixtures/main_stacks.json, main with the monitoring work merged), except
for the differences listed here, each with the reason. A difference not listed, or a
listed one that is gone, fails the test. The monitoring objects (alert rules, dashboard,
JSON server logs, monitoring labels) are in the snapshot, so the package's port of them
must render exactly as main's.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.harness import ROOT, ProgramRun, cli_config
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
# New outputs: how to reach the app, and the data volume's storage class and size (which
# also refuse a storage class change and a smaller volume on a stack with data).
OUTPUTS = {
    "outputs.portForward": (ABSENT, "kubectl -n webapp-{stack} port-forward svc/webapp 8080:80"),
    "outputs.databaseStorageClass": (ABSENT, ""),
}
STORAGE_SIZE = {stack: cli_config(stack)[0]["webapp:storageSize"] for stack in ("dev", "prod")}
# What the next update's major-upgrade guard compares with (issue 17, point 7): the
# database image as the engine runs it, and the archive's name (cloudnative-pg only).
_CONFIG = {stack: cli_config(stack)[0] for stack in ("dev", "prod")}
UPGRADE_GUARD = {
    "dev": {
        "outputs.databaseImage": (ABSENT, _CONFIG["dev"]["webapp:dbImage"]),
        "outputs.databaseArchive": (ABSENT, ""),
    },
    "prod": {
        "outputs.databaseImage": (ABSENT, _CONFIG["prod"]["webapp:cnpgImage"]),
        "outputs.databaseArchive": (ABSENT, _CONFIG["prod"]["webapp:dbArchiveName"] or "webapp-db"),
    },
}
# What the next update's reminder that each CNPG instance needs a node of its own compares
# with: the number of instances (the statefulset engine's one server counts as one).
INSTANCES = {
    "dev": {"outputs.databaseInstances": (ABSENT, 1)},
    "prod": {"outputs.databaseInstances": (ABSENT, int(_CONFIG["prod"]["webapp:dbInstances"]))},
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
# prod's database is the Cluster now: only the app's uids are there to compare.
APP_UIDS = {path: change for path, change in UIDS.items() if "::webapp-deployment." in path}
INIT = (
    "resources.kubernetes:apps/v1:StatefulSet::webapp-db-statefulset"
    ".state.spec.template.spec.initContainers"
)

# Prod's database runs on CloudNativePG (webapp:dbEngine cloudnative-pg, issue 9): the
# built-in server's objects are gone from prod, the Cluster and what it needs are new
# (their content is checked in test_cnpg_stack.py and test_kubernetes_schema.py), and the
# app connects to the Cluster's read-write Service. dev keeps the statefulset engine.
NEW = "<new object>"
STATEFULSET_ENGINE_OBJECTS = (
    "kubernetes:apps/v1:StatefulSet::webapp-db-statefulset",
    "kubernetes:batch/v1:CronJob::webapp-db-backup",
    "kubernetes:core/v1:ConfigMap::webapp-db-config",
    "kubernetes:core/v1:PersistentVolumeClaim::webapp-db-backups",
    "kubernetes:core/v1:PersistentVolumeClaim::webapp-db-data",
    "kubernetes:core/v1:Secret::webapp-db-credentials",
    "kubernetes:core/v1:Service::webapp-db-headless",
    "kubernetes:core/v1:Service::webapp-db-metrics",
    "kubernetes:core/v1:Service::webapp-db-service",
    "kubernetes:monitoring.coreos.com/v1:ServiceMonitor::webapp-db-servicemonitor",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy::webapp-db-backup-netpol",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy::webapp-db-netpol",
    # No superuser and no exporter role with CNPG: the instance manager exports metrics.
    "random:index/randomPassword:RandomPassword::webapp-db-exporter-password",
    "random:index/randomPassword:RandomPassword::webapp-db-superuser-password",
)
CNPG_ENGINE_OBJECTS = (
    "kubernetes:postgresql.cnpg.io/v1:Cluster::webapp-db-cluster",
    "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup::webapp-db-scheduledbackup",
    "kubernetes:barmancloud.cnpg.io/v1:ObjectStore::webapp-db-objectstore",
    "kubernetes:monitoring.coreos.com/v1:PodMonitor::webapp-db-podmonitor",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy::webapp-db-cluster-netpol",
    "kubernetes:core/v1:Secret::webapp-db-app-secret",
)
# Objects kept under their name (the same URN) with new content, tested where it is made:
# the database's alert rules read CloudNativePG's metrics (test_cnpg_alert_rules.py), and
# the dashboard's replication row has its panels (test_dashboard.py). Every difference
# under one of these paths stands as one.
REWRITTEN = "<rewritten>"
_DB_POD = "resources.kubernetes:apps/v1:StatefulSet::webapp-db-statefulset.state.spec.template"
_DUMP = (
    "resources.kubernetes:batch/v1:CronJob::webapp-db-backup"
    ".state.spec.jobTemplate.spec.template.spec.containers[0]"
)
REWRITTEN_CONTENT = {
    # Issue 15, tested against a real server in test_database_scripts.py: the start-up
    # hook makes the scratch database every dump is restored into before it counts
    # (SCRATCH_DATABASE), and the dump's script and bounds are new.
    "dev": (
        f"{_DB_POD}.spec.containers[0].env",
        f"{_DB_POD}.spec.containers[0].lifecycle.postStart.exec.command[2]",
        f"{_DUMP}.command[2]",
        f"{_DUMP}.env",
    ),
    "prod": (
        "resources.kubernetes:monitoring.coreos.com/v1:PrometheusRule::webapp-db-alerts.state.spec",
        "resources.kubernetes:core/v1:ConfigMap::webapp-dashboard.state.data.webapp-prod-webapp.json",
    ),
}
_OLD_HOST = "@webapp-db.webapp-prod.svc."
_NEW_HOST = "@webapp-db-rw.webapp-prod.svc."
_OLD_URL = MAIN["prod"]["outputs"]["databaseUrl"]["value"]
_APP_SECRET = "resources.kubernetes:core/v1:Secret::webapp-credentials.state.data.DATABASE_URL"
_APP_EGRESS = (
    "resources.kubernetes:networking.k8s.io/v1:NetworkPolicy::webapp-netpol"
    ".state.spec.egress[0].to[0].podSelector.matchLabels"
)
CNPG_ENGINE = {
    **{f"resources.{key}": ("<main>", ABSENT) for key in STATEFULSET_ENGINE_OBJECTS},
    **{f"resources.{key}": (ABSENT, NEW) for key in CNPG_ENGINE_OBJECTS},
    "outputs.databaseHost.value": (
        "webapp-db.webapp-prod.svc.cluster.local",
        "webapp-db-rw.webapp-prod.svc.cluster.local",
    ),
    "outputs.databaseUrl.value": (_OLD_URL, _OLD_URL.replace(_OLD_HOST, _NEW_HOST)),
    "resources.kubernetes:core/v1:ConfigMap::webapp-config.state.data.DATABASE_HOST": (
        "webapp-db.webapp-prod.svc.cluster.local",
        "webapp-db-rw.webapp-prod.svc.cluster.local",
    ),
    _APP_SECRET: (
        base64.b64encode(_OLD_URL.encode()).decode(),
        base64.b64encode(_OLD_URL.replace(_OLD_HOST, _NEW_HOST).encode()).decode(),
    ),
    # The app's egress goes to the Cluster's instance pods.
    **{
        f"{_APP_EGRESS}.{label}": (value, ABSENT)
        for label, value in (
            ("app.kubernetes.io/component", "database"),
            ("app.kubernetes.io/instance", "webapp-db"),
            ("app.kubernetes.io/name", "webapp"),
        )
    },
    f"{_APP_EGRESS}.cnpg.io/cluster": (ABSENT, "webapp-db"),
    f"{_APP_EGRESS}.cnpg.io/podRole": (ABSENT, "instance"),
    "outputs.databaseEngine": (ABSENT, "cloudnative-pg"),
    **{path: (REWRITTEN, REWRITTEN) for path in REWRITTEN_CONTENT["prod"]},
}

# A refused `pulumi destroy` of a protected database deletes nothing of it (issue 14): a
# protected object that depends on every other object of the database goes first.
DELETION_GUARD_OBJECT = "kubernetes:core/v1:ConfigMap::webapp-db-deletion-guard"
DELETION_GUARD = {f"resources.{DELETION_GUARD_OBJECT}": (ABSENT, NEW)}

# One way in (issue 17, points 2 and 3): the app port admits its own namespace without an
# Ingress, the ingress controller behind one; prod's Service is ClusterIP behind its
# Ingress, and its ClusterIssuer's HTTP-01 solver pods admit that controller.
_APP_SOURCES = (
    "resources.kubernetes:networking.k8s.io/v1:NetworkPolicy::webapp-netpol"
    ".state.spec.ingress[0].from"
)
ACME_SOLVER_OBJECT = "kubernetes:networking.k8s.io/v1:NetworkPolicy::webapp-acme-solver-netpol"
_PROD_SERVICE = "resources.kubernetes:core/v1:Service::webapp-service.state"
ONE_WAY_IN = {
    "dev": {_APP_SOURCES: (ABSENT, [{"podSelector": {}}])},
    "prod": {
        _APP_SOURCES: (
            ABSENT,
            [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
                    }
                }
            ],
        ),
        f"{_PROD_SERVICE}.spec.type": ("LoadBalancer", "ClusterIP"),
        f"{_PROD_SERVICE}.metadata.annotations": (
            {"webapp.dev/allow-load-balancer": "true"},
            ABSENT,
        ),
        f"resources.{ACME_SOLVER_OBJECT}": (ABSENT, NEW),
    },
}

# The runbook moved from the README to docs/monitoring.md (issue 18): the app's alerts link
# there (the database's alert rules are compared as rewritten content).
RUNBOOK_LINKS = {
    "resources.kubernetes:monitoring.coreos.com/v1:PrometheusRule::webapp-alerts.state.spec"
    f".groups[0].rules[{index}].annotations.runbook_url": (
        f"README.md#{alert}",
        f"docs/monitoring.md#{alert}",
    )
    for index, alert in enumerate(
        ("webappunavailable", "webappreplicasunavailable", "webappautoscaleratmax")
    )
}
# A create applies over an object that exists (a namespace made beforehand, one a teardown
# kept), as it did before pulumi-kubernetes 4.29 made it a plain create.
UPSERT = {
    "resources.pulumi:providers:kubernetes::kubernetes.state.upsertExistingObjects": (
        ABSENT,
        "true",
    )
}
EXPECTED: dict[str, dict[str, tuple[Any, Any]]] = {
    "dev": {
        **{path: (REWRITTEN, REWRITTEN) for path in REWRITTEN_CONTENT["dev"]},
        **SURGE,
        **UIDS,
        **CLAIMS,
        **OUTPUTS,
        "outputs.databaseStorageSize": (ABSENT, STORAGE_SIZE["dev"]),
        "outputs.databaseEngine": (ABSENT, "statefulset"),
        **ONE_WAY_IN["dev"],
        **UPGRADE_GUARD["dev"],
        **INSTANCES["dev"],
        **UPSERT,
        # Unprotected, so that turning webapp:protectData on or off is a plain update.
        **DELETION_GUARD,
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
        **APP_UIDS,
        **OUTPUTS,
        **RUNBOOK_LINKS,
        "outputs.databaseStorageSize": (ABSENT, STORAGE_SIZE["prod"]),
        **CNPG_ENGINE,
        **DELETION_GUARD,
        **ONE_WAY_IN["prod"],
        **UPGRADE_GUARD["prod"],
        **INSTANCES["prod"],
        **UPSERT,
        # The LimitRange gives containers without resources the app's own, where it gave
        # them fixed defaults (dev's app has the same as those defaults).
        f"{LIMITS}.default.cpu": ("500m", "1"),
        f"{LIMITS}.default.memory": ("256Mi", "512Mi"),
        f"{LIMITS}.defaultRequest.cpu": ("100m", "250m"),
        f"{LIMITS}.defaultRequest.memory": ("128Mi", "256Mi"),
        # prod's explicit quotaCpu and quotaMemory are caps: with the larger surge, 13 app
        # pods and three CNPG instances with their backup sidecars, plus the operator's job
        # pod while an instance is created (stack_settings/namespace.py), need more than
        # the 16 CPUs and 12Gi it had.
        **{f"{QUOTA}.{kind}.cpu": ("16", "29") for kind in ("requests", "limits")},
        **{f"{QUOTA}.{kind}.memory": ("12Gi", "21Gi") for kind in ("requests", "limits")},
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

    def before_value(path: str) -> Any:
        return before["resources"][path.removeprefix("resources.")]

    found = differences(
        {"resources": before["resources"], "outputs": before["outputs"]},
        {"resources": current["resources"], "outputs": current["outputs"]},
    )
    for prefix in REWRITTEN_CONTENT.get(stack, ()):
        inner = [path for path in found if path == prefix or path.startswith(f"{prefix}.")]
        for path in inner:
            del found[path]
        if inner:
            found[prefix] = (REWRITTEN, REWRITTEN)
    expected = {
        path: tuple(
            value.format(stack=stack) if isinstance(value, str) else value for value in change
        )
        for path, change in EXPECTED[stack].items()
    }
    # Whole objects that are gone stand for main's, new ones are compared by presence
    # (their content is tested where they are made).
    expected = {
        path: (before_value(path) if change[0] == "<main>" else change[0], change[1])
        for path, change in expected.items()
    }
    found = {
        path: (old, NEW)
        if old == ABSENT and expected.get(path, (None, None))[1] == NEW
        else (
            old,
            new,
        )
        for path, (old, new) in found.items()
    }
    # Output values are recorded with their secrecy (a `.value` path is the value alone).
    expected = {
        path: tuple(
            {"value": value, "secret": False}
            if path.startswith("outputs.")
            and not path.endswith(".value")
            and value not in (ABSENT, NEW)
            else value
            for value in change
        )
        for path, change in expected.items()
    }
    # The init containers grew by the data owner check, ahead of main's log preparation.
    if stack == "dev":
        old_init, new_init = found.pop(INIT)
        assert [c["name"] for c in new_init] == ["check-data-owner"] + [c["name"] for c in old_init]
        assert new_init[1:] == old_init
    assert found == expected, (
        "the fixture stacks (tests/fixtures/stacks/) render differently from main's snapshot "
        "in ways not listed here: list each intended difference in EXPECTED with its reason "
        "(the snapshot stands for main's code and is rebuilt only as tests/fixtures/README.md "
        "says; a user's stack file never reaches this test)"
    )


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_only_the_component_tokens_changed_in_the_urns(
    stack: str, request: pytest.FixtureRequest
) -> None:
    run: ProgramRun = request.getfixturevalue(f"{stack}_run")
    renamed = {urn.replace("webapp:components:", "webapp:index:") for urn in MAIN[stack]["urns"]}
    if stack == "prod":
        # The statefulset engine's objects are gone, the CNPG engine's are new.
        renamed = {urn for urn in renamed if _object_key(urn) not in STATEFULSET_ENGINE_OBJECTS}
        new_objects = (*CNPG_ENGINE_OBJECTS, DELETION_GUARD_OBJECT, ACME_SOLVER_OBJECT)
        renamed |= {urn for urn in snapshot(run)["urns"] if _object_key(urn) in new_objects}
        assert len(renamed & set(snapshot(run)["urns"])) > len(new_objects)
    else:
        # An unprotected database keeps its guard too, unprotected (DELETION_GUARD).
        renamed |= {
            urn for urn in snapshot(run)["urns"] if _object_key(urn) == DELETION_GUARD_OBJECT
        }
    assert set(snapshot(run)["urns"]) == renamed


def _object_key(urn: str) -> str:
    """`<type>::<name>` of a URN, as the snapshot keys its resources."""
    qualified_type, name = urn.split("::")[2:4]
    return f"{qualified_type.rsplit('$', 1)[-1]}::{name}"
