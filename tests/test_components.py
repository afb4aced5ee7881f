"""Each component on its own, and two instances of each side by side."""

from __future__ import annotations

from collections import Counter

import pytest

from components import (
    AppNamespace,
    AppNamespaceArgs,
    ContainerResources,
    PostgresDatabase,
    PostgresDatabaseArgs,
    Quota,
    WebService,
    WebServiceArgs,
)
from components._shared.metadata import selector_labels
from tests.harness import ProgramRun, run

RESOURCES = ContainerResources(
    cpu_request="100m", cpu_limit="200m", memory_request="64Mi", memory_limit="128Mi"
)


def namespace_args(namespace: str) -> AppNamespaceArgs:
    return AppNamespaceArgs(
        namespace=namespace, app="shop", quota=Quota(cpu="2", memory="2Gi", storage="5Gi", pods=10)
    )


def database_args(namespace: str) -> PostgresDatabaseArgs:
    return PostgresDatabaseArgs(
        namespace=namespace,
        app="shop",
        image="postgres:17.6-bookworm",
        database="orders",
        user="shop",
        storage_size="2Gi",
        storage_class="fast",
        resources=RESOURCES,
        client_selector={"app.kubernetes.io/instance": "shop-web"},
    )


def web_args(namespace: str, database: PostgresDatabase) -> WebServiceArgs:
    return WebServiceArgs(
        namespace=namespace,
        app="shop",
        image="example/shop:1.0",
        replicas=2,
        port=8000,
        service_port=80,
        service_type="NodePort",
        health_path="/livez",
        readiness_path="/readyz",
        user_id=1000,
        resources=RESOURCES,
        **database.connection_inputs(),  # type: ignore[typeddict-item]
    )


@pytest.fixture(scope="module")
def single() -> ProgramRun:
    def program() -> None:
        AppNamespace("shop", namespace_args("shop"))
        database = PostgresDatabase("shop-db", database_args("shop"))
        WebService("shop-web", web_args("shop", database))

    return run("components", program)


@pytest.fixture(scope="module")
def pair() -> ProgramRun:
    def program() -> None:
        for namespace in ("blue", "green"):
            AppNamespace(namespace, namespace_args(namespace))
        for name in ("orders-db", "billing-db"):
            database = PostgresDatabase(name, database_args("blue"))
            WebService(name.replace("-db", "-web"), web_args("blue", database))

    return run("components", program)


def _children(run_: ProgramRun, component_type: str, name: str) -> dict[str, dict]:
    component = run_.one(f"webapp:index:{component_type}", name)
    return {
        r.manifest()["kind"] if r.is_kubernetes else r.type: r.manifest()
        for r in run_.registrations
        if r.parent == component.urn and r.type != "kubernetes:networking.k8s.io/v1:NetworkPolicy"
    }


def _outputs(run_: ProgramRun, component_type: str, name: str) -> tuple[dict, set[str]]:
    return run_.component_outputs[run_.one(f"webapp:index:{component_type}", name).urn]


def _policies(run_: ProgramRun, component_type: str, name: str) -> dict[str, dict]:
    component = run_.one(f"webapp:index:{component_type}", name)
    return {
        r.name: r.manifest()["spec"]
        for r in run_.registrations
        if r.parent == component.urn and r.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy"
    }


def test_app_namespace_enforces_restricted_pod_security(single: ProgramRun) -> None:
    objects = _children(single, "AppNamespace", "shop")
    labels = objects["Namespace"]["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
    assert objects["Namespace"]["metadata"]["name"] == "shop"
    assert objects["ResourceQuota"]["spec"]["hard"] == {
        "requests.cpu": "2",
        "limits.cpu": "2",
        "requests.memory": "2Gi",
        "limits.memory": "2Gi",
        "requests.storage": "5Gi",
        "pods": "10",
    }
    (limit,) = objects["LimitRange"]["spec"]["limits"]
    assert limit["type"] == "Container" and limit["default"] and limit["defaultRequest"]
    assert _outputs(single, "AppNamespace", "shop")[0] == {"namespace_name": "shop"}


def test_app_namespace_denies_all_traffic_but_dns(single: ProgramRun) -> None:
    policies = _policies(single, "AppNamespace", "shop")
    deny = policies["shop-default-deny"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = policies["shop-allow-dns"]
    assert dns["podSelector"] == {} and dns["policyTypes"] == ["Egress"]
    (rule,) = dns["egress"]
    assert {(p["protocol"], p["port"]) for p in rule["ports"]} == {("UDP", 53), ("TCP", 53)}
    # Any destination: where DNS answers differs by cluster (see tests/test_dns_egress.py).
    assert "to" not in rule


def test_postgres_database_objects_and_outputs(single: ProgramRun) -> None:
    objects = _children(single, "PostgresDatabase", "shop-db")
    claim = objects["PersistentVolumeClaim"]
    assert claim["spec"]["storageClassName"] == "fast"
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    statefulset = objects["StatefulSet"]["spec"]
    assert statefulset["replicas"] == 1 and "volumeClaimTemplates" not in statefulset
    pod = statefulset["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 60
    secret_volume = next(v for v in pod["volumes"] if "secret" in v)
    assert secret_volume["secret"]["secretName"] == objects["Secret"]["metadata"]["name"]
    shm = next(v for v in pod["volumes"] if v["name"] == "shm")
    assert shm["emptyDir"]["medium"] == "Memory"
    (container,) = pod["containers"]
    assert container["image"] == "postgres:17.6-bookworm"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
    assert {"/var/run/postgresql", "/tmp", "/dev/shm"} <= writable
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["exec"]["command"][0] == "pg_isready"
    headless = [
        s for s in single.of_type("kubernetes:core/v1:Service") if s.name == "shop-db-headless"
    ]
    assert headless[0].manifest()["spec"]["clusterIP"] == "None"
    assert statefulset["serviceName"] == headless[0].manifest()["metadata"]["name"]

    outputs, secret_paths = _outputs(single, "PostgresDatabase", "shop-db")
    assert outputs["host"] == "shop-db.shop.svc.cluster.local"
    assert (outputs["port"], outputs["database"], outputs["user"]) == (5432, "orders", "shop")
    assert outputs["secret_name"] == objects["Secret"]["metadata"]["name"]
    assert {"password", "url"} <= secret_paths and len(outputs["password"]) == 32


def test_postgres_database_admits_only_its_clients(single: ProgramRun) -> None:
    (policy,) = _policies(single, "PostgresDatabase", "shop-db").values()
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    assert rule["from"] == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/instance": "shop-web"}}}
    ]
    assert rule["ports"] == [{"protocol": "TCP", "port": 5432}]


def test_web_service_objects_and_outputs(single: ProgramRun) -> None:
    objects = _children(single, "WebService", "shop-web")
    assert objects["ServiceAccount"]["automountServiceAccountToken"] is False
    deployment = objects["Deployment"]["spec"]
    assert deployment["replicas"] == 2
    assert deployment["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = deployment["template"]["spec"]
    assert pod["serviceAccountName"] == objects["ServiceAccount"]["metadata"]["name"]
    (container,) = pod["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": 8000}]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["startupProbe"]["httpGet"]["path"] == "/livez"
    assert objects["Service"]["spec"]["type"] == "NodePort"
    assert objects["Service"]["spec"]["ports"][0]["port"] == 80
    outputs, _ = _outputs(single, "WebService", "shop-web")
    assert outputs == {
        "service_name": "shop-web",
        "url": "http://shop-web.shop.svc.cluster.local:80",
    }


def test_web_service_reaches_only_its_database_and_dns(single: ProgramRun) -> None:
    (policy,) = _policies(single, "WebService", "shop-web").values()
    assert policy["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8000}]}]
    database_rule, dns_rule = policy["egress"]
    assert database_rule["to"] == [
        {"podSelector": {"matchLabels": selector_labels("shop", "shop-db", "database")}}
    ]
    assert database_rule["ports"] == [{"protocol": "TCP", "port": 5432}]
    assert {p["port"] for p in dns_rule["ports"]} == {53}


def test_a_changed_password_renames_the_secrets_that_carry_it(single: ProgramRun) -> None:
    """Secrets are auto-named (no metadata.name), so new content means a new name, a new
    pod template and a rollout; an explicitly named Secret would change under running
    pods without restarting them."""
    for record in single.of_type("kubernetes:core/v1:Secret"):
        assert "name" not in (record.inputs.get("metadata") or {}), record.name
    for record in single.of_type("kubernetes:core/v1:ConfigMap"):
        if record.name.endswith("-deletion-guard"):
            continue  # named on purpose (docs/operations.md, Teardown), and no pod reads it
        assert "name" not in (record.inputs.get("metadata") or {}), record.name


def test_two_instances_of_each_component_coexist(pair: ProgramRun) -> None:
    urns = Counter(r.urn for r in pair.registrations)
    assert [urn for urn, n in urns.items() if n > 1] == []
    objects = Counter(
        (
            r.manifest()["kind"],
            r.manifest()["metadata"].get("namespace"),
            r.manifest()["metadata"]["name"],
        )
        for r in pair.kubernetes()
    )
    assert [key for key, n in objects.items() if n > 1] == []
    selectors = [
        tuple(sorted(r.manifest()["spec"]["selector"]["matchLabels"].items()))
        for r in pair.kubernetes()
        if r.manifest()["kind"] in ("Deployment", "StatefulSet")
    ]
    assert len(selectors) == len(set(selectors)) == 4


def test_component_outputs_resolve_to_known_values(pair: ProgramRun) -> None:
    for record in pair.registrations:
        if not record.custom:
            outputs, _ = pair.component_outputs[record.urn]
            assert all(value not in (None, "") for value in outputs.values()), record.name
