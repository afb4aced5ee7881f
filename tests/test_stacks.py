"""The whole program: what follows from any stack file (fixture `stack_run`, the user's files
too), and what the tests' fixture stacks render."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import pytest

from components._shared.quantity import parse_quantity
from tests.harness import ProgramRun, pod_templates, run_main
from tests.test_production import surge

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
SERVICE = "kubernetes:core/v1:Service"
CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"


def _value(run: ProgramRun, key: str) -> str:
    """The value the CLI handed the program: the stack file's, else the declared default."""
    return str(run.config[f"webapp:{key}"])


def _web_deployment(run: ProgramRun) -> dict:
    (deployment,) = run.of_type(DEPLOYMENT)
    return deployment.manifest()


def _web_service(run: ProgramRun) -> dict:
    return run.one(SERVICE, "webapp-service").manifest()


def _claim(run: ProgramRun) -> dict:
    return run.one(PVC, "webapp-db-data").manifest()


def _cloudnative_pg(run: ProgramRun) -> bool:
    return run.config.get("webapp:dbEngine") == "cloudnative-pg"


def _data_storage(run: ProgramRun) -> str:
    """The database's volume size: the built-in server's claim, or each CNPG instance's."""
    if _cloudnative_pg(run):
        return run.one(CLUSTER, "webapp-db-cluster").manifest()["spec"]["storage"]["size"]
    return _claim(run)["spec"]["resources"]["requests"]["storage"]


def _database_host(run: ProgramRun) -> str:
    """The app's host: the server's Service, or the CNPG Cluster's read-write Service."""
    namespace = _value(run, "namespace")
    service = "webapp-db-rw" if _cloudnative_pg(run) else "webapp-db"
    return f"{service}.{namespace}.svc.cluster.local"


def test_replicas_storage_and_service_type_follow_the_stack_file(stack_run: ProgramRun) -> None:
    # With an autoscaler the Deployment starts at its minimum, and the autoscaler owns it.
    count = "minReplicas" if _value(stack_run, "autoscaling") == "true" else "replicas"
    replicas = _web_deployment(stack_run)["spec"]["replicas"]
    assert replicas == int(_value(stack_run, count))
    assert _data_storage(stack_run) == _value(stack_run, "storageSize")
    assert _web_service(stack_run)["spec"]["type"] == _value(stack_run, "serviceType")
    namespaces = stack_run.of_type("kubernetes:core/v1:Namespace")
    assert [n.manifest()["metadata"]["name"] for n in namespaces] == [
        _value(stack_run, "namespace")
    ]


def test_dev_and_prod_differ_where_their_files_differ(
    dev_run: ProgramRun, prod_run: ProgramRun
) -> None:
    assert (
        _web_deployment(dev_run)["spec"]["replicas"],
        _web_deployment(prod_run)["spec"]["replicas"],
    ) == (1, 3)
    assert (_data_storage(dev_run), _data_storage(prod_run)) == ("1Gi", "20Gi")
    # dev runs the built-in server, prod a CloudNativePG Cluster of three instances.
    assert len(dev_run.of_type(STATEFULSET)) == 1 and dev_run.of_type(CLUSTER) == []
    assert prod_run.of_type(STATEFULSET) == []
    assert prod_run.one(CLUSTER, "webapp-db-cluster").manifest()["spec"]["instances"] == 3
    assert [_web_service(run)["spec"]["type"] for run in (dev_run, prod_run)] == [
        _value(run, "serviceType") for run in (dev_run, prod_run)
    ]
    prod_limits = _web_deployment(prod_run)["spec"]["template"]["spec"]["containers"][0]
    assert prod_limits["resources"]["limits"]["cpu"] == _value(prod_run, "appCpuLimit")


def test_exports(stack_run: ProgramRun) -> None:
    namespace = _value(stack_run, "namespace")
    name, port = _value(stack_run, "appName"), _value(stack_run, "servicePort")
    database, user = _value(stack_run, "dbName"), _value(stack_run, "dbUser")
    outputs = stack_run.outputs
    assert outputs["namespace"].value == namespace
    assert outputs["serviceName"].value == name
    host = _value(stack_run, "ingressHost")
    tls = _value(stack_run, "ingressTlsSecret") or _value(stack_run, "ingressClusterIssuer")
    assert outputs["url"].value == (
        f"{'https' if tls else 'http'}://{host}/"
        if host
        else f"http://{name}.{namespace}.svc.cluster.local:{port}"
    )
    assert outputs["databaseHost"].value == _database_host(stack_run)
    assert outputs["databaseEngine"].value == (
        "cloudnative-pg" if _cloudnative_pg(stack_run) else "statefulset"
    )
    assert outputs["databasePort"].value == 5432
    assert outputs["databaseStorageSize"].value == _value(stack_run, "storageSize")
    assert (outputs["databaseName"].value, outputs["databaseUser"].value) == (database, user)
    assert outputs["databasePassword"].secret and outputs["databaseUrl"].secret
    password = outputs["databasePassword"].value
    assert outputs["databaseUrl"].value == (
        f"postgresql://{user}:{password}@{_database_host(stack_run)}:5432/{database}"
    )
    assert outputs["portForward"].value == (
        f"kubectl -n {namespace} port-forward svc/{name} 8080:{port}"
    )
    public = [name for name, output in outputs.items() if not output.secret]
    reach = {"LoadBalancer": {"loadBalancerAddress"}, "NodePort": {"nodePort"}}
    assert set(public) == {
        "namespace",
        "serviceName",
        "url",
        "portForward",
        "databaseHost",
        "databasePort",
        "databaseName",
        "databaseUser",
        "databaseStorageClass",
        "databaseStorageSize",
        "databaseEngine",
        "databaseImage",
        "databaseArchive",
        "databaseInstances",
    } | reach.get(_value(stack_run, "serviceType"), set())


def test_app_does_not_wait_for_the_database_to_be_ready(stack_run: ProgramRun) -> None:
    """The engine creates a resource only after everything it depends on is ready; the
    web app's objects must not depend on the database's workload or Services, so the two
    roll out side by side."""
    database_objects = {
        r.urn
        for r in stack_run.registrations
        if r.type in (STATEFULSET, SERVICE, PVC, CLUSTER) and r.name.startswith("webapp-db")
    }
    assert database_objects
    web = stack_run.one("webapp:index:WebService", "webapp")
    assert web.dependencies == []
    web_children = [r for r in stack_run.registrations if r.parent == web.urn]
    assert {r.type for r in web_children} >= {DEPLOYMENT, "kubernetes:core/v1:ConfigMap"}
    for record in web_children:
        waits_for = stack_run.transitive_dependencies(record)
        assert not waits_for & database_objects, f"{record.name} waits for the database"


def test_app_reads_settings_from_config_map_and_credentials_from_secret(
    stack_run: ProgramRun,
) -> None:
    container = _web_deployment(stack_run)["spec"]["template"]["spec"]["containers"][0]
    names = {kind: source[kind]["name"] for source in container["envFrom"] for kind in source}
    config_map = next(
        r.manifest()
        for r in stack_run.of_type("kubernetes:core/v1:ConfigMap")
        if r.manifest()["metadata"]["name"] == names["configMapRef"]
    )
    secret = next(
        r.manifest()
        for r in stack_run.of_type("kubernetes:core/v1:Secret")
        if r.manifest()["metadata"]["name"] == names["secretRef"]
    )
    assert config_map["data"] == {
        "DATABASE_HOST": _database_host(stack_run),
        "DATABASE_PORT": "5432",
        "DATABASE_NAME": _value(stack_run, "dbName"),
        "DATABASE_USER": _value(stack_run, "dbUser"),
    } | json.loads(_value(stack_run, "env"))
    decoded = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    # Encrypted values reach the program decrypted; here they are the harness's placeholder.
    assert decoded == {
        "DATABASE_PASSWORD": stack_run.outputs["databasePassword"].value,
        "DATABASE_URL": stack_run.outputs["databaseUrl"].value,
    } | json.loads(_value(stack_run, "secretEnv"))


@pytest.fixture(scope="module")
def dev_changed() -> ProgramRun:
    """The dev stack after a user changes the settings the data must survive."""
    return run_main(
        "dev",
        {
            "webapp:storageSize": "5Gi",
            "webapp:replicas": "2",
            "webapp:image": "nginxinc/nginx-unprivileged:1.27.1-alpine",
            "webapp:dbMemoryLimit": "768Mi",
        },
    )


def test_a_storage_change_resizes_the_claim_in_place(
    dev_run: ProgramRun, dev_changed: ProgramRun
) -> None:
    """The claim keeps its name (no replacement, the data stays) and only its request
    grows; the StatefulSet's immutable fields are untouched, so it is updated, not
    replaced, and keeps mounting the same claim."""
    before, after = _claim(dev_run), _claim(dev_changed)
    assert before["metadata"]["name"] == after["metadata"]["name"]
    assert {k: v for k, v in before["spec"].items() if k != "resources"} == {
        k: v for k, v in after["spec"].items() if k != "resources"
    }
    assert after["spec"]["resources"]["requests"]["storage"] == "5Gi"
    old_set = dev_run.one(STATEFULSET, "webapp-db-statefulset").manifest()
    new_set = dev_changed.one(STATEFULSET, "webapp-db-statefulset").manifest()
    for immutable in ("selector", "serviceName", "volumeClaimTemplates", "podManagementPolicy"):
        assert old_set["spec"].get(immutable) == new_set["spec"].get(immutable), immutable
    assert old_set["metadata"]["name"] == new_set["metadata"]["name"]
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in new_set["spec"]["template"]["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    ]
    assert claims == [after["metadata"]["name"]]


def test_database_data_lives_on_the_claim_below_its_mount_point(dev_run: ProgramRun) -> None:
    statefulset = dev_run.one(STATEFULSET, "webapp-db-statefulset").manifest()
    pod = statefulset["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == "postgres")
    env = {e["name"]: e.get("value") for e in container["env"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    data_volume = next(v["name"] for v in pod["volumes"] if "persistentVolumeClaim" in v)
    assert env["PGDATA"].startswith(mounts[data_volume] + "/")
    assert env["PGDATA"] != mounts[data_volume]
    assert "POSTGRES_PASSWORD" not in env and env["POSTGRES_PASSWORD_FILE"]


def test_quota_holds_the_workload_at_its_largest(stack_run: ProgramRun) -> None:
    """Most app pods (autoscaler maximum) plus a rollout's extra pod, the database pod
    with its sidecar, and one pod of every job must fit in the ResourceQuota."""
    quota = stack_run.of_type("kubernetes:core/v1:ResourceQuota")[0].manifest()["spec"]["hard"]
    deployment = _web_deployment(stack_run)
    rolling = deployment["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0
    autoscalers = stack_run.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
    most = autoscalers[0].manifest()["spec"]["maxReplicas"] if autoscalers else None
    replicas = most or deployment["spec"]["replicas"]
    app_pods = replicas + surge(replicas, rolling["maxSurge"])
    limits: dict[str, Decimal] = {"cpu": Decimal(0), "memory": Decimal(0)}
    pods = 0
    for record, template in pod_templates(stack_run):
        kind = record.manifest()["kind"]
        spec = record.manifest()["spec"]
        copies = {"Deployment": app_pods, "StatefulSet": spec.get("replicas")}.get(kind) or 1
        pods += copies
        for container in template["spec"]["containers"]:
            for resource in limits:
                amount = parse_quantity(container["resources"]["limits"][resource])[0]
                limits[resource] += copies * amount
    assert limits["cpu"] <= parse_quantity(quota["limits.cpu"])[0]
    assert limits["memory"] <= parse_quantity(quota["limits.memory"])[0]
    assert pods <= int(quota["pods"])
    storage = sum(
        parse_quantity(r.manifest()["spec"]["resources"]["requests"]["storage"])[0]
        for r in stack_run.of_type(PVC)
    )
    assert storage <= parse_quantity(quota["requests.storage"])[0]


def test_every_image_can_be_pinned_by_digest() -> None:
    digest = "sha256:" + "ab" * 32
    images = {
        "webapp:image": f"nginxinc/nginx-unprivileged:1.27-alpine@{digest}",
        "webapp:dbImage": f"postgres:17.6-bookworm@{digest}",
        "webapp:exporterImage": f"quay.io/prometheuscommunity/postgres-exporter:v0.17.1@{digest}",
    }
    run = run_main("dev", images)
    rendered = {
        container["image"]
        for _, template in pod_templates(run)
        for container in template["spec"]["containers"]
        + (template["spec"].get("initContainers") or [])
    }
    assert rendered == set(images.values())
