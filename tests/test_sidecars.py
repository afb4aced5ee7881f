"""The app's `sidecars` input: extra containers in every app pod, from webapp:sidecars
through the WebService to the Deployment, hardened like the app and counted in the
namespace's quota (which is sized from the pod spec the WebService declares)."""

from __future__ import annotations

import json
import re
import shlex
from decimal import Decimal
from typing import Any

import pulumi
import pytest

from components import ContainerResources, WebService, WebServiceArgs
from components._shared.package import InvalidInput
from components._shared.pods import pod_amount
from components._shared.quantity import parse_quantity
from components._shared.security import container_security_context
from tests.harness import ProgramRun, run_main

SIDECAR = {
    "name": "log-shipper",
    "image": "fluent/fluent-bit:3.1.9",
    "command": ["/fluent-bit/bin/fluent-bit"],
    "args": ["-c", "/tmp/fluent-bit.conf"],
    "ports": [2020],
    "resources": {
        "cpuRequest": "50m",
        "cpuLimit": "1500m",
        "memoryRequest": "32Mi",
        "memoryLimit": "1Gi",
    },
    "env": {"FLB_LOG_LEVEL": "info"},
}


def _run(stack: str, sidecars: list[Any] | None) -> ProgramRun:
    overrides = {"webapp:sidecars": json.dumps(sidecars)} if sidecars is not None else {}
    return run_main(stack, overrides)


def _pod(run: ProgramRun) -> dict[str, Any]:
    deployment = run.one("kubernetes:apps/v1:Deployment", "webapp-deployment")
    return deployment.manifest()["spec"]["template"]["spec"]


def _hard(run: ProgramRun) -> dict[str, str]:
    (quota,) = run.of_type("kubernetes:core/v1:ResourceQuota")
    return quota.manifest()["spec"]["hard"]


def test_a_sidecar_reaches_the_pod_hardened_like_the_app() -> None:
    pod = _pod(_run("dev", [SIDECAR]))
    app, sidecar = pod["containers"]
    assert app["name"] == "web"
    assert sidecar == {
        "name": "log-shipper",
        "image": "fluent/fluent-bit:3.1.9",
        "command": ["/fluent-bit/bin/fluent-bit"],
        "args": ["-c", "/tmp/fluent-bit.conf"],
        "ports": [{"containerPort": 2020}],
        "env": [{"name": "FLB_LOG_LEVEL", "value": "info"}],
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "resources": {
            "requests": {"cpu": "50m", "memory": "32Mi"},
            "limits": {"cpu": "1500m", "memory": "1Gi"},
        },
        "securityContext": app["securityContext"],
    }
    assert sidecar["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    # The pod's own restricted context (user, fsGroup) is the app's.
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_without_sidecars_the_pod_has_the_app_alone() -> None:
    assert [c["name"] for c in _pod(_run("dev", None))["containers"]] == ["web"]
    assert [c["name"] for c in _pod(_run("dev", []))["containers"]] == ["web"]


def test_the_quota_holds_every_sidecar_of_every_app_pod() -> None:
    """dev's quota follows the workload: each of the app's pods at its largest (replicas
    and a rollout's surge) charges the sidecar's limits too."""
    without, with_sidecar = _run("dev", None), _run("dev", [SIDECAR])
    before, after = _hard(without), _hard(with_sidecar)
    app_pods = _app_pods(with_sidecar)
    cpu = parse_quantity(after["limits.cpu"])[0] - parse_quantity(before["limits.cpu"])[0]
    memory = parse_quantity(after["limits.memory"])[0] - parse_quantity(before["limits.memory"])[0]
    # The sidecar's share, with the quota's 25% headroom, give or take the rounding up.
    assert cpu >= app_pods * Decimal("1.5") * Decimal("1.25") - Decimal("0.1")
    assert memory >= app_pods * 2**30 * Decimal("1.25") - 128 * 2**20
    assert after["pods"] == before["pods"]


def _app_pods(run: ProgramRun) -> int:
    deployment = run.one("kubernetes:apps/v1:Deployment", "webapp-deployment").manifest()
    replicas = deployment["spec"]["replicas"]
    surge = deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
    if isinstance(surge, str):
        return replicas + -(-replicas * int(surge.rstrip("%")) // 100)
    return replicas + surge


def test_a_cap_below_the_sidecars_is_refused_in_one_sentence() -> None:
    with pytest.raises(pulumi.RunError) as raised:
        run_main("dev", {"webapp:sidecars": json.dumps([SIDECAR]), "webapp:quotaCpu": "2"})
    (sentence,) = str(raised.value).splitlines()
    assert sentence.startswith("webapp:quotaCpu is '2', but that cap is below what the workload")
    assert "fix it with: pulumi config set --stack dev webapp:quotaCpu" in sentence


def _follow(sidecars: list[Any], command: str) -> list[Any]:
    """The sidecars after the fix's `pulumi config set/rm --path` commands, as the CLI
    applies them: a path into lists and objects; a whole number is stored as a number."""
    sidecars = json.loads(json.dumps(sidecars))
    for part in command.split(" && "):
        words = shlex.split(part)
        assert words[:3] in (["pulumi", "config", "set"], ["pulumi", "config", "rm"]), part
        assert words[3:7] == ["--stack", "dev", "--path", words[6]], part
        path = words[6].removeprefix("webapp:sidecars")
        steps = [
            int(step) if step.isdigit() else step
            for step in re.findall(r"\[(\d+)\]|\.(\w+)", path)
            for step in step
            if step
        ]
        parent: Any = sidecars
        for step in steps[:-1]:
            if isinstance(step, int) and len(parent) <= step:
                parent.append({})
            elif isinstance(parent, dict) and step not in parent:
                parent[step] = [] if isinstance(steps[steps.index(step) + 1], int) else {}
            parent = parent[step]
        last = steps[-1]
        if words[2] == "rm":
            del parent[last]
            continue
        (value,) = words[7:]
        typed = int(value) if value.isdigit() else value
        if isinstance(last, int) and len(parent) <= last:
            parent.append(typed)
        else:
            parent[last] = typed
    return sidecars


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"name": "web"}, "sidecars[0].name"),
        ({"name": "Log_Shipper"}, "sidecars[0].name"),
        ({"image": "fluent/fluent-bit:latest"}, "sidecars[0].image"),
        ({"resources": {"cpuRequest": "50m"}}, "sidecars[0].resources"),
        ({"resources": "small"}, "sidecars[0].resources"),
        (
            {"resources": {**SIDECAR["resources"], "memoryLimit": "1G0"}},  # type: ignore[dict-item]
            "sidecars[0].resources.memoryLimit",
        ),
        ({"ports": [8080]}, "sidecars[0].ports"),
        ({"ports": [80]}, "sidecars[0].ports"),
        # What `config set --path '...ports' '[9090]'` stores: the text, not a list.
        ({"ports": "[9090]"}, "sidecars[0].ports"),
        ({"command": "/bin/run"}, "sidecars[0].command"),
        ({"env": {"1BAD": "x"}}, "sidecars[0].env"),
        ({"volumes": []}, "sidecars[0].volumes"),
    ],
)
def test_a_bad_sidecar_stops_the_program_in_one_sentence_whose_fix_works(
    change: dict[str, Any], path: str
) -> None:
    """Followed literally, the fix settles the problem: lists and objects are set item by
    item (a whole one given as a value would be stored as text, and refused again)."""
    sidecars = [{**SIDECAR, **change}]
    with pytest.raises(pulumi.RunError) as raised:
        _run("dev", sidecars)
    (sentence,) = str(raised.value).splitlines()
    assert sentence.startswith(f"webapp:{path} is ")
    assert ", but " in sentence
    fix = sentence.split("; fix it with: ", 1)[1]
    followed = _follow(sidecars, fix.replace("<text>", "/bin/run").replace("<value>", "v"))
    _run("dev", followed)


def test_two_sidecars_of_one_name_are_refused() -> None:
    with pytest.raises(pulumi.RunError) as raised:
        _run("dev", [SIDECAR, SIDECAR])
    (sentence,) = str(raised.value).splitlines()
    assert sentence.startswith("webapp:sidecars[1].name is 'log-shipper', but each container")


def test_sidecars_must_be_a_list() -> None:
    with pytest.raises(pulumi.RunError) as raised:
        run_main("dev", {"webapp:sidecars": json.dumps({"name": "x"})})
    (sentence,) = str(raised.value).splitlines()
    assert sentence.startswith('webapp:sidecars is \'{"name": "x"}\', but it must be a list')


RESOURCES = ContainerResources(
    cpu_request="100m", cpu_limit="500m", memory_request="128Mi", memory_limit="256Mi"
)


def _args(**extra: Any) -> WebServiceArgs:
    return WebServiceArgs(  # type: ignore[typeddict-item]
        namespace="ns",
        app="shop",
        image="shop:1.0",
        resources=RESOURCES,
        database_host="db",
        database_port=5432,
        database_name="app",
        database_user="app",
        database_selector={},
        database_password="pw",
        **extra,
    )


def test_the_component_sizes_its_pods_with_their_sidecars() -> None:
    """WebService.pods is what the quota reads: the Deployment's own pod spec."""
    sidecar = {
        "name": "proxy",
        "image": "envoyproxy/envoy:v1.31.2",
        "resources": ContainerResources(
            cpu_request="50m", cpu_limit="250m", memory_request="64Mi", memory_limit="128Mi"
        ),
    }
    (alone,) = WebService.pods("shop", _args(replicas=4))
    (demand,) = WebService.pods("shop", _args(replicas=4, sidecars=[sidecar]))
    assert demand.count == alone.count == 5  # 4 replicas and a 25% surge
    assert [c.name for c in demand.spec.containers] == ["web", "proxy"]
    assert pod_amount(demand.spec, "limits", "cpu") == Decimal("0.75")
    assert pod_amount(demand.spec, "limits", "memory") == 384 * 2**20
    assert pod_amount(alone.spec, "limits", "cpu") == Decimal("0.5")
    assert demand.spec.containers[1].security_context == container_security_context()


def test_an_init_container_larger_than_the_pod_sets_its_charge() -> None:
    """The API server charges a pod the larger of its containers' sum and any one init
    container: the quota does the same."""
    import pulumi_kubernetes as k8s

    def container(cpu: str) -> k8s.core.v1.ContainerArgs:
        return k8s.core.v1.ContainerArgs(
            name=cpu, resources=k8s.core.v1.ResourceRequirementsArgs(limits={"cpu": cpu})
        )

    spec = k8s.core.v1.PodSpecArgs(
        containers=[container("1"), container("500m")], init_containers=[container("2")]
    )
    assert pod_amount(spec, "limits", "cpu") == Decimal(2)
    spec = k8s.core.v1.PodSpecArgs(containers=[container("1"), container("500m")])
    assert pod_amount(spec, "limits", "cpu") == Decimal("1.5")


@pytest.mark.parametrize(
    ("sidecars", "message"),
    [
        ([{"name": "web", "image": "x:1", "resources": RESOURCES}], "other than web"),
        ([{"name": "a", "image": "x:1"}], "needs an image and resources"),
        (
            [
                {"name": "a", "image": "x:1", "resources": RESOURCES},
                {"name": "a", "image": "y:1", "resources": RESOURCES},
            ],
            "names a container twice",
        ),
        # What the stack's settings refuse, refused for programs in other languages too.
        (
            [{"name": "a", "image": "x:1", "resources": RESOURCES, "ports": [80]}],
            r"ports' is \[80\]: sidecar ports are from 1024 to 65535, none the app's",
        ),
        (
            [{"name": "a", "image": "x:1", "resources": RESOURCES, "ports": [8080]}],
            "none the app's",
        ),
        (
            [{"name": "a", "image": "x:1", "resources": RESOURCES, "env": {"1 bad": "x"}}],
            "env' holds '1 bad', but variable names are letters, digits and '_'",
        ),
    ],
)
def test_the_component_refuses_bad_sidecars(sidecars: list[Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        WebService.pods("shop", _args(sidecars=sidecars))
