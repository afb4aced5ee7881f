"""What a real app needs from the stack: its own environment (plain and secret), a private
registry, its command, egress to an external API, and outputs that say how to reach it;
and the storage class that never replaces a volume with data."""

from __future__ import annotations

import base64
import json
from typing import Any

import pulumi
import pytest

from components import ContainerResources, WebService, WebServiceArgs
from components._shared.package import InvalidInput
from stack_settings import ConfigError
from tests.harness import Mocks, ProgramRun, RecordingMonitor, run, run_main

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
ENV = {"webapp:env": json.dumps({"LOG_LEVEL": "debug", "FEATURE_X": True, "WORKERS": 4})}
SECRET_VALUE = "sk-live-0123456789abcdef"
SECRET_ENV = {"webapp:secretEnv": json.dumps({"API_KEY": SECRET_VALUE})}


def _container(run_: ProgramRun) -> dict[str, Any]:
    (deployment,) = run_.of_type(DEPLOYMENT)
    (container,) = deployment.manifest()["spec"]["template"]["spec"]["containers"]
    return container


def _sources(run_: ProgramRun) -> dict[str, dict[str, Any]]:
    """The app's ConfigMap and Secret, by the kind of reference to them."""
    names = {kind: ref[kind]["name"] for ref in _container(run_)["envFrom"] for kind in ref}
    found = {}
    for kind, type_ in (("configMapRef", CONFIG_MAP), ("secretRef", SECRET)):
        (record,) = [
            r for r in run_.of_type(type_) if r.manifest()["metadata"]["name"] == names[kind]
        ]
        found[kind] = {"record": record, "data": record.manifest()["data"]}
    return found


@pytest.fixture(scope="module")
def with_env() -> ProgramRun:
    return run_main("dev", ENV, secret_overrides=SECRET_ENV)


def test_plain_variables_go_into_the_config_map(with_env: ProgramRun) -> None:
    data = _sources(with_env)["configMapRef"]["data"]
    assert data["LOG_LEVEL"] == "debug" and data["FEATURE_X"] == "true" and data["WORKERS"] == "4"
    assert data["DATABASE_HOST"] == "webapp-db.webapp-dev.svc.cluster.local"


def test_secret_variables_go_into_the_secret_and_nowhere_else(with_env: ProgramRun) -> None:
    secret = _sources(with_env)["secretRef"]
    assert base64.b64decode(secret["data"]["API_KEY"]).decode() == SECRET_VALUE
    assert secret["record"].secret_paths & {"data", "data.API_KEY"}
    for record in with_env.registrations:
        if record is not secret["record"]:
            assert SECRET_VALUE not in json.dumps(record.inputs), record.name
    for name, output in with_env.outputs.items():
        assert SECRET_VALUE not in json.dumps(output.value), name
    assert not [message for message in with_env.logs if SECRET_VALUE in message]


@pytest.mark.parametrize(
    ("overrides", "secret_overrides", "source"),
    [
        ({"webapp:env": '{"LOG_LEVEL": "info"}'}, {}, "configMapRef"),
        ({}, {"webapp:secretEnv": '{"API_KEY": "rotated"}'}, "secretRef"),
    ],
)
def test_a_changed_variable_rolls_the_pods(
    with_env: ProgramRun, overrides: dict, secret_overrides: dict, source: str
) -> None:
    changed = run_main(
        "dev", {**ENV, **overrides}, secret_overrides={**SECRET_ENV, **secret_overrides}
    )
    before = _sources(with_env)[source]["record"].manifest()["metadata"]["name"]
    after = _sources(changed)[source]["record"].manifest()["metadata"]["name"]
    # A new name in the pod template is a new template: the Deployment rolls.
    assert before != after


def test_registry_credentials_command_and_arguments() -> None:
    configured = run_main(
        "dev",
        {
            "webapp:imagePullSecrets": '["regcred"]',
            "webapp:command": '["/app/server"]',
            "webapp:args": '["--port", "8080"]',
        },
    )
    (deployment,) = configured.of_type(DEPLOYMENT)
    pod = deployment.manifest()["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    container = _container(configured)
    assert container["command"] == ["/app/server"] and container["args"] == ["--port", "8080"]


def test_by_default_the_image_runs_as_built(dev_run: ProgramRun) -> None:
    container = _container(dev_run)
    assert "command" not in container and "args" not in container
    (deployment,) = dev_run.of_type(DEPLOYMENT)
    assert "imagePullSecrets" not in deployment.manifest()["spec"]["template"]["spec"]


def test_egress_to_an_external_api_only_where_listed(dev_run: ProgramRun) -> None:
    default = dev_run.one(NETPOL, "webapp-netpol").manifest()["spec"]["egress"]
    assert len(default) == 2  # the database and DNS
    configured = run_main(
        "dev", {"webapp:egress": '["203.0.113.0/24:443", "2001:db8::/32:53/udp"]'}
    )
    egress = configured.one(NETPOL, "webapp-netpol").manifest()["spec"]["egress"]
    assert egress[:2] == default
    assert egress[2:] == [
        {
            "to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}],
            "ports": [{"protocol": "TCP", "port": 443}],
        },
        {
            "to": [{"ipBlock": {"cidr": "2001:db8::/32"}}],
            "ports": [{"protocol": "UDP", "port": 53}],
        },
    ]


class AssignedByKubernetes(Mocks):
    """What the cluster fills in: a node port, a load balancer's address, and the storage
    class of a volume claim that already exists."""

    def __init__(self, existing_storage_class: str | None = None) -> None:
        super().__init__()
        self.existing_storage_class = existing_storage_class

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        resource_id, state = super().new_resource(args)
        spec = state.get("spec") or {}
        if args.typ == "kubernetes:core/v1:Service" and spec.get("type") == "NodePort":
            spec["ports"][0]["nodePort"] = 30080
        if args.typ == "kubernetes:core/v1:Service" and spec.get("type") == "LoadBalancer":
            state["status"] = {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}
        if args.typ == "kubernetes:core/v1:PersistentVolumeClaim" and self.existing_storage_class:
            spec["storageClassName"] = self.existing_storage_class
        return resource_id, state


def test_outputs_say_how_to_reach_the_app() -> None:
    node_port = run_main(
        "dev", {"webapp:serviceType": "NodePort"}, monitor=RecordingMonitor(AssignedByKubernetes())
    )
    assert node_port.outputs["nodePort"].value == 30080
    load_balanced = run_main(
        "dev",
        {"webapp:serviceType": "LoadBalancer", "webapp:allowLoadBalancer": "true"},
        monitor=RecordingMonitor(AssignedByKubernetes()),
    )
    assert load_balanced.outputs["loadBalancerAddress"].value == "lb.example.com"
    assert "nodePort" not in load_balanced.outputs


def test_a_storage_class_change_on_a_stack_with_data_is_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        run_main(
            "dev",
            {"webapp:storageClass": "fast"},
            monitor=RecordingMonitor(AssignedByKubernetes(existing_storage_class="standard")),
        )
    assert str(raised.value) == (
        "webapp:storageClass is 'fast', but the database volume exists with storage class "
        "'standard', and a new class would replace the volume and delete its data, so the "
        "change is not applied; fix it with: pulumi config set --stack dev "
        "webapp:storageClass standard (to move the data to a new volume instead, back up, set "
        "webapp:allowStorageClassChange to true for one update, and restore: docs/operations.md, "
        "Changing the storage class)"
    )


def test_the_claims_ignore_a_new_storage_class_unless_the_change_is_allowed() -> None:
    kept = run_main("dev", {"webapp:storageClass": "fast"})
    claims = kept.of_type("kubernetes:core/v1:PersistentVolumeClaim")
    assert all("spec.storageClassName" in claim.ignore_changes for claim in claims)
    assert kept.outputs["databaseStorageClass"].value == "fast"  # a new stack gets it
    allowed = run_main(
        "dev",
        {"webapp:storageClass": "fast", "webapp:allowStorageClassChange": "true"},
        monitor=RecordingMonitor(AssignedByKubernetes(existing_storage_class="standard")),
    )
    for claim in allowed.of_type("kubernetes:core/v1:PersistentVolumeClaim"):
        assert claim.ignore_changes == []


def test_a_storage_class_change_is_refused_while_the_volumes_are_protected() -> None:
    # A protected claim is kept when replaced, and the new one of its name could not
    # change the kept one's class: the update would stop half-way.
    change = {
        "webapp:dbEngine": "statefulset",
        "webapp:storageClass": "fast",
        "webapp:allowStorageClassChange": "true",
    }
    with pytest.raises(ConfigError) as raised:
        run_main("prod", {**change, "webapp:protectData": "true"})
    assert str(raised.value) == (
        "webapp:allowStorageClassChange is 'true', but webapp:protectData is true, which "
        "keeps the old volumes when they are replaced, so new ones of the same names could "
        "not be made; turn it off first, in an update of its own (docs/operations.md, "
        "Changing the storage class); fix it with: pulumi config set --stack prod "
        "webapp:protectData false"
    )
    fixed = run_main(
        "prod",
        {**change, "webapp:protectData": "false"},
        monitor=RecordingMonitor(AssignedByKubernetes(existing_storage_class="standard")),
    )
    for claim in fixed.of_type("kubernetes:core/v1:PersistentVolumeClaim"):
        assert claim.ignore_changes == []
        assert not claim.protect and not claim.retain_on_delete


# --- the component's own checks, for programs in other languages ----------------------

RESOURCES = ContainerResources(
    cpu_request="100m", cpu_limit="200m", memory_request="64Mi", memory_limit="128Mi"
)


def _web(**extra: Any) -> ProgramRun:
    def program() -> None:
        args = WebServiceArgs(
            namespace="shop",
            app="shop",
            image="example/shop:1.0",
            resources=RESOURCES,
            database_host="db.shop.svc.cluster.local",
            database_port=5432.0,
            database_name="shop",
            database_user="shop",
            database_selector={"app.kubernetes.io/instance": "shop-db"},
        )
        # Outputs are made inside the program, where they belong to its run.
        args.update({key: value() if callable(value) else value for key, value in extra.items()})  # type: ignore[typeddict-item]
        WebService("shop-web", args)

    return run("components", program)


def test_the_password_can_come_from_an_existing_secret() -> None:
    rendered = _web(database_password_secret="shop-db-credentials")
    container = _container(rendered)
    assert container["env"] == [
        {
            "name": "DATABASE_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "shop-db-credentials", "key": "password"}},
        }
    ]
    # Without the password no URL can be built, and no Secret of ours is needed.
    assert rendered.of_type(SECRET) == []
    assert [ref for ref in container["envFrom"] if "secretRef" in ref] == []
    (config,) = rendered.of_type(CONFIG_MAP)
    assert config.manifest()["data"]["DATABASE_PORT"] == "5432"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {},
            "WebService needs exactly one of the inputs 'databasePassword' and "
            "'databasePasswordSecret'",
        ),
        (
            {"database_password": "x", "env": {"DATABASE_URL": "y"}},
            "WebService input 'env' holds 'DATABASE_URL', but variable names are letters, "
            "digits and '_', not starting with a digit, and not starting with DATABASE_",
        ),
        (
            {"database_password": "x", "replicas": lambda: pulumi.Output.from_input(3)},
            "WebService input 'replicas' decides which objects are created, so it must be a "
            "plain value (a literal or config value), not another resource's output",
        ),
        (
            {"database_password": "x", "replicas": 2.5},
            "WebService input 'replicas' must be a whole number, not 2.5",
        ),
    ],
)
def test_inputs_it_cannot_use_are_refused_with_the_input_named(
    extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        _web(**extra)
    assert str(raised.value) == message
