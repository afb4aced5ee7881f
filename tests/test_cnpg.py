"""The CloudNativePG engine through its seam, declare_cnpg_cluster, under mocks: what a
prod-like and a dev-like database declare, checked against the real CRDs."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest

from components.database.cloudnative_pg.rules import postgres_parameters
from components.database.cloudnative_pg.settings import CnpgImport
from tests.cnpg_programs import (
    ACCESS_KEY,
    CLIENT_SELECTOR,
    DEV,
    PARENT_TYPE,
    PASSWORD,
    PROD,
    SECRET_KEY,
    decoded_secret_data,
    of_kind,
    one,
    outputs,
    run_clusters,
)
from tests.crd_schema import load_crds
from tests.harness import ProgramRun
from tests.test_kubernetes_schema import NEWEST_SUPPORTED, OLDEST_SUPPORTED, schema_failures

CUSTOM_KINDS = {"Cluster", "ObjectStore", "ScheduledBackup", "PodMonitor"}
IMPORT = replace(
    DEV,
    import_from=CnpgImport(
        host="webapp-db",
        database="app",
        user="app",
        password_secret="webapp-db-credentials-1a2b3c4d",
        password_key="password",
        source_selector={"app.kubernetes.io/instance": "webapp-db"},
    ),
)
RECOVERY = replace(
    PROD,
    recovery_target_time="2026-11-25T14:30:00Z",
    recovery_source_archive="orders-db",
    archive_name="orders-db-2",
)


@pytest.fixture(scope="module")
def prod() -> ProgramRun:
    return run_clusters({"orders-db": PROD})


@pytest.fixture(scope="module")
def dev() -> ProgramRun:
    return run_clusters({"orders-db": DEV})


@pytest.fixture(scope="module")
def recovery() -> ProgramRun:
    return run_clusters({"orders-db": RECOVERY})


@pytest.fixture(scope="module")
def pair() -> ProgramRun:
    return run_clusters({"orders-db": PROD, "billing-db": DEV})


@pytest.fixture(scope="module")
def migration() -> ProgramRun:
    return run_clusters({"orders-db": IMPORT})


@pytest.fixture(params=["prod", "dev", "recovery", "pair", "migration"])
def any_run(request: pytest.FixtureRequest) -> ProgramRun:
    return request.getfixturevalue(request.param)


def spec(run_: ProgramRun, kind: str, parent: str = "orders-db") -> dict:
    return one(run_, kind, parent).manifest()["spec"]


def test_prod_declares_the_cluster_and_its_backups(prod: ProgramRun) -> None:
    kinds = sorted(r.manifest()["kind"] for r in prod.kubernetes())
    assert kinds == [
        "Cluster", "NetworkPolicy", "ObjectStore", "PodMonitor", "ScheduledBackup", "Secret",
        "Secret",
    ]  # fmt: skip
    cluster = spec(prod, "Cluster")
    assert cluster["instances"] == 3
    assert cluster["imageName"] == "ghcr.io/cloudnative-pg/postgresql:17.6-minimal-bookworm"
    assert cluster["storage"] == {"size": "20Gi", "storageClass": "fast-ssd"}
    assert cluster["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    }
    assert cluster["enableSuperuserAccess"] is False
    assert cluster["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "podSecurityContext" not in cluster and "securityContext" not in cluster


def test_parameters_follow_the_memory_rule(prod: ProgramRun, dev: ProgramRun) -> None:
    assert spec(prod, "Cluster")["postgresql"]["parameters"] == {
        "shared_buffers": "512MB",
        "effective_cache_size": "1536MB",
        "max_connections": "128",
        "work_mem": "4MB",
        "log_min_duration_statement": "500",
        "log_parameter_max_length": "0",
    }
    assert spec(dev, "Cluster")["postgresql"]["parameters"] == {
        **postgres_parameters("512Mi"),
        "log_min_duration_statement": "500",
        "log_parameter_max_length": "0",
    }


def test_instances_spread_over_nodes_and_zones(prod: ProgramRun, dev: ProgramRun) -> None:
    cluster = spec(prod, "Cluster")
    # Three instances never share a node; a single one takes any node it can get.
    assert cluster["affinity"] == {
        "enablePodAntiAffinity": True,
        "topologyKey": "kubernetes.io/hostname",
        "podAntiAffinityType": "required",
    }
    assert spec(dev, "Cluster")["affinity"]["podAntiAffinityType"] == "preferred"
    (zone,) = cluster["topologySpreadConstraints"]
    assert zone["topologyKey"] == "topology.kubernetes.io/zone"
    assert zone["labelSelector"]["matchLabels"] == {
        "cnpg.io/cluster": "orders-db",
        "cnpg.io/podRole": "instance",
    }


def app_secret_name(run_: ProgramRun) -> str:
    (secret,) = [r for r in of_kind(run_, "Secret") if r.name == "orders-db-app-secret"]
    return secret.manifest()["metadata"]["name"]


def test_app_role_comes_from_a_basic_auth_secret(prod: ProgramRun) -> None:
    (secret,) = [
        r for r in of_kind(prod, "Secret", "orders-db") if r.name == "orders-db-app-secret"
    ]
    manifest = secret.manifest()
    # Auto-named: a rotated password makes a new Secret before the old one goes (a fixed
    # name would be deleted first, the provider treating Secrets as immutable).
    assert secret.inputs["metadata"].get("name") is None
    name = manifest["metadata"]["name"]
    assert name.startswith("orders-db-app-secret-")
    assert manifest["type"] == "kubernetes.io/basic-auth"
    assert manifest["metadata"]["labels"]["cnpg.io/reload"] == "true"
    assert decoded_secret_data(secret) == {"username": "app", "password": PASSWORD}
    assert "data" in secret.secret_paths
    cluster = spec(prod, "Cluster")
    assert cluster["bootstrap"] == {
        "initdb": {"database": "app", "owner": "app", "secret": {"name": name}}
    }
    assert cluster["managed"]["roles"] == [
        {
            "name": "app",
            "ensure": "present",
            "login": True,
            "passwordSecret": {"name": name},
        }
    ]
    assert outputs(prod, "orders-db")["secret_name"] == name


def test_wal_archiving_goes_through_the_plugin(prod: ProgramRun) -> None:
    store = one(prod, "ObjectStore", "orders-db").manifest()
    assert spec(prod, "Cluster")["plugins"] == [
        {
            "name": "barman-cloud.cloudnative-pg.io",
            "isWALArchiver": True,
            "parameters": {
                "barmanObjectName": store["metadata"]["name"],
                "serverName": "orders-db",
            },
        }
    ]
    configuration = store["spec"]["configuration"]
    assert configuration["destinationPath"] == "s3://example-webapp-backups/prod"
    assert configuration["endpointURL"] == "https://minio.example.com:9000"
    assert configuration["wal"]["compression"] == "zstd"
    assert "serverName" not in configuration
    assert store["spec"]["retentionPolicy"] == "14d"
    credentials = configuration["s3Credentials"]
    secret_name = credentials["accessKeyId"]["name"]
    assert credentials == {
        "accessKeyId": {"name": secret_name, "key": "AWS_ACCESS_KEY_ID"},
        "secretAccessKey": {"name": secret_name, "key": "AWS_SECRET_ACCESS_KEY"},
    }
    (keys,) = [
        r for r in of_kind(prod, "Secret", "orders-db")
        if r.manifest()["metadata"]["name"] == secret_name
    ]  # fmt: skip
    assert decoded_secret_data(keys) == {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    }
    env = {e["name"]: e["value"] for e in store["spec"]["instanceSidecarConfiguration"]["env"]}
    assert env["AWS_DEFAULT_REGION"] == "eu-west-1"


def test_scheduled_backup_has_six_fields_and_uses_the_plugin(prod: ProgramRun) -> None:
    record = one(prod, "ScheduledBackup", "orders-db")
    backup = record.manifest()["spec"]
    assert backup["schedule"] == "0 0 3 * * *"
    assert len(backup["schedule"].split()) == 6
    assert backup["method"] == "plugin"
    assert backup["pluginConfiguration"] == {"name": "barman-cloud.cloudnative-pg.io"}
    assert backup["backupOwnerReference"] == "self"
    assert backup["cluster"] == {"name": "orders-db"}
    cluster = one(prod, "Cluster", "orders-db")
    assert cluster.urn in record.dependencies


def test_pod_monitor_scrapes_the_instances(prod: ProgramRun, dev: ProgramRun) -> None:
    monitor = one(prod, "PodMonitor", "orders-db").manifest()
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"] == {
        "selector": {
            "matchLabels": {"cnpg.io/cluster": "orders-db", "cnpg.io/podRole": "instance"}
        },
        "podMetricsEndpoints": [{"port": "metrics"}],
    }
    assert of_kind(dev, "PodMonitor") == []


def _rules(run_: ProgramRun, direction: str) -> dict[int, list[dict]]:
    """Port -> peers admitted (ingress) or reached (egress)."""
    policy = one(run_, "NetworkPolicy", "orders-db").manifest()["spec"]
    rules: dict[int, list[dict]] = {}
    peers = "from" if direction == "ingress" else "to"
    for rule in policy.get(direction) or []:
        for port in rule["ports"]:
            # A rule without peers admits or reaches every address (DNS on 53 does).
            rules.setdefault(port["port"], []).extend(rule.get(peers) or [{"any": True}])
    return rules


def test_network_policy_admits_the_app_the_operator_and_the_scraper(prod: ProgramRun) -> None:
    policy = one(prod, "NetworkPolicy", "orders-db").manifest()["spec"]
    assert policy["podSelector"] == {"matchLabels": {"cnpg.io/cluster": "orders-db"}}
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    ingress = _rules(prod, "ingress")
    cluster_pods = {"podSelector": {"matchLabels": {"cnpg.io/cluster": "orders-db"}}}
    namespace = "kubernetes.io/metadata.name"
    operator = {"namespaceSelector": {"matchLabels": {namespace: "cnpg-system"}}}
    # Among workloads only the app; the operator as CNPG's networking guide asks.
    assert ingress[5432] == [
        {"podSelector": {"matchLabels": CLIENT_SELECTOR}},
        cluster_pods,
        operator,
        cluster_pods,
    ]
    assert ingress[8000] == [operator, cluster_pods]
    assert ingress[9187] == [{"namespaceSelector": {"matchLabels": {namespace: "monitoring"}}}]
    assert set(ingress) == {5432, 8000, 9187}


def test_network_policy_lets_instances_out_where_they_must(
    prod: ProgramRun, dev: ProgramRun
) -> None:
    anywhere = [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}]
    cluster_pods = [{"podSelector": {"matchLabels": {"cnpg.io/cluster": "orders-db"}}}]
    egress = _rules(prod, "egress")
    assert egress[5432] == egress[8000] == cluster_pods
    assert egress[443][:2] == anywhere and egress[6443] == anywhere
    # The object store's port (the endpoint's) to any address, and DNS.
    assert egress[9000] == anywhere
    assert {53} <= set(egress)
    assert 9000 not in _rules(dev, "egress")
    assert set(_rules(dev, "ingress")) == {5432, 8000}


def test_host_is_the_read_write_service(prod: ProgramRun) -> None:
    assert outputs(prod, "orders-db")["host"] == "orders-db-rw.webapp-prod.svc.cluster.local"
    assert outputs(prod, "orders-db")["port"] == 5432
    assert outputs(prod, "orders-db")["selector"] == {
        "cnpg.io/cluster": "orders-db",
        "cnpg.io/podRole": "instance",
    }
    cluster = one(prod, "Cluster", "orders-db").manifest()
    assert cluster["metadata"]["name"] == "orders-db"
    assert json.loads(cluster["metadata"]["annotations"]["pulumi.com/waitFor"]) == [
        "condition=Ready",
        "jsonpath={.status.readyInstances}=3",
    ]


def test_credentials_appear_only_in_secrets_as_secrets(any_run: ProgramRun) -> None:
    for record in any_run.registrations:
        text = json.dumps(record.inputs)
        for value in (PASSWORD, ACCESS_KEY, SECRET_KEY):
            assert value not in text, f"{record.name} holds a credential in plaintext"
        if record.is_kubernetes and record.manifest()["kind"] == "Secret":
            assert "data" in record.secret_paths, record.name
        else:
            rendered = json.dumps(record.manifest())
            for value in (PASSWORD, SECRET_KEY):
                encoded = base64.b64encode(value.encode()).decode()
                assert value not in rendered and encoded not in rendered, record.name
    registered = json.dumps([values for values, _ in any_run.component_outputs.values()])
    assert PASSWORD not in registered


def test_protect_keeps_the_cluster(prod: ProgramRun, dev: ProgramRun) -> None:
    cluster = one(prod, "Cluster", "orders-db")
    assert cluster.protect and cluster.retain_on_delete
    assert cluster.custom_timeouts == {"create": "30m", "update": "30m"}
    unprotected = one(dev, "Cluster", "orders-db")
    assert not unprotected.protect and not unprotected.retain_on_delete


def test_recovery_bootstraps_from_the_archive(recovery: ProgramRun) -> None:
    cluster = spec(recovery, "Cluster")
    store = one(recovery, "ObjectStore", "orders-db").manifest()["metadata"]["name"]
    assert cluster["bootstrap"] == {
        "recovery": {
            "source": "recovery-source",
            "database": "app",
            "owner": "app",
            "secret": {"name": app_secret_name(recovery)},
            "recoveryTarget": {"targetTime": "2026-11-25T14:30:00Z"},
        }
    }
    assert cluster["externalClusters"] == [
        {
            "name": "recovery-source",
            "plugin": {
                "name": "barman-cloud.cloudnative-pg.io",
                "parameters": {"barmanObjectName": store, "serverName": "orders-db"},
            },
        }
    ]
    # It archives into a new folder: the old one stays intact to recover from again.
    assert cluster["plugins"][0]["parameters"]["serverName"] == "orders-db-2"
    assert one(recovery, "Cluster", "orders-db").custom_timeouts["create"] == "6h"
    # A new ScheduledBackup for the new archive: its immediate backup is the first base
    # backup there.
    backup = one(recovery, "ScheduledBackup", "orders-db").manifest()
    assert backup["metadata"]["name"] == "orders-db-backup-orders-db-2"
    assert backup["spec"]["immediate"] is True


def test_replacing_the_cluster_deletes_it_first(prod: ProgramRun) -> None:
    """Its name is fixed; a create-before-delete replacement would collide with itself."""
    assert one(prod, "Cluster", "orders-db").delete_before_replace


def test_dev_has_no_backups_without_object_storage(dev: ProgramRun) -> None:
    cluster = spec(dev, "Cluster")
    assert cluster["instances"] == 1
    assert "plugins" not in cluster and "externalClusters" not in cluster
    assert of_kind(dev, "ObjectStore") == of_kind(dev, "ScheduledBackup") == []
    assert [r.name for r in of_kind(dev, "Secret")] == ["orders-db-app-secret"]


@pytest.mark.parametrize("version", [OLDEST_SUPPORTED, NEWEST_SUPPORTED])
def test_every_object_matches_its_schema(any_run: ProgramRun, version: str) -> None:
    crds = load_crds()
    failures = []
    for record in any_run.kubernetes():
        manifest = record.manifest()
        if manifest["kind"] in CUSTOM_KINDS:
            schema = crds[(manifest["apiVersion"], manifest["kind"])]
            failures += [f"{record.name}: {error}" for error in schema.errors(manifest)]
        else:
            failures += [f"{record.name}: {e}" for e in schema_failures(manifest, version)]
    assert failures == []


def test_children_are_named_after_and_parented_to_the_parent(any_run: ProgramRun) -> None:
    parents = {r.urn: r.name for r in any_run.of_type(PARENT_TYPE)}
    children = [r for r in any_run.registrations if r.type != PARENT_TYPE]
    assert children
    for record in children:
        parent = parents[record.parent]
        assert record.name.startswith(f"{parent}-"), record.name
        assert record.manifest()["metadata"]["name"].startswith(parent), record.name


def test_two_clusters_side_by_side_do_not_collide(pair: ProgramRun) -> None:
    urns = [r.urn for r in pair.registrations]
    assert len(urns) == len(set(urns))
    objects = [(r.manifest()["kind"], r.manifest()["metadata"]["name"]) for r in pair.kubernetes()]
    assert len(objects) == len(set(objects))
    billing = one(pair, "NetworkPolicy", "billing-db").manifest()["spec"]
    assert billing["podSelector"] == {"matchLabels": {"cnpg.io/cluster": "billing-db"}}
    assert outputs(pair, "billing-db")["host"].startswith("billing-db-rw.")


def test_import_copies_the_old_server_once(migration: ProgramRun) -> None:
    cluster = spec(migration, "Cluster")
    assert cluster["bootstrap"]["initdb"]["import"] == {
        "type": "microservice",
        "databases": ["app"],
        "source": {"externalCluster": "import-source"},
    }
    assert cluster["bootstrap"]["initdb"]["owner"] == "app"
    assert cluster["externalClusters"] == [
        {
            "name": "import-source",
            "connectionParameters": {
                "host": "webapp-db",
                "port": "5432",
                "user": "app",
                "dbname": "app",
            },
            "password": {"name": "webapp-db-credentials-1a2b3c4d", "key": "password"},
        }
    ]
    old_server = [{"podSelector": {"matchLabels": {"app.kubernetes.io/instance": "webapp-db"}}}]
    assert _rules(migration, "egress")[5432] == [
        {"podSelector": {"matchLabels": {"cnpg.io/cluster": "orders-db"}}},
        *old_server,
    ]
