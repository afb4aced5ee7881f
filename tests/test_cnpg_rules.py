"""The CNPG engine's rules on their own: PostgreSQL sizing, the six-field schedule, the
settings it refuses, and the other two ways to the bucket."""

from __future__ import annotations

from dataclasses import replace

import pytest

from components._shared.resources import ContainerResources
from components.database.cloudnative_pg.cluster import declare_cnpg_cluster
from components.database.cloudnative_pg.rules import cnpg_schedule, postgres_parameters
from components.database.cloudnative_pg.settings import CnpgImport
from tests.cnpg_programs import DEV, PROD, Parent, of_kind, one, run_clusters, with_storage
from tests.harness import run


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        ("512Mi", ("128MB", "384MB", "32", "4MB")),
        ("1Gi", ("256MB", "768MB", "64", "4MB")),
        ("2Gi", ("512MB", "1536MB", "128", "4MB")),
        # The connection cap: from here work_mem grows with memory.
        ("8Gi", ("2GB", "6GB", "400", "5242kB")),
        ("16Gi", ("4GB", "12GB", "400", "10485kB")),
        # A small pod keeps a floor of connections.
        ("256Mi", ("64MB", "192MB", "25", "2621kB")),
        # Not a whole number of MB: whole 8 kB pages.
        ("1000M", ("244136kB", "732416kB", "59", "4138kB")),
    ],
)
def test_parameters_are_sized_from_the_memory_limit(limit: str, expected: tuple) -> None:
    shared, cache, connections, work_mem = expected
    assert postgres_parameters(limit) == {
        "shared_buffers": shared,
        "effective_cache_size": cache,
        "max_connections": connections,
        "work_mem": work_mem,
    }


@pytest.mark.parametrize(
    ("five", "six"),
    [
        ("0 3 * * *", "0 0 3 * * *"),
        ("*/15 * * * *", "0 */15 * * * *"),
        ("30 2 1 * *", "0 30 2 1 * *"),
        ("0 4 * * sun", "0 0 4 * * sun"),
        ("0 4 * * 7", "0 0 4 * * 0"),
        ("0 4 * * 5-7", "0 0 4 * * 0,5,6"),
        ("0 4 * * mon,7", "0 0 4 * * mon,0"),
        ("0 4 * * 1-5", "0 0 4 * * 1-5"),
        ("@daily", "@daily"),
        ("@weekly", "@weekly"),
    ],
)
def test_schedule_gets_a_seconds_field(five: str, six: str) -> None:
    assert cnpg_schedule(five) == six


def test_schedule_of_another_length_is_refused() -> None:
    with pytest.raises(ValueError, match="five fields"):
        cnpg_schedule("0 0 3 * * *")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"instances": 0}, "instances must be at least 1"),
        ({"retention_days": 0}, "retention_days must be at least 1"),
        ({"metrics_namespace": None}, "a PodMonitor needs metrics_namespace"),
        ({"recovery_target_time": "2026-11-25T14:30:00Z"}, "needs recovery_source_archive"),
        (
            {"recovery_source_archive": "orders-db", "recovery_target_time": "2026-11-25 14:30"},
            "not an RFC 3339 time with a zone",
        ),
        (
            {"recovery_source_archive": "orders-db", "archive_name": "orders-db"},
            "archive_name must differ",
        ),
        ({"backup_schedule": "0 0 3 * * *"}, "is not five cron fields"),
        (
            {
                "resources": ContainerResources(
                    cpu_request="500m", cpu_limit="2", memory_request="256Mi", memory_limit="2Gi"
                )
            },
            "memory request 256Mi is below shared_buffers",
        ),
        ({"object_storage": None, "recovery_source_archive": "x"}, "reads the archive"),
        (
            {
                "recovery_source_archive": "orders-db",
                "import_from": CnpgImport("h", "app", "app", "s", "password", {"a": "b"}),
            },
            "an import or from a recovery, not both",
        ),
    ],
)
def test_settings_refuse_what_cnpg_would(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(PROD, **changes)


@pytest.mark.parametrize("name", ["1-db", "Orders", "a" * 51, "orders_db"])
def test_cluster_names_cnpg_refuses_are_refused(name: str) -> None:
    def program() -> None:
        declare_cnpg_cluster(Parent("p"), name, "ns", "app", {}, "pw", DEV, "cluster.local")

    with pytest.raises(Exception, match="cannot name a CNPG Cluster"):
        run("cnpg", program)


def test_workload_identity_inherits_the_role() -> None:
    annotation = ("eks.amazonaws.com/role-arn", "arn:aws:iam::111122223333:role/webapp-backups")
    settings = with_storage(
        PROD,
        access_key_id=None,
        secret_access_key=None,
        service_account_annotations={annotation[0]: annotation[1]},
    )
    run_ = run_clusters({"orders-db": settings})
    store = one(run_, "ObjectStore", "orders-db").manifest()["spec"]["configuration"]
    assert store["s3Credentials"] == {"inheritFromIAMRole": True}
    cluster = one(run_, "Cluster", "orders-db").manifest()["spec"]
    assert cluster["serviceAccountTemplate"] == {
        "metadata": {"annotations": {annotation[0]: annotation[1]}}
    }
    assert [r.name for r in of_kind(run_, "Secret")] == ["orders-db-app-secret"]
    egress = one(run_, "NetworkPolicy", "orders-db").manifest()["spec"]["egress"]
    # EKS Pod Identity's agent; the node's instance metadata service stays closed.
    metadata_server = [{"ipBlock": {"cidr": "169.254.170.23/32"}}]
    identity = [rule for rule in egress if rule.get("to") == metadata_server]
    assert identity and identity[0]["ports"] == [{"protocol": "TCP", "port": 80}]


def test_an_existing_secret_is_referenced_not_copied() -> None:
    settings = with_storage(
        PROD, access_key_id=None, secret_access_key=None, credentials_secret="webapp-backup-s3"
    )
    run_ = run_clusters({"orders-db": settings})
    store = one(run_, "ObjectStore", "orders-db").manifest()["spec"]["configuration"]
    assert store["s3Credentials"]["accessKeyId"] == {
        "name": "webapp-backup-s3",
        "key": "AWS_ACCESS_KEY_ID",
    }
    assert [r.name for r in of_kind(run_, "Secret")] == ["orders-db-app-secret"]


def test_aws_endpoint_keeps_boto_defaults() -> None:
    """The checksum workaround is for S3-compatible stores only."""
    run_ = run_clusters({"orders-db": with_storage(PROD, endpoint=None)})
    store = one(run_, "ObjectStore", "orders-db").manifest()["spec"]
    assert "endpointURL" not in store["configuration"]
    env = store["instanceSidecarConfiguration"]["env"]
    assert env == [{"name": "AWS_DEFAULT_REGION", "value": "eu-west-1"}]
    # AWS' own endpoint is HTTPS: the policy opens 443, which the API rule opens too.
    egress = one(run_, "NetworkPolicy", "orders-db").manifest()["spec"]["egress"]
    assert any([p["port"] for p in rule["ports"]] == [443] for rule in egress)


def test_the_kind_program_renders_valid_restricted_objects() -> None:
    """The integration job's program (tests/e2e/test_cnpg_operator.py) runs here under
    mocks, so a broken program shows up before CI's cluster run."""
    from tests.crd_schema import load_crds
    from tests.e2e.test_cnpg_operator import CLIENT_LABELS, program
    from tests.test_kubernetes_schema import NEWEST_SUPPORTED, schema_failures

    run_ = run("cnpg-it", lambda: program("cnpg-it-test"))
    crds = load_crds()
    failures = []
    for record in run_.kubernetes():
        manifest = record.manifest()
        key = (manifest["apiVersion"], manifest["kind"])
        found = (
            crds[key].errors(manifest)
            if key in crds
            else schema_failures(manifest, NEWEST_SUPPORTED)
        )
        failures += [f"{record.name}: {error}" for error in found]
    assert failures == []
    (client,) = [r for r in run_.kubernetes() if r.manifest()["kind"] == "Deployment"]
    template = client.manifest()["spec"]["template"]
    assert template["metadata"]["labels"] == CLIENT_LABELS
    assert template["spec"]["securityContext"]["runAsNonRoot"] is True
    (cluster,) = [r for r in run_.kubernetes() if r.manifest()["kind"] == "Cluster"]
    assert cluster.urn in client.dependencies
    policy = next(r for r in run_.kubernetes() if r.manifest()["kind"] == "NetworkPolicy")
    ingress = policy.manifest()["spec"]["ingress"][0]["from"][0]
    assert ingress == {"podSelector": {"matchLabels": CLIENT_LABELS}}
