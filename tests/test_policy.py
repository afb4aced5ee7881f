"""The webapp-kubernetes policy pack (policy/), tested without the Pulumi CLI.

Each policy's `validate` is called the way the policy SDK calls it: with the real
`ResourceValidationArgs`/`StackValidationArgs`, and props that went through the same
protobuf Struct round trip and unknown-checking proxy as in `pulumi preview`, so numbers
are floats and objects are read-only Mappings, not dicts. Then our own dev and prod stacks
are run through every policy.
"""

from __future__ import annotations

import copy
import runpy
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi_policy
import pytest
import yaml
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from policy import webapp_policies
from policy.webapp_policies import (
    ALL_POLICIES,
    ALLOW_LOAD_BALANCER_ANNOTATION,
    ALLOW_LOAD_BALANCER_CONFIG,
    PACK_NAME,
    RESOURCE_POLICIES,
    STACK_POLICIES,
    container_probes_required,
    container_resources_required,
    image_problem,
    image_tag_pinned,
    looks_like_credential_name,
    no_plaintext_credentials,
    no_unapproved_load_balancer,
    pdb_for_multi_replica_workloads,
    pod_security_restricted,
)
from tests.conftest import STACKS, program_run, statefulset_program_run

ROOT = Path(__file__).resolve().parent.parent
POLICY_DIR = ROOT / "policy"

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
SERVICE = "kubernetes:core/v1:Service"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
WORKLOAD_TYPES = {
    "Deployment": DEPLOYMENT,
    "StatefulSet": STATEFUL_SET,
    "DaemonSet": "kubernetes:apps/v1:DaemonSet",
    "ReplicaSet": "kubernetes:apps/v1:ReplicaSet",
    "Job": "kubernetes:batch/v1:Job",
    "CronJob": "kubernetes:batch/v1:CronJob",
    "Pod": "kubernetes:core/v1:Pod",
}
# Where each kind keeps its pod spec, as the violation messages spell it.
SPEC_PATHS = {
    "Deployment": "spec.template.spec",
    "StatefulSet": "spec.template.spec",
    "DaemonSet": "spec.template.spec",
    "ReplicaSet": "spec.template.spec",
    "Job": "spec.template.spec",
    "CronJob": "spec.jobTemplate.spec.template.spec",
    "Pod": "spec",
}
NAMESPACE = "team"
LABELS = {"app.kubernetes.io/name": "shop", "app.kubernetes.io/component": "web"}
NAME = "subject"
OPTIONS = PolicyResourceOptions(
    protect=False,
    ignore_changes=[],
    delete_before_replace=None,
    aliases=[],
    custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
    additional_secret_outputs=[],
)

# --------------------------------------------------------------------------------------
# Calling policies as the SDK does
# --------------------------------------------------------------------------------------


def wire(props: Mapping[str, Any]) -> Mapping[str, Any]:
    """Props as a policy receives them: through a protobuf Struct (numbers become floats)
    and the SDK's unknown-checking proxy (read-only Mappings; unknowns raise on read)."""
    struct = struct_pb2.Struct()
    struct.update(copy.deepcopy(dict(props)))
    return unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(struct)))


def urn_of(resource_type: str, name: str) -> str:
    return f"urn:pulumi:test::policy-test::{resource_type}::{name}"


@dataclass
class Recorder:
    """A `report_violation` that keeps what it is told."""

    calls: list[tuple[str, str | None]] = field(default_factory=list)

    def __call__(self, message: str, urn: str | None = None) -> None:
        assert isinstance(message, str) and message
        self.calls.append((message, urn))

    @property
    def messages(self) -> list[str]:
        return [message for message, _ in self.calls]


def check(
    policy: ResourceValidationPolicy,
    resource_type: str,
    props: Mapping[str, Any],
    config: Mapping[str, Any] | None = None,
    name: str = NAME,
) -> list[str]:
    args = ResourceValidationArgs(
        resource_type, wire(props), urn_of(resource_type, name), name, OPTIONS, None, config
    )
    recorder = Recorder()
    assert policy.validate(args, recorder) is None, "policies are synchronous"
    return recorder.messages


def policy_resource(resource_type: str, props: Mapping[str, Any], name: str) -> PolicyResource:
    return PolicyResource(
        resource_type, wire(props), urn_of(resource_type, name), name, OPTIONS, None, None, [], {}
    )


def check_stack(resources: list[PolicyResource]) -> list[tuple[str, str | None]]:
    recorder = Recorder()
    pdb_for_multi_replica_workloads.validate(StackValidationArgs(resources), recorder)
    return recorder.calls


def only(messages: list[str], kind: str = "Deployment") -> str:
    """The single violation, which must name the resource first."""
    assert len(messages) == 1, messages
    assert messages[0].startswith(f'{kind} "{NAME}": '), messages[0]
    return messages[0]


# --------------------------------------------------------------------------------------
# Compliant objects to break one thing at a time
# --------------------------------------------------------------------------------------


def container(name: str = "app", image: str = "registry.example/shop:1.4.2") -> dict[str, Any]:
    probe = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10}
    return {
        "name": name,
        "image": image,
        "ports": [{"containerPort": 8080, "name": "http"}],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "readinessProbe": probe,
        "livenessProbe": probe,
    }


def pod_spec() -> dict[str, Any]:
    return {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "fsGroup": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "automountServiceAccountToken": False,
        "containers": [container()],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
    }


def workload(
    kind: str = "Deployment",
    spec: dict[str, Any] | None = None,
    replicas: int | None = None,
    namespace: str = NAMESPACE,
    name: str = "shop",
) -> dict[str, Any]:
    """A `kind` object around `spec` (a compliant pod spec if None), as camelCase inputs."""
    spec = spec if spec is not None else pod_spec()
    metadata = {"name": name, "namespace": namespace, "labels": dict(LABELS)}
    template = {"metadata": {"labels": dict(LABELS)}, "spec": spec}
    api_version = WORKLOAD_TYPES[kind].split(":")[1].replace("core/", "")
    props: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": metadata}
    if kind == "Pod":
        props["spec"] = spec
    elif kind == "CronJob":
        props["spec"] = {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": template}}}
    elif kind == "Job":
        props["spec"] = {"template": template}
    else:
        props["spec"] = {"selector": {"matchLabels": dict(LABELS)}, "template": template}
        if replicas is not None:
            props["spec"]["replicas"] = replicas
    return props


def broken(mutate: Callable[[dict[str, Any]], Any], kind: str = "Deployment") -> dict[str, Any]:
    """A compliant `kind` whose pod spec `mutate` has changed."""
    spec = pod_spec()
    mutate(spec)
    return workload(kind, spec)


def app(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["containers"][0]


def app_sc(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["containers"][0]["securityContext"]


APP = 'spec.template.spec.containers[0] ("app")'


# --------------------------------------------------------------------------------------
# The pack itself
# --------------------------------------------------------------------------------------


def test_pack_has_every_policy_mandatory_with_unique_names() -> None:
    names = [policy.name for policy in ALL_POLICIES]
    assert names == [
        "pod-security-restricted",
        "container-resources-required",
        "container-probes-required",
        "image-tag-pinned",
        "no-unapproved-load-balancer",
        "no-plaintext-credentials",
        "pdb-for-multi-replica-workloads",
    ]
    assert all(policy.enforcement_level == EnforcementLevel.MANDATORY for policy in ALL_POLICIES)
    assert all(isinstance(policy, ResourceValidationPolicy) for policy in RESOURCE_POLICIES)
    assert [policy.name for policy in STACK_POLICIES] == ["pdb-for-multi-replica-workloads"]


def test_importing_the_policies_does_not_start_the_pack() -> None:
    """The PolicyPack constructor serves the engine forever: importing must not build it."""
    code = "import policy, policy.webapp_policies; print('imported')"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"


def test_main_builds_the_pack_from_every_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[dict[str, Any]] = []
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: built.append(kwargs))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "webapp_policies", raising=False)
    runpy.run_path(str(POLICY_DIR / "__main__.py"), run_name="__main__")
    sys.modules.pop("webapp_policies", None)
    assert len(built) == 1
    assert built[0]["name"] == PACK_NAME == "webapp-kubernetes"
    assert [p.name for p in built[0]["policies"]] == [p.name for p in ALL_POLICIES]


def test_pack_project_files() -> None:
    project = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert project["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": "venv"},
    }
    requirements = (POLICY_DIR / "requirements.txt").read_text().split()
    assert sorted(requirements) == ["pulumi-policy==1.21.0", "pulumi==3.272.0"]


def test_the_sdk_analyzer_serves_our_policies_and_config() -> None:
    """Through the SDK's own gRPC servicer (what `PolicyPack` serves), minus the socket:
    policy metadata and config schema as the CLI reads them, config as the CLI sends it,
    and violations as the CLI receives them."""
    from pulumi_policy.policy import _PolicyAnalyzerServicer  # pinned SDK; private API

    servicer = _PolicyAnalyzerServicer(
        PACK_NAME, "0.0.1", list(ALL_POLICIES), EnforcementLevel.MANDATORY
    )
    info = servicer.GetAnalyzerInfo(None, None)
    by_name = {policy.name: policy for policy in info.policies}
    assert set(by_name) == {policy.name for policy in ALL_POLICIES}
    schema = json_format.MessageToDict(
        by_name["no-unapproved-load-balancer"].configSchema.properties
    )
    assert schema[ALLOW_LOAD_BALANCER_CONFIG]["type"] == "boolean"
    assert schema[ALLOW_LOAD_BALANCER_CONFIG]["default"] is False

    properties = struct_pb2.Struct()
    properties.update({"metadata": {"name": "shop"}, "spec": {"type": "LoadBalancer"}})
    request = analyzer_pb2.AnalyzeRequest(
        type=SERVICE, properties=properties, urn=urn_of(SERVICE, NAME), name=NAME
    )
    diagnostics = servicer.Analyze(request, None).diagnostics
    assert [d.policyName for d in diagnostics] == ["no-unapproved-load-balancer"]
    assert f'Service "{NAME}"' in diagnostics[0].message

    approve = struct_pb2.Struct()
    approve.update({ALLOW_LOAD_BALANCER_CONFIG: True})
    servicer.Configure(
        analyzer_pb2.ConfigureAnalyzerRequest(
            policyConfig={
                "no-unapproved-load-balancer": analyzer_pb2.PolicyConfig(properties=approve)
            }
        ),
        None,
    )
    assert list(servicer.Analyze(request, None).diagnostics) == []


# --------------------------------------------------------------------------------------
# 1. Pod Security "restricted"
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", WORKLOAD_TYPES)
def test_pod_security_passes_a_compliant_pod_of_every_kind(kind: str) -> None:
    assert check(pod_security_restricted, WORKLOAD_TYPES[kind], workload(kind)) == []


@pytest.mark.parametrize("kind", WORKLOAD_TYPES)
def test_pod_security_finds_the_pod_spec_of_every_kind(kind: str) -> None:
    props = broken(lambda spec: app_sc(spec).pop("allowPrivilegeEscalation"), kind)
    message = only(check(pod_security_restricted, WORKLOAD_TYPES[kind], props), kind)
    expected = f'{SPEC_PATHS[kind]}.containers[0] ("app").securityContext.allowPrivilegeEscalation'
    assert f"{expected} must be false" in message


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            lambda spec: (
                spec["securityContext"].pop("runAsNonRoot"),
                app_sc(spec).pop("runAsNonRoot"),
            ),
            f"{APP}.securityContext.runAsNonRoot must be true",
            id="runAsNonRoot-unset",
        ),
        pytest.param(
            lambda spec: app_sc(spec).update(runAsNonRoot=False),
            f"{APP}.securityContext.runAsNonRoot must be true",
            id="container-runAsNonRoot-false-overrides-pod",
        ),
        pytest.param(
            lambda spec: spec["securityContext"].update(runAsUser=0),
            "spec.template.spec.securityContext.runAsUser is 0",
            id="pod-runAsUser-0",
        ),
        pytest.param(
            lambda spec: app_sc(spec).update(runAsUser=0),
            f"{APP}.securityContext.runAsUser is 0",
            id="container-runAsUser-0",
        ),
        pytest.param(
            lambda spec: app_sc(spec).update(allowPrivilegeEscalation=True),
            f"{APP}.securityContext.allowPrivilegeEscalation must be false",
            id="allowPrivilegeEscalation",
        ),
        pytest.param(
            lambda spec: app_sc(spec).update(privileged=True),
            f"{APP}.securityContext.privileged is true",
            id="privileged",
        ),
        pytest.param(
            lambda spec: app_sc(spec).update(capabilities={"drop": ["NET_RAW"]}),
            f"{APP}.securityContext.capabilities.drop must contain ALL",
            id="drop-without-ALL",
        ),
        pytest.param(
            lambda spec: app_sc(spec)["capabilities"].update(add=["NET_BIND_SERVICE", "SYS_ADMIN"]),
            f"{APP}.securityContext.capabilities.add has SYS_ADMIN",
            id="add-SYS_ADMIN",
        ),
        pytest.param(
            lambda spec: app_sc(spec).update(seccompProfile={"type": "Unconfined"}),
            f"{APP}.securityContext.seccompProfile.type is Unconfined",
            id="container-seccomp-Unconfined",
        ),
        pytest.param(
            lambda spec: (
                spec["securityContext"].pop("seccompProfile"),
                app_sc(spec).pop("seccompProfile"),
            ),
            f"{APP}.securityContext.seccompProfile.type is unset",
            id="seccomp-unset",
        ),
        pytest.param(
            lambda spec: spec["securityContext"].update(seccompProfile={"type": "Unconfined"}),
            "spec.template.spec.securityContext.seccompProfile.type is Unconfined",
            id="pod-seccomp-Unconfined",
        ),
        pytest.param(
            lambda spec: spec.update(hostNetwork=True),
            "spec.template.spec.hostNetwork is true",
            id="hostNetwork",
        ),
        pytest.param(
            lambda spec: spec.update(hostPID=True),
            "spec.template.spec.hostPID is true",
            id="hostPID",
        ),
        pytest.param(
            lambda spec: spec.update(hostIPC=True),
            "spec.template.spec.hostIPC is true",
            id="hostIPC",
        ),
        pytest.param(
            lambda spec: spec["volumes"].append({"name": "host", "hostPath": {"path": "/"}}),
            'spec.template.spec.volumes[1] ("host") uses a hostPath',
            id="hostPath-volume",
        ),
        pytest.param(
            lambda spec: spec["volumes"].append(
                {"name": "share", "nfs": {"server": "x", "path": "/"}}
            ),
            'spec.template.spec.volumes[1] ("share") uses nfs',
            id="nfs-volume",
        ),
        pytest.param(
            lambda spec: app(spec)["ports"][0].update(hostPort=8080),
            f"{APP}.ports[0].hostPort is set",
            id="hostPort",
        ),
        pytest.param(
            lambda spec: spec.update(initContainers=[{**container("init"), "securityContext": {}}]),
            'spec.template.spec.initContainers[0] ("init").securityContext.'
            "allowPrivilegeEscalation must be false",
            id="init-container",
        ),
        pytest.param(
            lambda spec: spec.update(
                ephemeralContainers=[
                    {
                        "name": "debug",
                        "image": "busybox:1.36",
                        "securityContext": {"privileged": True},
                    }
                ]
            ),
            'spec.template.spec.ephemeralContainers[0] ("debug").securityContext.'
            "privileged is true",
            id="ephemeral-container",
        ),
    ],
)
def test_pod_security_reports_each_breach(
    mutate: Callable[[dict[str, Any]], Any], expected: str
) -> None:
    messages = check(pod_security_restricted, DEPLOYMENT, broken(mutate))
    assert messages, "no violation reported"
    assert all(message.startswith(f'Deployment "{NAME}": ') for message in messages)
    assert any(expected in message for message in messages), messages


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(
            lambda spec: app_sc(spec)["capabilities"].update(add=["NET_BIND_SERVICE"]),
            id="add-NET_BIND_SERVICE",
        ),
        pytest.param(
            lambda spec: app_sc(spec).update(
                seccompProfile={"type": "Localhost", "localhostProfile": "p.json"}
            ),
            id="seccomp-Localhost",
        ),
        pytest.param(
            lambda spec: spec["securityContext"].pop("seccompProfile"),
            id="seccomp-on-container-only",
        ),
        pytest.param(
            lambda spec: app_sc(spec).pop("seccompProfile"),
            id="seccomp-on-pod-only",
        ),
        pytest.param(
            lambda spec: spec["securityContext"].pop("runAsNonRoot"),
            id="runAsNonRoot-on-container-only",
        ),
        pytest.param(
            lambda spec: app_sc(spec).pop("runAsNonRoot"),
            id="runAsNonRoot-on-pod-only",
        ),
        pytest.param(
            lambda spec: spec["volumes"].extend(
                [
                    {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                    {"name": "conf", "configMap": {"name": "conf"}},
                    {"name": "creds", "secret": {"secretName": "creds"}},
                    {"name": "token", "projected": {"sources": []}},
                ]
            ),
            id="restricted-volume-types",
        ),
    ],
)
def test_pod_security_accepts_what_restricted_allows(
    mutate: Callable[[dict[str, Any]], Any],
) -> None:
    assert check(pod_security_restricted, DEPLOYMENT, broken(mutate)) == []


def test_pod_security_ignores_objects_without_pods() -> None:
    service = {"metadata": {"name": "x"}, "spec": {"type": "ClusterIP"}}
    assert check(pod_security_restricted, SERVICE, service) == []
    patch = {"spec": {"template": {"spec": {"hostNetwork": True}}}}
    assert check(pod_security_restricted, "kubernetes:apps/v1:DeploymentPatch", patch) == []


def test_unknown_values_during_preview() -> None:
    """An unknown value the check does not need (a namespace from another resource) does not
    stop it; an unknown value it needs raises UnknownValueError, which the SDK reports as
    "can't run during preview" before the check runs for real during `up`."""
    props = broken(lambda spec: app_sc(spec).update(privileged=True))
    props["metadata"]["namespace"] = UNKNOWN_STRING_VALUE
    app(props["spec"]["template"]["spec"])["image"] = UNKNOWN_STRING_VALUE
    assert "privileged is true" in only(check(pod_security_restricted, DEPLOYMENT, props))
    with pytest.raises(UnknownValueError):
        check(image_tag_pinned, DEPLOYMENT, props)

    config_map = {
        "data": {"DATABASE_HOST": UNKNOWN_STRING_VALUE, "API_TOKEN": UNKNOWN_STRING_VALUE}
    }
    recorder = Recorder()
    args = ResourceValidationArgs(
        CONFIG_MAP, wire(config_map), urn_of(CONFIG_MAP, NAME), NAME, OPTIONS, None
    )
    with pytest.raises(UnknownValueError):
        no_plaintext_credentials.validate(args, recorder)
    assert any("data.API_TOKEN looks like a credential" in m for m in recorder.messages)


# --------------------------------------------------------------------------------------
# 2. Requests and limits
# --------------------------------------------------------------------------------------


def test_resources_pass_when_every_container_sets_them() -> None:
    props = broken(lambda spec: spec.update(initContainers=[container("init")]))
    assert check(container_resources_required, DEPLOYMENT, props) == []


@pytest.mark.parametrize(
    ("section", "resource"),
    [("requests", "cpu"), ("requests", "memory"), ("limits", "cpu"), ("limits", "memory")],
)
def test_resources_report_each_missing_value(section: str, resource: str) -> None:
    props = broken(lambda spec: app(spec)["resources"][section].pop(resource))
    message = only(check(container_resources_required, DEPLOYMENT, props))
    assert f"{APP} has no resources.{section}.{resource}" in message


def test_resources_are_required_on_init_containers_not_ephemeral_ones() -> None:
    def mutate(spec: dict[str, Any]) -> None:
        spec["initContainers"] = [{**container("migrate"), "resources": {}}]
        spec["ephemeralContainers"] = [{"name": "debug", "image": "busybox:1.36"}]

    message = only(check(container_resources_required, DEPLOYMENT, broken(mutate)))
    assert (
        'spec.template.spec.initContainers[0] ("migrate") has no resources.requests.cpu' in message
    )
    assert "resources.limits.memory" in message


# --------------------------------------------------------------------------------------
# 3. Probes
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod"])
def test_probes_are_required_on_long_running_workloads(kind: str) -> None:
    props = broken(lambda spec: app(spec).pop("readinessProbe"), kind)
    message = only(check(container_probes_required, WORKLOAD_TYPES[kind], props), kind)
    assert f'{SPEC_PATHS[kind]}.containers[0] ("app") has no readinessProbe' in message
    assert check(container_probes_required, WORKLOAD_TYPES[kind], workload(kind)) == []


def test_probes_report_both_missing_probes() -> None:
    props = broken(lambda spec: (app(spec).pop("readinessProbe"), app(spec).pop("livenessProbe")))
    message = only(check(container_probes_required, DEPLOYMENT, props))
    assert f"{APP} has no readinessProbe and no livenessProbe" in message


@pytest.mark.parametrize("kind", ["Job", "CronJob"])
def test_probes_are_not_required_on_run_to_completion_workloads(kind: str) -> None:
    props = broken(
        lambda spec: (app(spec).pop("readinessProbe"), app(spec).pop("livenessProbe")), kind
    )
    assert check(container_probes_required, WORKLOAD_TYPES[kind], props) == []


def test_probes_are_not_required_on_one_off_pods_init_containers_or_startup() -> None:
    def one_off(spec: dict[str, Any]) -> None:
        spec["restartPolicy"] = "Never"
        app(spec).pop("livenessProbe")

    assert check(container_probes_required, WORKLOAD_TYPES["Pod"], broken(one_off, "Pod")) == []

    def init(spec: dict[str, Any]) -> None:
        spec["initContainers"] = [{"name": "migrate", "image": "shop-migrate:1.4.2"}]

    assert check(container_probes_required, DEPLOYMENT, broken(init)) == []


def test_probes_are_required_on_native_sidecars() -> None:
    def sidecar(spec: dict[str, Any]) -> None:
        spec["initContainers"] = [
            {"name": "proxy", "image": "envoy:1.31", "restartPolicy": "Always"}
        ]

    message = only(check(container_probes_required, DEPLOYMENT, broken(sidecar)))
    assert 'spec.template.spec.initContainers[0] ("proxy") has no readinessProbe' in message


# --------------------------------------------------------------------------------------
# 4. Pinned images
# --------------------------------------------------------------------------------------

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    "image",
    [
        "postgres:17.6-bookworm",
        "nginxinc/nginx-unprivileged:1.27-alpine",
        "registry.example:5000/team/shop:1.4.2",
        f"postgres@{DIGEST}",
        f"postgres:latest@{DIGEST}",
        f"registry.example:5000/team/shop@{DIGEST}",
    ],
)
def test_images_with_a_version_tag_or_digest_pass(image: str) -> None:
    assert image_problem(image) is None
    props = broken(lambda spec: app(spec).update(image=image))
    assert check(image_tag_pinned, DEPLOYMENT, props) == []


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("postgres", "image postgres has no tag"),
        ("postgres:latest", "image postgres:latest uses the :latest tag"),
        ("registry.example:5000/team/shop", "image registry.example:5000/team/shop has no tag"),
        ("registry.example:5000/team/shop:latest", "uses the :latest tag"),
        ("postgres:", "image postgres: has no tag"),
        ("postgres@sha256:abc", "malformed digest"),
        ("", "has no image"),
    ],
)
def test_images_without_a_pinned_version_fail(image: str, expected: str) -> None:
    props = broken(lambda spec: app(spec).update(image=image))
    message = only(check(image_tag_pinned, DEPLOYMENT, props))
    assert f"{APP} " in message and expected in message


def test_images_are_checked_in_init_and_ephemeral_containers() -> None:
    def mutate(spec: dict[str, Any]) -> None:
        spec["initContainers"] = [container("migrate", image="shop-migrate")]
        spec["ephemeralContainers"] = [{"name": "debug", "image": "busybox:latest"}]

    messages = check(image_tag_pinned, DEPLOYMENT, broken(mutate))
    assert len(messages) == 2, messages
    assert 'initContainers[0] ("migrate") image shop-migrate has no tag' in messages[0]
    assert 'ephemeralContainers[0] ("debug") image busybox:latest uses' in messages[1]


# --------------------------------------------------------------------------------------
# 5. LoadBalancer Services
# --------------------------------------------------------------------------------------


def service(service_type: str | None, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "shop", "namespace": NAMESPACE}
    if annotations is not None:
        metadata["annotations"] = annotations
    spec: dict[str, Any] = {"ports": [{"port": 80, "targetPort": "http"}], "selector": LABELS}
    if service_type:
        spec["type"] = service_type
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}


@pytest.mark.parametrize("service_type", [None, "ClusterIP", "NodePort", "ExternalName"])
def test_services_that_are_not_load_balancers_pass(service_type: str | None) -> None:
    assert check(no_unapproved_load_balancer, SERVICE, service(service_type)) == []


def test_load_balancer_without_approval_fails() -> None:
    message = only(check(no_unapproved_load_balancer, SERVICE, service("LoadBalancer")), "Service")
    assert "spec.type is LoadBalancer" in message
    assert f'{ALLOW_LOAD_BALANCER_ANNOTATION}: "true"' in message


def test_load_balancer_approved_by_annotation_passes() -> None:
    assert ALLOW_LOAD_BALANCER_ANNOTATION == "webapp.dev/allow-load-balancer"
    approved = service("LoadBalancer", {ALLOW_LOAD_BALANCER_ANNOTATION: "true"})
    assert check(no_unapproved_load_balancer, SERVICE, approved) == []
    refused = service("LoadBalancer", {ALLOW_LOAD_BALANCER_ANNOTATION: "false"})
    only(check(no_unapproved_load_balancer, SERVICE, refused), "Service")


def test_load_balancer_approved_by_policy_config_passes() -> None:
    schema = no_unapproved_load_balancer.config_schema
    assert schema is not None
    assert schema.properties[ALLOW_LOAD_BALANCER_CONFIG]["type"] == "boolean"
    assert schema.properties[ALLOW_LOAD_BALANCER_CONFIG]["default"] is False
    lb = service("LoadBalancer")
    assert check(no_unapproved_load_balancer, SERVICE, lb, {ALLOW_LOAD_BALANCER_CONFIG: True}) == []
    denied = check(no_unapproved_load_balancer, SERVICE, lb, {ALLOW_LOAD_BALANCER_CONFIG: False})
    only(denied, "Service")
    # The schema says boolean; a string slipped past it approves nothing.
    stray = check(no_unapproved_load_balancer, SERVICE, lb, {ALLOW_LOAD_BALANCER_CONFIG: "true"})
    only(stray, "Service")


# --------------------------------------------------------------------------------------
# 6. PodDisruptionBudgets (stack policy)
# --------------------------------------------------------------------------------------


def pdb(
    selector: dict[str, Any] | None = None,
    namespace: str = NAMESPACE,
    budget: dict[str, Any] | None = None,
    resource_type: str = PDB,
) -> PolicyResource:
    spec: dict[str, Any] = dict(budget if budget is not None else {"maxUnavailable": 1})
    spec["selector"] = selector if selector is not None else {"matchLabels": dict(LABELS)}
    props = {"metadata": {"name": "shop", "namespace": namespace}, "spec": spec}
    return policy_resource(resource_type, props, "shop-pdb")


def deployment(replicas: int | None = 3, kind: str = "Deployment") -> PolicyResource:
    return policy_resource(WORKLOAD_TYPES[kind], workload(kind, replicas=replicas), "shop")


def hpa(min_replicas: int | None, target: str = "shop") -> PolicyResource:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "maxReplicas": 10,
    }
    if min_replicas is not None:
        spec["minReplicas"] = min_replicas
    return policy_resource(
        HPA, {"metadata": {"name": "shop", "namespace": NAMESPACE}, "spec": spec}, "shop-hpa"
    )


def test_pdb_matching_a_multi_replica_workload_passes() -> None:
    assert check_stack([deployment(3), pdb()]) == []
    assert check_stack([deployment(2, "StatefulSet"), pdb()]) == []


@pytest.mark.parametrize(
    "selector",
    [
        pytest.param({"matchLabels": {"app.kubernetes.io/name": "shop"}}, id="subset"),
        pytest.param({}, id="empty-selects-all-in-policy-v1"),
        pytest.param(
            {
                "matchExpressions": [
                    {"key": "app.kubernetes.io/component", "operator": "In", "values": ["web"]}
                ]
            },
            id="matchExpressions-In",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]},
            id="matchExpressions-DoesNotExist",
        ),
    ],
)
def test_pdb_selectors_that_select_the_pods_pass(selector: dict[str, Any]) -> None:
    assert check_stack([deployment(3), pdb(selector)]) == []


def test_single_replica_workloads_need_no_pdb() -> None:
    assert check_stack([deployment(1)]) == []
    assert check_stack([deployment(None)]) == []
    assert check_stack([deployment(None), hpa(1)]) == []
    assert check_stack([deployment(None), hpa(None)]) == []
    assert check_stack([deployment(None), hpa(3, target="other")]) == []


def test_multi_replica_workload_without_pdb_fails_on_the_workload() -> None:
    workload_resource = deployment(3)
    [(message, urn)] = check_stack([workload_resource])
    assert urn == workload_resource.urn
    assert message.startswith('Deployment "shop" runs 3 replicas in namespace team')
    assert "PodDisruptionBudget" in message and "spec.template.metadata.labels" in message


def test_statefulset_without_pdb_fails() -> None:
    [(message, _)] = check_stack([deployment(2, "StatefulSet")])
    assert message.startswith('StatefulSet "shop" runs 2 replicas')


def test_autoscaled_workload_with_min_replicas_above_one_needs_a_pdb() -> None:
    [(message, _)] = check_stack([deployment(None), hpa(2)])
    assert message.startswith('Deployment "shop" is autoscaled with minReplicas 2')
    assert check_stack([deployment(None), hpa(2), pdb()]) == []


@pytest.mark.parametrize(
    "budget",
    [
        pytest.param(pdb(namespace="elsewhere"), id="other-namespace"),
        pytest.param(pdb({"matchLabels": {**LABELS, "tier": "frontend"}}), id="label-not-on-pods"),
        pytest.param(
            pdb(
                {
                    "matchExpressions": [
                        {
                            "key": "app.kubernetes.io/component",
                            "operator": "NotIn",
                            "values": ["web"],
                        }
                    ]
                }
            ),
            id="matchExpressions-NotIn",
        ),
        pytest.param(pdb(budget={}), id="no-minAvailable-or-maxUnavailable"),
        pytest.param(
            pdb(resource_type="kubernetes:policy/v1beta1:PodDisruptionBudget"), id="v1beta1"
        ),
    ],
)
def test_pdbs_that_do_not_protect_the_workload_fail(budget: PolicyResource) -> None:
    [(message, _)] = check_stack([deployment(3), budget])
    assert message.startswith('Deployment "shop" runs 3 replicas')


def test_null_pdb_selector_selects_nothing() -> None:
    props = {"metadata": {"namespace": NAMESPACE}, "spec": {"maxUnavailable": 1}}
    assert len(check_stack([deployment(3), policy_resource(PDB, props, "shop-pdb")])) == 1


# --------------------------------------------------------------------------------------
# 7. Credentials
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "PASSWORD",
        "DATABASE_PASSWORD",
        "dbPassword",
        "PGPASSWORD",
        "DB_PASS",
        "db-passwd",
        "client-secret",
        "JWT_SECRET",
        "GITHUB_TOKEN",
        "accessToken",
        "API_KEY",
        "apiKey",
        "x-api-key",
        "PRIVATE_KEY",
        "privateKey",
        "tls.private.key",
    ],
)
def test_credential_names(name: str) -> None:
    assert looks_like_credential_name(name)


@pytest.mark.parametrize(
    "name",
    ["DATABASE_USER", "DATABASE_HOST", "MAX_TOKENS", "PASSPORT_NUMBER", "PGDATA", "PWD", "KEY_ID"],
)
def test_names_that_are_not_credentials(name: str) -> None:
    assert not looks_like_credential_name(name)


def config_map(data: dict[str, str], binary: dict[str, str] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}, "data": data}
    if binary:
        props["binaryData"] = binary
    return props


def test_config_map_without_credentials_passes() -> None:
    data = {
        "DATABASE_HOST": "db.team.svc.cluster.local",
        "DATABASE_USER": "app",
        "DATABASE_URL": "postgresql://app@db.team.svc.cluster.local:5432/app",
        "DATABASE_PASSWORD_FILE": "/run/secrets/db/password",
        "UPSTREAM": "http://proxy.example:8080/path@v2",
        "MAX_TOKENS": "4096",
    }
    assert check(no_plaintext_credentials, CONFIG_MAP, config_map(data)) == []


@pytest.mark.parametrize(
    ("data", "binary", "expected"),
    [
        ({"DATABASE_PASSWORD": "hunter2"}, None, "data.DATABASE_PASSWORD looks like a credential"),
        ({"apiKey": "hunter2"}, None, "data.apiKey looks like a credential"),
        (
            {},
            {"tls-private-key": "aHVudGVyMg=="},
            "binaryData.tls-private-key looks like a credential",
        ),
        (
            {"DATABASE_URL": "postgresql://app:hunter2@db:5432/app"},
            None,
            "data.DATABASE_URL holds a URL with an embedded password",
        ),
        ({"CACHE_DSN": "redis://:hunter2@cache:6379/0"}, None, "data.CACHE_DSN holds a URL"),
        ({"PASSWORD_FILE": "hunter2"}, None, "data.PASSWORD_FILE must hold the absolute path"),
        (
            {
                "signing.pem": (
                    "-----BEGIN RSA PRIVATE KEY-----\nhunter2\n-----END RSA PRIVATE KEY-----"
                )
            },
            None,
            "data.signing.pem holds a PEM private key",
        ),
    ],
)
def test_config_map_with_credentials_fails(
    data: dict[str, str], binary: dict[str, str] | None, expected: str
) -> None:
    message = only(
        check(no_plaintext_credentials, CONFIG_MAP, config_map(data, binary)), "ConfigMap"
    )
    assert expected in message
    assert "hunter2" not in message, "a violation message must not leak the value"


def env_of(spec: dict[str, Any], *env: dict[str, Any]) -> None:
    app(spec)["env"] = list(env)


def test_env_without_literal_credentials_passes() -> None:
    secret_ref = {"secretKeyRef": {"name": "db", "key": "password"}}
    props = broken(
        lambda spec: env_of(
            spec,
            {"name": "DATABASE_PASSWORD", "valueFrom": secret_ref},
            {"name": "POSTGRES_PASSWORD_FILE", "value": "/run/secrets/postgres/password"},
            {"name": "DATABASE_URL", "value": "postgresql://app:$(DATABASE_PASSWORD)@db:5432/app"},
            {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
        )
    )
    assert check(no_plaintext_credentials, DEPLOYMENT, props) == []


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"name": "API_TOKEN", "value": "hunter2"},
            "env[0] (API_TOKEN) literal value looks like a credential",
        ),
        (
            {"name": "POSTGRES_PASSWORD", "value": ""},
            "env[0] (POSTGRES_PASSWORD) literal value looks like",
        ),
        (
            {"name": "DATABASE_URL", "value": "postgresql://app:hunter2@db:5432/app"},
            "env[0] (DATABASE_URL) literal value holds a URL with an embedded password",
        ),
        (
            {"name": "POSTGRES_PASSWORD_FILE", "value": "hunter2"},
            "env[0] (POSTGRES_PASSWORD_FILE) literal value must hold the absolute path",
        ),
    ],
)
def test_env_with_literal_credentials_fails(env: dict[str, Any], expected: str) -> None:
    message = only(
        check(no_plaintext_credentials, DEPLOYMENT, broken(lambda spec: env_of(spec, env)))
    )
    assert f"{APP}.{expected}" in message
    assert "hunter2" not in message, "a violation message must not leak the value"


@pytest.mark.parametrize("kind", ["CronJob", "Pod"])
def test_env_is_checked_in_init_containers_of_every_kind(kind: str) -> None:
    def mutate(spec: dict[str, Any]) -> None:
        spec["initContainers"] = [
            {**container("migrate"), "env": [{"name": "DB_PASS", "value": "x"}]}
        ]

    message = only(
        check(no_plaintext_credentials, WORKLOAD_TYPES[kind], broken(mutate, kind)), kind
    )
    assert f'{SPEC_PATHS[kind]}.initContainers[0] ("migrate").env[0] (DB_PASS)' in message


# --------------------------------------------------------------------------------------
# Our own stacks
# --------------------------------------------------------------------------------------


def stack_violations(
    stack: str, policy_name: str, leave_out: frozenset[str] = frozenset()
) -> list[str]:
    """Every violation `policy_name` reports against the real `stack` program (without the
    objects of the `leave_out` types). Resource policies see each Kubernetes object's
    inputs; the stack policy sees every object's state (the manifest the provider would
    apply, auto-names included), as the engine gives a stack policy resource outputs.
    `prod-statefulset` is prod with the statefulset engine."""
    run = statefulset_program_run(stack) if stack.endswith("-statefulset") else program_run(stack)
    objects = [
        record
        for record in run.registrations
        if record.is_kubernetes and record.type not in leave_out
    ]
    assert objects, f"the {stack} program declared no Kubernetes objects"
    policy = next(p for p in ALL_POLICIES if p.name == policy_name)
    recorder = Recorder()
    if isinstance(policy, ResourceValidationPolicy):
        for record in objects:
            args = ResourceValidationArgs(
                record.type, wire(record.inputs), record.urn, record.name, OPTIONS, None
            )
            policy.validate(args, recorder)
    else:
        resources = [
            PolicyResource(
                record.type,
                wire(record.manifest()),
                record.urn,
                record.name,
                OPTIONS,
                None,
                None,
                [],
                {},
            )
            for record in objects
        ]
        policy.validate(StackValidationArgs(resources), recorder)
    return [f"{message} [{urn}]" if urn else message for message, urn in recorder.calls]


@pytest.mark.parametrize("policy_name", [policy.name for policy in ALL_POLICIES])
@pytest.mark.parametrize("stack", [*STACKS, "prod-statefulset"])
def test_our_stack_passes_every_policy(stack: str, policy_name: str) -> None:
    violations = stack_violations(stack, policy_name)
    assert violations == [], f"{stack} breaks {policy_name}:\n" + "\n".join(violations)


def test_the_pdb_check_sees_our_multi_replica_workload() -> None:
    """Guards the stack test against passing vacuously: prod runs several web pods, so
    without its PodDisruptionBudget it must fail."""
    violations = stack_violations("prod", pdb_for_multi_replica_workloads.name, frozenset({PDB}))
    assert any(violation.startswith("Deployment ") for violation in violations), violations


def test_our_load_balancer_is_approved_with_the_policy_annotation() -> None:
    """Every LoadBalancer Service of ours carries the annotation under the key the pack
    exports, so the program's copy of the key cannot drift from the policy's."""
    for stack in STACKS:
        for record in program_run(stack).of_type(SERVICE):
            spec = record.inputs.get("spec") or {}
            if spec.get("type") != "LoadBalancer":
                continue
            annotations = (record.inputs.get("metadata") or {}).get("annotations") or {}
            assert annotations.get(webapp_policies.ALLOW_LOAD_BALANCER_ANNOTATION) == "true", (
                f"{stack}: Service {record.name} is a LoadBalancer without "
                f'{ALLOW_LOAD_BALANCER_ANNOTATION}: "true"'
            )


# --------------------------------------------------------------------------------------
# CloudNativePG Clusters: the operator makes the pods, so the Cluster's fields are checked
# --------------------------------------------------------------------------------------

CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
REQUIRED_RESOURCE_PAIRS = [
    ("requests", "cpu"),
    ("requests", "memory"),
    ("limits", "cpu"),
    ("limits", "memory"),
]


def cnpg_cluster(**spec_changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "instances": 3,
        "imageName": "ghcr.io/cloudnative-pg/postgresql:17.6-minimal-bookworm",
        "resources": {
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"cpu": "2", "memory": "2Gi"},
        },
        "seccompProfile": {"type": "RuntimeDefault"},
        "storage": {"size": "20Gi"},
    }
    for key, value in spec_changes.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    return {"metadata": {"name": "shop-db", "namespace": NAMESPACE}, "spec": spec}


@pytest.mark.parametrize("policy", RESOURCE_POLICIES, ids=lambda p: p.name)
def test_a_compliant_cnpg_cluster_passes_every_resource_policy(
    policy: ResourceValidationPolicy,
) -> None:
    assert check(policy, CNPG_CLUSTER, cnpg_cluster()) == []


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (None, "has no spec.imageName"),
        ("ghcr.io/cloudnative-pg/postgresql", "has no tag"),
        ("ghcr.io/cloudnative-pg/postgresql:latest", "uses the :latest tag"),
    ],
)
def test_a_cnpg_cluster_image_must_be_pinned(image: str | None, expected: str) -> None:
    message = only(check(image_tag_pinned, CNPG_CLUSTER, cnpg_cluster(imageName=image)), "Cluster")
    assert expected in message


@pytest.mark.parametrize(("section", "resource"), REQUIRED_RESOURCE_PAIRS)
def test_a_cnpg_cluster_must_set_its_instances_resources(section: str, resource: str) -> None:
    resources = cnpg_cluster()["spec"]["resources"]
    del resources[section][resource]
    message = only(
        check(container_resources_required, CNPG_CLUSTER, cnpg_cluster(resources=resources)),
        "Cluster",
    )
    assert f"resources.{section}.{resource}" in message
    assert check(container_resources_required, CNPG_CLUSTER, cnpg_cluster(resources=None))


@pytest.mark.parametrize("profile", [None, {"type": "Unconfined"}])
def test_a_cnpg_cluster_must_keep_seccomp_on(profile: dict[str, str] | None) -> None:
    props = cnpg_cluster(seccompProfile=profile)
    assert "spec.seccompProfile.type" in only(
        check(pod_security_restricted, CNPG_CLUSTER, props), "Cluster"
    )


def test_the_operator_makes_the_pdb_of_a_multi_instance_cluster() -> None:
    """No PodDisruptionBudget of ours is needed for a Cluster: the operator makes them,
    unless enablePDB is false."""
    cluster = policy_resource(CNPG_CLUSTER, cnpg_cluster(), "shop-db")
    assert check_stack([cluster]) == []
    assert check_stack([policy_resource(CNPG_CLUSTER, cnpg_cluster(enablePDB=True), "c")]) == []
    single = cnpg_cluster(instances=1, enablePDB=False)
    assert check_stack([policy_resource(CNPG_CLUSTER, single, "shop-db")]) == []
    without = policy_resource(CNPG_CLUSTER, cnpg_cluster(enablePDB=False), "shop-db")
    [(message, urn)] = check_stack([without])
    assert urn == without.urn
    assert message.startswith('Cluster "shop-db" runs 3 instances with spec.enablePDB false')


def test_the_policies_see_our_prod_cluster() -> None:
    """Guards the stack test against passing vacuously: prod's Cluster is checked, and
    would fail with an unpinned image or without resources."""
    (record,) = program_run("prod").of_type(CNPG_CLUSTER)
    spec = dict(record.inputs["spec"])
    assert check(image_tag_pinned, CNPG_CLUSTER, record.inputs) == []
    broken = {**record.inputs, "spec": {**spec, "imageName": "postgres"}}
    assert check(image_tag_pinned, CNPG_CLUSTER, broken)
    broken = {**record.inputs, "spec": {**spec, "resources": {}}}
    assert check(container_resources_required, CNPG_CLUSTER, broken)
