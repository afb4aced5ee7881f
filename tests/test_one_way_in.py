"""One way in (issue 17, points 2 and 3): behind an Ingress the app's Service is ClusterIP
unless the stack asks for both; the app port is open to every source only where the
Service type brings traffic from outside; with a ClusterIssuer the ingress controller
reaches cert-manager's HTTP-01 solver pods, and only them. Checked with the NetworkPolicy
evaluator (tests/netpol.py) over every policy the real program renders, AppNamespace's
default-deny included. Every setting a test relies on is set here, over the dev stack file.
"""

from __future__ import annotations

from typing import Any

import pytest

from stack_settings import ConfigError
from tests.harness import ProgramRun, run_main
from tests.netpol import Destination, Pod, ingress_allowed

SERVICE = "kubernetes:core/v1:Service"
CONTROLLER_NAMESPACE = "ingress-test-controller"
INGRESS = {
    "webapp:ingressHost": "app.test.example",
    "webapp:ingressControllerNamespace": CONTROLLER_NAMESPACE,
    "webapp:ingressTlsSecret": "",
    "webapp:ingressClusterIssuer": "",
}
NO_INGRESS = {**INGRESS, "webapp:ingressHost": ""}
LOAD_BALANCER = {"webapp:serviceType": "LoadBalancer", "webapp:allowLoadBalancer": "true"}
CLUSTER_IP = {"webapp:serviceType": "ClusterIP", "webapp:allowLoadBalancer": "false"}
NODE_PORT = {"webapp:serviceType": "NodePort", "webapp:allowLoadBalancer": "false"}
BOTH = "webapp:allowServiceBesideIngress"
APP_PORT = 8080
# cert-manager's acmesolver pod, as it starts one in the Ingress's namespace.
SOLVER_LABELS = {"acme.cert-manager.io/http01-solver": "true", "acme.cert-manager.io/x": "y"}
SOLVER_PORT = 8089
CONTROLLER = Destination(pod=Pod(CONTROLLER_NAMESPACE, {"app": "ingress-nginx"}))
OTHER_NAMESPACE = Destination(pod=Pod("somewhere-else", {"app": "ingress-nginx"}))
OUTSIDE = Destination(ip="203.0.113.7")


def _run(overrides: dict[str, str]) -> ProgramRun:
    return run_main("dev", {"webapp:appPort": str(APP_PORT), **overrides})


def _policies(run: ProgramRun) -> list[dict[str, Any]]:
    return [r.manifest() for r in run.kubernetes() if r.manifest()["kind"] == "NetworkPolicy"]


def _app_pod(run: ProgramRun) -> Pod:
    (deployment,) = [
        r
        for r in run.kubernetes()
        if r.manifest()["kind"] == "Deployment" and r.name == "webapp-deployment"
    ]
    manifest = deployment.manifest()
    return Pod(
        manifest["metadata"]["namespace"], manifest["spec"]["template"]["metadata"]["labels"]
    )


def _neighbour(run: ProgramRun) -> Destination:
    """Another pod of the app's namespace."""
    return Destination(pod=Pod(_app_pod(run).namespace, {"app": "neighbour"}))


def _admitted(run: ProgramRun, source: Destination, target: Pod, port: int) -> bool:
    return ingress_allowed(_policies(run), source, target, "TCP", port)


def _service_type(run: ProgramRun) -> str:
    return run.one(SERVICE, "webapp-service").manifest()["spec"]["type"]


# --- 2. one way in -----------------------------------------------------------------------


@pytest.mark.parametrize("exposed", [LOAD_BALANCER, NODE_PORT])
def test_a_service_beside_an_ingress_is_refused_without_the_explicit_key(
    exposed: dict[str, str],
) -> None:
    kind = exposed["webapp:serviceType"]
    with pytest.raises(ConfigError) as raised:
        _run({**INGRESS, **exposed, BOTH: "false"})
    assert str(raised.value) == (
        f"webapp:serviceType is '{kind}', but with webapp:ingressHost set it must be "
        "ClusterIP, so the app is reached only through the ingress controller (a "
        f"{kind} Service beside the Ingress is a plain-HTTP way around it), unless "
        "webapp:allowServiceBesideIngress is true; fix it with: pulumi config set --stack "
        "dev webapp:serviceType ClusterIP"
    )


def test_behind_an_ingress_only_the_ingress_controller_reaches_the_app() -> None:
    run = _run({**INGRESS, **CLUSTER_IP, BOTH: "false"})
    app = _app_pod(run)
    assert _service_type(run) == "ClusterIP"
    assert _admitted(run, CONTROLLER, app, APP_PORT)
    for source in (OTHER_NAMESPACE, OUTSIDE, _neighbour(run)):
        assert not _admitted(run, source, app, APP_PORT), source
    assert not [log for log in run.logs if "plain HTTP" in log]


def test_without_an_ingress_a_cluster_ip_app_admits_its_own_namespace_only() -> None:
    run = _run({**NO_INGRESS, **CLUSTER_IP, BOTH: "false"})
    app = _app_pod(run)
    assert _admitted(run, _neighbour(run), app, APP_PORT)
    for source in (CONTROLLER, OTHER_NAMESPACE, OUTSIDE):
        assert not _admitted(run, source, app, APP_PORT), source


@pytest.mark.parametrize("exposed", [LOAD_BALANCER, NODE_PORT])
def test_a_service_type_from_outside_admits_every_source(exposed: dict[str, str]) -> None:
    run = _run({**NO_INGRESS, **exposed, BOTH: "false"})
    app = _app_pod(run)
    for source in (CONTROLLER, OTHER_NAMESPACE, OUTSIDE):
        assert _admitted(run, source, app, APP_PORT), source
    # Only the app port: every other port of the pod stays closed.
    assert not _admitted(run, OUTSIDE, app, APP_PORT + 1)


def test_both_ways_in_asked_for_explicitly_are_built_and_said() -> None:
    run = _run({**INGRESS, **LOAD_BALANCER, BOTH: "true"})
    assert _service_type(run) == "LoadBalancer"
    assert _admitted(run, OUTSIDE, _app_pod(run), APP_PORT)
    (warning,) = [log for log in run.logs if "plain HTTP" in log]
    assert warning == (
        "WebService webapp has an Ingress and a LoadBalancer Service: the app is also "
        "reachable in plain HTTP at the load balancer's address, around the ingress "
        "controller and its TLS, and its NetworkPolicy admits every source to the app port"
    )


@pytest.mark.parametrize(
    ("overrides", "what"),
    [({**NO_INGRESS, **LOAD_BALANCER}, "no Ingress"), ({**INGRESS, **CLUSTER_IP}, "a ClusterIP")],
)
def test_the_key_for_both_is_refused_where_there_are_not_two(
    overrides: dict[str, str], what: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        _run({**overrides, BOTH: "true"})
    assert str(raised.value).startswith(
        "webapp:allowServiceBesideIngress is 'true', but it allows a NodePort or LoadBalancer "
        f"webapp:serviceType beside an Ingress, and this stack has {what}"
    )
    assert str(raised.value).endswith(
        "fix it with: pulumi config rm --stack dev webapp:allowServiceBesideIngress"
    )


# --- 3. certificates that issue ----------------------------------------------------------


def _solver(run: ProgramRun) -> Pod:
    return Pod(_app_pod(run).namespace, SOLVER_LABELS)


def test_with_a_cluster_issuer_the_controller_reaches_the_http01_solver_and_only_it() -> None:
    run = _run({**INGRESS, **CLUSTER_IP, "webapp:ingressClusterIssuer": "letsencrypt-test"})
    solver, app = _solver(run), _app_pod(run)
    assert _admitted(run, CONTROLLER, solver, SOLVER_PORT)
    # Only the controller, only the solver's port, only the solver pods.
    for source in (OTHER_NAMESPACE, OUTSIDE, _neighbour(run)):
        assert not _admitted(run, source, solver, SOLVER_PORT), source
    assert not _admitted(run, CONTROLLER, solver, APP_PORT)
    assert not _admitted(run, CONTROLLER, app, SOLVER_PORT)
    neighbour = Pod(app.namespace, {"app": "neighbour"})
    assert not _admitted(run, CONTROLLER, neighbour, SOLVER_PORT)


def test_without_a_cluster_issuer_no_solver_is_admitted() -> None:
    for tls in ({"webapp:ingressTlsSecret": "own-tls"}, {}):
        run = _run({**INGRESS, **CLUSTER_IP, **tls})
        assert not _admitted(run, CONTROLLER, _solver(run), SOLVER_PORT)
